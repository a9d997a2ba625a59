"""bench_quality.py on a real file (--data ai4mars-full): frame-level held-out split, both models scored, and
one clear line when --file is missing."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from marslab.data import load_mars

ROOT = Path(__file__).resolve().parents[1]


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "benchmarks/bench_quality.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)


def test_real_file_run_holds_out_whole_frames_and_scores_both(tmp_path):
    real = load_mars("ai4mars")
    path = tmp_path / "real.npz"  # a training-only file with image_id, like the shared AI4Mars file
    np.savez(path, training_set=np.stack([real.images[:160], real.masks[:160]], axis=1), image_id=real.image_id[:160])
    out = _bench("--quick", "--data", "ai4mars-full", "--file", str(path), "--epochs", "1", "--recipe-epochs", "1",
                 "--minutes", "5")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "profile quick (ai4mars-full)" in out.stdout
    n_train, n_test = (int(v) for v in re.search(r"'n_train': (\d+), 'n_test': (\d+)", out.stdout).groups())
    assert n_train + n_test == 160 and 0.05 < n_test / 160 < 0.3
    rows = [line for line in out.stdout.splitlines() if line.startswith(("baseline", "recipe,"))]
    assert len(rows) == 6 and all(0 <= float(v) <= 1 for row in rows for v in row.split("|")[1:])


def test_real_file_option_needs_its_file():
    out = _bench("--data", "ai4mars-full")
    assert out.returncode == 2 and "--data ai4mars-full needs --file PATH" in out.stderr


def test_real_split_keeps_every_frame_on_one_side(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_quality import real_split, split

    real = load_mars("ai4mars")
    path = tmp_path / "real.npz"
    np.savez(path, training_set=np.stack([real.images, real.masks], axis=1), image_id=real.image_id)
    data = real_split(str(path), seed=0)
    held_out = set(real.image_id) - set(data.image_id)
    assert len(data.images) + len(data.test_images) == len(real.images)
    assert sum(np.isin(real.image_id, list(held_out))) == len(data.test_images)  # both crops of each frame
    assert 0.10 < len(held_out) / len(set(real.image_id)) < 0.20
    (train_images, _), (val_images, _) = split(data, seed=0)
    assert len(train_images) + len(val_images) == len(data.images)


def test_no_baseline_trains_and_scores_only_the_recipe():
    out = _bench("--quick", "--epochs", "1", "--recipe-epochs", "1", "--no-baseline")
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line.split("|")[0].strip() for line in out.stdout.splitlines() if line.startswith(("baseline", "recipe,"))]
    assert rows == ["recipe, argmax", "recipe, classes 1-4", "recipe, classes 1-4 + flip TTA",
                    "recipe, TTA + tuned class weights"]
    assert "recipe - baseline" not in out.stdout and "training seconds: baseline 0," in out.stdout
