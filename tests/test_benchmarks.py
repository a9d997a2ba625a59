"""The GPU benchmark script runs end to end (on the CPU, tiny) and prints its table."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_benchmark_runs_on_cpu_and_prints_a_row_per_builder():
    out = subprocess.run([sys.executable, "benchmarks/bench_gpu.py", "--quick", "--only", "unet", "unet3plus"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith(("unet ", "unet3plus "))]
    assert len(rows) == 2, out.stdout
    for row in rows:
        images_per_s = float(row.split()[-3])
        assert images_per_s > 0
