"""Experiments: train, predict and score several variants on the same data with the same budget, in one table.

    compare({"U-Net": lambda: unet(), "UNet++": lambda: unet_plus_plus()}, train, val, vary="model", epochs=2)
    compare(augmentations, train, val, vary="augment", model=build, epochs=2)
    compare(losses, train, val, vary="loss", model=build, epochs=2, seed=[0, 1, 2])

One run is `train_and_score`: seed, build, compile (Adam, one loss per output), fit, predict the
validation images (`to_labels(predict_probs(...))`) and score them with `score_row`, the competition
metric and the IoU of every class. `compare` makes one run per variant (and seed), changing only the
setting named by `vary`. Lessons 03, 04, 06, 07 and 08 and the benchmarks build their tables with it.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from marslab import CLASS_NAMES, NUM_CLASSES
from marslab.config import seed_everything
from marslab.losses import LOSSES, boundary_targets, get_loss
from marslab.metrics import confusion_matrix, iou_from_confusion
from marslab.models.supervision import losses_for, targets_for
from marslab.pipeline import make_dataset, to_model_input
from marslab.postprocess import predict_probs, to_labels
from marslab.validation import check_int, invalid

SETTINGS = ("model", "loss", "augment", "learning_rate")  # what `compare` can vary


def score_row(true_masks: np.ndarray, preds: np.ndarray, pixel_columns: bool = False) -> dict[str, float]:
    """The score of label maps preds against true_masks (N,64,128), as one table row: "mean IoU" (the
    competition metric) and "IoU <class>" for classes 1-4 (true-Background pixels ignored; NaN for a
    class absent from both). pixel_columns adds "accuracy" and "IoU Background" on all pixels (report 000,
    Table 3's layout; the competition defines neither). One confusion matrix gives them all.
    """
    cm = confusion_matrix(true_masks, preds, NUM_CLASSES)
    competition = iou_from_confusion(cm, ignore_true_background=True)
    if np.isnan(competition[1:]).all():
        raise invalid("true_masks and preds", "hold some class 1..4 (the metric is undefined without one)",
                      "only Background")
    row = {"mean IoU": float(np.nanmean(competition[1:]))}
    if pixel_columns:
        row = {"accuracy": float(np.trace(cm) / cm.sum()), **row,
               f"IoU {CLASS_NAMES[0]}": float(iou_from_confusion(cm, ignore_true_background=False)[0])}
    row.update({f"IoU {CLASS_NAMES[c]}": float(competition[c]) for c in range(1, NUM_CLASSES)})
    return row


class EpochTimer(keras.callbacks.Callback):
    """Records the wall-clock seconds of every epoch in `.seconds`."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def as_loss(loss):
    """A marslab loss spec ("cce", "cce+dice", {"cce": 1, "dice": 1}) built with `get_loss`; Keras names and
    loss objects as they are."""
    if isinstance(loss, Mapping) or (isinstance(loss, str) and (loss in LOSSES or "+" in loss)):
        return get_loss(loss)
    return loss


def train_and_score(model: keras.Model | Callable[[], keras.Model], train: tuple, val: tuple, epochs: int,
                    batch_size: int = 32, *, loss="sparse_categorical_crossentropy", learning_rate: float = 1e-3,
                    augment: Callable | None = None, seed: int = 0, run_eagerly: bool = False,
                    pixel_columns: bool = False, verbose: int = 0) -> dict:
    """Train one model on `train`, score it on `val`; returns a row: "params", "s/epoch" and `score_row`.

    model: a builder, called after `seed_everything(seed)`, or a model already built (by a caller that
    seeded). train, val: (images, masks), images uint8 (N,64,128) or model input float32 (N,64,128,C)
    in [0,1], masks (N,64,128) integer labels (the training masks may be packed with distance maps,
    `boundary_targets`; a loss that needs them gets them). Adam at `learning_rate`; a multi-output model
    gets one loss and target per output (`losses_for`, `targets_for`). augment: a function on batches
    (`marslab.augment.build_augmentation`); the training set then goes through `make_dataset`
    (uint8 images, shuffled with `seed`). "s/epoch" is the last epoch's (the first also pays for tracing).
    """
    check_int(epochs, "epochs", 1)
    (x, y), (x_val, y_val) = train, val
    loss = as_loss(loss)
    if getattr(loss, "needs_distance_maps", False) and np.ndim(y) == 3:
        y = boundary_targets(y)
    if not isinstance(model, keras.Model):
        seed_everything(seed)
        model = model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=losses_for(model, loss), run_eagerly=run_eagerly)
    timer = EpochTimer()
    if augment is None:
        model.fit(to_model_input(x), targets_for(model, y), batch_size=batch_size, epochs=epochs, shuffle=True,
                  callbacks=[timer], verbose=verbose)
    else:
        if len(model.outputs) > 1:
            raise invalid("model", "have one output when the training batches are augmented", len(model.outputs))
        dataset = make_dataset(x, y, batch_size=batch_size, shuffle=True, seed=seed, augment=augment)
        model.fit(dataset, epochs=epochs, shuffle=False, callbacks=[timer], verbose=verbose)  # it shuffles itself
    preds = to_labels(predict_probs(model, x_val, batch_size=batch_size, progress=False))
    return {"params": model.count_params(), "s/epoch": timer.seconds[-1],
            **score_row(y_val, preds, pixel_columns)}


def compare(variants: Mapping[str, Any], train: tuple, val: tuple, vary: str = "model",
            seed: int | Sequence[int] = 0, name: str | None = None, progress: bool = True,
            **settings) -> pd.DataFrame:
    """`train_and_score` for every variant, all with the same data, epochs and other settings.

    variants: {label: value of the setting `vary`} ("model": builders, "loss": losses, "augment":
    augmentations, "learning_rate": numbers). settings: the rest of `train_and_score`'s arguments
    (epochs, batch_size, model, loss, ...), the same for every run. seed: one int (one run per
    variant), or a list of seeds (one run per variant and seed, with a "seed" column). Distance maps for
    losses that need them are computed once. Returns a pandas DataFrame, one row per run, indexed by
    label (index name `name`, default `vary`).
    """
    if vary not in SETTINGS:
        raise invalid("vary", f"be one of {SETTINGS}", repr(vary))
    if vary in settings:
        raise invalid("settings", f"leave out {vary!r}, the setting the variants vary", f"{vary}={settings[vary]!r}")
    one_seed = isinstance(seed, (int, np.integer))
    runs = [(label, s) for label in variants for s in ([seed] if one_seed else list(seed))]
    packed, rows = None, []
    for label, run_seed in tqdm(runs, desc=f"{vary} x seed", disable=not progress or len(runs) < 2):
        options = {**settings, vary: variants[label]}
        options["loss"] = as_loss(options.get("loss", "sparse_categorical_crossentropy"))
        run_train = train
        if getattr(options["loss"], "needs_distance_maps", False) and np.ndim(train[1]) == 3:
            packed = boundary_targets(train[1]) if packed is None else packed
            run_train = (train[0], packed)
        row = train_and_score(train=run_train, val=val, seed=run_seed, **options)
        rows.append({name or vary: label, **({} if one_seed else {"seed": run_seed}), **row})
    return pd.DataFrame(rows).set_index(name or vary)
