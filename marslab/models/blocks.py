"""The building blocks of the course's segmentation models, each a short function of Keras layers.

Every block takes a feature map `x` of shape (B, H, W, C) and returns one of shape (B, H', W', C').
`name` prefixes the names of the block's layers, so a model summary reads like the paper's figure.
Only `keras.layers` and `keras.ops` are used, so the blocks run on every Keras backend.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import layers, ops

UPSAMPLING_MODES: tuple[str, ...] = ("bilinear", "transpose")
NORMS: tuple[str, ...] = ("batch", "group")
MAX_GROUPS = 8  # group norm: at most 8 groups of at least 2 channels (8 channels: 4 groups of 2)
# Batch-norm moving averages forget at 10 % a step (PyTorch's default), not Keras' 1 %: with 0.99 the
# statistics used at inference lagged the weights for hundreds of steps, and a U-Net that scored 0.27
# mean IoU on validation after 4 short epochs with 0.9 scored 0.06 with 0.99.
BN_MOMENTUM = 0.9


def normalization(channels: int, norm: str = "batch", *, name: str):
    """The normalization layer for `channels` channels: "batch" (Ioffe & Szegedy 2015) or "group"
    (Wu & He 2018: statistics per image over groups of channels, so they do not depend on the batch)."""
    if norm == "batch":
        return layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)
    if norm == "group":
        return layers.GroupNormalization(groups=math.gcd(max(channels // 2, 1), MAX_GROUPS), name=name)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def conv_bn_relu(x, filters: int, kernel_size: int = 3, *, batch_norm: bool = True,
                 activation: str | None = "relu", dilation_rate: int = 1, norm: str = "batch", name: str = "conv"):
    """Conv2D ('same' padding) -> BatchNorm (or GroupNorm, norm="group") -> activation. (B,H,W,C) -> (B,H,W,filters).

    With batch_norm the convolution has no bias (the norm's offset replaces it); batch_norm=False: no norm.
    """
    x = layers.Conv2D(filters, kernel_size, padding="same", dilation_rate=dilation_rate,
                      use_bias=not batch_norm, name=f"{name}_conv")(x)
    if batch_norm:
        x = normalization(filters, norm, name=f"{name}_{'bn' if norm == 'batch' else 'gn'}")(x)
    if activation:
        x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def conv_block(x, filters: int, num_convs: int = 2, *, batch_norm: bool = True, norm: str = "batch",
               name: str = "block"):
    """The U-Net block: (conv3x3 -> BN -> ReLU) x num_convs. (B,H,W,C) -> (B,H,W,filters)."""
    for k in range(1, num_convs + 1):
        x = conv_bn_relu(x, filters, batch_norm=batch_norm, norm=norm, name=f"{name}_{k}")
    return x


def residual_block(x, filters: int, num_convs: int = 2, *, batch_norm: bool = True, norm: str = "batch",
                   name: str = "block"):
    """He et al. 2016: relu(F(x) + shortcut(x)), F = convs whose last one has no ReLU.

    The shortcut is the identity, or a 1x1 conv when the channel count changes. (B,H,W,C) -> (B,H,W,filters).
    """
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = conv_bn_relu(x, filters, 1, batch_norm=batch_norm, activation=None, norm=norm,
                                name=f"{name}_short")
    for k in range(1, num_convs + 1):
        last = k == num_convs
        x = conv_bn_relu(x, filters, batch_norm=batch_norm, activation=None if last else "relu", norm=norm,
                         name=f"{name}_{k}")
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.Activation("relu", name=f"{name}_out")(x)


def inception_block(x, filters: int, *, batch_norm: bool = True, norm: str = "batch", name: str = "block"):
    """Szegedy et al. 2016's Inception-ResNet idea, report 003's encoder block: four parallel branches
    (1x1; 1x1 -> 3x3; 1x1 -> 5x5; 3x3 max-pool -> 1x1), each max(filters // 4, 1) wide, concatenated,
    mixed by a linear 1x1 conv to `filters`, added to the shortcut (identity, or a 1x1 conv when the
    channel count changes), then ReLU. (B,H,W,C) -> (B,H,W,filters).
    """
    width, opts = max(filters // 4, 1), dict(batch_norm=batch_norm, norm=norm)
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = conv_bn_relu(x, filters, 1, activation=None, **opts, name=f"{name}_short")
    one = conv_bn_relu(x, width, 1, **opts, name=f"{name}_1x1")
    three = conv_bn_relu(conv_bn_relu(x, width, 1, **opts, name=f"{name}_3x3_reduce"), width, 3, **opts,
                         name=f"{name}_3x3")
    five = conv_bn_relu(conv_bn_relu(x, width, 1, **opts, name=f"{name}_5x5_reduce"), width, 5, **opts,
                        name=f"{name}_5x5")
    pool = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_maxpool")(x)
    pool = conv_bn_relu(pool, width, 1, **opts, name=f"{name}_pool_proj")
    x = layers.Concatenate(name=f"{name}_branches")([one, three, five, pool])
    x = conv_bn_relu(x, filters, 1, activation=None, **opts, name=f"{name}_mix")
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.Activation("relu", name=f"{name}_out")(x)


def squeeze_excite(x, ratio: int = 8, *, name: str = "se"):
    """Hu et al. 2018: reweight channels by a gate computed from their global averages. Shape kept."""
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = layers.Dense(max(channels // ratio, 1), activation="relu", name=f"{name}_reduce")(s)
    s = layers.Dense(channels, activation="sigmoid", name=f"{name}_expand")(s)
    return layers.Multiply(name=f"{name}_scale")([x, s])


def attention_gate(skip, gating, inter_channels: int | None = None, *, name: str = "att"):
    """Oktay et al. 2018 additive attention: weight the skip map by where the coarser gating map looks.

    skip (B,H,W,C) from the encoder; gating (B,H/2,W/2,G) from the decoder level below.
    alpha = sigmoid(psi(relu(theta(skip) + phi(gating)))) at (H/2,W/2), upsampled to (H,W);
    returns skip * alpha, shape (B,H,W,C).
    """
    inter_channels = inter_channels or max(skip.shape[-1] // 2, 1)
    theta = layers.Conv2D(inter_channels, 2, strides=2, use_bias=False, name=f"{name}_theta")(skip)
    phi = layers.Conv2D(inter_channels, 1, name=f"{name}_phi")(gating)
    f = layers.Activation("relu", name=f"{name}_relu")(layers.Add(name=f"{name}_add")([theta, phi]))
    alpha = layers.Conv2D(1, 1, activation="sigmoid", name=f"{name}_psi")(f)
    alpha = layers.UpSampling2D(2, interpolation="bilinear", name=f"{name}_resample")(alpha)
    return layers.Multiply(name=f"{name}_scale")([skip, alpha])


def gated_skip(skip, up, merge: str = "concat", *, name: str = "gate"):
    """Report 004's gated skip connection (§5): the decoder learns how much of each skip feature to let through.

    gate = sigmoid(1x1 conv of [skip, up]), one weight in (0, 1) per pixel and skip channel; the gated
    skip (skip * gate) is then merged with the upsampled decoder map `up` by "concat" (report 004's
    better variant, Table 1: 0.51401) or "add" (0.48597; `up` is projected by a 1x1 conv when its
    channel count differs). skip (B,H,W,C), up (B,H,W,U) -> (B,H,W,C+U) or (B,H,W,C).
    """
    channels = skip.shape[-1]
    both = layers.Concatenate(name=f"{name}_inputs")([skip, up])
    gate = layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_sigmoid")(both)
    gated = layers.Multiply(name=f"{name}_scale")([skip, gate])
    if merge == "concat":
        return layers.Concatenate(name=f"{name}_concat")([gated, up])
    if merge == "add":
        if up.shape[-1] != channels:
            up = layers.Conv2D(channels, 1, name=f"{name}_project")(up)
        return layers.Add(name=f"{name}_add")([gated, up])
    raise ValueError(f"merge must be 'concat' or 'add', got {merge!r}")


def aspp(x, filters: int, rates: Sequence[int] = (1, 2, 4), *, batch_norm: bool = True, norm: str = "batch",
         name: str = "aspp"):
    """Chen et al. 2017 atrous spatial pyramid pooling: parallel dilated convs + image pooling, fused by 1x1.

    Small rates suit the 4x8 bottleneck of a 64x128 image. (B,H,W,C) -> (B,H,W,filters).
    """
    height, width = x.shape[1], x.shape[2]
    branches = [conv_bn_relu(x, filters, 1, batch_norm=batch_norm, norm=norm, name=f"{name}_1x1")]
    for r in rates:
        branches.append(conv_bn_relu(x, filters, 3, dilation_rate=r, batch_norm=batch_norm, norm=norm,
                                     name=f"{name}_rate{r}"))
    pooled = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    pooled = conv_bn_relu(pooled, filters, 1, batch_norm=False, name=f"{name}_pool")
    branches.append(layers.UpSampling2D((height, width), name=f"{name}_pool_up")(pooled))
    x = layers.Concatenate(name=f"{name}_concat")(branches)
    return conv_bn_relu(x, filters, 1, batch_norm=batch_norm, norm=norm, name=f"{name}_project")


@keras.saving.register_keras_serializable(package="marslab")
class WeightedAdd(layers.Layer):
    """Add n same-shaped maps with learnable non-negative weights that sum to 1 (report 000, 4.4).

    out = sum_i w_i x_i, w = relu(v) / (sum relu(v) + eps); v starts at 1 (a plain average).
    """

    def __init__(self, epsilon: float = 1e-4, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2:
            raise ValueError(f"WeightedAdd expects a list of at least 2 inputs, got {input_shape}")
        shapes = {tuple(s) for s in input_shape}
        if len(shapes) != 1:
            raise ValueError(f"WeightedAdd inputs must share one shape, got {sorted(shapes, key=str)}")
        self.v = self.add_weight(shape=(len(input_shape),), initializer="ones", name="weights")

    def call(self, inputs):
        w = ops.relu(self.v)
        w = w / (ops.sum(w) + self.epsilon)
        return sum(w[i] * x for i, x in enumerate(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def weighted_add(maps: Sequence, *, name: str = "wadd"):
    """Fuse same-shaped maps by a learned weighted sum (see `WeightedAdd`)."""
    return WeightedAdd(name=name)(list(maps))


def upsample(x, filters: int, factor: int = 2, mode: str = "bilinear", *, name: str = "up"):
    """Enlarge (B,H,W,C) by `factor`: bilinear keeps C channels; transpose learns a kxk, stride k conv to filters."""
    if mode == "bilinear":
        return layers.UpSampling2D(factor, interpolation="bilinear", name=name)(x)
    if mode == "transpose":
        return layers.Conv2DTranspose(filters, factor, strides=factor, name=name)(x)
    raise ValueError(f"upsampling must be one of {UPSAMPLING_MODES}, got {mode!r}")


def standardize(x, *, epsilon: float = 1e-4, name: str = "standardize"):
    """Per-image standardization: every channel of every image to mean 0 and variance 1 over its pixels.

    The network then sees one texture the same way in a dim image and in a bright one (the synthetic
    set's illumination level varies from 20 to 120 per image, and its contrast with it). A
    LayerNormalization over (H, W) without a learned scale or offset, so no weights; `epsilon` is added
    to the variance (a grayscale image in [0, 1] has a variance of about 1e-3), so a flat image stays finite.
    """
    return layers.LayerNormalization(axis=(1, 2), epsilon=epsilon, center=False, scale=False, name=name)(x)


def classifier_head(x, num_classes: int, *, name: str = "probs"):
    """1x1 conv to one score per class: softmax over classes (sigmoid for one class).
    (B,H,W,C) -> (B,H,W,num_classes)."""
    activation = "softmax" if num_classes > 1 else "sigmoid"
    # float32 even under a mixed-precision policy, so the probabilities stay exact.
    return layers.Conv2D(num_classes, 1, activation=activation, dtype="float32", name=name)(x)
