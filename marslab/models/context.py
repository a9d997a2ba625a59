"""Context modules for the bottleneck (report 003 §4.2): polarized self-attention, strip pooling, and their
composition with ASPP and squeeze-and-excitation.

Report 003 compared three bottlenecks (Table 2, validation mean IoU): "aspp + self attention + spp" 62.64 %,
"aspp + self attention" 59.03 %, "self attention" 57.17 %. `bottleneck(x, "aspp+psa+strip", ...)` builds the
first: ASPP, then polarized self-attention (MarsSeg's attention, Li et al. 2024), then strip pooling whose
output is concatenated with the attention's and fused by a 1x1 conv. Every module keeps (B,H,W,C) -> (B,H,W,C')
and uses `keras.layers` / `keras.ops` only.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from marslab.models.blocks import aspp, conv_bn_relu, squeeze_excite

BOTTLENECK_MODULES: tuple[str, ...] = ("aspp", "psa", "strip", "se")


@keras.saving.register_keras_serializable(package="marslab")
class PolarizedSelfAttention(layers.Layer):
    """Polarized self-attention, Liu et al. 2021 (arXiv 2107.00782), Eqs. 1-5; the attention of MarsSeg's bridge.

    Channel-only branch: q = softmax over the H*W positions of W_q x (one logit per position), z = sum over
    positions of q * W_v x (C/2 values), A_ch = sigmoid(LayerNorm(W_z z)): one weight per channel.
    Spatial-only branch: q = softmax over C/2 channels of the global mean of W_q' x, A_sp = sigmoid(sum over
    channels of q * W_v' x): one weight per position. W_* are 1x1 convolutions (Dense over the channels),
    inner width C // 2. parallel (default): x * A_ch + x * A_sp; sequential: the spatial branch applied to
    x * A_ch. (B,H,W,C) -> (B,H,W,C); 2 C^2 + 5.5 C + 1 weights for even C.
    """

    def __init__(self, sequential: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.sequential = bool(sequential)

    def build(self, input_shape):
        channels = input_shape[-1]
        half = max(channels // 2, 1)
        self.ch_wv, self.ch_wq = layers.Dense(half, name="ch_wv"), layers.Dense(1, name="ch_wq")
        self.ch_wz, self.ch_norm = layers.Dense(channels, name="ch_wz"), layers.LayerNormalization(name="ch_norm")
        self.sp_wv, self.sp_wq = layers.Dense(half, name="sp_wv"), layers.Dense(half, name="sp_wq")
        for layer in (self.ch_wv, self.ch_wq, self.sp_wv, self.sp_wq):
            layer.build((None, channels))
        self.ch_wz.build((None, half))
        self.ch_norm.build((None, channels))

    def call(self, x):
        # channel-only: a softmax over positions pools W_v x into one descriptor, which weighs the channels
        logits = self.ch_wq(x)
        q = ops.exp(logits - ops.max(logits, axis=(1, 2), keepdims=True))
        q = q / ops.sum(q, axis=(1, 2), keepdims=True)
        z = ops.sum(self.ch_wv(x) * q, axis=(1, 2))
        a_ch = ops.sigmoid(self.ch_norm(self.ch_wz(z)))
        z_ch = x * ops.expand_dims(ops.expand_dims(a_ch, 1), 1)
        # spatial-only: a softmax over channels of the pooled W_q' x weighs W_v x into one map over positions
        inner = z_ch if self.sequential else x
        q = ops.softmax(ops.mean(self.sp_wq(inner), axis=(1, 2)), axis=-1)
        a_sp = ops.sigmoid(ops.sum(self.sp_wv(inner) * ops.expand_dims(ops.expand_dims(q, 1), 1), axis=-1,
                                   keepdims=True))
        z_sp = inner * a_sp
        return z_sp if self.sequential else z_ch + z_sp

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "sequential": self.sequential}


def polarized_self_attention(x, *, sequential: bool = False, name: str = "psa"):
    """`PolarizedSelfAttention` as a block: (B,H,W,C) -> (B,H,W,C)."""
    return PolarizedSelfAttention(sequential=sequential, name=name)(x)


def strip_pooling(x, *, batch_norm: bool = True, norm: str = "batch", name: str = "strip"):
    """Strip pooling module, Hou et al. 2020 (SPNet, Fig. 2): report 003's horizontal and vertical strip pools.

    Average every row (an H x 1 strip) and every column (1 x W), refine each strip with a 1D conv of
    kernel 3 (3x1 / 1x3, no ReLU), expand both back to H x W and add them, so every position sees its
    whole row and column; a 1x1 conv + sigmoid turns the sum into a weight per position and channel
    that scales x. (B,H,W,C) -> (B,H,W,C).
    """
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    opts = dict(batch_norm=batch_norm, norm=norm, activation=None)
    rows = layers.AveragePooling2D((1, width), name=f"{name}_rows")(x)  # (B,H,1,C)
    rows = conv_bn_relu(rows, channels, (3, 1), **opts, name=f"{name}_rows")
    cols = layers.AveragePooling2D((height, 1), name=f"{name}_cols")(x)  # (B,1,W,C)
    cols = conv_bn_relu(cols, channels, (1, 3), **opts, name=f"{name}_cols")
    rows = layers.UpSampling2D((1, width), name=f"{name}_rows_up")(rows)
    cols = layers.UpSampling2D((height, 1), name=f"{name}_cols_up")(cols)
    both = layers.Add(name=f"{name}_sum")([rows, cols])
    weights = layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_gate")(both)
    return layers.Multiply(name=f"{name}_scale")([x, weights])


def parse_bottleneck(spec: str | None) -> list[str]:
    """"aspp+psa+strip" -> ["aspp", "psa", "strip"]; None or "" -> []. Unknown or repeated names raise."""
    if not spec:
        return []
    if not isinstance(spec, str):
        raise ValueError(f"bottleneck must be a '+'-joined string of {BOTTLENECK_MODULES}, got {spec!r}")
    parts = [p.strip() for p in spec.split("+")]
    unknown = [p for p in parts if p not in BOTTLENECK_MODULES]
    if unknown or len(set(parts)) != len(parts):
        raise ValueError(f"bottleneck must join distinct names of {BOTTLENECK_MODULES} with '+', got {spec!r}")
    return parts


def bottleneck(x, spec: str | None, filters: int, *, batch_norm: bool = True, norm: str = "batch",
               name: str = "bottleneck"):
    """Apply the modules of `spec` in order to the bottleneck map: (B,h,w,C) -> (B,h,w,filters or C).

    "aspp": `blocks.aspp` to `filters` channels. "psa": `PolarizedSelfAttention`. "se": `squeeze_excite`
    (report 004's SE bottleneck, +3 %, §5). "strip": `strip_pooling`, its output concatenated with its
    input and fused by a 1x1 conv -> norm -> ReLU to `filters` (report 003: "concatenating the attention
    and pooling features"). "aspp+psa+strip" is report 003's best bottleneck (Table 2).
    """
    for part in parse_bottleneck(spec):
        if part == "aspp":
            x = aspp(x, filters, batch_norm=batch_norm, norm=norm, name=f"{name}_aspp")
        elif part == "psa":
            x = polarized_self_attention(x, name=f"{name}_psa")
        elif part == "se":
            x = squeeze_excite(x, name=f"{name}_se")
        else:
            pooled = strip_pooling(x, batch_norm=batch_norm, norm=norm, name=f"{name}_strip")
            x = layers.Concatenate(name=f"{name}_strip_concat")([x, pooled])
            x = conv_bn_relu(x, filters, 1, batch_norm=batch_norm, norm=norm, name=f"{name}_strip_fuse")
    return x
