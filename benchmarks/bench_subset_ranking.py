"""Tuning on a subset (report 004 §3: most experiments ran on 30 % of the training set): does the ranking
of a few choices on 30 % of the training images match their ranking on all of them?

Three choices, one pair far apart and one close: (a) U-Net + plain cross-entropy, (b) U-Net + the
recipe's loss (class-weighted cross-entropy + Dice, `recipe.recipe_loss`), (c) the same with an SE
block at the bottleneck (report 004's +3 %). Each is trained on a stratified 30 % subset and on the whole
training split (same epochs, so the subset run costs 30 % of the time), with two seeds, and scored on
one validation split with the competition metric. The table gives every run, the mean per cell and the
ranking per training size.

    TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_subset_ranking.py
    python benchmarks/bench_subset_ranking.py --quick     # tiny: the code path only

Recorded runs: benchmarks/README.md, "Report techniques".
"""
from __future__ import annotations

import argparse
import time

import numpy as np

FRACTIONS = (0.3, 1.0)


def choices(masks: np.ndarray) -> dict:
    """{label: (build(filters, depth), loss)}."""
    from marslab.models import unet
    from marslab.recipe import recipe_loss

    weighted = recipe_loss(masks)
    return {
        "U-Net + CE": (lambda f, d: unet(filters=f, depth=d), "sparse_categorical_crossentropy"),
        "U-Net + weighted CE + Dice": (lambda f, d: unet(filters=f, depth=d), weighted),
        "SE bottleneck + weighted CE + Dice": (lambda f, d: unet(filters=f, depth=d, bottleneck="se"), weighted),
    }


def subset(masks: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a `fraction` of the images, stratified on Big Rock (as the validation split is)."""
    from marslab.cleaning import stratified_split

    if fraction >= 1.0:
        return np.arange(len(masks))
    return stratified_split(masks, val_fraction=fraction, seed=seed)[1]


def run(build, loss, train, val, cfg: dict, seed: int) -> float:
    import keras

    from marslab import seed_everything
    from marslab.metrics import mean_iou

    seed_everything(seed, deterministic=False)
    model = build(cfg["filters"], cfg["depth"])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    model.fit(train[0], train[1], batch_size=32, epochs=cfg["epochs"], verbose=0)
    return mean_iou(val[1], np.argmax(model.predict(val[0], batch_size=64, verbose=0), axis=-1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--filters", type=int, default=8)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    from marslab.cleaning import find_aliens, remove_images, stratified_split
    from marslab.synthetic import make_mars

    data = make_mars(n_train=96, n_test=8, n_aliens=6) if args.quick else make_mars()
    if args.quick:
        args.epochs, args.filters, args.depth, args.seeds = 1, 4, 3, [0]
    data = remove_images(data, find_aliens(data.masks, min_count=5))
    train_index, val_index = stratified_split(data.masks, val_fraction=0.15, seed=0)
    x = data.images[..., None].astype("float32") / 255.0
    y = data.masks.astype("int32")
    val = x[val_index], y[val_index]
    table = choices(y[train_index])
    cfg = dict(filters=args.filters, depth=args.depth, epochs=args.epochs)
    print(f"train split {len(train_index)} images, validation {len(val_index)}; filters {args.filters}, "
          f"depth {args.depth}, {args.epochs} epochs, Adam 1e-3, batch 32, seeds {args.seeds}")
    seeds = "".join(f"{'seed ' + str(s):>9}" for s in args.seeds)
    print(f"{'choice':<38}{'train':>7}{seeds}{'mean':>9}{'s':>7}")
    means = {}
    for fraction in FRACTIONS:
        for label, (build, loss) in table.items():
            scores, start = [], time.perf_counter()
            for seed in args.seeds:
                index = train_index[subset(y[train_index], fraction, seed)]
                scores.append(run(build, loss, (x[index], y[index]), val, cfg, seed))
            means[label, fraction] = float(np.mean(scores))
            print(f"{label:<38}{fraction:>7.0%}" + "".join(f"{s:>9.4f}" for s in scores)
                  + f"{means[label, fraction]:>9.4f}{time.perf_counter() - start:>7.0f}", flush=True)
    for fraction in FRACTIONS:
        order = sorted(table, key=lambda label: -means[label, fraction])
        print(f"ranking on {fraction:.0%}: " + " > ".join(order))


if __name__ == "__main__":
    main()
