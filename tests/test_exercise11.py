"""Exercise 11's checks on plausible wrong answers (the solution and the stub are checked with every exercise in
test_exercises.py, which also takes these wrong answers into its every-question-has-one census)."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from marslab.checks import assert_check_failed, assert_check_passed
from marslab.checks import ex11


def ex11_wrong_answers() -> list[tuple]:
    """(module, question, wrong answer, expected substring of the feedback)."""
    def copy_is_the_model(model):
        return model

    def copy_without_weights(model):
        return keras.models.clone_model(model)

    def copy_sharing_layers(model):
        return keras.Model(model.inputs, model.outputs)

    def frames_first_n(image_id, n, seed=0):
        return np.arange(min(n, len(image_id)))

    def frames_random_images(image_id, n, seed=0):
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(len(image_id), size=min(n, len(image_id)), replace=False))

    def frames_in_order(image_id, n, seed=0):
        chosen = []
        for frame in np.unique(image_id):
            index = np.flatnonzero(image_id == frame)
            if len(chosen) + len(index) <= n:
                chosen.extend(index.tolist())
        return np.sort(np.array(chosen, dtype=np.int64))

    def frames_unsorted(image_id, n, seed=0):
        rng = np.random.default_rng(seed)
        chosen = []
        for frame in rng.permutation(np.unique(image_id)):
            index = np.flatnonzero(image_id == frame)
            if len(chosen) + len(index) <= n:
                chosen.extend(index.tolist())
        return np.array(chosen, dtype=np.int64)

    def frames_overshoot(image_id, n, seed=0):
        rng = np.random.default_rng(seed)
        chosen = []
        for frame in rng.permutation(np.unique(image_id)):
            if len(chosen) >= n:
                break
            chosen.extend(np.flatnonzero(image_id == frame).tolist())
        return np.sort(np.array(chosen, dtype=np.int64))

    return [
        ("ex11", "q1", copy_is_the_model, "the model itself"),
        ("ex11", "q1", copy_without_weights, "not the trained weights"),
        ("ex11", "q1", copy_sharing_layers, "must own its weights"),
        ("ex11", "q2", frames_first_n, "take whole frames"),
        ("ex11", "q2", frames_random_images, "take whole frames"),
        ("ex11", "q2", frames_in_order, "at random"),
        ("ex11", "q2", frames_unsorted, "sorted"),
        ("ex11", "q2", frames_overshoot, "expected"),
    ]


@pytest.mark.parametrize("module, question, answer, message", ex11_wrong_answers(),
                         ids=lambda v: getattr(v, "__name__", None) if callable(v) else None)
def test_wrong_answer_gets_its_specific_message(module, question, answer, message):
    assert_check_failed(getattr(ex11, question), answer, message)


def test_take_frames_solution_on_the_real_sample_keeps_frames_whole():
    from marslab.data import load_mars

    real = load_mars("ai4mars")
    namespace: dict = {"np": np}
    exec(ex11.q2.solution_code, namespace)
    index = namespace["take_frames"](real.image_id, 50, seed=0)
    assert 49 <= len(index) <= 50
    taken = set(real.image_id[index])
    assert all(np.isin(np.flatnonzero(real.image_id == f), index).all() for f in taken)
    assert_check_passed(ex11.q2, namespace["take_frames"])
