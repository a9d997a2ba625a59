"""Writing the submission CSV: marslab.submission.to_csv against pandas' default writer.

Target (issue): the full test set (10022 images) in under 20 s and under 1 GB of extra memory.
Each writer runs in its own process; "peak extra MB" is its peak resident memory minus the
memory it held before writing (the predictions themselves, 82 MB, are not counted).

    python benchmarks/bench_submission.py            # full test set (pandas takes a minute or more)
    python benchmarks/bench_submission.py --quick    # 300 images

Recorded (10022 images, 2 shared CPU cores under load): to_csv 0.47 s, 24 MB extra;
pandas 16.0 s, 87 MB extra; the same 157 MB file.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time

import numpy as np

TARGET_S, TARGET_MB = 20.0, 1024.0


def _peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def _write_marslab(preds: np.ndarray, path: str) -> None:
    from marslab.submission import to_csv

    to_csv(preds, path, progress=False)


def _write_pandas(preds: np.ndarray, path: str) -> None:
    import pandas as pd

    df = pd.DataFrame(preds.reshape(len(preds), -1))
    df.insert(0, "id", np.arange(len(preds)))
    df.to_csv(path, index=False)


WRITERS = {"marslab.submission.to_csv": _write_marslab, "pandas DataFrame.to_csv": _write_pandas}


def _child(name: str, n_images: int, path: str, queue: mp.Queue) -> None:
    import marslab.submission  # noqa: F401  (imports are not part of the measurement)
    import pandas  # noqa: F401

    preds = np.random.default_rng(0).integers(0, 5, (n_images, 64, 128), dtype=np.uint8)
    before = _peak_mb()
    start = time.perf_counter()
    WRITERS[name](preds, path)
    seconds = time.perf_counter() - start
    queue.put((seconds, _peak_mb() - before, os.path.getsize(path) / 2**20))


def measure(name: str, n_images: int) -> tuple[float, float, float]:
    """(seconds, peak extra MB, file MB) of one writer on n_images random predictions, in a fresh process."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        proc = ctx.Process(target=_child, args=(name, n_images, os.path.join(tmp, "s.csv"), queue))
        proc.start()
        result = queue.get()
        proc.join()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 images instead of the full test set")
    parser.add_argument("--n-images", type=int, default=10022, help="number of test images (default: %(default)s)")
    parser.add_argument("--skip-pandas", action="store_true", help="measure marslab's writer only")
    args = parser.parse_args(argv)
    n = 300 if args.quick else args.n_images
    names = [n for n in WRITERS if not (args.skip_pandas and n.startswith("pandas"))]
    print(f"writing a submission of {n} images ({os.cpu_count()} CPU cores; timings depend on machine load)")
    print(f"{'writer':<28} {'seconds':>8} {'peak extra MB':>14} {'file MB':>8}  within target")
    for name in names:
        seconds, extra, size = measure(name, n)
        ok = "yes" if seconds < TARGET_S * n / 10022 and extra < TARGET_MB else "no"
        print(f"{name:<28} {seconds:8.2f} {extra:14.1f} {size:8.1f}  {ok}")
    print(f"target for 10022 images: < {TARGET_S:.0f} s and < {TARGET_MB:.0f} MB (scaled to {n} images for time)")


if __name__ == "__main__":
    main()
