"""The submission CSV: exact round trip, the Kaggle layout, every malformed case, and the local score."""
import numpy as np
import pytest

from marslab.submission import read_csv, score, to_csv

H, W = 64, 128


@pytest.fixture
def preds():
    return np.random.default_rng(0).integers(0, 5, (7, H, W)).astype(np.uint8)


def write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def good_lines(preds):
    """An independent writer: the plain-Python form of the format."""
    header = ",".join(["id"] + [str(i) for i in range(H * W)])
    return [header] + [",".join([str(i)] + [str(int(v)) for v in p.ravel()]) for i, p in enumerate(preds)]


def test_round_trip_is_exact(tmp_path, preds):
    to_csv(preds, tmp_path / "s.csv", progress=False)
    back = read_csv(tmp_path / "s.csv", n_images=len(preds), progress=False)
    assert back.dtype == np.uint8 and back.shape == preds.shape
    np.testing.assert_array_equal(back, preds)


def test_layout_is_id_then_row_major_pixels(tmp_path, preds):
    to_csv(preds, tmp_path / "s.csv", progress=False)
    assert (tmp_path / "s.csv").read_text().splitlines() == good_lines(preds)
    first = (tmp_path / "s.csv").read_text().splitlines()[2].split(",")  # image 1
    assert first[0] == "1"
    r, c = 5, 77
    assert int(first[1 + r * W + c]) == preds[1, r, c]


def test_reads_rows_in_any_order_and_windows_line_ends(tmp_path, preds):
    lines = good_lines(preds)
    path = tmp_path / "s.csv"
    path.write_bytes("\r\n".join([lines[0]] + lines[1:][::-1]).encode() + b"\r\n")
    np.testing.assert_array_equal(read_csv(path, progress=False), preds)


@pytest.mark.parametrize("bad, error", [
    (np.zeros((2, H, W), np.float32), TypeError),
    (np.zeros((2, H, W, 5), np.uint8), ValueError),
    (np.full((2, H, W), 5, np.uint8), ValueError),
    (np.zeros((0, H, W), np.uint8), ValueError),
])
def test_to_csv_rejects_bad_predictions(tmp_path, bad, error):
    with pytest.raises(error):
        to_csv(bad, tmp_path / "s.csv", progress=False)


def malformed(preds, case):
    lines = good_lines(preds)
    if case == "header":
        lines[0] = lines[0].replace("id,", "ImageId,", 1)
    elif case == "rows":
        lines = lines[:-1]
    elif case == "columns":
        lines[3] = lines[3].rsplit(",", 1)[0]
    elif case == "label":
        lines[2] = lines[2][:-1] + "7"
    elif case == "non-integer label":
        lines[2] = lines[2][:-1] + "1.0"
    elif case == "ids":
        lines[2] = "0" + lines[2][1:]  # id 1 becomes 0: 0 twice, 1 missing
    return lines


@pytest.mark.parametrize("case, message", [
    ("header", "header"),
    ("rows", "expected 7 rows"),
    ("columns", "columns"),
    ("label", "labels 0..4"),
    ("non-integer label", "labels 0..4"),
    ("ids", "ids must be"),
])
def test_each_malformed_submission_names_its_problem(tmp_path, preds, case, message):
    path = write(tmp_path / "bad.csv", malformed(preds, case))
    with pytest.raises(ValueError, match=message):
        read_csv(path, n_images=len(preds), progress=False)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_csv(tmp_path / "nope.csv")


def confusion_miou(true, pred):
    """Independent reference: the competition metric from a confusion matrix (classes 1-4, true bg dropped)."""
    cm = np.zeros((5, 5))
    np.add.at(cm, (true.ravel(), pred.ravel()), 1)
    cm[0] = 0
    ious = []
    for c in range(1, 5):
        union = cm[c].sum() + cm[:, c].sum() - cm[c, c]
        if union:
            ious.append(cm[c, c] / union)
    return np.mean(ious)


def test_score_equals_the_competition_metric(tmp_path, preds):
    true = np.random.default_rng(1).integers(0, 5, preds.shape).astype(np.uint8)
    to_csv(preds, tmp_path / "s.csv", progress=False)
    assert score(tmp_path / "s.csv", true) == pytest.approx(confusion_miou(true, preds), abs=1e-12)
    assert score(tmp_path / "s.csv", preds) == pytest.approx(1.0)


def test_score_checks_row_count_against_the_truth(tmp_path, preds):
    to_csv(preds, tmp_path / "s.csv", progress=False)
    with pytest.raises(ValueError, match="expected 8 rows"):
        score(tmp_path / "s.csv", np.zeros((8, H, W), np.uint8))


def test_benchmark_smoke_runs():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "benchmarks/bench_submission.py", "--n-images", "20", "--skip-pandas"], cwd=root,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "marslab.submission.to_csv" in result.stdout and "within target" in result.stdout
