"""Which class-weight power, peak learning rate, loss and network the recipe trains with.

`marslab.recipe.recipe_loss(masks, power, dice)` weights each class by inverse frequency ** power with
Background zeroed (power 1 is report 000's inverse frequency, power 0 plain cross-entropy on classes
1-4), and adds `dice` times a per-class soft Dice with the same weights. On the synthetic set Big Rock
is about 0.14 % of the pixels, so at power 1 its pixels weigh about 175 times the average one.
This script trains `recipe_model(architecture=...)` with `marslab.training.fit` (AdamW, warmup +
cosine) once per (power, peak learning rate) on the same plain training images (no augmentation, no
oversampling) and prints, per setting, the training loss and validation mean IoU of every epoch and
the per-class IoU of the best epoch. A setting trains if its loss falls.

    python benchmarks/bench_loss_power.py             # 1000 images, filters 16, 3 epochs (CPU: ~7 min per setting)
    python benchmarks/bench_loss_power.py --quick     # tiny, only shows the code path works
    python benchmarks/bench_loss_power.py --settings 0.5:1e-3 1:2e-3
    python benchmarks/bench_loss_power.py --n-train 5000 --epochs 12 --settings 0.5:1e-3 --dice 0 --architecture unet3plus

Recorded runs: benchmarks/README.md, "Loss, class-weight power and network".
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
from bench_quality import add_recipe_arguments, build_recipe_model, recipe_options, split

from marslab import seed_everything
from marslab.config import keras_backend, list_gpus
from marslab.experiments import score_row
from marslab.pipeline import to_model_input
from marslab.postprocess import predict_probs, to_labels
from marslab.recipe import recipe_loss
from marslab.synthetic import make_mars
from marslab.training import fit

CONFIGS = {
    "default": dict(n_train=1000, filters=16, depth=4, epochs=3, batch_size=32, synthetic=(2615, 110)),
    "quick": dict(n_train=48, filters=4, depth=3, epochs=2, batch_size=16, synthetic=(96, 6)),
}
SETTINGS = ("0:1e-3", "0.5:1e-3", "1:1e-3", "1:2e-3")


def parse_setting(text: str) -> tuple[float, float]:
    """'power:learning_rate' -> (power, learning_rate)."""
    try:
        power, learning_rate = (float(part) for part in text.split(":"))
    except ValueError:
        raise SystemExit(f"--settings: expected POWER:LEARNING_RATE such as 0.5:1e-3, got {text!r}") from None
    return power, learning_rate


def train_one(train, val, power: float, learning_rate: float, cfg: dict, seed: int) -> dict:
    """Train one setting; returns its weights, per-epoch loss and validation mean IoU, best-epoch row, seconds."""
    seed_everything(seed, deterministic=False)
    model = build_recipe_model(cfg)
    loss = recipe_loss(train[1], power=power, dice=cfg["dice"])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        history = fit(model, (to_model_input(train[0]), train[1]), (to_model_input(val[0]), val[1]), epochs=cfg["epochs"],
                      loss=loss, out_dir=tmp, batch_size=cfg["batch_size"], learning_rate=learning_rate,
                      weight_decay=1e-4, warmup_epochs=1, patience=cfg["epochs"], verbose=2)
    seconds = time.perf_counter() - start
    best = score_row(val[1], to_labels(predict_probs(model, val[0])))  # fit restored the best epoch
    return dict(power=power, learning_rate=learning_rate, weights=np.round(np.array(loss.class_weights), 3).tolist(),
                loss=history.history["loss"], val_mean_iou=history.history["val_mean_iou"], best=best,
                seconds=seconds)


def print_table(results: list[dict]) -> None:
    epochs = len(results[0]["loss"])
    head = ["power", "peak lr", *[f"loss {e + 1}" for e in range(epochs)], *[f"val {e + 1}" for e in range(epochs)],
            *[k.replace("IoU ", "") for k in results[0]["best"]], "trains"]
    print(" | ".join(f"{h:>9}" for h in head))
    for r in results:
        trains = "-" if epochs < 2 else "yes" if r["loss"][-1] < r["loss"][0] else "no"
        cells = [f"{r['power']:9.2f}", f"{r['learning_rate']:9.0e}", *[f"{v:9.3f}" for v in r["loss"]],
                 *[f"{v:9.3f}" for v in r["val_mean_iou"]],
                 *[f"{v:9.3f}" for v in r["best"].values()], f"{trains:>9}"]
        print(" | ".join(cells))


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, two epochs (CPU smoke run)")
    parser.add_argument("--settings", nargs="+", default=SETTINGS, help="POWER:PEAK_LEARNING_RATE pairs")
    parser.add_argument("--seed", type=int, default=0)
    add_recipe_arguments(parser)
    for key in ("n_train", "filters", "epochs"):
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, help=f"override the profile's {key}")
    args = parser.parse_args(argv)
    settings = [parse_setting(s) for s in args.settings]
    cfg = dict(CONFIGS["quick" if args.quick else "default"])
    cfg.update({k: v for k, v in vars(args).items() if k in cfg and v is not None})
    cfg.update(recipe_options(args))

    n_images, n_aliens = cfg["synthetic"]
    data = make_mars(seed=args.seed, n_train=n_images, n_test=8, n_aliens=n_aliens)
    train, val = split(data, args.seed)  # the quality benchmark's split: aliens out, 15 % validation
    train = train[0][:cfg["n_train"]], train[1][:cfg["n_train"]]
    results = [train_one(train, val, power, lr, cfg, args.seed) for power, lr in settings]

    device = ", ".join(list_gpus()) or f"CPU ({os.cpu_count()} cores)"
    print(f"\n{len(train[0])} training images, {len(val[0])} validation images; filters {cfg['filters']}, "
          f"depth {cfg['depth']}, {cfg['epochs']} epochs, batch {cfg['batch_size']}, network {cfg['architecture']}"
          f"{' (standardized input)' if cfg['standardize_input'] else ''}, "
          f"Dice weight {cfg['dice']:g} | backend {keras_backend()} | "
          f"device {device}")
    print("seconds per setting:", [round(r["seconds"]) for r in results])
    for r in results:
        print(f"class weights at power {r['power']:g}: {r['weights']}")
    print("loss: training loss (epoch mean); val: validation mean IoU; mean and classes: validation IoU at the best "
          "epoch (argmax); trains: the last epoch's loss is below the first's")
    print_table(results)
    return results


if __name__ == "__main__":
    main()
