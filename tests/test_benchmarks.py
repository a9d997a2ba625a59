"""The benchmark scripts that the rest of the suite does not run: each runs end to end (on the CPU, tiny) and prints its table."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_script(script: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run benchmarks/<script> with `args` in a fresh interpreter, capturing its output."""
    return subprocess.run([sys.executable, f"benchmarks/{script}", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def run_benchmark(script: str, *args: str) -> str:
    """run_script's stdout, once the script has exited cleanly."""
    out = run_script(script, *args)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_gpu_benchmark_runs_on_cpu_and_prints_a_row_per_builder():
    stdout = run_benchmark("bench_gpu.py", "--quick", "--only", "unet", "unet3plus")
    rows = [line for line in stdout.splitlines() if line.startswith(("unet ", "unet3plus "))]
    assert len(rows) == 2, stdout
    for row in rows:
        images_per_s = float(row.split()[-3])
        assert images_per_s > 0


def test_pipeline_benchmark_quick_run_prints_rates_and_the_verdict():
    stdout = run_benchmark("bench_pipeline.py", "--quick")
    rows = [line for line in stdout.splitlines() if line.endswith("x") and "images/s" not in line]
    assert any(row.startswith("no augmentation") for row in rows) and any(row.startswith("preset all") for row in rows)
    for row in rows:
        rate, ratio = row.split()[-2:]
        assert float(rate.replace(",", "")) > 0 and float(ratio[:-1]) > 0
    assert "the 10x target on this CPU" in stdout


def test_quality_benchmark_quick_run_scores_both_models_on_the_test_split():
    stdout = run_benchmark("bench_quality.py", "--quick", "--epochs", "1", "--recipe-epochs", "1", "--ensemble", "2")
    lines = stdout.splitlines()
    rows = {line.split("|")[0].strip(): [float(v) for v in line.split("|")[1:]]
            for line in lines if line.startswith(("baseline", "recipe,"))}
    assert list(rows) == ["baseline (lesson 05)", "baseline + tuned class weights", "recipe, argmax", "recipe, classes 1-4",
                          "recipe, classes 1-4 + flip TTA", "recipe, TTA + tuned class weights"]
    for values in rows.values():  # mean IoU, then the IoU of Soil, Bedrock, Sand, Big Rock
        assert len(values) == 5 and all(0.0 <= v <= 1.0 for v in values)
    gain = rows["recipe, TTA + tuned class weights"][0] - rows["baseline (lesson 05)"][0]
    printed = float(re.search(r"recipe - baseline: ([+-][0-9.]+) mean IoU", stdout).group(1))
    assert abs(printed - gain) <= 1.5e-4  # the table's values are rounded to 4 decimals
    assert "'epochs': 1, 'recipe_epochs': 1" in stdout and "'ensemble': 2" in stdout
    assert stdout.count(" - val_mean_iou: ") == 3  # one epoch of the baseline and of each of the two recipe models


def test_models_benchmark_quick_run_compares_unet_with_the_hand_written_one():
    stdout = run_benchmark("bench_models.py", "--quick", "--xla", "off", "--models", "plain_unet,unet")
    rows = {line.split()[0]: line.split() for line in stdout.splitlines()
            if line.startswith(("plain_unet ", "unet ")) and line.split()[1] == "off"}
    assert set(rows) == {"plain_unet", "unet"}
    assert rows["unet"][2] == rows["plain_unet"][2]  # the same network: the same parameter count
    assert all(float(row[3]) > 0 for row in rows.values())  # images/s
    assert re.search(r"unet / plain_unet, XLA off, .*: [0-9.]+x", stdout)


def test_loss_power_benchmark_quick_run_prints_a_row_per_setting():
    stdout = run_benchmark("bench_loss_power.py", "--quick", "--settings", "0:1e-3", "1:2e-3")
    rows = [line.split("|") for line in stdout.splitlines() if re.match(r"\s+[0-9.]+ \|", line)]
    assert [(float(r[0]), float(r[1])) for r in rows] == [(0.0, 1e-3), (1.0, 2e-3)]
    for row in rows:  # power, lr, loss x2, val x2, mean IoU and 4 classes, trains
        assert len(row) == 12 and row[-1].strip() in {"yes", "no"}
        assert all(float(v) > 0 for v in row[2:4]) and all(0.0 <= float(v) <= 1.0 for v in row[4:11])
    weights = re.search(r"class weights at power 1: \[(.*)\]", stdout).group(1).split(",")
    assert float(weights[0]) == 0.0 and float(weights[4]) > float(weights[1])  # Background zeroed, Big Rock heaviest


def test_loss_power_benchmark_rejects_a_malformed_setting():
    out = run_script("bench_loss_power.py", "--settings", "half", timeout=120)
    assert out.returncode != 0 and "expected POWER:LEARNING_RATE" in out.stderr
