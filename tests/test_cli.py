"""The `marslab` command: every sub-command runs, `--help` works, errors are one line without a traceback."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from marslab.cli import main
from marslab.data import read_course_npz
from marslab.synthetic import make_mars
from marslab.submission import to_csv

ROOT = Path(__file__).resolve().parents[1]
SIZES = ["--n-train", "8", "--n-test", "4", "--n-aliens", "2"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MARSLAB_CACHE", str(tmp_path / "cache"))


def run_module(*args):
    return subprocess.run([sys.executable, "-m", "marslab", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


@pytest.mark.parametrize("command", [[], ["info"], ["data"], ["score"], ["exercises"]])
def test_help(command):
    result = run_module(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: marslab" in result.stdout


def test_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "profile" in out and "keras" in out


def test_data_writes_the_course_format(tmp_path, capsys):
    out = tmp_path / "mars.npz"
    assert main(["data", "--out", str(out), "--with-test-masks", *SIZES]) == 0
    data = read_course_npz(out)
    assert data.images.shape == (8, 64, 128) and data.test_images.shape == (4, 64, 128)
    np.testing.assert_array_equal(data.test_masks, make_mars(0, 8, 4, 2).test_masks)
    assert "wrote" in capsys.readouterr().out


def test_score_is_the_competition_metric(tmp_path, capsys):
    truth = make_mars(0, 8, 4, 2).test_masks
    pred = np.random.default_rng(0).integers(0, 5, truth.shape).astype(np.uint8)
    to_csv(pred, tmp_path / "s.csv", progress=False)
    assert main(["score", str(tmp_path / "s.csv"), *SIZES]) == 0
    out = capsys.readouterr().out
    cm = np.zeros((5, 5))
    np.add.at(cm, (truth.ravel(), pred.ravel()), 1)
    cm[0] = 0
    inter, union = np.diag(cm)[1:], (cm.sum(0) + cm.sum(1) - np.diag(cm))[1:]
    expected = np.mean(inter[union > 0] / union[union > 0])
    assert f"{expected:.4f}  mean IoU" in out
    assert "IoU Big Rock" in out
    # the other reading of the metric: the pixels whose true label is Background count too
    assert main(["score", str(tmp_path / "s.csv"), "--reading", "all_pixels", *SIZES]) == 0
    cm = np.zeros((5, 5))
    np.add.at(cm, (truth.ravel(), pred.ravel()), 1)
    inter, union = np.diag(cm)[1:], (cm.sum(0) + cm.sum(1) - np.diag(cm))[1:]
    assert f"{np.mean(inter / union):.4f}  mean IoU (classes 1-4; every pixel counts)" in capsys.readouterr().out


def test_score_against_an_npz_with_test_masks(tmp_path, capsys):
    npz = tmp_path / "mars.npz"
    main(["data", "--out", str(npz), "--with-test-masks", *SIZES])
    to_csv(read_course_npz(npz).test_masks, tmp_path / "s.csv", progress=False)
    assert main(["score", str(tmp_path / "s.csv"), "--truth", str(npz)]) == 0
    assert "1.0000  mean IoU" in capsys.readouterr().out


def test_exercises_regenerates_from_solutions(tmp_path, capsys):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    first = sorted((ROOT / "solutions").glob("*.ipynb"))[0]
    shutil.copy(first, solutions)
    assert main(["exercises", "--solutions", str(solutions), "--exercises", str(tmp_path / "ex")]) == 0
    assert (tmp_path / "ex" / first.name).is_file()
    assert "wrote 1 exercise notebooks" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["score", "missing.csv", *SIZES], "does not exist"),
    (["score", "{bad}", *SIZES], "expected 4 rows"),
    (["score", "{bad}", "--truth", "nope.npz"], "no course file"),
    (["data", "--n-train", "0"], "n_train"),
])
def test_errors_are_one_line(tmp_path, capsys, args, message):
    bad = tmp_path / "bad.csv"
    to_csv(np.zeros((3, 64, 128), np.uint8), bad, progress=False)
    args = [a.replace("{bad}", str(bad)) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and err.startswith(f"marslab {args[0]}: error:")


def test_error_from_the_console_has_no_traceback():
    result = run_module("score", "missing.csv", *SIZES)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "does not exist" in result.stderr
