"""Train several models on the same data with the same budget and tabulate what each costs and buys.

Lessons 06 and 07 use `compare` for their tables: parameters, seconds per epoch, mean IoU (the
competition metric) and the IoU of every class, one row per model.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import keras
import numpy as np

from marslab import CLASS_NAMES
from marslab.models.supervision import losses_for, targets_for


def main_output(probs):
    """The full model's probabilities among a multi-output model's outputs (the last one by our convention)."""
    return probs[-1] if isinstance(probs, (list, tuple)) else probs


def predict_labels(model: keras.Model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Predicted label maps: images (N,64,128,1) floats -> preds (N,64,128) uint8, argmax of the main output."""
    if images.ndim != 4:
        raise ValueError(f"images must be (N, H, W, 1) floats, got shape {images.shape}")
    probs = main_output(model.predict(images, batch_size=batch_size, verbose=0))
    return np.argmax(probs, axis=-1).astype(np.uint8)


class EpochTimer(keras.callbacks.Callback):
    """Records the wall-clock seconds of every epoch in `.seconds`."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def train_and_score(model: keras.Model, train: tuple, val: tuple, epochs: int, batch_size: int = 32,
                    loss="sparse_categorical_crossentropy", learning_rate: float = 1e-3,
                    verbose: int = 0) -> dict:
    """Compile `model` (Adam; one loss per output, by name), fit it on `train`, score it on `val`.

    train, val: (images (N,64,128,1) float32 in [0,1], masks (N,64,128) int). Returns a row:
    params, s/epoch (the last epoch: the first one also pays for tracing), mean IoU and per-class IoU
    (`marslab.metrics`, true-Background pixels ignored).
    """
    from marslab.metrics import mean_iou, per_class_iou

    (x, y), (x_val, y_val) = train, val
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=losses_for(model, loss))
    timer = EpochTimer()
    model.fit(x, targets_for(model, y), batch_size=batch_size, epochs=epochs, callbacks=[timer], verbose=verbose)
    preds = predict_labels(model, x_val, batch_size)
    row = {"model": model.name, "params": model.count_params(), "s/epoch": round(timer.seconds[-1], 1),
           "mean IoU": round(mean_iou(y_val, preds), 3)}
    for name, iou in zip(CLASS_NAMES[1:], per_class_iou(y_val, preds)[1:]):
        row[f"IoU {name}"] = round(float(iou), 3)
    return row


def compare(builders: Mapping[str, Callable[[], keras.Model]], train: tuple, val: tuple, epochs: int,
            batch_size: int = 32, seed: int = 0, **fit_options):
    """Build, train and score every model of `builders` ({label: builder}) with the same data, epochs and
    seed; returns a pandas DataFrame with one row per label (see `train_and_score`)."""
    import pandas as pd

    from marslab import seed_everything

    rows = []
    for label, build in builders.items():
        seed_everything(seed)
        row = train_and_score(build(), train, val, epochs, batch_size, **fit_options)
        rows.append({"model": label, **{k: v for k, v in row.items() if k != "model"}})
    return pd.DataFrame(rows).set_index("model")
