"""Grading a class: `marslab grade` on a synthetic class of one exercise, time and peak memory.

Target (issue 29): 300 submissions of one exercise notebook in under 15 minutes on 2 cores with peak
memory under 4 GB; one hanging submission costs only its own time limit.

The class is built from solutions/ and exercises/: 70 % solved, 15 % stubs, 15 % with a wrong answer,
every notebook carrying 200 kB of saved outputs (a plot), and with --hang one endless loop. Peak memory
is the largest sum, over the benchmark, its fork server and its grading processes, of their
proportional set size (PSS: shared pages counted once), sampled every 0.2 s.

    python benchmarks/bench_grade.py                           # 300 submissions of exercise 05, + one hanging
    python benchmarks/bench_grade.py --start-method spawn -n 6 # each process imports marslab itself
    python benchmarks/bench_grade.py --quick                   # 6 submissions of exercise 03
"""
from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S, TARGET_MB = 15 * 60, 4096
NOTEBOOKS = {"ex03": "03_class_weights.ipynb", "ex05": "05_unet.ipynb"}
WRONG = {"ex03": ("q2", "def zero_background(w):\n    w = np.array(w, dtype=float)\n    w[0] = 0\n    return w\n"),
         "ex05": ("q2", "def conv_block(x, filters):\n    x = layers.Conv2D(filters, 3, padding='same')(x)\n"
                        "    x = layers.BatchNormalization()(x)\n    return layers.Activation('relu')(x)\n")}
HANG = "def {name}(*args, **kwargs):\n    while True:\n        pass\n"


def _with_source(nb: dict, grade_id: str, source: str) -> dict:
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            cell["source"] = source
    return nb


def make_class(folder: Path, exercise: str, n: int, hang: bool) -> None:
    """n notebooks of `exercise` in `folder` (student_000.ipynb, ...), one hanging if `hang`."""
    solved = json.loads((ROOT / "solutions" / NOTEBOOKS[exercise]).read_text())
    stub = json.loads((ROOT / "exercises" / NOTEBOOKS[exercise]).read_text())
    wrong = _with_source(solved, *WRONG[exercise])
    plot = {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(os.urandom(150_000)).decode(), "text/plain": "<Figure>"}}
    for i in range(n):
        nb = copy.deepcopy(stub if i % 20 in (1, 8, 15) else wrong if i % 20 in (4, 11, 18) else solved)
        next(c for c in nb["cells"] if c["cell_type"] == "code")["outputs"] = [plot]
        if hang and i == n // 2:
            nb = _with_source(nb, "q1", HANG.format(name="competition_metric" if exercise == "ex05" else
                                                    "inverse_frequency"))
        (folder / f"student_{i:03d}.ipynb").write_text(json.dumps(nb))


def _tree_pss_mb(root: int) -> float:
    """Sum of PSS (MB) of process `root` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration):
            continue
    return total / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=300, help="submissions (default: %(default)s)")
    parser.add_argument("--exercise", choices=sorted(NOTEBOOKS), default="ex05")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per step (default: %(default)g)")
    parser.add_argument("--no-hang", action="store_true", help="leave out the hanging submission")
    parser.add_argument("--start-method", choices=["forkserver", "spawn"], default="forkserver")
    parser.add_argument("--quick", action="store_true", help="6 submissions of ex03, 5 s limit")
    args = parser.parse_args()
    if args.quick:
        args.n, args.exercise, args.timeout = 6, "ex03", 5.0
    start = time.perf_counter()
    from marslab.grading import grade  # imports marslab (TensorFlow), as the `marslab` command does

    imported = time.perf_counter() - start

    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_pss_mb(os.getpid()))
            stop.wait(0.2)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "class")
        folder.mkdir()
        make_class(folder, args.exercise, args.n, hang=not args.no_hang)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        book = grade([folder], Path(tmp, "gradebook.csv"), exercise=args.exercise, jobs=args.jobs,
                     timeout=args.timeout, start_method=args.start_method)
        wall = time.perf_counter() - start
        stop.set()
        sampler.join()
    statuses: dict[str, int] = {}
    for row in book.rows:
        statuses[row.status] = statuses.get(row.status, 0) + 1
    hung = [r for r in book.rows if r.status == "timed out"]
    per = sorted(r.seconds for r in book.rows if r.status == "graded")
    print(f"marslab grade, {args.n} submissions of {args.exercise}, {args.jobs} jobs, {args.start_method}, "
          f"timeout {args.timeout:g} s, {os.cpu_count()} cores")
    print(f"{'measure':<44}{'value':>14}{'target':>14}")
    print(f"{'wall time, whole command (s)':<44}{wall:>14.1f}{'< ' + str(TARGET_S):>14}")
    print(f"{'  importing marslab (s)':<44}{imported:>14.1f}{'':>14}")
    print(f"{'  start-up: fork server importing marslab (s)':<44}{book.startup_seconds:>14.1f}{'':>14}")
    print(f"{'  grading (s)':<44}{book.seconds:>14.1f}{'':>14}")
    print(f"{'per graded submission, median / max (s)':<44}{per[len(per) // 2]:>7.2f} / {per[-1]:<4.1f}{'':>14}")
    print(f"{'peak memory, PSS of all processes (MB)':<44}{peak[0]:>14.0f}{'< ' + str(TARGET_MB):>14}")
    for row in hung:
        print(f"{'hanging submission ' + row.student + ' (s)':<44}{row.seconds:>14.1f}{'~ ' + f'{args.timeout:g}':>14}")
    print("rows by status: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    ok = wall < TARGET_S and peak[0] < TARGET_MB
    print(f"{'meets' if ok else 'MISSES'} the targets (< {TARGET_S / 60:.0f} min, < {TARGET_MB / 1024:.0f} GB)")


if __name__ == "__main__":
    main()
