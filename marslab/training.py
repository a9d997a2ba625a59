"""The training recipe: AdamW with warmup + cosine annealing, callbacks on validation mean IoU,
mixed precision on GPU, the right `tf.distribute` strategy, and history plots.

Everything here is Keras' own machinery put together; nothing is re-implemented. The pieces are
separate functions so a lesson can show each one; `fit` puts them together.
"""
from __future__ import annotations

import contextlib
import math
import os
import warnings
from pathlib import Path

import keras
import numpy as np

from marslab.config import keras_backend, list_gpus

MONITOR = "val_mean_iou"  # logged by marslab.metrics.CompetitionMeanIoU (name "mean_iou") on validation data
RECIPE_LOSS_POWER = 0.5  # recipe_loss's class-weight power (benchmarks/bench_loss_power.py)


def cosine_schedule(peak_learning_rate: float, total_steps: int, warmup_steps: int = 0,
                    alpha: float = 0.01) -> keras.optimizers.schedules.CosineDecay:
    """Linear warmup from 0 to `peak_learning_rate` over `warmup_steps`, then cosine annealing down to
    `alpha * peak_learning_rate` at `total_steps` (and constant after). Steps count optimizer updates.
    """
    if peak_learning_rate <= 0:
        raise ValueError(f"peak_learning_rate must be > 0, got {peak_learning_rate}")
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"need 0 <= warmup_steps < total_steps, got warmup_steps={warmup_steps}, total_steps={total_steps}")
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(peak_learning_rate, decay_steps=total_steps, alpha=alpha)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0, decay_steps=total_steps - warmup_steps, alpha=alpha,
        warmup_target=peak_learning_rate, warmup_steps=warmup_steps)


def make_optimizer(total_steps: int, learning_rate: float = 1e-3, weight_decay: float = 1e-4,
                   warmup_steps: int = 0, alpha: float = 0.01) -> keras.optimizers.AdamW:
    """AdamW (Adam with decoupled weight decay) driven by `cosine_schedule` (report 000 §4.5)."""
    schedule = cosine_schedule(learning_rate, total_steps, warmup_steps, alpha)
    return keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay)


def make_callbacks(out_dir: str | os.PathLike, monitor: str = MONITOR, patience: int = 10,
                   mode: str = "max") -> list[keras.callbacks.Callback]:
    """Early stopping (best weights restored), best-model checkpoint and a CSV log, all on `monitor`.

    Writes `out_dir/best.keras` (the model at its best epoch) and `out_dir/history.csv` (one row per epoch).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience, restore_best_weights=True,
                                      verbose=1),
        keras.callbacks.ModelCheckpoint(str(out_dir / "best.keras"), monitor=monitor, mode=mode, save_best_only=True),
        keras.callbacks.CSVLogger(str(out_dir / "history.csv")),
    ]


def set_mixed_precision(enabled: bool | None = None) -> str:
    """Set Keras' global dtype policy: "mixed_float16" when `enabled` (default: iff a GPU is visible),
    else "float32". Call it BEFORE building the model; returns the policy name.

    Under mixed precision the model's softmax output must stay float32 (see `check_float32_output`);
    Keras wraps the optimizer in a LossScaleOptimizer at compile time.
    """
    if enabled is None:
        enabled = bool(list_gpus())
    policy = "mixed_float16" if enabled else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def check_float32_output(model: keras.Model) -> None:
    """Raise ValueError if any output of `model` is not float32 (softmax in float16 loses the rare classes)."""
    for output in model.outputs:
        if output.dtype != "float32":
            raise ValueError(f"model output {output.name!r} is {output.dtype}; under mixed precision the final "
                             "softmax must run in float32 (build that layer with dtype='float32')")


def distribution_strategy():
    """The `tf.distribute` strategy for this machine: MirroredStrategy over several GPUs, OneDeviceStrategy
    on one GPU, the default strategy on CPU. Build and compile the model inside `strategy.scope()`.
    TensorFlow backend only (JAX and PyTorch use `keras.distribution`; see `strategy_scope`).
    """
    if keras_backend() != "tensorflow":
        raise ValueError(f"tf.distribute needs the tensorflow Keras backend, this session uses {keras_backend()!r}")
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    if len(gpus) == 1:
        return tf.distribute.OneDeviceStrategy(gpus[0].name)
    return tf.distribute.get_strategy()


def strategy_scope():
    """A context manager to build and compile models in: `distribution_strategy().scope()` on the
    TensorFlow backend; on JAX/PyTorch (one device here) a no-op."""
    if keras_backend() == "tensorflow":
        return distribution_strategy().scope()
    return contextlib.nullcontext()


def steps_per_epoch(train_data, batch_size: int) -> int:
    """Optimizer updates per epoch: batches in a finite tf.data.Dataset / PyDataset, or ceil(N / batch_size)
    for NumPy `(images, masks)`."""
    if isinstance(train_data, (tuple, list)):
        return math.ceil(len(train_data[0]) / batch_size)
    if hasattr(train_data, "cardinality"):
        steps = int(train_data.cardinality())
        if steps < 0:
            raise ValueError("the training dataset has unknown or infinite length: pass steps explicitly (.take/.repeat)")
        return steps
    return len(train_data)


def fit(model: keras.Model, train_data, val_data, epochs: int, loss, out_dir: str | os.PathLike,
        batch_size: int = 32, learning_rate: float = 1e-3, weight_decay: float = 1e-4,
        warmup_epochs: float = 1.0, patience: int = 10, metric: keras.metrics.Metric | None = None,
        verbose: int = 1) -> keras.callbacks.History:
    """Compile `model` with the recipe (AdamW + warmup + cosine, competition mean IoU) and train it.

    train_data / val_data: NumPy `(images (N,64,128,1) float32, masks (N,64,128) int)` tuples, or
    batched tf.data.Datasets of such pairs (batch_size is then ignored). A multi-output model (deep
    supervision, class head) gets one target and loss per output (`marslab.models.targets_for`,
    NumPy data only) and is monitored on its main output "probs". The best model (validation mean
    IoU) is restored at the end and saved in `out_dir/best.keras`; `out_dir/history.csv` logs epochs.
    metric: what to monitor instead (e.g. keras.metrics.BinaryIoU for a one-class background model);
    default `marslab.metrics.CompetitionMeanIoU()`, logged as "mean_iou".
    """
    from marslab.metrics import CompetitionMeanIoU
    from marslab.models import losses_for, targets_for

    steps = steps_per_epoch(train_data, batch_size)
    total = steps * epochs
    warmup = min(int(round(warmup_epochs * steps)), total - 1)
    single = len(model.outputs) == 1
    metric = metric or CompetitionMeanIoU()
    model.compile(optimizer=make_optimizer(total, learning_rate, weight_decay, warmup), loss=losses_for(model, loss),
                  metrics=[metric] if single else {"probs": [metric]})
    check_float32_output(model)
    numpy_data = isinstance(train_data, (tuple, list))
    if not numpy_data and not single:
        raise TypeError("a multi-output model needs NumPy (images, masks) data here, got a dataset")
    if numpy_data:
        (x, y), (x_val, y_val) = train_data, val_data
        train_args = dict(x=x, y=targets_for(model, y), batch_size=batch_size, shuffle=True)
        val_data = (x_val, targets_for(model, y_val))
    else:
        train_args = dict(x=train_data)  # a dataset shuffles itself (make_dataset(shuffle=True))
    monitor = f"val_{metric.name}" if single else f"val_probs_{metric.name}"
    callbacks = make_callbacks(out_dir, monitor=monitor, patience=patience)
    return model.fit(**train_args, epochs=epochs, validation_data=val_data, callbacks=callbacks,
                     verbose=verbose)


def plot_history(history: keras.callbacks.History | dict, metrics: tuple[str, ...] = ("loss", "mean_iou")):
    """One panel per metric: training and validation curves per epoch, best validation epoch marked.
    Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    logs = history.history if hasattr(history, "history") else history
    metrics = tuple(m if m in logs or f"probs_{m}" not in logs else f"probs_{m}" for m in metrics)  # multi-output
    missing = [m for m in metrics if m not in logs]
    if missing:
        raise KeyError(f"history has no {missing}; it logged {sorted(logs)}")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.4), squeeze=False)
    for ax, name in zip(axes[0], metrics):
        epochs = np.arange(1, len(logs[name]) + 1)
        ax.plot(epochs, logs[name], "o-", label="training")
        if f"val_{name}" in logs:
            val = np.asarray(logs[f"val_{name}"])
            ax.plot(epochs, val, "o-", label="validation")
            best = int(np.argmin(val) if name == "loss" else np.argmax(val))
            ax.axvline(best + 1, color="grey", ls=":", label=f"best epoch ({best + 1})")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_schedule(schedule, total_steps: int, ax=None):
    """The learning rate of a Keras schedule over steps 0..total_steps (at most 200 points); returns the Axes."""
    import matplotlib.pyplot as plt

    steps = np.unique(np.linspace(0, total_steps, 200).astype(int))
    rates = [float(schedule(int(s))) for s in steps]
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    ax.plot(steps, rates)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.set_title("warmup + cosine annealing")
    return ax


# ------------------------------------------------------------------ the course's final recipe
RECIPE_ARCHITECTURES: tuple[str, ...] = ("unet", "unet3plus")


def recipe_model(filters: int = 32, depth: int = 4, architecture: str = "unet",
                 cat_channels: int | None = None, standardize_input: bool = False) -> keras.Model:
    """The course's final network: images (B,64,128,1) -> probs (B,64,128,5).

    architecture "unet" (default): lesson 05's U-Net, the lesson-05 baseline's own network, so the
    recipe's gain comes from how it is trained. "unet3plus": report 000's best, a UNet3+ with residual
    blocks and transposed convolutions (§4.4), with `cat_channels` (default `filters`). On the synthetic
    set the UNet3+ trained worse with the recipe's loss and schedule: after 12 epochs (filters 16, the
    whole cleaned set, CPU) its validation mean IoU was 0.514 against the U-Net's 0.621 and its
    training loss rose from the third epoch on (lesson 09, section 5; benchmarks/bench_loss_power.py).
    standardize_input: every image to mean 0 and variance 1 before the first layer
    (`marslab.models.standardize`, no weights). Off by default: it sped up the first epochs, but in the
    quality benchmark's recipe it ended 0.008 below the plain input (lesson 09, section 5).
    """
    from marslab.models import unet, unet3plus

    if architecture == "unet":
        if cat_channels is not None:
            raise ValueError("cat_channels sets the skip width of architecture='unet3plus'; the U-Net has none")
        return unet(filters=filters, depth=depth, standardize_input=standardize_input, name="recipe_unet")
    if architecture == "unet3plus":
        return unet3plus(filters=filters, depth=depth, cat_channels=cat_channels or filters, residual=True,
                         upsampling="transpose", standardize_input=standardize_input, name="recipe_unet3plus")
    raise ValueError(f"architecture must be one of {RECIPE_ARCHITECTURES}, got {architecture!r}")


def recipe_weights(masks: np.ndarray, power: float = RECIPE_LOSS_POWER) -> np.ndarray:
    """Class weights (5,): inverse frequency of `masks` (N,64,128) raised to `power`, Background zeroed,
    scaled so the average pixel weight of `masks` is 1 (report 000 Table 4, second row, at power 1;
    power 0 only drops Background; values in between soften the weight of Big Rock).

    The scaling: weights summing to 1 (Table 4's rows) shrink a cross-entropy by the average pixel
    weight, about 50x on Table 1's frequencies, and such a loss trained markedly slower in a controlled
    toy run. The default power 0.5: at power 1 the recipe's loss hardly fell on the synthetic set
    (benchmarks/bench_loss_power.py, lesson 09). A class without pixels gets weight 0, with a warning.
    """
    from marslab.weights import class_frequencies, zero_background

    freqs = class_frequencies(masks)
    if (freqs[1:] == 0).any():
        warnings.warn(f"classes {np.flatnonzero(freqs[1:] == 0) + 1} have no pixels here: weight 0", stacklevel=2)
    weights = zero_background(np.where(freqs > 0, (len(freqs) * np.maximum(freqs, 1e-12)) ** -power, 0.0))
    return weights / float(freqs @ weights)


def recipe_loss(masks: np.ndarray, power: float = RECIPE_LOSS_POWER, dice: float = 1.0):
    """The recipe's loss: class-weighted cross-entropy + `dice` x class-weighted per-class soft Dice, both
    with `recipe_weights(masks, power)` (Background's weight 0). dice=0 gives the cross-entropy alone.

    The Dice part scores each class's overlap over the whole batch, as the metric does over the test
    set, so a rare class is judged by its overlap, not by its share of the pixels (reports 003 and 004
    ended with such sums). On the synthetic set, with the U-Net, it made no measurable difference:
    the class weights are what taught Big Rock (lesson 09, section 5; benchmarks/bench_loss_power.py).
    """
    from marslab.losses import Combined, get_loss

    if dice < 0:
        raise ValueError(f"dice must be >= 0 (the weight of the Dice term), got {dice}")
    weights = recipe_weights(masks, power)
    if dice == 0:
        return get_loss("cce", class_weights=weights)
    return Combined([get_loss("cce", class_weights=weights), get_loss("dice", class_weights=weights)],
                    [1.0, float(dice)], class_weights=weights, name="cce_dice")


# ------------------------------------------------------------------ error analysis
def evaluate(true_masks: np.ndarray, preds: np.ndarray) -> dict[str, float]:
    """The competition metric and the IoU of every class 1-4 (true-Background pixels ignored), as a row."""
    from marslab import CLASS_NAMES
    from marslab.metrics import mean_iou, per_class_iou

    row = {"mean IoU": mean_iou(true_masks, preds)}
    row.update({f"IoU {name}": float(v) for name, v in zip(CLASS_NAMES[1:], per_class_iou(true_masks, preds)[1:])})
    return row


def per_image_scores(true_masks: np.ndarray, preds: np.ndarray, num_classes: int = 5) -> np.ndarray:
    """The competition metric of every image on its own: (N,64,128) x2 -> (N,) float, NaN where an image
    has no class 1..C-1 in truth or prediction. Sort it to find the worst images."""
    true_masks, preds = np.asarray(true_masks), np.asarray(preds)
    if true_masks.shape != preds.shape or true_masks.ndim != 3:
        raise ValueError(f"need two (N, H, W) label arrays of one shape, got {true_masks.shape} and {preds.shape}")
    n = len(true_masks)
    keep = true_masks.reshape(n, -1) > 0  # the metric ignores true-Background pixels
    t, p = true_masks.reshape(n, -1).astype(np.int64), preds.reshape(n, -1).astype(np.int64)
    iou = np.full((n, num_classes - 1), np.nan)
    for c in range(1, num_classes):
        inter = ((t == c) & (p == c) & keep).sum(1)
        union = (((t == c) | (p == c)) & keep).sum(1)
        iou[:, c - 1] = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: images with nothing to score
        return np.nanmean(iou, axis=1)
