"""Tests of marslab.models: shapes, softmax, options, the UNet3+ five-source rule, deep supervision,
serialization, the papers' parameter counts, and the keras.ops-only rule."""
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from marslab.models import (WeightedAdd, attention_gate, conv_block, deeplab_v3_plus, losses_for,
                            residual_block, squeeze_excite, standardize, targets_for, unet, unet3plus,
                            unet_plus_plus)

N, H, W, K = 2, 64, 128, 5
TINY = dict(filters=4)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((N, H, W, 1)).astype("float32")


@pytest.fixture(scope="module")
def masks():
    return np.random.default_rng(1).integers(0, K, (N, H, W)).astype("int32")


def assert_probs(p):
    assert p.shape == (N, H, W, K)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-4)


@pytest.mark.parametrize("builder", [unet, unet_plus_plus, unet3plus])
def test_defaults_give_softmax_over_five_classes(builder, images):
    model = builder()
    assert model.input_shape == (None, H, W, 1)
    assert_probs(model.predict(images, verbose=0))


@pytest.mark.parametrize("builder,options", [
    (unet, dict(depth=2)),
    (unet, dict(depth=6)),
    (unet, dict(residual=True)),
    (unet, dict(upsampling="transpose")),
    (unet, dict(se=True)),
    (unet, dict(attention=True)),
    (unet, dict(skip_merge="weighted_add")),
    (unet, dict(aspp_bottleneck=True, dropout=0.3)),
    (unet, dict(residual=True, upsampling="transpose", se=True, attention=True, batch_norm=False)),
    (unet, dict(filters=[3, 5, 7], depth=3)),
    (unet_plus_plus, dict(depth=5, residual=True, upsampling="transpose", se=True)),
    (unet3plus, dict(depth=5, cat_channels=4)),
    (unet3plus, dict(depth=3, cat_channels=4, residual=True, upsampling="transpose")),
    (unet3plus, dict(depth=6, cat_channels=2, batch_norm=False)),
    (unet, dict(standardize_input=True)),
    (unet_plus_plus, dict(depth=3, standardize_input=True)),
    (unet3plus, dict(depth=3, cat_channels=4, standardize_input=True)),
])
def test_options_keep_the_output_a_softmax(builder, options, images):
    model = builder(**{**TINY, **options})
    assert_probs(model.predict(images, verbose=0))


@pytest.mark.parametrize("builder,options,names", [
    (unet_plus_plus, dict(depth=4), ["probs_1", "probs_2", "probs"]),
    (unet3plus, dict(depth=5, cat_channels=4), ["probs_4", "probs_3", "probs_2", "probs_1", "probs"]),
])
def test_deep_supervision_outputs_are_named_full_size_softmaxes(builder, options, names, images):
    model = builder(**TINY, **options, deep_supervision=True)
    assert model.output_names == names
    for p in model.predict(images, verbose=0):
        assert_probs(p)


def test_cgm_adds_a_presence_output_and_keeps_softmaxes(images):
    model = unet3plus(**TINY, depth=4, cat_channels=4, deep_supervision=True, cgm=True)
    assert model.output_names == ["presence", "probs_3", "probs_2", "probs_1", "probs"]
    presence, *probs = model.predict(images, verbose=0)
    assert presence.shape == (N, K) and np.all((presence > 0) & (presence < 1))
    for p in probs:
        assert_probs(p)
    # the classification head is trained: its conv has weights that receive gradients
    assert model.get_layer("cgm_conv").trainable_weights


@pytest.mark.parametrize("model_fn", [
    lambda: unet_plus_plus(**TINY, depth=3, deep_supervision=True),
    lambda: unet3plus(**TINY, depth=3, cat_channels=4, deep_supervision=True, cgm=True),
])
def test_multi_output_models_fit_one_step_with_dict_losses_and_targets(model_fn, images, masks):
    """Targets go to outputs by name: the presence target (N,5) could not fit a (N,64,128,5) output."""
    model = model_fn()
    model.compile(optimizer="adam", loss=losses_for(model, "sparse_categorical_crossentropy"))
    targets = targets_for(model, masks)
    assert set(targets) == set(model.output_names)
    history = model.fit(images, targets, batch_size=N, epochs=1, verbose=0)
    for name in model.output_names:
        assert np.isfinite(history.history[f"{name}_loss"][0])


# ---------------------------------------------------------------- UNet3+ full-scale skips
def source_of(tensor, known):
    """Walk back from a skip's concat input through its single-input layers to the first known map.

    Returns (the map, its index in known, the layers passed on the way)."""
    passed = []
    while not any(tensor is k for k in known):
        op, node_index, _ = tensor._keras_history
        inputs = op._inbound_nodes[node_index].input_tensors
        assert len(inputs) == 1, f"{op.name} merges several maps inside a skip"
        passed.append(op)
        (tensor,) = inputs
    return [i for i, k in enumerate(known) if tensor is k][0], passed


def test_unet3plus_every_stage_fuses_five_sources_one_per_level():
    depth, cat = 5, 4
    model = unet3plus(**TINY, depth=depth, cat_channels=cat)
    # the encoder maps: the input of each max-pool, then the bottleneck (the deepest block's output)
    encoder_maps = [model.get_layer(f"enc{k}_pool").input for k in range(1, depth)]
    encoder_maps.append(model.get_layer(f"enc{depth - 1}_2_relu").output)
    assert tuple(encoder_maps[-1].shape[1:3]) == (4, 8)  # depth 5 on 64x128: a 4x8 bottleneck
    stage_maps = {level: model.get_layer(f"dec{level}_fuse_relu").output for level in range(depth - 1)}
    known = encoder_maps + [stage_maps[level] for level in range(depth - 1)]
    for level in range(depth - 1):
        concat = model.get_layer(f"dec{level}_concat")
        assert len(concat.input) == 5
        assert concat.output.shape[1:] == (H >> level, W >> level, 5 * cat)
        expected = [k if k <= level or k == depth - 1 else depth + k for k in range(depth)]
        found = []
        for tensor in concat.input:
            index, passed = source_of(tensor, known)
            found.append(index)
            assert sum(isinstance(op, keras.layers.Conv2D) for op in passed) == 1  # one 3x3 conv per skip
            assert tensor.shape[-1] == cat
        # encoder maps 0..level, the deeper decoder stages, the bottleneck: one source per level
        assert found == expected, f"stage {level}"
    # the top stage takes the full-resolution encoder map without resizing it
    index, passed = source_of(model.get_layer("dec0_concat").input[0], known)
    assert index == 0 and known[0].shape[1:3] == (H, W)
    assert not any(isinstance(op, (keras.layers.MaxPooling2D, keras.layers.UpSampling2D)) for op in passed)


# ---------------------------------------------------------------- parameter counts
def conv_params(c_in, c_out, k=3, bias=True):
    return k * k * c_in * c_out + (c_out if bias else 0)


def test_unet_matches_the_unetpp_papers_7_76m():
    """Zhou et al. 2018 (UNet++), Table 1: U-Net 7.76M with widths 32..512. Their configuration: two
    3x3 convs with bias per block, no batch norm, 2x2 transposed-conv upsampling, 1 input channel,
    1 output class. Our builder with those options must reproduce the count formula exactly."""
    widths = [32, 64, 128, 256, 512]
    expected = sum(conv_params(a, b) + conv_params(b, b) for a, b in zip([1] + widths[:-1], widths))
    for lo, hi in zip(widths[:-1], widths[1:]):
        expected += conv_params(hi, lo, k=2) + conv_params(2 * lo, lo) + conv_params(lo, lo)
    expected += conv_params(32, 1, k=1)
    model = unet((64, 128, 1), 1, filters=32, depth=5, batch_norm=False, upsampling="transpose")
    assert model.count_params() == expected
    assert abs(expected - 7.76e6) / 7.76e6 < 0.005


def test_unet_plus_plus_matches_its_papers_9_04m():
    """UNet++ paper, Table 1: 9.04M (widths 32..512, same configuration as the 7.76M U-Net above).
    With deep supervision only three 1x1 heads (33 parameters each) are added, which the paper's
    two-decimal figure cannot show: 9.04M with and without."""
    options = dict(filters=32, depth=5, batch_norm=False, upsampling="transpose")
    plain = unet_plus_plus((64, 128, 1), 1, **options).count_params()
    supervised = unet_plus_plus((64, 128, 1), 1, deep_supervision=True, **options).count_params()
    assert abs(plain - 9.04e6) / 9.04e6 < 0.005
    assert supervised - plain == 3 * conv_params(32, 1, k=1)


def test_unet3plus_matches_its_papers_26_97m():
    """Huang et al. 2020, Table 1: UNet3+ 26.97M (encoder 64..1024, 64 channels per skip, 3 input
    channels, 1 class). Our convs before BN carry no bias and our head is 3x3; still within 2%."""
    model = unet3plus((64, 128, 3), 1, filters=64, depth=5, cat_channels=64)
    assert abs(model.count_params() - 26.97e6) / 26.97e6 < 0.02


# ---------------------------------------------------------------- blocks
def test_blocks_shapes_and_parameter_counts():
    x = keras.Input((16, 32, 6))
    assert keras.Model(x, conv_block(x, 8)).count_params() == (
        conv_params(6, 8, bias=False) + conv_params(8, 8, bias=False) + 2 * 4 * 8)
    res = keras.Model(x, residual_block(x, 8))
    assert res.output_shape == (None, 16, 32, 8)
    assert res.count_params() == (conv_params(6, 8, k=1, bias=False) + conv_params(6, 8, bias=False)
                                  + conv_params(8, 8, bias=False) + 3 * 4 * 8)
    se = keras.Model(x, squeeze_excite(x, ratio=2))
    assert se.output_shape == (None, 16, 32, 6) and se.count_params() == (6 * 3 + 3) + (3 * 6 + 6)


def test_standardize_matches_numpy_per_image_and_ignores_brightness_and_contrast():
    x = keras.Input((16, 32, 1))
    model = keras.Model(x, standardize(x, epsilon=0.0))
    rng = np.random.default_rng(0)
    images = np.stack([0.2 + 0.05 * rng.random((16, 32, 1)), 0.6 + 0.3 * rng.random((16, 32, 1))]).astype("float32")
    expected = (images - images.mean(axis=(1, 2), keepdims=True)) / images.std(axis=(1, 2), keepdims=True)
    out = model.predict(images, verbose=0)
    np.testing.assert_allclose(out, expected, atol=1e-3)
    np.testing.assert_allclose(model.predict(3.0 * images + 0.1, verbose=0), out, atol=1e-3)  # a dim and a bright image alike
    assert model.count_params() == 0  # nothing learned: a fixed normalisation
    two = keras.Input((16, 32, 2))  # channels apart: an image beside a probability map (lesson 10's second stage)
    pair = np.concatenate([images, 1.0 - images[..., ::-1, :, :] ** 2], axis=-1)
    per_channel = keras.Model(two, standardize(two, epsilon=0.0)).predict(pair, verbose=0)
    np.testing.assert_allclose(per_channel, (pair - pair.mean(axis=(1, 2), keepdims=True))
                               / pair.std(axis=(1, 2), keepdims=True), atol=1e-3)


def test_standardize_input_adds_one_layer_and_no_weights():
    plain, standard = unet(**TINY, depth=3), unet(**TINY, depth=3, standardize_input=True)
    assert standard.count_params() == plain.count_params()
    assert [layer.name for layer in standard.layers][:2] == ["images", "standardize"]


def test_attention_gate_scales_the_skip_by_weights_in_0_1():
    skip, gate = keras.Input((16, 32, 6)), keras.Input((8, 16, 12))
    model = keras.Model([skip, gate], attention_gate(skip, gate))
    rng = np.random.default_rng(0)
    s = rng.random((2, 16, 32, 6)).astype("float32") + 0.1
    out = model.predict([s, rng.random((2, 8, 16, 12)).astype("float32")], verbose=0)
    ratio = out / s
    assert out.shape == s.shape and np.all(ratio > 0) and np.all(ratio < 1)
    np.testing.assert_allclose(ratio, ratio[..., :1] * np.ones_like(ratio), rtol=1e-5)  # one weight per pixel


def test_weighted_add_starts_as_an_average_and_rejects_mismatched_shapes():
    a = np.full((1, 4, 4, 3), 2.0, "float32")
    b = np.full((1, 4, 4, 3), 6.0, "float32")
    layer = WeightedAdd(epsilon=0.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer([a, b])), 4.0, rtol=1e-6)
    with pytest.raises(ValueError, match="share one shape"):
        WeightedAdd()([a, np.zeros((1, 4, 4, 2), "float32")])


# ---------------------------------------------------------------- saving, errors, static rule
@pytest.mark.parametrize("model_fn", [
    lambda: unet(**TINY, skip_merge="weighted_add", attention=True, se=True),
    lambda: unet_plus_plus(**TINY, depth=3, deep_supervision=True),
    lambda: unet3plus(**TINY, depth=3, cat_channels=4, deep_supervision=True, cgm=True),
    # the report techniques (issue 26): custom layers and blocks must survive a save as well
    lambda: unet(filters=8, depth=3, encoder_block="inception", bottleneck="aspp+psa+strip", norm="group"),
    lambda: unet(filters=8, depth=3, skip_merge="gated_add", bottleneck="se", deep_supervision=True),
    lambda: deeplab_v3_plus(filters=8),
])
def test_saved_model_loads_with_plain_keras_and_predicts_the_same(model_fn, images, tmp_path):
    model = model_fn()
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    before, after = model.predict(images, verbose=0), loaded.predict(images, verbose=0)
    for b, a in zip(*(p if isinstance(p, list) else [p] for p in (before, after))):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("builder,options,message", [
    (unet, dict(depth=7), "depth"),
    (unet, dict(depth=1), "depth"),
    (unet, dict(input_shape=(60, 128, 1)), "divisible"),
    (unet, dict(input_shape=(64, 128)), "height, width, channels"),
    (unet, dict(filters=[8, 16]), "one width per level"),
    (unet, dict(upsampling="nearest"), "upsampling"),
    (unet, dict(skip_merge="sum"), "skip_merge"),
    (unet_plus_plus, dict(num_classes=0), "num_classes"),
    (unet3plus, dict(cat_channels=0), "cat_channels"),
])
def test_bad_arguments_raise_clear_errors(builder, options, message):
    with pytest.raises(ValueError, match=message):
        builder(**options)


def test_models_use_keras_ops_only():
    root = Path(__file__).resolve().parents[1] / "marslab" / "models"
    files = sorted(root.glob("*.py"))
    assert files
    for f in files:
        text = f.read_text()
        assert not re.search(r"\btensorflow\b|\btf\.", text), f"{f.name} uses TensorFlow directly"


def test_batch_norm_statistics_follow_the_weights_within_tens_of_steps():
    """Keras' default momentum 0.99 kept inference statistics hundreds of steps behind, so short runs
    scored near zero on validation (see marslab.models.blocks.BN_MOMENTUM); every builder uses 0.9."""
    for model in (unet(filters=4, depth=3), unet_plus_plus(filters=4, depth=3), unet3plus(filters=4, depth=3, cat_channels=4)):
        norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
        assert norms and {layer.momentum for layer in norms} == {0.9}, model.name
