"""The losses lesson 08 compares, and its results as a table and a chart.

The runs themselves are `marslab.experiments.compare(losses, train, val, vary="loss", seeds=[...],
pixel_columns=True)`; its rows, as records (`table.reset_index().to_dict("records")`), go to
`format_table`, which prints them in the layout of report 000 Table 3 (accuracy and mean IoU as mean +-
std over seeds, then the IoU of every class), and to `plot_comparison`, the bar chart.
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
import matplotlib.pyplot as plt
import numpy as np

from marslab import CLASS_NAMES, NUM_CLASSES
from marslab.losses import Combined, get_loss
from marslab.plots import PALETTE


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
        mean = key == "mean IoU"
        ax.bar(x + (k - len(keys) / 2 + 0.5) * width, means, width, yerr=stds, capsize=2,
               label=key.replace("IoU ", ""), color="white" if mean else PALETTE[k] / 255, hatch="//" if mean else None,
               edgecolor="black", linewidth=0.4)
    ax.set_xticks(x, labels)
    ax.set_ylabel("IoU on validation")
    ax.set_ylim(0, 1)
    ax.legend(ncol=len(keys), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 1.15))
    return ax
