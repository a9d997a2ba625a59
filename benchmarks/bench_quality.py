"""Quality: the course's final recipe against the lesson-05 baseline, on held-out labelled images.

--data synthetic (default): both train on the synthetic training set with the aliens removed (same split,
same seed, same model width) and are scored on the hidden test labels. --data ai4mars-full --file PATH:
the real AI4Mars file in course format (8,400 crops of 4,200 NAVCAM frames, with image_id); 15 % of the
frames are held out as the test split and, of the rest, 15 % of the frames for validation, so no frame
is on two sides. Scores: the competition metric (mean IoU over classes 1-4) and per-class IoU.
--minutes M gives each model the same training time (then epochs only cap the run).

- baseline (lesson 05): U-Net, Adam 1e-3, plain sparse cross-entropy, early stopping; argmax.
- recipe (lessons 03, 04, 08, 09, 10): `marslab.recipe.train_recipe`, one call: the same U-Net
  (--architecture unet3plus: report 000's UNet3+, which trained worse here; see bench_loss_power.py),
  `recipe_loss` (cross-entropy plus --dice times a per-class soft Dice, inverse-frequency class weights
  raised to --loss-power, Background weight zeroed), Big Rock copy-paste (report 002), 4x oversampling
  (report 000), horizontal flips, AdamW with warmup and cosine annealing (over the time budget with
  --minutes), early stopping and checkpoint on validation mean IoU (report 000 §4.5). Then flip TTA
  (horizontal only), labels from classes 1-4 only, and class weights on the probabilities tuned on
  validation (`tune_class_weights`). --ensemble N averages N recipe models (seeds seed, seed+1, ...).

Everything is NumPy arrays and `keras`, so it runs on any Keras backend. Mixed precision on GPU.

    python benchmarks/bench_quality.py            # full: the whole synthetic set, real epochs (GPU)
    python benchmarks/bench_quality.py --quick    # a tiny CPU run that only shows the code path works
    python benchmarks/bench_quality.py --data ai4mars-full --file ai4mars_train_64x128.npz --minutes 15
    python benchmarks/bench_quality.py --data ai4mars-full --file ai4mars_train_64x128.npz --minutes 60 --no-baseline

Recorded runs: benchmarks/README.md, "Quality" (the figures, the per-class tables and what each run changed).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import keras
import numpy as np

from marslab import seed_everything
from marslab.cleaning import find_aliens, remove_images, stratified_split
from marslab.course_file import read_course_npz
from marslab.config import keras_backend, list_gpus
from marslab.experiments import score_row
from marslab.metrics import CompetitionMeanIoU
from marslab.models import unet
from marslab.pipeline import to_model_input
from marslab.postprocess import foreground_labels, predict_probs, to_labels, tune_class_weights, weighted_labels
from marslab.recipe import RECIPE_ARCHITECTURES, RECIPE_LOSS_POWER, TimeBudget, recipe_model, train_recipe
from marslab.synthetic import make_mars

# recipe_epochs None means `epochs`. An epoch of the recipe's training set (copy-paste, 4x Big Rock,
# flips) is about 3.4 baseline epochs, so a CPU run can give the recipe fewer for a similar step count.
CONFIGS = {
    "full": dict(n_train=2615, n_test=10022, n_aliens=110, filters=32, depth=4, epochs=60, recipe_epochs=None,
                 batch_size=32, patience=12, copies=400, ensemble=1),
    "quick": dict(n_train=96, n_test=32, n_aliens=6, filters=4, depth=3, epochs=2, recipe_epochs=None,
                  batch_size=16, patience=2, copies=16, ensemble=1),
    # the real file: sizes come from it; epochs only cap a run that --minutes ends
    "ai4mars-full": dict(n_train=0, n_test=0, n_aliens=0, filters=16, depth=4, epochs=1000, recipe_epochs=None,
                         batch_size=32, patience=1000, copies=400, ensemble=1),
}
# Test-time augmentation with the flip the recipe trains on; a vertical flip puts the sky at the bottom.
TTA_FLIPS = ("none", "horizontal")


def split(data, seed: int):
    """(x_train, y_train), (x_val, y_val) as uint8 arrays: aliens removed, stratified on Big Rock (and split
    by frame when the data carries image_id)."""
    clean = remove_images(data, find_aliens(data.masks))
    train, val = stratified_split(clean.masks, val_fraction=0.15, seed=seed, groups=clean.image_id)
    return (clean.images[train], clean.masks[train]), (clean.images[val], clean.masks[val])


def real_split(path: str, seed: int):
    """The real file with 15 % of its frames held out as the test split (images, masks and ids of the rest
    in .images/.masks/.image_id; the held-out ones in .test_images/.test_masks)."""
    data = read_course_npz(path)
    if data.image_id is None:
        raise SystemExit(f"--file {path} has no image_id, so it cannot be split by frame")
    rest, test = stratified_split(data.masks, val_fraction=0.15, seed=seed + 1000, groups=data.image_id)
    data.test_images, data.test_masks = data.images[test], data.masks[test]
    data.images, data.masks, data.image_id = data.images[rest], data.masks[rest], data.image_id[rest]
    return data


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """--dice, --architecture and --standardize: the recipe's loss and network (here and in bench_loss_power.py)."""
    parser.add_argument("--dice", type=float, default=1.0,
                        help="weight of recipe_loss's Dice term (0: cross-entropy alone)")
    parser.add_argument("--architecture", default="unet", choices=RECIPE_ARCHITECTURES,
                        help="the recipe's network (recipe_model); unet is the baseline's own")
    parser.add_argument("--standardize", action="store_true",
                        help="recipe_model with per-image input standardization (standardize_input=True)")


def recipe_options(args: argparse.Namespace) -> dict:
    """What `add_recipe_arguments` parsed, as the cfg entries `build_recipe_model` and `recipe_loss` read."""
    return dict(dice=args.dice, architecture=args.architecture, standardize_input=args.standardize)


def build_recipe_model(cfg: dict):
    """`recipe_model` with the cfg's width, depth, network and input option."""
    return recipe_model(filters=cfg["filters"], depth=cfg["depth"], architecture=cfg["architecture"],
                        standardize_input=cfg["standardize_input"])


def train_baseline(train, val, cfg: dict, seed: int, out_dir: str):
    """Lesson 05: U-Net, Adam, sparse cross-entropy, early stopping on validation mean IoU."""
    seed_everything(seed, deterministic=False)
    model = unet(filters=cfg["filters"], depth=cfg["depth"])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=[CompetitionMeanIoU()])
    stop = keras.callbacks.EarlyStopping("val_mean_iou", mode="max", patience=cfg["patience"],
                                         restore_best_weights=True)
    budget = [TimeBudget(cfg["minutes"])] if cfg["minutes"] else []
    model.fit(to_model_input(train[0]), train[1], validation_data=(to_model_input(val[0]), val[1]),
              epochs=cfg["epochs"], batch_size=cfg["batch_size"], callbacks=[stop, *budget], verbose=2)
    return model


def run_recipe(train, val, cfg: dict, seed: int, out_dir: str):
    """The final recipe in one call (`marslab.recipe.train_recipe`); the model at its best validation epoch."""
    model = build_recipe_model(cfg) if cfg["standardize_input"] else None  # else train_recipe builds it
    return train_recipe(*train, validation=val, model=model, profile="full", epochs=cfg["recipe_epochs"],
                        minutes=cfg["minutes"],
                        filters=cfg["filters"], depth=cfg["depth"], batch_size=cfg["batch_size"],
                        patience=cfg["patience"], copies=cfg["copies"], learning_rate=cfg["learning_rate"],
                        loss_power=cfg["loss_power"], dice=cfg["dice"], architecture=cfg["architecture"],
                        drop_aliens=False, seed=seed, out_dir=out_dir, verbose=2).model


def table_row(name: str, true_masks: np.ndarray, preds: np.ndarray) -> dict:
    """One row of the printed table: the model's name, then `marslab.experiments.score_row`."""
    return {"model": name, **score_row(true_masks, preds)}


def print_table(rows: list[dict]) -> None:
    keys = list(rows[0])
    print(" | ".join(f"{k:>14}" if i else f"{k:<34}" for i, k in enumerate(keys)))
    for row in rows:
        print(" | ".join(f"{row[k]:14.4f}" if i else f"{row[k]:<34}" for i, k in enumerate(keys)))


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 2 epochs (CPU smoke run)")
    parser.add_argument("--data", default="synthetic", choices=("synthetic", "ai4mars-full"),
                        help="synthetic set, or the real AI4Mars file in course format given by --file")
    parser.add_argument("--file", help="with --data ai4mars-full: the .npz (training_set and image_id)")
    parser.add_argument("--minutes", type=float, help="training time per model (baseline, each recipe model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-baseline", action="store_true",
                        help="train only the recipe (its figures on a budget; the gain then needs another run)")
    parser.add_argument("--loss-power", type=float,
                        help="class weights = inverse frequency ** power, Background zeroed (default: "
                             "marslab.recipe.RECIPE_LOSS_POWER, recipe_loss's and lesson 09's; 0: only "
                             "Background zeroed; 1 is report 000's inverse frequency)")
    add_recipe_arguments(parser)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="the recipe's peak learning rate")
    for key in ("n_train", "n_test", "filters", "epochs", "recipe_epochs", "batch_size", "patience", "copies",
                "ensemble"):
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, help=f"override the profile's {key}")
    args = parser.parse_args(argv)
    if (args.data == "ai4mars-full") != bool(args.file):
        parser.error("--data ai4mars-full needs --file PATH, and --file goes with --data ai4mars-full")
    profile = "quick" if args.quick else args.data if args.data != "synthetic" else "full"
    cfg = dict(CONFIGS[profile])
    overrides = {k: v for k, v in vars(args).items() if k in cfg and v is not None}
    cfg.update(overrides)
    cfg["recipe_epochs"] = cfg["recipe_epochs"] or cfg["epochs"]
    if cfg["ensemble"] < 1:
        parser.error(f"--ensemble is the number of recipe models to average, at least 1; got {cfg['ensemble']}")
    cfg["n_aliens"] = min(cfg["n_aliens"], cfg["n_train"] // 4)

    cfg["loss_power"] = RECIPE_LOSS_POWER if args.loss_power is None else args.loss_power
    cfg["learning_rate"] = args.learning_rate
    cfg["minutes"] = args.minutes
    cfg.update(recipe_options(args))
    start = time.perf_counter()
    if args.data == "ai4mars-full":
        data = real_split(args.file, args.seed)
        cfg.update(n_train=len(data.images), n_test=len(data.test_images))
    else:
        data = make_mars(seed=args.seed, n_train=cfg["n_train"], n_test=cfg["n_test"], n_aliens=cfg["n_aliens"])
    train, val = split(data, args.seed)
    truth = data.test_masks
    rows, seconds = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        seconds["baseline"], base_weights = 0.0, []
        if not args.no_baseline:
            t = time.perf_counter()
            baseline = train_baseline(train, val, cfg, args.seed, tmp)
            seconds["baseline"] = time.perf_counter() - t
            base_probs = predict_probs(baseline, data.test_images)
            rows.append(table_row("baseline (lesson 05)", truth, to_labels(base_probs)))
            base_weights = tune_class_weights(predict_probs(baseline, val[0]), val[1])
            rows.append(table_row("baseline + tuned class weights", truth,
                                  weighted_labels(base_probs, base_weights)))
        t = time.perf_counter()  # ensemble > 1: more recipe models, seeds seed+1, ..., their probabilities averaged
        recipe = [run_recipe(train, val, cfg, args.seed + k, os.path.join(tmp, f"recipe{k}"))
                  for k in range(cfg["ensemble"])]
        seconds["recipe"] = time.perf_counter() - t
    plain = predict_probs(recipe, data.test_images)
    tta = predict_probs(recipe, data.test_images, flips=TTA_FLIPS)
    rows.append(table_row("recipe, argmax", truth, to_labels(plain)))
    rows.append(table_row("recipe, classes 1-4", truth, foreground_labels(plain)))
    rows.append(table_row("recipe, classes 1-4 + flip TTA", truth, foreground_labels(tta)))
    # tuned on validation, never on the test split
    weights = tune_class_weights(predict_probs(recipe, val[0], flips=TTA_FLIPS), val[1])
    rows.append(table_row("recipe, TTA + tuned class weights", truth, weighted_labels(tta, weights)))

    device = ", ".join(list_gpus()) or f"CPU ({os.cpu_count()} cores)"
    label = f"{profile} ({args.data})" + (" with overrides" if overrides else "")
    print(f"\nprofile {label} {cfg} | backend {keras_backend()} | device {device}")
    print(f"training seconds: baseline {seconds['baseline']:.0f}, recipe {seconds['recipe']:.0f}; "
          f"total {time.perf_counter() - start:.0f} s")
    print_table(rows)
    print("class weights tuned on validation: baseline", [round(float(w), 3) for w in base_weights],
          "recipe", [round(float(w), 3) for w in weights])
    if not args.no_baseline:
        gain = rows[-1]["mean IoU"] - rows[0]["mean IoU"]
        print(f"recipe - baseline: {gain:+.4f} mean IoU (target >= +0.10: {'met' if gain >= 0.10 else 'NOT met'})")
    return rows


if __name__ == "__main__":
    main()
