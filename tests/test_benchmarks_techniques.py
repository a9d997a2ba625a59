"""The issue-26 benchmark scripts run end to end (--quick: tiny, on the CPU) and print their tables."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_quick(script: str) -> str:
    out = subprocess.run([sys.executable, f"benchmarks/{script}", "--quick"], cwd=ROOT, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_techniques_benchmark_prints_parameters_and_seconds():
    rows = [line for line in run_quick("bench_techniques.py").splitlines() if line.startswith("gated concat (004)")]
    assert rows, "no row for the gated concat variant"
    params_smoke, params_default = (int(cell.replace(",", "")) for cell in rows[0].split()[3:5])
    assert 0 < params_smoke < params_default and float(rows[0].split()[5]) > 0 and float(rows[0].split()[6]) > 0


def test_labels_benchmark_scores_every_mask_set():
    stdout = run_quick("bench_labels.py")
    for label in ("raw masks (as given)", "grown r2 t20 (Background only)", "10% worst fit discarded",
                  "10% most contradicted discarded"):
        assert label in stdout
    assert "Spearman" in stdout and "a perfect model of the truth" in stdout


@pytest.mark.parametrize("script,expected", [
    ("bench_subset_ranking.py", "ranking on 30%"),
    ("bench_rare_patches.py", "generated (GAN)"),
])
def test_other_issue_26_benchmarks_run(script, expected):
    assert expected in run_quick(script)
