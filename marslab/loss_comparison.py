"""Train one model with each loss over several seeds and tabulate the results (lesson 08).

`compare_losses` does the loop; `format_table` prints it in the layout of report 000 Table 3
(accuracy and mean IoU as mean +- std over seeds, then the IoU of every class); `plot_comparison`
draws the bar chart.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import keras
import numpy as np

from marslab import CLASS_NAMES, NUM_CLASSES, seed_everything
from marslab.losses import Combined, boundary_targets, get_loss
from marslab.metrics import confusion_matrix, iou_from_confusion

LossSpec = str | Mapping[str, float] | keras.losses.Loss


def metric_weights(num_classes: int = NUM_CLASSES) -> list[float]:
    """(0, 1, 1, 1, 1): the classes the competition metric averages, each counted once."""
    return [0.0] + [1.0] * (num_classes - 1)


def lesson_losses(pixel_weights: Sequence[float]) -> dict[str, keras.losses.Loss]:
    """The losses lesson 08 compares, each weighted the way its kind needs.

    Pixel losses (BCE, CCE, focal) sum over pixels, so they get per-pixel class weights
    `pixel_weights` (e.g. inverse frequency, report 000 Table 4). Region losses (Dice, Jaccard,
    Tversky, per class) already give every class the same say, so they get `metric_weights()`:
    their mean over classes 1-4 mirrors the competition metric. Combinations mix the two.
    """
    pw, mw = list(pixel_weights), metric_weights(len(pixel_weights))
    cce = get_loss("cce", class_weights=pw)
    return {
        "BCE": get_loss("bce", class_weights=pw),
        "CCE": cce,
        "Focal": get_loss("focal", class_weights=pw, gamma=2.0),
        "Dice": get_loss("dice", class_weights=mw),
        "Jaccard": get_loss("jaccard", class_weights=mw),
        "Tversky": get_loss("tversky", class_weights=mw, alpha=0.3, beta=0.7),
        "CCE+Dice": Combined([cce, get_loss("dice", class_weights=mw)], [1.0, 1.0], name="cce_dice"),
        "CCE+Boundary": Combined([cce, get_loss("boundary", class_weights=mw)], [1.0, 0.01], name="cce_boundary"),
    }


def score(masks: np.ndarray, preds: np.ndarray, num_classes: int = NUM_CLASSES) -> dict[str, float]:
    """Pixel accuracy (all pixels), competition mean IoU, and per-class IoU of label maps (N,H,W).

    "IoU <class>": classes 1.. as in the competition (true-background pixels ignored); Background's
    IoU on all pixels (the competition does not define it). NaN for a class absent from both.
    """
    cm = confusion_matrix(masks, preds, num_classes)
    competition = iou_from_confusion(cm, ignore_true_background=True)
    row = {"accuracy": float(np.trace(cm) / cm.sum()), "mean IoU": float(np.nanmean(competition[1:]))}
    row[f"IoU {CLASS_NAMES[0]}"] = float(iou_from_confusion(cm, ignore_true_background=False)[0])
    row.update({f"IoU {CLASS_NAMES[c]}": float(competition[c]) for c in range(1, num_classes)})
    return row


def train_with_loss(build_model: Callable[[], keras.Model], loss: LossSpec, train: tuple, val: tuple, *,
                    seed: int, epochs: int, batch_size: int = 32, learning_rate: float = 1e-3,
                    run_eagerly: bool = False, verbose: int = 0) -> dict[str, float]:
    """Seed, build, train with `loss` (Adam), predict `val`, and `score` it; adds "seed" and "seconds".

    train, val: (images (N,64,128,1) float32 in [0,1], masks (N,64,128) int). A loss that needs
    distance maps (boundary) gets `boundary_targets(masks)` as y; a `train` whose masks are
    already packed (N,64,128,1+C) is used as is. run_eagerly: skip graph tracing, which is
    quicker for tiny smoke runs of a few steps and slower for real ones.
    """
    (x, y), (x_val, y_val) = train, val
    loss = get_loss(loss) if isinstance(loss, (str, Mapping)) else loss
    if getattr(loss, "needs_distance_maps", False) and np.ndim(y) == 3:
        y = boundary_targets(y)
    start = time.perf_counter()
    seed_everything(seed)
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, run_eagerly=run_eagerly)
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, shuffle=True)
    preds = np.argmax(model.predict(x_val, batch_size=batch_size, verbose=0), axis=-1)
    return {"seed": seed, **score(y_val, preds), "seconds": time.perf_counter() - start}


def compare_losses(build_model: Callable[[], keras.Model], losses: Mapping[str, LossSpec], train: tuple,
                   val: tuple, seeds: Sequence[int], **fit_options) -> list[dict]:
    """`train_with_loss` for every loss ({label: loss}) and seed; one record per run with a "loss" label.

    Distance maps for the boundary loss are computed once and shared by all runs that need them.
    """
    from tqdm.auto import tqdm

    x, masks = train
    packed = None
    records = []
    runs = [(label, loss, seed) for label, loss in losses.items() for seed in seeds]
    for label, loss, seed in tqdm(runs, desc="loss x seed"):
        loss = get_loss(loss) if isinstance(loss, (str, Mapping)) else loss
        y = masks
        if getattr(loss, "needs_distance_maps", False):
            packed = boundary_targets(masks) if packed is None else packed
            y = packed
        records.append({"loss": label, **train_with_loss(build_model, loss, (x, y), val, seed=seed, **fit_options)})
    return records


def summarize(records: list[dict]) -> dict[str, dict[str, tuple[float, float]]]:
    """{loss: {column: (mean, std over seeds)}} for every numeric column of the records."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for label in dict.fromkeys(r["loss"] for r in records):
        rows = [r for r in records if r["loss"] == label]
        out[label] = {k: (float(np.nanmean([r[k] for r in rows])), float(np.nanstd([r[k] for r in rows])))
                      for k in rows[0] if k not in ("loss", "seed")}
    return out


def format_table(records: list[dict], percent: bool = True) -> str:
    """Report 000 Table 3's layout: columns = losses; rows = Acc and IoU (mean +- std), class-wise IoUs."""
    stats = summarize(records)
    scale = 100.0 if percent else 1.0
    labels = list(stats)
    width = max(14, *(len(label) + 2 for label in labels))
    lines = [" " * 18 + "".join(f"{label:>{width}}" for label in labels)]
    for name, key in [("Acc", "accuracy"), ("mean IoU", "mean IoU")]:
        cells = [f"{scale * stats[l][key][0]:.1f} +- {scale * stats[l][key][1]:.1f}" for l in labels]
        lines.append(f"{name:<18}" + "".join(f"{c:>{width}}" for c in cells))
    lines.append("class-wise IoU")
    for c, class_name in enumerate(CLASS_NAMES):
        key = f"IoU {class_name}"
        cells = [f"{scale * stats[l][key][0]:.1f}" for l in labels]
        lines.append(f"  {c} {class_name:<14}" + "".join(f"{x:>{width}}" for x in cells))
    seeds = sorted({r["seed"] for r in records})
    lines.append(f"({len(seeds)} seeds per loss: {seeds}; {'percent' if percent else 'fractions'})")
    return "\n".join(lines)


def plot_comparison(records: list[dict], ax=None):
    """Grouped bars: per loss, the IoU of every class and the mean IoU (error bar = std over seeds)."""
    import matplotlib.pyplot as plt

    from marslab.plots import PALETTE

    stats = summarize(records)
    labels = list(stats)
    keys = [f"IoU {c}" for c in CLASS_NAMES] + ["mean IoU"]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(7, 1.3 * len(labels)), 3.8))
    width = 0.8 / len(keys)
    x = np.arange(len(labels))
    for k, key in enumerate(keys):
        means = [stats[l][key][0] for l in labels]
        stds = [stats[l][key][1] for l in labels]
        ax.bar(x + (k - len(keys) / 2 + 0.5) * width, means, width, yerr=stds, capsize=2,
               label=key.replace("IoU ", ""), color="white" if key == "mean IoU" else PALETTE[k] / 255, hatch="//" if key == "mean IoU" else None,
               edgecolor="black", linewidth=0.4)
    ax.set_xticks(x, labels)
    ax.set_ylabel("IoU on validation")
    ax.set_ylim(0, 1)
    ax.legend(ncol=len(keys), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 1.15))
    return ax
