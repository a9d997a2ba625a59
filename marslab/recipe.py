"""The course's final recipe: its network, its class weights and its loss, each chosen by a measurement.

The measurements (training loss and validation mean IoU per class-weight power, Dice weight and network;
the recipe against the lesson-05 baseline on the hidden test split) are in benchmarks/README.md
("Loss, class-weight power and network" and "Quality"); lesson 09 shows the table. Training goes
through `marslab.training`. `train_recipe` is the whole recipe in one call: images and masks in (any
labelled set in the course format, synthetic or real), the trained model and its validation history out.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import keras
import numpy as np

from marslab import BIG_ROCK, CLASS_NAMES
from marslab.augment import copy_paste
from marslab.cleaning import find_aliens, stratified_split
from marslab.config import get_profile, list_gpus, seed_everything
from marslab.losses import Combined, SegmentationLoss, get_loss
from marslab.metrics import CompetitionMeanIoU
from marslab.models import unet, unet3plus
from marslab.pipeline import to_model_input
from marslab.validation import check_images, check_labels, check_number, invalid
from marslab.weights import class_frequencies, oversample_indices, zero_background

RECIPE_ARCHITECTURES: tuple[str, ...] = ("unet", "unet3plus")
RECIPE_LOSS_POWER = 0.5  # recipe_loss's class-weight power (benchmarks/bench_loss_power.py)


def recipe_model(filters: int = 32, depth: int = 4, architecture: str = "unet",
                 cat_channels: int | None = None, standardize_input: bool = False) -> keras.Model:
    """The course's final network: images (B,64,128,1) -> probs (B,64,128,5).

    architecture "unet" (default): lesson 05's U-Net, the lesson-05 baseline's own network, so the
    recipe's gain comes from how it is trained. "unet3plus": report 000's best, a UNet3+ with residual
    blocks and transposed convolutions (§4.4), with `cat_channels` (default `filters`); on the synthetic
    set it trained worse with the recipe's loss and schedule (benchmarks/README.md).
    standardize_input: every image to mean 0 and variance 1 before the first layer
    (`marslab.models.standardize`, no weights); off, since it did not help the recipe (benchmarks/README.md).
    """
    if architecture == "unet":
        if cat_channels is not None:
            raise invalid("cat_channels", "be None with architecture='unet' (it sets the skip width of "
                          "'unet3plus'; the U-Net has none)", cat_channels)
        return unet(filters=filters, depth=depth, standardize_input=standardize_input, name="recipe_unet")
    if architecture == "unet3plus":
        return unet3plus(filters=filters, depth=depth, cat_channels=cat_channels or filters, residual=True,
                         upsampling="transpose", standardize_input=standardize_input, name="recipe_unet3plus")
    raise ValueError(f"architecture must be one of {RECIPE_ARCHITECTURES}, found {architecture!r}")


def recipe_weights(masks: np.ndarray, power: float = RECIPE_LOSS_POWER) -> np.ndarray:
    """Class weights (5,): inverse frequency of `masks` (N,64,128) raised to `power`, Background zeroed,
    scaled so the average pixel weight of `masks` is 1 (report 000 Table 4, second row, at power 1;
    power 0 only drops Background; values in between soften the weight of Big Rock).

    The scaling: weights summing to 1 (Table 4's rows) shrink a cross-entropy by the average pixel
    weight, about 50x on Table 1's frequencies (lesson 08, section 6). The default power 0.5: at power 1
    the recipe's loss hardly fell on the synthetic set (benchmarks/README.md, lesson 09). A class without
    pixels in `masks` (a small or skewed subset) gets weight 0, with a warning, instead of an infinite one.
    """
    power = check_number(power, "power")
    freqs = class_frequencies(masks)
    if (freqs[1:] == 0).any():
        warnings.warn(f"classes {(np.flatnonzero(freqs[1:] == 0) + 1).tolist()} have no pixels here: weight 0",
                      stacklevel=2)
    weights = zero_background(np.where(freqs > 0, (len(freqs) * np.maximum(freqs, 1e-12)) ** -power, 0.0))
    return weights / float(freqs @ weights)


def recipe_loss(masks: np.ndarray, power: float = RECIPE_LOSS_POWER, dice: float = 1.0) -> SegmentationLoss:
    """The recipe's loss: class-weighted cross-entropy + `dice` x class-weighted per-class soft Dice, both
    with `recipe_weights(masks, power)` (Background's weight 0). dice=0 gives the cross-entropy alone.

    The Dice part scores each class's overlap over the whole batch, as the metric does over the test
    set, so a rare class is judged by its overlap, not by its share of the pixels (reports 003 and 004
    ended with such sums).
    """
    if not isinstance(dice, (int, float)) or not dice >= 0:
        raise ValueError(f"dice must be >= 0 (the weight of the Dice term), found {dice!r}")
    weights = recipe_weights(masks, power)
    if dice == 0:
        return get_loss("cce", class_weights=weights)
    return Combined([get_loss("cce", class_weights=weights), get_loss("dice", class_weights=weights)],
                    [1.0, float(dice)], class_weights=weights, name="cce_dice")


# ------------------------------------------------------------------------------ the recipe in one call
# Sizes per profile: smoke (CPU, CI) only shows the path runs; full is the recipe of benchmarks/README.md.
RECIPE_PROFILES: dict[str, dict] = {
    "smoke": dict(filters=4, depth=3, epochs=2, batch_size=16, patience=2, copies=16),
    "full": dict(filters=32, depth=4, epochs=60, batch_size=32, patience=12, copies=400),
}


class RecipeBatches(keras.utils.PyDataset):
    """The recipe's training batches from uint8 images/masks (N,64,128): every image once and each image
    with Big Rock 4x (report 000, §4.2), each also flipped left-right; reshuffled every epoch. Batches are
    made on the fly, so memory stays that of the uint8 arrays. Yields float32 (B,64,128,1), labels (B,64,128)."""

    def __init__(self, images: np.ndarray, masks: np.ndarray, batch_size: int, seed: int = 0):
        super().__init__()
        self.images, self.masks, self.batch_size = images, masks, batch_size
        index = oversample_indices(masks, factor=4)
        self.pairs = np.stack([np.concatenate([index, index]), np.repeat([0, 1], len(index))], axis=1)
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.pairs) / self.batch_size)

    def __getitem__(self, i: int):
        chosen = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        images, masks = self.images[chosen[:, 0]].copy(), self.masks[chosen[:, 0]].copy()
        flip = chosen[:, 1] == 1
        images[flip], masks[flip] = images[flip, :, ::-1], masks[flip, :, ::-1]
        return to_model_input(images), masks

    def on_epoch_end(self) -> None:
        self.order = self.pairs[self.rng.permutation(len(self.pairs))]


class TimeBudget(keras.callbacks.Callback):
    """Stop training once `minutes` of wall-clock time have passed (checked before every batch). With
    `peak_learning_rate`, also drive the optimizer's (plain-number) learning rate along a warmup over the
    first `warmup_fraction` of the budget and a cosine down to 1 % of the peak at its end: the recipe's
    schedule, laid over time instead of steps."""

    def __init__(self, minutes: float, peak_learning_rate: float | None = None, warmup_fraction: float = 0.05):
        super().__init__()
        self.seconds = 60.0 * check_number(minutes, "minutes", 0, open_low=True)
        self.peak, self.warmup = peak_learning_rate, warmup_fraction
        self.start = None

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None):
        done = (time.perf_counter() - self.start) / self.seconds
        if done >= 1:
            self.model.stop_training = True
        elif self.peak is not None:
            cosine = 0.5 * (1 + math.cos(math.pi * (done - self.warmup) / (1 - self.warmup)))
            rate = self.peak * (done / self.warmup if done < self.warmup else 0.01 + 0.99 * cosine)
            self.model.optimizer.learning_rate = rate


@dataclass
class RecipeRun:
    """What `train_recipe` returns: the model restored at its best validation epoch, its history (one list
    per logged metric: loss, mean_iou, val_loss, val_mean_iou), the training and validation indices into the
    images passed in, the class weights of the loss (5,), the classes absent from the training masks, the
    indices dropped as aliens and the training seconds."""

    model: keras.Model
    history: dict[str, list[float]]
    train_index: np.ndarray
    val_index: np.ndarray
    class_weights: np.ndarray
    absent: list[int] = field(default_factory=list)
    aliens: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    seconds: float = 0.0


def _absent_classes(masks: np.ndarray) -> list[int]:
    return [int(c) for c in np.flatnonzero(class_frequencies(masks)[1:] == 0) + 1]


def train_recipe(images: np.ndarray, masks: np.ndarray, groups: np.ndarray | None = None, *,
                 validation: tuple[np.ndarray, np.ndarray] | None = None, val_fraction: float = 0.15,
                 model: keras.Model | None = None, profile: str | None = None, epochs: int | None = None,
                 minutes: float | None = None, filters: int | None = None, depth: int | None = None,
                 batch_size: int | None = None, patience: int | None = None, copies: int | None = None,
                 learning_rate: float = 1e-3, weight_decay: float = 1e-4, warmup_epochs: float = 1.0,
                 loss_power: float = RECIPE_LOSS_POWER, dice: float = 1.0, architecture: str = "unet",
                 schedule: str = "cosine", drop_aliens: bool = True, seed: int = 0, out_dir: str | None = None,
                 verbose: int = 0) -> RecipeRun:
    """Train the course's final recipe on images (N,64,128) uint8 and masks (N,64,128) labels 0-4.

    Steps: aliens dropped (`find_aliens`, lesson 02); a validation split of `val_fraction`, stratified on
    Big Rock and, with `groups` (N,) such as `data.image_id`, by whole frame (`stratified_split`), unless
    `validation=(images, masks)` is given; Big Rock copy-paste (`copies` pairs, report 002), Big Rock images
    4x and left-right flips (`RecipeBatches`); `recipe_model` (or `model`, to fine-tune one already trained)
    with `recipe_loss`; AdamW with warmup + cosine annealing ("plateau": report 002's reduce-on-plateau),
    early stopping and a checkpoint on validation mean IoU (`marslab.training`). A class absent from the
    training masks gets weight 0 and no paste, said once in a warning.
    Sizes default to RECIPE_PROFILES[profile] (default: `get_profile()`). `minutes`: stop after that much
    training time, with the warmup + cosine laid over the time (epochs then only caps the run).
    out_dir: where the best model (best.keras) and history.csv are written (`marslab.training.make_callbacks`;
    default: nowhere, the best epoch's weights are restored in memory).
    """
    from marslab import training  # training imports marslab.models; imported here to keep this module light
    from marslab.schedules import SCHEDULES, plateau_callback, plateau_optimizer

    images, masks = check_images(images), check_labels(masks, count=len(images))
    if schedule not in SCHEDULES:
        raise invalid("schedule", f"be one of {SCHEDULES}", repr(schedule))
    cfg = dict(RECIPE_PROFILES[profile or get_profile()])
    cfg.update({k: v for k, v in dict(filters=filters, depth=depth, epochs=epochs, batch_size=batch_size,
                                       patience=patience, copies=copies).items() if v is not None})
    if minutes is not None and epochs is None:
        cfg["epochs"] = 10_000  # the time budget ends the run
    keep = np.arange(len(images))
    aliens = find_aliens(masks) if drop_aliens and len(masks) > 1 else np.empty(0, np.int64)
    keep = np.setdiff1d(keep, aliens)
    if validation is None:
        train_pos, val_pos = stratified_split(masks[keep], val_fraction, seed=seed,
                                              groups=None if groups is None else np.asarray(groups)[keep])
        train_index, val_index = keep[train_pos], keep[val_pos]
        val_images, val_masks = images[val_index], masks[val_index]
    else:
        train_index, val_index = keep, np.empty(0, np.int64)
        val_images, val_masks = check_images(validation[0]), check_labels(validation[1], count=len(validation[0]))
    train_images, train_masks = images[train_index], masks[train_index]
    absent = _absent_classes(train_masks)
    if absent:
        warnings.warn(f"train_recipe: {', '.join(CLASS_NAMES[c] for c in absent)} has no pixels in the "
                      f"{len(train_masks)} training masks: weight 0" + (", nothing to copy-paste"
                                                                         if BIG_ROCK in absent else ""), stacklevel=2)
    seed_everything(seed, deterministic=False)
    with warnings.catch_warnings():  # said once above
        warnings.simplefilter("ignore", UserWarning)
        pasted = copy_paste(train_images, train_masks, cfg["copies"], seed=seed)
        loss = recipe_loss(train_masks, power=loss_power, dice=dice)
    batches = RecipeBatches(np.concatenate([train_images, pasted[0]]), np.concatenate([train_masks, pasted[1]]),
                            cfg["batch_size"], seed=seed)
    if model is None:
        policy = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy("mixed_float16" if list_gpus() else "float32")
        model = recipe_model(filters=cfg["filters"], depth=cfg["depth"], architecture=architecture)
        keras.mixed_precision.set_global_policy(policy)
    steps = len(batches) * cfg["epochs"]
    extra = []
    if minutes is not None:
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
        extra.append(TimeBudget(minutes, learning_rate if schedule == "cosine" else None))
    elif schedule == "cosine":
        optimizer = training.make_optimizer(steps, learning_rate, weight_decay,
                                            min(int(round(warmup_epochs * len(batches))), steps - 1))
    if schedule == "plateau":
        optimizer = plateau_optimizer(learning_rate, weight_decay)
        extra.append(plateau_callback())
    model.compile(optimizer=optimizer, loss=loss, metrics=[CompetitionMeanIoU()])
    training.check_float32_output(model)
    start = time.perf_counter()
    if out_dir is None:  # nothing to keep on disk: early stopping alone restores the best epoch's weights
        callbacks = [keras.callbacks.EarlyStopping(training.MONITOR, mode="max", patience=cfg["patience"],
                                                   restore_best_weights=True, verbose=min(verbose, 1))]
    else:
        callbacks = training.make_callbacks(out_dir, patience=cfg["patience"])
    history = model.fit(batches, validation_data=(to_model_input(val_images), val_masks), epochs=cfg["epochs"],
                        callbacks=callbacks + extra, verbose=verbose)
    return RecipeRun(model, {k: [float(v) for v in vals] for k, vals in history.history.items()}, train_index,
                     val_index, np.asarray(loss.class_weights), absent, aliens, time.perf_counter() - start)
