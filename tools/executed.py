"""Executed copies of the lessons: each lesson with its outputs and a record of the run that made them.

One run (a `pytest --nbval notebooks/` session with $MARSLAB_EXECUTED_DIR set, see conftest.py, or the
site build executing the lessons itself) writes DIR/NN_name.ipynb for every lesson it ran completely.
Each copy carries, under the notebook metadata key `marslab_execution`, the run's id, date, profile,
package versions and data source, and the SHA-256 of the output-free source it was executed from.
The site build (`python -m tools.site`) uses a set of copies only when every copy matches its current
source and all come from one run, so a built page never shows outputs of an older lesson or of two runs.
"""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "notebooks"
EXECUTED_ENV = "MARSLAB_EXECUTED_DIR"
DEFAULT_DIR = ROOT / "build" / "executed"
META_KEY = "marslab_execution"
# The environment_report() entries a page states (the platform string and paths stay out of the site).
REPORTED = ("python", "marslab", "tensorflow", "keras", "keras-cv", "numpy", "keras backend", "devices")


def lessons() -> list[Path]:
    """The lesson notebooks, discovered from notebooks/ (NN_name.ipynb, or NNb_name.ipynb for a lesson that
    follows NN), in course order."""
    return sorted(p for p in LESSONS.glob("[0-9][0-9]*_*.ipynb") if re.fullmatch(r"\d\d[a-z]?_.+", p.name))


def source_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a source notebook's bytes: what an executed copy must have been made from."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_record() -> dict[str, str]:
    """A new run's record: id, UTC date, profile, package versions, devices and data sources.

    The profile is marslab.get_profile() of this process, whose environment the kernels inherit.
    Imports marslab (and so TensorFlow) once.
    """
    from marslab.data import find_ai4mars, find_real_data
    from marslab.info import environment_report

    report = environment_report()
    real = find_real_data()
    record = {"run": uuid.uuid4().hex[:12], "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "profile": report["profile"]}
    record.update({key: report[key] for key in REPORTED})
    record["data"] = f"real ({real.name})" if real else "synthetic (generated locally)"
    ai4mars = find_ai4mars()  # the real AI4Mars sample that lessons 01 and 11 compare with, where present
    record["ai4mars"] = ai4mars.name if ai4mars else "not found"
    return record


def write_copy(source: Path, outputs: list[list], record: dict[str, str], out_dir: Path) -> Path:
    """Write out_dir/<source name>: the source notebook with `outputs[i]` as the outputs of its i-th code cell.

    outputs: one list of nbformat output nodes per code cell, in order. Written to a temporary name
    and renamed, so a reader never sees half a copy.
    """
    nb = nbformat.read(source, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    if len(cells) != len(outputs):
        raise ValueError(f"{source.name}: {len(cells)} code cells but outputs for {len(outputs)}")
    for count, (cell, outs) in enumerate(zip(cells, outputs), start=1):
        cell.outputs = [nbformat.from_dict(dict(o)) for o in outs]
        cell.execution_count = count
        for out in cell.outputs:
            if out.output_type == "execute_result":
                out.execution_count = count
    return save(nb, source, record, out_dir)


def save(nb: nbformat.NotebookNode, source: Path, record: dict[str, str], out_dir: Path) -> Path:
    """Stamp an executed notebook with the run record and its source's hash, and write it atomically."""
    nb.metadata[META_KEY] = {**record, "source": source.relative_to(ROOT).as_posix(),
                             "source_sha256": source_sha256(source)}
    nbformat.validate(nb)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / source.name
    tmp = target.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    tmp.replace(target)
    return target


def load_copies(sources: list[Path], out_dir: Path) -> tuple[dict[str, nbformat.NotebookNode], str]:
    """The executed copies of `sources` in out_dir if they are all current and from one run, else ({}, why not).

    Returns ({source name: executed notebook}, "") when usable.
    """
    copies, problems, runs = {}, [], set()
    for source in sources:
        path = out_dir / source.name
        if not path.exists():
            problems.append(f"{source.name}: no executed copy")
            continue
        nb = nbformat.read(path, as_version=4)
        meta = nb.metadata.get(META_KEY)
        if not meta:
            problems.append(f"{source.name}: the copy has no {META_KEY} record")
        elif meta.get("source_sha256") != source_sha256(source):
            problems.append(f"{source.name}: the lesson changed since it was executed")
        else:
            copies[source.name] = nb
            runs.add(meta["run"])
    if not problems and len(runs) > 1:
        problems.append(f"the copies come from {len(runs)} different runs")
    if len(problems) == len(sources) and not any(out_dir.glob("*.ipynb")):
        return {}, f"no executed copies in {out_dir}"
    if problems:
        return {}, "; ".join(problems[:4]) + (f" (and {len(problems) - 4} more)" if len(problems) > 4 else "")
    return copies, ""


def _execute_one(source: Path, timeout_s: int) -> tuple[nbformat.NotebookNode, float]:
    """Execute one lesson top to bottom in a fresh kernel started in notebooks/; (notebook, seconds)."""
    from nbclient import NotebookClient

    nb = nbformat.read(source, as_version=4)
    start = time.monotonic()
    NotebookClient(nb, timeout=timeout_s, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(source.parent)}}).execute()
    return nb, time.monotonic() - start


def execute(sources: list[Path], out_dir: Path, jobs: int = 1,
            timeout_s: int = 600) -> dict[str, nbformat.NotebookNode]:
    """Execute each lesson with nbclient (one kernel per lesson, `jobs` lessons at a time) as one run.

    The kernels inherit this process's environment: $MARSLAB_PROFILE, smoke unless set (so a GPU machine
    runs the full profile only when asked). A cell error stops the build, naming the lesson.
    Returns {source name: executed notebook}, also written to out_dir.
    """
    os.environ.setdefault("MARSLAB_PROFILE", "smoke")
    record = run_record()
    print(f"executing {len(sources)} lessons ({record['profile']} profile, {jobs} at a time) ...", flush=True)
    done = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_execute_one, source, timeout_s): source for source in sources}
        for future in as_completed(futures):
            source = futures[future]
            try:
                nb, seconds = future.result()
            except Exception as err:
                pool.shutdown(cancel_futures=True)
                raise SystemExit(f"lesson {source.name} failed while executing for the site:\n{err}") from err
            save(nb, source, record, out_dir)
            done[source.name] = nb
            print(f"  {source.name}: {seconds:.0f} s", flush=True)
    return {source.name: done[source.name] for source in sources}
