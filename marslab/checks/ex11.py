"""Checks for exercises/11_synthetic_to_real.ipynb: a model copy to fine-tune, real images taken by whole frame."""
from __future__ import annotations

import keras
import numpy as np

from marslab.checks._core import Incorrect, Question, expect, expect_callable


def _tiny_model() -> keras.Model:
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(3, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    outputs = keras.layers.Conv2D(5, 1, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="pretrained")


def _test_copy(fn) -> None:
    expect_callable(fn)
    model = _tiny_model()
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    original = [w.copy() for w in model.get_weights()]
    copy = fn(model)
    expect(isinstance(copy, keras.Model), f"expected a keras.Model, got {type(copy).__name__}")
    if copy is model:
        raise Incorrect("you returned the model itself: fine-tuning it would change the synthetic model too, so "
                        "each later run would start from the previous run's weights; build a new model")
    got = copy.get_weights()
    expect(len(got) == len(original), f"the copy has {len(got)} weight arrays, the model {len(original)}: "
                                      "keep the same architecture")
    if not all(a.shape == b.shape and np.allclose(a, b) for a, b in zip(got, original)):
        raise Incorrect("the copy has the architecture but not the trained weights (a clone starts from fresh "
                        "random ones): copy them over with set_weights(model.get_weights())")
    copy.layers[1].kernel.assign(np.zeros(copy.layers[1].kernel.shape, "float32"))
    expect(np.allclose(model.get_weights()[0], original[0]), "changing the copy's weights changed the model's: "
                                                             "the copy must own its weights")
    x = rng.random((2, 8, 8, 1)).astype("float32")
    expect(np.asarray(copy(x)).shape == (2, 8, 8, 5), "the copy should map (N, 8, 8, 1) to (N, 8, 8, 5) like the model")


q1 = Question(
    "q1", "fresh_copy(model) -> a new model with the same layers and the same trained weights",
    _test_copy,
    function="fresh_copy", points=1,
    hints=["`keras.models.clone_model(model)` builds the same architecture with new, random weights.",
           "Then `copy.set_weights(model.get_weights())` gives it the trained ones; return the copy."],
    solution="""
    def fresh_copy(model):
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        return copy
    """,
    correct_message="each fine-tuning run of the lesson starts from the same synthetic weights.",
)


def _frames(answer, image_id, n, seed, what):
    got = answer(image_id.copy(), n, seed=seed)
    got = np.asarray(got)
    expect(got.ndim == 1 and np.issubdtype(got.dtype, np.integer), f"{what}: expected a 1-D array of integer "
                                                                   f"indices, got {got.dtype} {got.shape}")
    expect(len(np.unique(got)) == len(got), f"{what}: an index appears twice; take each image at most once")
    expect(np.array_equal(got, np.sort(got)), f"{what}: return the indices sorted")
    expect(len(got) == 0 or (got.min() >= 0 and got.max() < len(image_id)), f"{what}: indices out of range")
    chosen = set(image_id[got])
    split = sorted(f for f in chosen if (image_id == f).sum() != np.isin(got, np.flatnonzero(image_id == f)).sum())
    if split:
        raise Incorrect(f"{what}: frame {split[0]!r} has some images taken and some left: take whole frames "
                        "(every index of each frame you pick)")
    return got


def _test_take_frames(fn) -> None:
    expect_callable(fn)
    rng = np.random.default_rng(1)
    frames = [f"frame{k:03d}" for k in range(60)]
    sizes = rng.choice([1, 2, 2, 2], size=len(frames))  # most frames give two crops, a few one
    image_id = rng.permutation(np.repeat(frames, sizes))  # the crops of a frame need not sit together
    for n in (10, 31, 50):
        what = f"n={n}"
        got = _frames(fn, image_id, n, 0, what)
        expect(n - 1 <= len(got) <= n, f"{what}: expected {n} images (or {n - 1} when the last frame would not "
                                       f"fit whole), got {len(got)}")
    a, b = (set(_frames(fn, image_id, 20, seed, f"seed={seed}").tolist()) for seed in (0, 1))
    expect(a == set(_frames(fn, image_id, 20, 0, "seed=0").tolist()), "the same seed should give the same images")
    expect(a != b, "seeds 0 and 1 gave the same images: pick the frames at random with "
                   "np.random.default_rng(seed)")
    every = _frames(fn, image_id, len(image_id) + 5, 0, "n above the number of images")
    expect(len(every) == len(image_id), "with n at least the number of images, take them all")


q2 = Question(
    "q2", "take_frames(image_id, n, seed) -> sorted indices of about n images, whole frames only",
    _test_take_frames,
    function="take_frames", points=2,
    hints=["Shuffle the distinct frame ids (`np.unique(image_id)`, then `rng.permutation`) and go through them, "
           "adding all of a frame's indices while the total stays within n.",
           "`np.flatnonzero(image_id == frame)` gives a frame's indices; stop adding a frame that would pass n, "
           "and return `np.sort` of what you collected."],
    solution="""
    def take_frames(image_id, n, seed=0):
        rng = np.random.default_rng(seed)
        chosen = []
        for frame in rng.permutation(np.unique(image_id)):
            index = np.flatnonzero(image_id == frame)
            if len(chosen) + len(index) <= n:
                chosen.extend(index.tolist())
        return np.sort(np.array(chosen, dtype=np.int64))
    """,
    correct_message="the 50 and 200 real images of the lesson are whole frames, like its validation split.",
)

QUESTIONS = [q1, q2]
