"""Checks for exercises/07_unet3plus.ipynb: rescaling a source to a decoder level, a full-scale decoder stage."""
from __future__ import annotations

import numpy as np

from marslab.checks._core import Incorrect, Question, expect, expect_callable
from marslab.checks._keras import block_model, predict


def _max_pool(x: np.ndarray, k: int) -> np.ndarray:
    b, h, w, c = x.shape
    return x.reshape(b, h // k, k, w // k, k, c).max(axis=(2, 4))


def _test_rescale(fn) -> None:
    import keras

    expect_callable(fn)
    x = np.random.default_rng(0).normal(size=(2, 8, 16, 3))
    same = predict(block_model(fn, [(8, 16, 3)], 0), x)
    expect(np.allclose(same, x), "levels=0: the source is already at this level, return it unchanged")
    for levels in (1, 2):
        k = 2 ** levels
        model = block_model(fn, [(8, 16, 3)], levels)
        want_shape = (None, 8 // k, 16 // k, 3)
        if tuple(model.output_shape) == (None, 8 * k, 16 * k, 3):
            raise Incorrect(f"levels={levels} made the map larger: a positive `levels` means the source is finer, "
                            "so it must be pooled down")
        expect(tuple(model.output_shape) == want_shape, f"levels={levels}: expected shape {want_shape}, got "
                                                        f"{tuple(model.output_shape)}")
        got = predict(model, x)
        if np.allclose(got, x.reshape(2, 8 // k, k, 16 // k, k, 3).mean(axis=(2, 4)), atol=1e-5):
            raise Incorrect("this is average pooling: UNet3+ max-pools the finer encoder maps")
        expect(np.allclose(got, _max_pool(x, k), atol=1e-5), f"levels={levels}: expected a {k}x{k} max pooling")
    small = x[:, :2, :4]
    for levels in (-1, -2):
        k = 2 ** -levels
        model = block_model(fn, [(2, 4, 3)], levels)
        want_shape = (None, 2 * k, 4 * k, 3)
        expect(tuple(model.output_shape) == want_shape,
               f"levels={levels}: expected shape {want_shape}, got {tuple(model.output_shape)}")
        got = predict(model, small)
        upsample = keras.layers.UpSampling2D(k, interpolation="bilinear")
        want = keras.ops.convert_to_numpy(upsample(small.astype(np.float32)))
        if np.allclose(got, np.repeat(np.repeat(small, k, 1), k, 2), atol=1e-5):
            raise Incorrect("this is nearest-neighbour upsampling: use interpolation='bilinear'")
        expect(np.allclose(got, want, atol=1e-4), f"levels={levels}: expected bilinear upsampling by {k}")


q1 = Question(
    "q1", "rescale(x, levels) -> max-pool finer sources, bilinearly upsample coarser ones",
    _test_rescale,
    function="rescale", points=1,
    hints=["`levels` is how many levels finer the source is than the stage: positive = larger map, "
           "pool it by 2**levels; negative = smaller map, upsample it by 2**-levels.",
           "`layers.MaxPooling2D(2**levels)(x)` and `layers.UpSampling2D(2**-levels, interpolation='bilinear')(x)`; "
           "return x itself for levels == 0."],
    solution="""
    def rescale(x, levels):
        if levels > 0:
            return layers.MaxPooling2D(2**levels)(x)
        if levels < 0:
            return layers.UpSampling2D(2**-levels, interpolation="bilinear")(x)
        return x
    """,
)


def _cbr_params(c_in: int, filters: int, bias: bool) -> int:
    return 9 * c_in * filters + (filters if bias else 0) + 4 * filters


def _test_stage(fn) -> None:
    expect_callable(fn)
    shapes = [(16, 32, 4), (8, 16, 6), (4, 8, 8)]  # finer encoder map, same-level map, coarser decoder map
    levels = [1, 0, -1]
    cat = 3

    def build(*inputs):
        return fn(list(zip(inputs, levels)), cat_channels=cat)

    model = block_model(build, shapes)
    n = len(shapes)
    want_shape = (None, 8, 16, n * cat)
    got_shape = tuple(model.output_shape)
    if got_shape == (None, 8, 16, cat):
        raise Incorrect(f"the output has {cat} channels: concatenate the {n} rescaled sources (not add them) and fuse "
                        f"with a conv of cat_channels * {n} = {n * cat} filters")
    expect(got_shape == want_shape, f"expected output shape {want_shape}, got {got_shape}")
    params = model.count_params()
    want = {sum(_cbr_params(s[-1], cat, b) for s in shapes) + _cbr_params(n * cat, n * cat, b) for b in (False, True)}
    without_fuse = {sum(_cbr_params(s[-1], cat, b) for s in shapes) for b in (False, True)}
    if params in without_fuse:
        raise Incorrect(f"after the concatenation, fuse the {n * cat} channels with one more conv -> BN -> ReLU")
    expect(params in want, f"expected {min(want)} parameters (a conv3x3 -> BN -> ReLU to cat_channels per source, then "
                           f"one fusing conv3x3 -> BN -> ReLU), got {params}")
    rng = np.random.default_rng(2)
    inputs = [rng.normal(size=(1, *s)) for s in shapes]
    base = predict(model, *inputs)
    for i, s in enumerate(shapes):
        changed = [a if j != i else rng.normal(size=a.shape) for j, a in enumerate(inputs)]
        expect(not np.allclose(predict(model, *changed), base), f"source {i} (levels={levels[i]}) does not affect "
                                                                "the output: every source must reach the concatenation")


q2 = Question(
    "q2", "decoder_stage(sources, cat_channels) -> one UNet3+ decoder level",
    _test_stage,
    function="decoder_stage", points=2,
    hints=["For each `(x, levels)` in sources: `rescale(x, levels)`, then conv3x3 -> BN -> ReLU with cat_channels "
           "filters.",
           "`layers.Concatenate()` the results, then one more conv3x3 -> BN -> ReLU with cat_channels * len(sources) "
           "filters."],
    solution="""
    def conv_bn_relu(x, filters):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        return layers.Activation("relu")(layers.BatchNormalization()(x))

    def decoder_stage(sources, cat_channels=16):
        parts = [conv_bn_relu(rescale(x, levels), cat_channels) for x, levels in sources]
        x = layers.Concatenate()(parts)
        return conv_bn_relu(x, cat_channels * len(sources))
    """,
    correct_message="every decoder level of UNet3+ sees every encoder scale (report 000's best model); "
                    "`marslab.models.unet3plus` stacks these stages.",
)

QUESTIONS = [q1, q2]
