"""Build the course website: every lesson with the outputs of one run, the exercise stubs, the guides.

    python -m tools.site                     # all lessons -> build/site/html/index.html
    python -m tools.site --lessons 00 05     # a quick partial site with lessons 00 and 05 only

Outputs come from the executed copies in $MARSLAB_EXECUTED_DIR (default build/executed) when every
lesson's copy matches its current source and all come from one run (a `pytest` session with the
variable set writes them, see conftest.py); otherwise the lessons are executed here with nbclient, in
$MARSLAB_PROFILE (default smoke), and those copies are kept for the next build. Sphinx with myst-nb and
the sphinx-book-theme renders the pages (site/conf.py); the result needs no network to view or search.
"""
from __future__ import annotations

import argparse
import html.parser
import os
import re
import shutil
import sys
import time
import warnings
from pathlib import Path

import nbformat

from tools import executed, site_pages

ROOT = executed.ROOT
CONF_DIR = ROOT / "site"
DEFAULT_OUT = ROOT / "build" / "site"
MARKER = ".marslab-site"  # marks a folder this command made, so it never deletes anything else
GUIDES = {"docs/instructors.md": "instructors.md", "benchmarks/README.md": "benchmarks.md"}


def _lab_command() -> str:
    """The README's JupyterLab command (under its <!-- lab-command --> marker), so the two never differ."""
    match = re.search(r"<!-- lab-command -->\s*```bash\n(.+?)\n```", (ROOT / "README.md").read_text(), re.S)
    if not match:
        raise SystemExit("README.md has no ```bash block under <!-- lab-command -->; the home page quotes it")
    return match.group(1).strip()


def select(sources: list[Path], numbers: list[str] | None) -> list[Path]:
    """The lessons whose number is in `numbers` (all when None): "06" selects 06 and 06b, "06b" only 06b;
    an unknown number is an error."""
    if not numbers:
        return sources
    keys = {s: {s.name[:2], s.name.split("_")[0]} for s in sources}
    unknown = sorted(set(numbers) - set().union(*keys.values()))
    if unknown:
        raise SystemExit(f"--lessons: no lesson numbered {', '.join(unknown)} in notebooks/ "
                         f"(found {', '.join(s.name.split('_')[0] for s in sources)})")
    return [s for s in sources if keys[s] & set(numbers)]


def prepare(out: Path) -> None:
    """Empty `out` for a new build, refusing a non-empty folder that this command did not make."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise SystemExit(f"--out {out} exists and was not made by python -m tools.site; choose an empty or new folder")
    for sub in ("src", "html"):
        shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by python -m tools.site; rebuilt (src/, html/) on every build\n")


def write_sources(src: Path, copies: dict[str, nbformat.NotebookNode], lessons: list[Path], partial: bool) -> None:
    """Write the Sphinx sources: home page, lesson pages, exercise pages and index, the two guides."""
    exercise_files = sorted((ROOT / "exercises").glob("[0-9][0-9]_*.ipynb"))
    pages = {s.relative_to(ROOT).as_posix(): s.relative_to(ROOT).as_posix() for s in lessons + exercise_files}
    pages.update(GUIDES)
    for dest in ("notebooks", "exercises"):
        (src / dest).mkdir(parents=True)
    titles = []
    for source in lessons:
        nbformat.write(site_pages.lesson_page(copies[source.name], source, pages), src / "notebooks" / source.name)
        titles.append((source, site_pages.title(copies[source.name])))
    exercises = []
    for source in exercise_files:
        nbformat.write(site_pages.exercise_page(source, pages), src / "exercises" / source.name)
        exercises.append((source, site_pages.title(nbformat.read(source, as_version=4))))
    (src / "exercises" / "index.md").write_text(site_pages.exercises_index(exercises))
    for origin, dest in GUIDES.items():
        (src / dest).write_text(site_pages.markdown_page(ROOT / origin, dest, pages))

    record = next(iter(copies.values())).metadata[executed.META_KEY]
    summary = f"{site_pages.run_sentence(record)}"
    if partial:
        summary += f" (this build shows {len(lessons)} of the {len(executed.lessons())} lessons)"
    fill = {"run_summary": summary, "lesson_map": site_pages.lesson_map(titles, {e.name[:2]: e for e, _ in exercises}),
            "lesson_toc": "\n".join(f"notebooks/{s.stem}" for s in lessons), "lab_command": _lab_command(),
            "repo": site_pages.REPO}
    text = (CONF_DIR / "index.md").read_text()
    for key, value in fill.items():
        text = text.replace("{{ " + key + " }}", value)
    if "{{" in text:
        raise SystemExit(f"site/index.md has an unknown placeholder: {re.search(r'{{.*?}}', text).group(0)}")
    (src / "index.md").write_text(text)


def sphinx(src: Path, html_dir: Path, log: Path) -> int:
    """Run Sphinx's HTML builder (fresh environment, warnings to `log`); returns the number of warnings."""
    from sphinx.cmd.build import build_main

    with warnings.catch_warnings():  # Sphinx's notices to extension authors (myst-parser's API use) are not ours
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        status = build_main(["-b", "html", "-E", "-q", "-j", "auto", "-c", str(CONF_DIR), "-w", str(log),
                             "-d", str(src.parent / "doctrees"), str(src), str(html_dir)])
    if status:
        raise SystemExit(f"sphinx-build failed (exit {status}); see {log}")
    return sum(1 for line in log.read_text().splitlines() if "WARNING" in line)


class _Resources(html.parser.HTMLParser):
    """Collects the URLs a page loads (scripts, stylesheets, images, frames), not the links it offers."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "audio", "video") and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href") and attrs.get("rel") not in ("canonical", "alternate", None):
            self.urls.append(attrs["href"])


def external_loads(html_dir: Path) -> list[str]:
    """'page: url' for every resource a built page (or stylesheet) would fetch from outside the site."""
    found = []
    for page in sorted(html_dir.rglob("*.html")):
        parser = _Resources()
        parser.feed(page.read_text(errors="replace"))
        found += [f"{page.relative_to(html_dir)}: {u}" for u in parser.urls if re.match(r"^(https?:)?//", u)]
    for css in sorted(html_dir.rglob("*.css")):
        text = css.read_text(errors="replace")
        for url in re.findall(r"""(?:url\(\s*['"]?|@import\s+['"])((?:https?:)?//[^'")\s]+)""", text):
            found.append(f"{css.relative_to(html_dir)}: {url}")
    return found


def build(out: Path, sources: list[Path], executed_dir: Path, force: bool = False, jobs: int = 2) -> Path:
    """Build the site into out/html from one execution of `sources`; returns the path of index.html."""
    start = time.time()
    prepare(out)
    copies, why = ({}, "--execute was given") if force else executed.load_copies(sources, executed_dir)
    if copies:
        record = next(iter(copies.values())).metadata[executed.META_KEY]
        print(f"using the executed copies in {executed_dir} (run {record['run']}, {record['date']})", flush=True)
    else:
        print(f"no usable executed copies ({why}): executing the lessons into {executed_dir}", flush=True)
        copies = executed.execute(sources, executed_dir, jobs)
    print(f"lessons ready in {time.time() - start:.0f} s; rendering the pages with Sphinx ...", flush=True)
    write_sources(out / "src", copies, sources, partial=len(sources) < len(executed.lessons()))
    html_dir = out / "html"
    warnings = sphinx(out / "src", html_dir, out / "sphinx-warnings.txt")
    for source in sources:  # the download links: the lesson as stored, output-free
        shutil.copy2(source, html_dir / "notebooks" / source.name)
    for source in (ROOT / "exercises").glob("[0-9][0-9]_*.ipynb"):
        shutil.copy2(source, html_dir / "exercises" / source.name)
    (html_dir / ".nojekyll").touch()  # GitHub Pages: serve _static/ as it is
    loads = external_loads(html_dir)
    if loads:
        raise SystemExit("the site would load resources from outside itself:\n  " + "\n  ".join(loads[:20]))
    print(f"Sphinx: {warnings} warnings (in {out / 'sphinx-warnings.txt'}); built in {time.time() - start:.0f} s")
    return html_dir / "index.html"


def main(argv: list[str] | None = None) -> int:
    """Command line: build the site and print where it is."""
    parser = argparse.ArgumentParser(prog="python -m tools.site", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default build/site)")
    parser.add_argument("--executed", type=Path, default=None,
                        help=f"executed copies to reuse (default ${executed.EXECUTED_ENV} or build/executed)")
    parser.add_argument("--lessons", nargs="+", metavar="NN", help="build only these lessons (two-digit numbers)")
    parser.add_argument("--execute", action="store_true", help="execute the lessons even if copies are usable")
    parser.add_argument("--jobs", type=int, default=2, help="lessons executed at the same time (default 2)")
    args = parser.parse_args(argv)
    executed_dir = args.executed or Path(os.environ.get(executed.EXECUTED_ENV) or executed.DEFAULT_DIR)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    sources = select(executed.lessons(), args.lessons)
    index = build(args.out.resolve(), sources, executed_dir.resolve(), args.execute, args.jobs)
    try:
        shown = index.relative_to(Path.cwd())
    except ValueError:
        shown = index
    print(f"site: {shown}  (to browse it: python -m http.server -d {shown.parent})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
