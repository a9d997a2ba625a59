"""Checks for exercises/10_submission.ipynb: encode a row, decode it, write the whole CSV text."""
from __future__ import annotations

import os
import tempfile

import numpy as np

from marslab import IMAGE_SHAPE
from marslab.checks._core import Incorrect, Question, as_array, expect, expect_callable


def _preds(seed: int, n: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 5, size=(n, *IMAGE_SHAPE)).astype(np.uint8)


def _row(image_id: int, pred: np.ndarray) -> str:
    return f"{image_id}," + ",".join(str(v) for v in pred.ravel())


def _test_encode(fn) -> None:
    expect_callable(fn)
    for seed, image_id in ((0, 0), (1, 137)):
        pred = _preds(seed)[0]
        got = fn(image_id, pred.copy())
        expect(isinstance(got, str), f"expected a str (one CSV line), got a {type(got).__name__}")
        want = _row(image_id, pred)
        if got.endswith("\n"):
            raise Incorrect("return the line without its newline; the writer adds one per row")
        expect(" " not in got and "[" not in got, "the line should be plain comma-separated numbers, without spaces "
                                                  "or brackets: join str(label) with ','")
        fields = got.split(",")
        expect(fields[0] == str(image_id), f"the line should start with the image id {image_id}, got {fields[0]!r}")
        expect(len(fields) == pred.size + 1, f"expected the id and {pred.size} labels ({pred.size + 1} fields), "
                                             f"got {len(fields)}")
        if got == _row(image_id, pred.T):
            raise Incorrect("the pixels are in column-major order: the format is row-major, pixel r * 128 + c is "
                            "row r, column c (`pred.ravel()`, not `pred.T.ravel()`)")
        expect(got == want, f"the labels of image {image_id} differ from the expected row-major order")


q1 = Question(
    "q1", "encode_row(image_id, pred) -> 'id,l0,l1,...,l8191'",
    _test_encode,
    function="encode_row", points=1,
    hints=["A submission row is the image id followed by the 64 * 128 labels of its pixels, all separated by commas.",
           "`pred.ravel()` lists the pixels row by row; `','.join(str(v) for v in ...)` makes the text."],
    solution="""
    def encode_row(image_id, pred):
        return f"{image_id}," + ",".join(str(v) for v in pred.ravel())
    """,
)


def _test_decode(fn) -> None:
    expect_callable(fn)
    for seed, image_id in ((2, 5), (3, 10021)):
        pred = _preds(seed)[0]
        got = fn(_row(image_id, pred))
        expect(isinstance(got, tuple) and len(got) == 2, f"expected a tuple (image_id, pred), got {type(got).__name__}")
        got_id, got_pred = got
        expect(isinstance(got_id, (int, np.integer)), f"the image id should be an int, got {type(got_id).__name__} "
                                                      f"{got_id!r}")
        expect(got_id == image_id, f"expected image id {image_id}, got {got_id}")
        got_pred = as_array(got_pred, "the decoded pred")
        if got_pred.shape == (pred.size,):
            raise Incorrect(f"the labels come back flat, shape {got_pred.shape}: reshape them to {IMAGE_SHAPE}")
        expect(got_pred.shape == IMAGE_SHAPE, f"the decoded pred should have shape {IMAGE_SHAPE}, got {got_pred.shape}")
        expect(np.issubdtype(got_pred.dtype, np.integer), f"labels should be integers, got dtype {got_pred.dtype}")
        if np.array_equal(got_pred, pred.ravel().reshape(IMAGE_SHAPE[::-1]).T):
            raise Incorrect("the labels are placed column by column: the row is row-major, reshape to (64, 128)")
        expect(np.array_equal(got_pred, pred), f"the decoded labels of image {image_id} differ from the encoded ones")


q2 = Question(
    "q2", "decode_row(line) -> (image_id, pred (64, 128))",
    _test_decode,
    function="decode_row", points=1,
    hints=["`line.split(',')` gives the id first, then the labels as strings.",
           "`np.array(fields[1:], dtype=np.uint8).reshape(64, 128)`; the id is `int(fields[0])`."],
    solution="""
    def decode_row(line):
        fields = line.strip().split(",")
        return int(fields[0]), np.array(fields[1:], dtype=np.uint8).reshape(64, 128)
    """,
)


def _test_text(fn) -> None:
    from marslab.submission import to_csv  # the tested fast writer is the reference (it imports Keras: lazily)

    expect_callable(fn)
    preds = _preds(4, n=3)
    got = fn(preds.copy())
    expect(isinstance(got, str), f"expected the whole file as one str, got a {type(got).__name__}")
    fd, path = tempfile.mkstemp(suffix=".csv")
    os.close(fd)
    try:
        to_csv(preds, path, progress=False)
        with open(path, encoding="ascii") as f:
            want = f.read()
    finally:
        os.remove(path)
    got_lines, want_lines = got.rstrip("\n").split("\n"), want.rstrip("\n").split("\n")
    expect(got_lines[0] == want_lines[0], "the first line should be the header 'id,0,1,...,8191' "
                                          f"(got one starting {got_lines[0][:20]!r})")
    expect(len(got_lines) == len(want_lines), f"expected the header and {len(preds)} rows, got {len(got_lines)} lines")
    if got_lines[1].startswith("1,"):
        raise Incorrect("ids start at 0: row i is test image i")
    expect(got_lines == want_lines, "the rows differ from the expected ones: use encode_row(i, preds[i])")
    expect(got.endswith("\n"), "end the file with a newline after the last row")


q3 = Question(
    "q3", "submission_text(preds) -> the whole CSV (header + one row per image)",
    _test_text,
    function="submission_text", points=1,
    hints=["The header is 'id' followed by the pixel numbers 0..8191.",
           "`'\\n'.join([header] + [encode_row(i, p) for i, p in enumerate(preds)]) + '\\n'`."],
    solution="""
    def submission_text(preds):
        header = "id," + ",".join(str(i) for i in range(64 * 128))
        rows = [encode_row(i, pred) for i, pred in enumerate(preds)]
        return "\\n".join([header, *rows]) + "\\n"
    """,
    correct_message="byte for byte what `marslab.submission.to_csv` writes, which is much faster on the "
                    "10022 test images.",
)

QUESTIONS = [q1, q2, q3]
