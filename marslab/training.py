"""Training: AdamW with warmup + cosine annealing, callbacks on validation mean IoU, mixed precision on
GPU, the right `tf.distribute` strategy, and history plots.

Everything here is Keras' own machinery put together; nothing is re-implemented. The pieces are
separate functions so a lesson can show each one; `fit` puts them together. What to train (the
course's network and loss) is in `marslab.recipe`; comparisons of several runs in `marslab.experiments`.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import time
from pathlib import Path

import keras
import numpy as np

from marslab.config import keras_backend, list_gpus, tensorflow
from marslab.files import atomic_path, remove_stale_temporaries
from marslab.metrics import CompetitionMeanIoU
from marslab.models.supervision import losses_for, targets_for

MONITOR = "val_mean_iou"  # logged by marslab.metrics.CompetitionMeanIoU (name "mean_iou") on validation data


def cosine_schedule(peak_learning_rate: float, total_steps: int, warmup_steps: int = 0,
                    alpha: float = 0.01) -> keras.optimizers.schedules.CosineDecay:
    """Linear warmup from 0 to `peak_learning_rate` over `warmup_steps`, then cosine annealing down to
    `alpha * peak_learning_rate` at `total_steps` (and constant after). Steps count optimizer updates.
    """
    if peak_learning_rate <= 0:
        raise ValueError(f"peak_learning_rate must be > 0, got {peak_learning_rate}")
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"need 0 <= warmup_steps < total_steps, got warmup_steps={warmup_steps}, "
                         f"total_steps={total_steps}")
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


class SafeCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras' best-model checkpoint, made safe for work already done.

    Saves the model whenever `monitor` improves, to a temporary file renamed over `filepath` in one step
    (a kill during the save never leaves a corrupt checkpoint), with the monitored value beside it in
    `<filepath stem>.json`. A checkpoint left by an earlier run counts: this run replaces it only when it
    does better than the value recorded with it, unless `overwrite=True`. An earlier checkpoint without a
    readable record (or monitored on something else) is renamed `<stem>.earlier-<its time>.keras`, with a note.
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = MONITOR, mode: str = "max",
                 overwrite: bool = False):
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', found {mode!r}")
        super().__init__(str(filepath), monitor=monitor, mode=mode, save_best_only=True)
        self.path, self.record = Path(filepath), Path(filepath).with_suffix(".json")
        self.overwrite, self.mode_name = overwrite, mode
        self.best_value = self._earlier_best()

    def _earlier_best(self) -> float | None:
        """The value recorded with an earlier run's checkpoint (None: none to beat). An earlier checkpoint
        whose value is not on record (an older marslab, another monitor) is kept under another name."""
        if self.overwrite or not self.path.exists():
            return None
        try:
            record = json.loads(self.record.read_text())
            if record["monitor"] == self.monitor and record["mode"] == self.mode_name:
                return float(record["value"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.path.stat().st_mtime))
        kept, n = self.path.with_name(f"{self.path.stem}.earlier-{stamp}{self.path.suffix}"), 1
        while kept.exists() or kept.with_suffix(".json").exists():  # never over another kept one
            n += 1
            kept = self.path.with_name(f"{self.path.stem}.earlier-{stamp}-{n}{self.path.suffix}")
        os.rename(self.path, kept)
        if self.record.exists():
            os.rename(self.record, kept.with_suffix(".json"))
        print(f"marslab: {self.path} came from an earlier run whose {self.monitor} is not on record; kept as "
              f"{kept.name}", file=sys.stderr)
        return None

    def on_train_begin(self, logs=None):
        remove_stale_temporaries(self.path.parent, re.escape(self.path.name))  # saves killed midway

    def _better(self, value: float) -> bool:
        if self.best_value is None:
            return True
        return value > self.best_value if self.mode_name == "max" else value < self.best_value

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not np.isfinite(value) or not self._better(float(value)):
            return
        self.best_value = float(value)
        with atomic_path(self.path, suffix=".keras") as tmp:  # Keras saves only to a name ending in .keras
            self.model.save(str(tmp), overwrite=True)
        with atomic_path(self.record) as tmp:
            tmp.write_text(json.dumps({"monitor": self.monitor, "mode": self.mode_name, "value": self.best_value,
                                       "epoch": epoch + 1}))


def make_callbacks(out_dir: str | os.PathLike, monitor: str = MONITOR, patience: int = 10,
                   mode: str = "max", overwrite: bool = False) -> list[keras.callbacks.Callback]:
    """Early stopping (best weights restored), best-model checkpoint and a CSV log, all on `monitor`.

    Writes `out_dir/best.keras` (the model at its best epoch, `SafeCheckpoint`: written atomically, an
    earlier run's better checkpoint kept unless `overwrite`) and appends to `out_dir/history.csv` (one
    row per epoch).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience, restore_best_weights=True,
                                      verbose=1),
        SafeCheckpoint(out_dir / "best.keras", monitor=monitor, mode=mode, overwrite=overwrite),
        keras.callbacks.CSVLogger(str(out_dir / "history.csv"), append=True),
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
    """The `tf.distribute` strategy for this machine: MultiWorkerMirroredStrategy when $TF_CONFIG describes a
    cluster of several workers (hosts, or processes of one host; each runs the same script with its own
    TF_CONFIG), MirroredStrategy over several GPUs, OneDeviceStrategy on one GPU, the default strategy on CPU.
    Build and compile the model inside `strategy.scope()`.
    TensorFlow backend only (JAX and PyTorch use `keras.distribution`; see `strategy_scope`).
    """
    if keras_backend() != "tensorflow":
        raise ValueError(f"tf.distribute needs the tensorflow Keras backend, this session uses {keras_backend()!r}")
    tf = tensorflow()
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    if len(cluster.get("worker", [])) + len(cluster.get("chief", [])) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
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
            raise ValueError("the training dataset has unknown or infinite length: pass steps explicitly "
                             "(.take/.repeat)")
        return steps
    return len(train_data)


def fit(model: keras.Model, train_data, val_data, epochs: int, loss, out_dir: str | os.PathLike,
        batch_size: int = 32, learning_rate: float = 1e-3, weight_decay: float = 1e-4,
        warmup_epochs: float = 1.0, patience: int = 10, metric: keras.metrics.Metric | None = None,
        verbose: int = 1, overwrite: bool = False, schedule: str = "cosine") -> keras.callbacks.History:
    """Compile `model` with the recipe (AdamW + warmup + cosine, competition mean IoU) and train it.

    train_data / val_data: NumPy `(images (N,64,128,1) float32, masks (N,64,128) int)` tuples, or
    batched tf.data.Datasets of such pairs (batch_size is then ignored). A multi-output model (deep
    supervision, class head) gets one target and loss per output (`marslab.models.targets_for`,
    NumPy data only) and is monitored on its main output "probs". The best model (validation mean
    IoU) is restored at the end and saved in `out_dir/best.keras` (an earlier run's better checkpoint there
    is kept unless `overwrite`, see `SafeCheckpoint`); `out_dir/history.csv` logs epochs.
    metric: what to monitor instead (e.g. keras.metrics.BinaryIoU for a one-class background model);
    default `marslab.metrics.CompetitionMeanIoU()`, logged as "mean_iou". schedule: "cosine" (warmup +
    cosine annealing) or "plateau" (constant rate, halved when the monitored score stalls; report 002).
    """
    from marslab.schedules import SCHEDULES, plateau_callback, plateau_optimizer

    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    steps = steps_per_epoch(train_data, batch_size)
    total = steps * epochs
    warmup = min(int(round(warmup_epochs * steps)), total - 1)
    single = len(model.outputs) == 1
    metric = metric or CompetitionMeanIoU()
    optimizer = (make_optimizer(total, learning_rate, weight_decay, warmup) if schedule == "cosine"
                 else plateau_optimizer(learning_rate, weight_decay))
    model.compile(optimizer=optimizer, loss=losses_for(model, loss),
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
    callbacks = make_callbacks(out_dir, monitor=monitor, patience=patience, overwrite=overwrite)
    callbacks += [plateau_callback(monitor)] if schedule == "plateau" else []
    return model.fit(**train_args, epochs=epochs, validation_data=val_data, callbacks=callbacks,
                     verbose=verbose)


def plot_history(history: keras.callbacks.History | dict, metrics: tuple[str, ...] = ("loss", "mean_iou")):
    """One panel per metric: training and validation curves per epoch, best validation epoch marked.
    Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt  # drawing only (about a second to import)

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
    import matplotlib.pyplot as plt  # drawing only (about a second to import)

    steps = np.unique(np.linspace(0, total_steps, 200).astype(int))
    rates = [float(schedule(int(s))) for s in steps]
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    ax.plot(steps, rates)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.set_title("warmup + cosine annealing")
    return ax


def __getattr__(name: str):
    """`marslab.training.train_recipe` (and `RecipeRun`): the recipe in one call, which lives in marslab.recipe
    (imported on first use, since marslab.recipe itself builds on this module)."""
    if name in ("train_recipe", "RecipeRun"):
        from marslab import recipe

        return getattr(recipe, name)
    raise AttributeError(f"module 'marslab.training' has no attribute {name!r}")
