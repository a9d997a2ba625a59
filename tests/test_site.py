"""The course website, read as a student would: built by `python -m tools.site`, served on 127.0.0.1, in Chromium.

Which build: the whole course from the executed copies of one run when they match the lessons (in CI the
nbval session writes them, and conftest.py runs this file after the notebooks); with
MARSLAB_REQUIRE_BROWSER=1 and no copies, the whole course with the lessons executed here. Otherwise (a
developer's quick run) a partial site: the lessons that have copies from one run, else lesson 00 executed.
Needs Debian's Chromium and the playwright package; skipped without them unless MARSLAB_REQUIRE_BROWSER=1.
"""
from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
ARTIFACTS = ROOT / "build" / "browser"
REQUIRED = os.environ.get("MARSLAB_REQUIRE_BROWSER") == "1"


def _require_browser() -> None:
    try:
        import playwright.sync_api  # noqa: F401
        import sphinx  # noqa: F401
    except ImportError as err:
        missing = f"the {err.name} package"
    else:
        missing = None if CHROMIUM else "chromium (apt-get install chromium)"
    if missing:
        if REQUIRED:
            pytest.fail(f"site browser test required but {missing} is missing")
        pytest.skip(f"{missing} is missing")


def _plan(tmp: Path) -> tuple[Path, list[str] | None, str]:
    """(output folder, lesson numbers or None for all, why) for this run's build."""
    from tools import executed

    lessons = executed.lessons()
    folder = Path(os.environ.get(executed.EXECUTED_ENV) or executed.DEFAULT_DIR)
    copies, why = executed.load_copies(lessons, folder)
    if copies:
        return ROOT / "build" / "site", None, "whole course from the executed copies"
    if REQUIRED and os.environ.get(executed.EXECUTED_ENV):
        pytest.fail(f"the lessons' executed copies in {folder} are not usable ({why}); did a lesson fail above?")
    if REQUIRED:
        return ROOT / "build" / "site", None, "whole course, lessons executed by the build"
    runs: dict[str, list[str]] = {}
    for lesson in lessons:
        one, _ = executed.load_copies([lesson], folder)
        if one:
            runs.setdefault(one[lesson.name].metadata[executed.META_KEY]["run"], []).append(lesson.name[:2])
    numbers = max(runs.values(), key=len) if runs else ["00"]
    return tmp / "site", numbers, f"partial site (lessons {', '.join(numbers)}): {why}"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(base URL, html folder, built lesson sources, executed copies folder): the site, served on a free port."""
    _require_browser()
    from tools import executed
    from tools import site as site_tool

    out, numbers, why = _plan(tmp_path_factory.mktemp("site"))
    print(f"building the {why}")
    copies = Path(os.environ.get(executed.EXECUTED_ENV) or executed.DEFAULT_DIR).resolve()
    html_dir = site_tool.build(out, site_tool.select(executed.lessons(), numbers), copies).parent
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(html_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(base, timeout=2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("the local web server did not start")
                time.sleep(0.2)
        built = [s for s in executed.lessons() if (html_dir / "notebooks" / f"{s.stem}.html").exists()]
        yield base, html_dir, built, copies
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open(browser, url: str, width: int = 1280) -> tuple[object, list[str]]:
    """A page at `url` and the problems seen while loading it: console errors, HTTP errors, outside requests."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

    def outside(route):
        problems.append(f"request outside the site: {route.request.url}")
        route.abort()

    page.route(re.compile(r"^(?!http://127\.0\.0\.1[:/]|data:|blob:).*"), outside)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return page, problems


def _badge_link(source: Path) -> str:
    """The Open-in-Colab address in the first cell of a stored notebook (its badge)."""
    first = nbformat.read(source, as_version=4).cells[0].source
    return re.search(r"\]\((https://colab\.research\.google\.com/[^)]+)\)\s*$", first).group(1)


def test_every_lesson_page_loads_cleanly_with_its_figures_links_and_run_note(site, browser):
    from tools import executed

    base, html_dir, built, copies = site
    assert built, "no lesson page was built"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("site_*.png"):
        old.unlink()
    failures, shot = [], None
    for source in built:
        record_nb = nbformat.read(copies / source.name, as_version=4)
        record = record_nb.metadata[executed.META_KEY]
        figures = sum("image/png" in o.get("data", {}) for c in record_nb.cells for o in c.get("outputs", []))
        page, problems = _open(browser, f"{base}notebooks/{source.stem}.html")
        shown = page.evaluate("() => [...document.querySelectorAll('.cell_output img')]"
                              ".filter(i => i.complete && i.naturalWidth > 50).length")
        if shown != figures:
            problems.append(f"{shown} rendered figures, but the executed lesson has {figures}")
        note = page.locator(".marslab-run").inner_text()
        for fact in (f"{record['profile']} profile", record["date"], f"TensorFlow {record['tensorflow']}",
                     f"Keras {record['keras']}", f"marslab {record['marslab']}"):
            if fact not in note:
                problems.append(f"the run note does not say {fact!r}")
        if page.locator("a.marslab-colab").get_attribute("href") != _badge_link(source):
            problems.append("the Open-in-Colab link differs from the notebook's own badge")
        download = urllib.parse.urljoin(page.url, page.locator("a.marslab-download").get_attribute("href"))
        with urllib.request.urlopen(download) as r:
            if r.read() != source.read_bytes():
                problems.append("the download link does not serve the stored lesson notebook")
        if figures and not shot:  # the first lesson with figures, as a CI artifact
            shot = ARTIFACTS / f"site_lesson_{source.stem}.png"
            page.screenshot(path=str(shot), full_page=True)
        page.close()
        failures += [f"{source.name}: {p}" for p in problems]
    page, problems = _open(browser, base)
    page.screenshot(path=str(ARTIFACTS / "site_home.png"), full_page=True)
    for source in built:
        if page.locator(f'a[href="notebooks/{source.stem}.html"]').count() == 0:
            problems.append(f"the home page does not link {source.name}")
    failures += [f"home: {p}" for p in problems]
    assert not failures, "\n".join(failures)


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        url = attrs.get("href") if tag in ("a", "link") else attrs.get("src")
        if url:
            self.links.append(url)


def _fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


def test_every_internal_link_resolves(site):
    base, _, built, _ = site
    pages: dict[str, set[str]] = {}
    queue, seen, broken = [base + "index.html"], set(), []
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        status, body = _fetch(url)
        if status != 200:
            broken.append(f"{url}: HTTP {status}")
            continue
        if url.endswith(".html"):
            parser = _Links()
            parser.feed(body.decode(errors="replace"))
            pages[url] = parser.ids
            for link in parser.links:
                target = urllib.parse.urljoin(url, link)
                if target.startswith(base):
                    queue.append(target.split("#")[0])
                    if "#" in target:
                        queue.append(target)  # checked below against the page's ids
    for url in [u for u in seen if "#" in u]:
        page, anchor = url.split("#", 1)
        if anchor and page in pages and urllib.parse.unquote(anchor) not in pages[page]:
            broken.append(f"{url}: no element with this id")
    assert not broken, "broken links:\n" + "\n".join(sorted(broken))
    crawled = {urllib.parse.urlparse(u).path for u in pages}
    for source in built:
        assert f"/notebooks/{source.stem}.html" in crawled, f"{source.name} is not reachable from the home page"
    assert len(pages) >= len(built) + 4, f"only {len(pages)} pages reached"


def _search_word(source: Path) -> str:
    """A long word of the lesson's prose that its title does not contain (what a student might search for)."""
    nb = nbformat.read(source, as_version=4)
    prose = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    title = next(c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("# ")).lower()
    words = sorted({w for w in re.findall(r"\b[a-z]{9,}\b", prose) if w not in title})
    assert words, f"{source.name} has no long word in its prose"
    return words[len(words) // 2]


def test_the_search_box_finds_a_lesson_by_a_word_in_it(site, browser):
    base, _, built, _ = site
    lesson = built[-1]
    word = _search_word(lesson)
    page, problems = _open(browser, base)
    page.locator("button.search-button__button, .search-button-field").first.click()
    box = page.locator("#pst-search-dialog input[name=q]")
    box.fill(word)
    box.press("Enter")
    page.wait_for_url(re.compile(r"search\.html\?q="))
    page.wait_for_function("() => /Search finished/.test(document.body.innerText)", timeout=30_000)
    hits = page.eval_on_selector_all("#search-results a, ul.search a", "els => els.map(e => e.getAttribute('href'))")
    listed = any(f"notebooks/{lesson.stem}" in (h or "") for h in hits)
    assert listed, f"searching {word!r} did not list {lesson.name}: {hits}"
    assert not problems, problems


def test_pages_fit_a_phone_screen_without_sideways_scrolling(site, browser):
    base, _, built, _ = site
    paths = ["index.html", "exercises/index.html", "instructors.html", "benchmarks.html"]
    paths += [f"notebooks/{s.stem}.html" for s in built]
    wide = []
    for path in paths:
        page, _ = _open(browser, base + path, width=375)
        sizes = page.evaluate("""() => {
          const w = window.innerWidth;
          const past = e => e.getBoundingClientRect().right > w + 1;
          // Prose must wrap; tables, code and outputs may be wider, inside boxes that scroll on their own.
          const text = [...document.querySelectorAll('article *')]
            .filter(e => !e.closest('table, pre, .cell_output') && past(e)).map(e => e.textContent.slice(0, 40));
          const boxes = [...document.querySelectorAll('article .pst-scrollable-table-container, article pre, '
            + 'article .cell_output')].filter(past).map(e => e.className || e.tagName);
          return {page: document.documentElement.scrollWidth, w, text: text.concat(boxes)};
        }""")
        if sizes["page"] > sizes["w"] + 1 or sizes["text"]:
            wide.append(f"{path}: page {sizes['page']} px wide at {sizes['w']} px; past the edge: {sizes['text'][:3]}")
        page.close()
    assert not wide, "\n".join(wide)


def _solution_lines(copies: Path) -> set[str]:
    """Lines of the solutions (code between nbgrader's markers, model answers) that the published notebooks lack.

    Published: the exercise stubs and the lessons with their outputs (lesson 06 prints marslab's own
    squeeze-and-excitation block, for instance, which shares a line with exercise 06's answer).
    """
    published = " ".join(_text_of(p) for p in [*(ROOT / "exercises").glob("*.ipynb"), *copies.glob("*.ipynb")])
    lines = set()
    for path in (ROOT / "solutions").glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            text = "".join(cell["source"])
            for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", text, re.S):
                lines |= {_squash(line) for line in region.splitlines() if len(_squash(line)) >= 20}
    return {line for line in lines if line not in published}


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _text_of(path: Path) -> str:
    """What a reader (or a search engine) sees of a built file: page text, notebook sources, or the raw text."""
    raw = path.read_text(errors="replace")
    if path.suffix == ".html":
        parser = html.parser.HTMLParser()
        chunks: list[str] = []
        parser.handle_data = chunks.append
        parser.feed(raw)
        raw = "".join(chunks)
    elif path.suffix == ".ipynb":
        cells = json.loads(raw)["cells"]
        outputs = [o.get("text") or o.get("data", {}).get("text/plain", "")
                   for c in cells for o in c.get("outputs", [])]
        raw = "\n".join("".join(part) for part in [c["source"] for c in cells] + outputs)
    return _squash(raw)


def test_no_page_contains_solution_code(site):
    _, html_dir, _, copies = site
    lines = _solution_lines(copies)
    assert len(lines) >= 20, f"only {len(lines)} solution lines to look for: the check would prove little"
    # The scan finds solution code where it is: the solution notebook itself.
    assert any(line in _text_of(next((ROOT / "solutions").glob("05_*.ipynb"))) for line in lines)
    files = [p for p in html_dir.rglob("*") if p.is_file() and p.suffix in (".html", ".ipynb", ".js", ".txt", ".json")]
    leaks = [f"{p.relative_to(html_dir)}: {line!r}" for p in files for text in [_text_of(p)] for line in lines
             if line in text]
    assert not leaks, "solution code in the built site:\n" + "\n".join(leaks[:20])
    exercise_pages = list((html_dir / "exercises").glob("[0-9][0-9]_*.html"))
    assert len(exercise_pages) == len(list((ROOT / "exercises").glob("[0-9][0-9]_*.ipynb")))
    assert all("NotImplementedError" in _text_of(p) for p in exercise_pages), "an exercise page shows no stub"


# Without a browser: the pieces the build relies on, and the README's promise.

def test_executed_copies_are_reused_only_when_current_and_from_one_run(tmp_path):
    from tools import executed

    lessons = executed.lessons()[:2]
    record = {"run": "run-a", "date": "2025-01-01 00:00 UTC", "profile": "smoke"}
    for lesson in lessons:
        n = sum(c.cell_type == "code" for c in nbformat.read(lesson, as_version=4).cells)
        outputs = [[nbformat.v4.new_output("stream", name="stdout", text=f"cell {i}\n")] for i in range(n)]
        executed.write_copy(lesson, outputs, record, tmp_path)
    copies, why = executed.load_copies(lessons, tmp_path)
    assert why == "" and set(copies) == {p.name for p in lessons}
    first_code = next(c for c in copies[lessons[0].name].cells if c.cell_type == "code")
    assert first_code.outputs[0].text == "cell 0\n" and first_code.execution_count == 1

    no_outputs = [[] for c in nbformat.read(lessons[1], as_version=4).cells if c.cell_type == "code"]
    executed.write_copy(lessons[1], no_outputs, {**record, "run": "run-b"}, tmp_path)
    assert executed.load_copies(lessons, tmp_path) == ({}, "the copies come from 2 different runs")

    stale = nbformat.read(tmp_path / lessons[0].name, as_version=4)
    stale.metadata[executed.META_KEY]["source_sha256"] = "0" * 64
    nbformat.write(stale, tmp_path / lessons[0].name)
    assert "lesson changed since it was executed" in executed.load_copies(lessons, tmp_path)[1]
    third = executed.lessons()[2].name
    assert f"{third}: no executed copy" in executed.load_copies(executed.lessons()[:3], tmp_path)[1]
    assert executed.load_copies(lessons, tmp_path / "none") == ({}, f"no executed copies in {tmp_path / 'none'}")


def test_guides_show_no_solution_and_point_links_that_are_not_pages_to_the_repository():
    from tools import site_pages
    from tools.nb import BRANCH, REPO

    guide = ("def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\ntext after\n")
    assert site_pages.elide_solutions(guide) == ("def f(x):\n    ### BEGIN SOLUTION\n    ...\n    ### END SOLUTION\n"
                                                 "\ntext after\n")
    pages = {"notebooks/05_unet.ipynb": "notebooks/05_unet.ipynb", "docs/instructors.md": "instructors.md"}
    text = "[a](../notebooks/05_unet.ipynb#top) [b](../solutions/05_unet.ipynb) [c](https://x.org) [d](#here)"
    assert site_pages.rewrite_links(text, "docs/instructors.md", "instructors.md", pages) == (
        f"[a](notebooks/05_unet.ipynb#top) [b](https://github.com/{REPO}/blob/{BRANCH}/solutions/05_unet.ipynb) "
        "[c](https://x.org) [d](#here)")


def test_the_build_finds_resources_a_page_would_load_from_outside_the_site(tmp_path):
    from tools.site import external_loads

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "page.html").write_text(
        '<img src="https://colab.research.google.com/assets/colab-badge.svg"><img src="../_static/x.png">'
        '<script src="//cdn.example.org/x.js"></script><a href="https://example.org/">a link loads nothing</a>'
        '<link rel="stylesheet" href="../_static/site.css"><link rel="canonical" href="https://example.org/">')
    (tmp_path / "site.css").write_text("body { background: url('https://fonts.example.org/x.woff2'); }"
                                       " .a { background: url(../img/local.png); }")
    assert external_loads(tmp_path) == ["a/page.html: https://colab.research.google.com/assets/colab-badge.svg",
                                        "a/page.html: //cdn.example.org/x.js",
                                        "site.css: https://fonts.example.org/x.woff2"]


def test_the_readme_and_the_pages_workflow_build_the_site_with_one_command():
    from tools.nb import REPO

    readme = (ROOT / "README.md").read_text()
    command = re.search(r"<!-- site-command -->\s*```bash\n(.+?)\n```", readme, re.S).group(1).strip()
    assert ".[site]" in command and command.endswith("-m tools.site"), command
    workflow = (ROOT / ".github" / "workflows" / "pages.yml").read_text()
    assert f"run: {command}\n" in workflow, "the Pages workflow does not run the README's site command"
    assert "path: build/site/html" in workflow and "actions/deploy-pages" in workflow
    owner, name = REPO.split("/")
    assert f"https://{owner}.github.io/{name}/" in readme, "the README does not link the published site"
