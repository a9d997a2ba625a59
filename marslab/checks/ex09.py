"""Checks for exercises/09_training_recipe.ipynb: the warmup + cosine schedule, the most confused class pairs."""
from __future__ import annotations

import math

import numpy as np

from marslab.checks._core import Incorrect, Question, expect, expect_callable


def _schedule(step: int, peak: float, total: int, warmup: int, alpha: float) -> float:
    if step < warmup:
        return peak * step / warmup
    progress = min((step - warmup) / (total - warmup), 1.0)
    return peak * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * progress)) + alpha)


def _test_schedule(fn) -> None:
    expect_callable(fn)
    for peak, total, warmup, alpha in ((1e-3, 100, 0, 0.01), (3e-3, 200, 20, 0.1)):
        steps = [0, 1, warmup // 2, warmup, (warmup + total) // 2, total - 1, total, total + 50]
        got = np.array([float(fn(s, peak, total, warmup_steps=warmup, alpha=alpha)) for s in steps])
        want = np.array([_schedule(s, peak, total, warmup, alpha) for s in steps])
        if np.allclose(got, want, rtol=1e-6, atol=1e-12):
            continue
        what = f"peak={peak}, total_steps={total}, warmup_steps={warmup}, alpha={alpha}"
        if np.isclose(got[-2], 0.0, atol=1e-12) and alpha:
            raise Incorrect(f"{what}: at the end the rate is 0; it should settle at alpha * peak = {alpha * peak:g}")
        if warmup and np.isclose(got[0], peak):
            raise Incorrect(f"{what}: step 0 already has the peak rate; warm up linearly from 0 over warmup_steps")
        if warmup and np.allclose(got, [_schedule(s, peak, total + warmup, warmup, alpha) for s in steps]):
            raise Incorrect(f"{what}: your cosine runs for total_steps after the warmup; it should end at step "
                            "total_steps, so it lasts total_steps - warmup_steps")
        expect(got[-1] == got[-2], f"{what}: after total_steps the rate should stay at its final value, got "
                                   f"{got[-2]:.3g} then {got[-1]:.3g}")
        raise Incorrect(f"{what}: at steps {steps} expected {np.round(want, 8).tolist()}, got "
                        f"{np.round(got, 8).tolist()}")


q1 = Question(
    "q1", "warmup_cosine(step, peak_learning_rate, total_steps, warmup_steps, alpha) -> learning rate",
    _test_schedule,
    function="warmup_cosine", points=2,
    hints=["Two phases: before `warmup_steps` the rate grows linearly from 0 to the peak; after it, a half cosine "
           "takes it from the peak down to `alpha * peak` at `total_steps`.",
           "progress = min((step - warmup_steps) / (total_steps - warmup_steps), 1); "
           "rate = peak * ((1 - alpha) * 0.5 * (1 + cos(pi * progress)) + alpha)."],
    solution="""
    def warmup_cosine(step, peak_learning_rate, total_steps, warmup_steps=0, alpha=0.01):
        if step < warmup_steps:
            return peak_learning_rate * step / warmup_steps
        progress = min((step - warmup_steps) / (total_steps - warmup_steps), 1.0)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return peak_learning_rate * ((1.0 - alpha) * cosine + alpha)
    """,
    correct_message="the same curve as `marslab.training.cosine_schedule`, built on Keras' CosineDecay.",
)


def _test_confused(fn) -> None:
    expect_callable(fn)
    cm = np.array([[50, 2, 1, 0, 0],
                   [4, 300, 30, 6, 0],
                   [1, 45, 150, 2, 1],
                   [0, 20, 3, 90, 0],
                   [0, 1, 3, 0, 2]])
    rows = cm / cm.sum(axis=1, keepdims=True)
    off = [(int(i), int(j), float(rows[i, j])) for i in range(5) for j in range(5) if i != j]
    want = sorted(off, key=lambda t: -t[2])[:3]
    got = fn(cm.copy(), k=3)
    expect(isinstance(got, (list, tuple)) and len(got) == 3, f"expected a list of k=3 (true, predicted, fraction) "
                                                             f"triples, got {got!r}"[:200])
    got = [(int(t), int(p), float(f)) for t, p, f in got]
    pairs = [(t, p) for t, p, _ in got]
    expect(all(t != p for t, p in pairs), "a pair (c, c) is a correct prediction, not a confusion: leave the "
                                          "diagonal out")
    by_count = sorted(((i, j) for i in range(5) for j in range(5) if i != j), key=lambda ij: -cm[ij])[:3]
    if pairs == by_count and pairs != [(t, p) for t, p, _ in want]:
        raise Incorrect("these are the largest raw counts, which favour the big classes: divide each row by its "
                        "sum first (the fraction of class t's pixels predicted as p)")
    expect(pairs == [(t, p) for t, p, _ in want], f"expected the pairs {[(t, p) for t, p, _ in want]} (largest "
                                                  f"first), got {pairs}")
    expect(np.allclose([f for *_, f in got], [f for *_, f in want]), "the fractions should be row-normalised: "
                                                                     "cm[t, p] / cm[t].sum()")


q2 = Question(
    "q2", "most_confused(cm, k) -> the k (true, predicted, fraction) pairs with the largest error rate",
    _test_confused,
    function="most_confused", points=1,
    hints=["Normalise each row of the confusion matrix by its sum: entry [t, p] becomes the fraction of class t's "
           "pixels predicted as p.",
           "Collect (t, p, fraction) for every t != p, sort by fraction, largest first, and keep k."],
    solution="""
    def most_confused(cm, k=3):
        rows = cm / cm.sum(axis=1, keepdims=True)
        pairs = [(t, p, rows[t, p]) for t in range(len(cm)) for p in range(len(cm)) if t != p]
        return sorted(pairs, key=lambda pair: -pair[2])[:k]
    """,
    correct_message="lesson 09 reads these pairs off its normalised confusion matrix: similar textures first.",
)

QUESTIONS = [q1, q2]
