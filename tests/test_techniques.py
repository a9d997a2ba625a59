"""Tests of the report techniques added to marslab.models (issue 26): inception encoder blocks, polarized
self-attention, strip pooling, bottleneck compositions, SE at the bottleneck only, gated skips, deep
supervision on the U-Net, group normalization and DeepLabV3+. References: NumPy formulas of the papers'
equations, hand-counted parameters, and behaviour (per-image statistics, output names, saving)."""
import keras
import numpy as np
import pytest

from marslab.models import (PolarizedSelfAttention, deeplab_v3_plus, gated_skip, inception_block, losses_for,
                            strip_pooling, targets_for, unet)

N, H, W, K = 2, 64, 128, 5
SMOKE, DEFAULT = dict(filters=8, depth=3), dict(filters=32, depth=4)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z, axis):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def dense(layer, x):
    kernel, bias = (np.asarray(w) for w in layer.get_weights())
    return x @ kernel + bias


def conv_params(c_in, c_out, k=3, bias=True):
    return k * k * c_in * c_out + (c_out if bias else 0)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((N, H, W, 1)).astype("float32")


VARIANTS = {
    "inception encoder": dict(encoder_block="inception"),
    "inception + residual decoder": dict(encoder_block="inception", residual=True),
    "psa bottleneck": dict(bottleneck="psa"),
    "aspp + psa": dict(bottleneck="aspp+psa"),
    "aspp + psa + strip": dict(bottleneck="aspp+psa+strip"),
    "strip bottleneck": dict(bottleneck="strip"),
    "se bottleneck": dict(bottleneck="se"),
    "gated add": dict(skip_merge="gated_add"),
    "gated concat": dict(skip_merge="gated_concat"),
    "group norm": dict(norm="group"),
}


@pytest.mark.parametrize("size", [SMOKE, DEFAULT], ids=["smoke", "default"])
@pytest.mark.parametrize("options", VARIANTS.values(), ids=VARIANTS.keys())
def test_every_variant_builds_at_smoke_and_default_size_and_outputs_a_softmax(options, size, images):
    probs = unet(**size, **options).predict(images, verbose=0)
    assert probs.shape == (N, H, W, K) and np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-4)


@pytest.mark.parametrize("size", [dict(filters=8), dict(filters=32)], ids=["smoke", "default"])
def test_deeplab_builds_at_both_sizes_and_reads_the_stride_4_and_stride_16_maps(size, images):
    model = deeplab_v3_plus(**size)
    probs = model.predict(images, verbose=0)
    assert probs.shape == (N, H, W, K)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-4)
    assert tuple(model.get_layer("aspp_concat").input[0].shape[1:3]) == (4, 8)      # output stride 16
    assert tuple(model.get_layer("low_level_conv").input.shape[1:3]) == (16, 32)   # the stride-4 map
    assert model.get_layer("decoder_concat").output.shape[-1] == 4 * size["filters"] + 3 * size["filters"] // 2


# ---------------------------------------------------------------- blocks against hand counts and NumPy
def test_inception_block_has_four_branches_and_the_hand_counted_weights():
    x = keras.Input((16, 32, 6))
    model = keras.Model(x, inception_block(x, 8))
    b, bn = 2, lambda c: 4 * c  # branch width 8 // 4; batch norm: 4 numbers per channel
    expected = (conv_params(6, 8, 1, False) + bn(8)                       # shortcut 6 -> 8
                + conv_params(6, b, 1, False) + bn(b)                     # 1x1
                + conv_params(6, b, 1, False) + conv_params(b, b, 3, False) + 2 * bn(b)   # 1x1 -> 3x3
                + conv_params(6, b, 1, False) + conv_params(b, b, 5, False) + 2 * bn(b)   # 1x1 -> 5x5
                + conv_params(6, b, 1, False) + bn(b)                     # max-pool -> 1x1
                + conv_params(4 * b, 8, 1, False) + bn(8))                # linear 1x1 mix
    assert model.count_params() == expected
    assert model.output_shape == (None, 16, 32, 8)
    assert len(model.get_layer("block_branches").input) == 4


def test_polarized_self_attention_matches_the_papers_equations_in_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 4, 8, 6)).astype("float32")
    for sequential in (False, True):
        layer = PolarizedSelfAttention(sequential=sequential)
        out = np.asarray(layer(x))
        # weights perturbed away from the initial LayerNorm so the test reads every parameter
        for w in layer.weights:
            w.assign(w + rng.normal(scale=0.3, size=w.shape).astype("float32"))
        out = np.asarray(layer(x))
        flat = x.reshape(2, 32, 6)
        q = softmax(dense(layer.ch_wq, flat), axis=1)                     # (B, HW, 1) over positions
        z = (dense(layer.ch_wv, flat) * q).sum(1)                         # (B, C/2)
        zc = dense(layer.ch_wz, z)
        gamma, beta = (np.asarray(w) for w in layer.ch_norm.get_weights())
        zc = (zc - zc.mean(-1, keepdims=True)) / np.sqrt(zc.var(-1, keepdims=True) + layer.ch_norm.epsilon)
        z_ch = flat * sigmoid(zc * gamma + beta)[:, None, :]
        inner = z_ch if sequential else flat
        qs = softmax(dense(layer.sp_wq, inner).mean(1), axis=-1)          # (B, C/2) over channels
        a_sp = sigmoid((dense(layer.sp_wv, inner) * qs[:, None, :]).sum(-1, keepdims=True))
        expected = inner * a_sp if sequential else z_ch + flat * a_sp
        np.testing.assert_allclose(out, expected.reshape(x.shape), rtol=1e-4, atol=1e-5)
    assert layer.count_params() == 2 * 6**2 + 5.5 * 6 + 1  # W_v, W_q, W_z, LN; W_v', W_q' (hand count: 106)


def test_strip_pooling_matches_row_and_column_means_in_numpy():
    rng = np.random.default_rng(2)
    x_in = keras.Input((4, 6, 3))
    model = keras.Model(x_in, strip_pooling(x_in, batch_norm=False))
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    x = rng.normal(size=(2, 4, 6, 3)).astype("float32")
    k_rows, b_rows = (model.get_layer("strip_rows_conv").get_weights())
    k_cols, b_cols = (model.get_layer("strip_cols_conv").get_weights())
    k_gate, b_gate = (model.get_layer("strip_gate").get_weights())
    rows, cols = x.mean(axis=2), x.mean(axis=1)                            # (B,H,C), (B,W,C)

    def conv1d(seq, kernel, bias):  # 'same' zero padding, kernel (3, C, C)
        padded = np.pad(seq, ((0, 0), (1, 1), (0, 0)))
        return sum(padded[:, t:t + seq.shape[1]] @ kernel[t] for t in range(3)) + bias

    rows, cols = conv1d(rows, k_rows[:, 0], b_rows), conv1d(cols, k_cols[0], b_cols)
    both = rows[:, :, None, :] + cols[:, None, :, :]
    expected = x * sigmoid(both @ k_gate[0, 0] + b_gate)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)
    assert model.count_params() == 2 * (3 * 3 * 3 + 3) + (3 * 3 + 3)


@pytest.mark.parametrize("merge", ["add", "concat"])
def test_gated_skip_weights_the_skip_by_a_learned_gate_then_merges(merge):
    rng = np.random.default_rng(3)
    s_in, u_in = keras.Input((4, 8, 3)), keras.Input((4, 8, 5))
    model = keras.Model([s_in, u_in], gated_skip(s_in, u_in, merge))
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    s, u = rng.normal(size=(2, 4, 8, 3)).astype("float32"), rng.normal(size=(2, 4, 8, 5)).astype("float32")
    k, b = model.get_layer("gate_sigmoid").get_weights()
    gated = s * sigmoid(np.concatenate([s, u], -1) @ k[0, 0] + b)
    if merge == "concat":
        expected, count = np.concatenate([gated, u], -1), (8 * 3 + 3)
    else:
        kp, bp = model.get_layer("gate_project").get_weights()
        expected, count = gated + u @ kp[0, 0] + bp, (8 * 3 + 3) + (5 * 3 + 3)
    np.testing.assert_allclose(model.predict([s, u], verbose=0), expected, rtol=1e-4, atol=1e-5)
    assert model.count_params() == count


# ---------------------------------------------------------------- builder options
def test_se_bottleneck_puts_one_se_block_at_the_bottleneck_only():
    def se_blocks(model):
        return [layer.name for layer in model.layers if layer.name.endswith("_scale") and "se" in layer.name]

    plain, at_bottleneck, everywhere = unet(**SMOKE), unet(**SMOKE, bottleneck="se"), unet(**SMOKE, se=True)
    assert se_blocks(at_bottleneck) == ["bottleneck_se_scale"]
    assert len(se_blocks(everywhere)) == 2 * SMOKE["depth"] - 1
    c = 4 * SMOKE["filters"]  # the bottleneck's width; SE ratio 8
    assert at_bottleneck.count_params() - plain.count_params() == (c * (c // 8) + c // 8) + (c // 8 * c + c)


def test_report_003_bottleneck_applies_aspp_then_psa_then_concatenated_strip_pooling():
    model = unet(**SMOKE, bottleneck="aspp+psa+strip")
    names = [layer.name for layer in model.layers]
    order = [names.index(n) for n in ("bottleneck_aspp_concat", "bottleneck_psa", "bottleneck_strip_concat")]
    assert order == sorted(order)
    concat = model.get_layer("bottleneck_strip_concat")
    assert concat.input[0] is model.get_layer("bottleneck_psa").output  # attention and pooling concatenated
    assert model.get_layer("bottleneck_strip_fuse_relu").output.shape[1:] == (16, 32, 32)


def test_group_norm_replaces_every_batch_norm_and_keeps_images_independent(images):
    batch, group = unet(**SMOKE), unet(**SMOKE, norm="group")
    assert not [la for la in group.layers if isinstance(la, keras.layers.BatchNormalization)]
    norms = [la for la in batch.layers if isinstance(la, keras.layers.BatchNormalization)]
    # BN keeps 4 numbers per channel (2 trained, 2 moving statistics), GN only its 2 trained ones
    assert batch.count_params() - group.count_params() == sum(2 * la.gamma.shape[0] for la in norms)
    other = np.random.default_rng(9).random((1, H, W, 1)).astype("float32")
    pair_a, pair_b = np.concatenate([images[:1], images[1:]]), np.concatenate([images[:1], other])
    for model, independent in ((group, True), (batch, False)):
        a, b = (np.asarray(model(p, training=True))[0] for p in (pair_a, pair_b))
        assert np.allclose(a, b, atol=1e-5) == independent, model.name  # training-mode BN mixes the batch


def test_unet_deep_supervision_names_its_outputs_and_trains_with_dict_losses(images):
    model = unet(filters=4, depth=4, skip_merge="gated_concat", deep_supervision=True)
    assert model.output_names == ["probs_2", "probs_1", "probs"]
    masks = np.random.default_rng(4).integers(0, K, (N, H, W)).astype("int32")
    model.compile(optimizer="adam", loss=losses_for(model, "sparse_categorical_crossentropy"))
    history = model.fit(images, targets_for(model, masks), batch_size=N, epochs=1, verbose=0)
    assert all(np.isfinite(history.history[f"{name}_loss"][0]) for name in model.output_names)
    for probs in model.predict(images, verbose=0):
        assert probs.shape == (N, H, W, K)
        np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-4)


@pytest.mark.parametrize("builder,options,message", [
    (unet, dict(bottleneck="aspp+nonlocal"), "bottleneck must join"),
    (unet, dict(bottleneck="psa+psa"), "bottleneck must join"),
    (unet, dict(aspp_bottleneck=True, bottleneck="aspp+psa"), "two ASPPs"),
    (unet, dict(norm="layer"), "norm must be one of"),
    (unet, dict(norm="group", batch_norm=False), "norm must be one of"),
    (unet, dict(encoder_block="dense"), "encoder_block"),
    (unet, dict(skip_merge="gated_mul"), "skip_merge"),
    (deeplab_v3_plus, dict(output_stride=4), "output_stride"),
])
def test_bad_technique_options_raise_one_clear_line(builder, options, message):
    with pytest.raises(ValueError, match=message):
        builder(**options)
