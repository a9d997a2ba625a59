"""Throughput of the input pipeline, per augmentation and whole, next to a U-Net training step.

    .venv/bin/python benchmarks/bench_pipeline.py [--quick] [--images N] [--batch-size B]

Target: the whole pipeline at least 10x faster (images/s) than the training step of the default
`marslab.models.unet()` on the same CPU, so the pipeline never keeps the model waiting.
Images are random uint8 arrays: augmentation cost does not depend on content.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from marslab.augment import PRESETS, STRENGTH_NAMES, build_augmentation  # noqa: E402
from marslab.pipeline import images_per_second, make_dataset  # noqa: E402

TARGET_RATIO = 10.0
QUICK_CASES = ("no augmentation", "noise", "rotation", "preset all", "preset all, parallel (deterministic=False)")


def pipeline_rate(images, masks, batch_size: int, augment=None, deterministic: bool = True, passes: int = 2) -> float:
    """Images per second through make_dataset (shuffled), over `passes` passes after a warm-up pass."""
    ds = make_dataset(images, masks, batch_size=batch_size, shuffle=True, augment=augment, deterministic=deterministic)
    return images_per_second(ds, passes)


def unet_step_rate(batch_size: int, steps: int) -> tuple[float, str]:
    """Images per second of train_on_batch for the default marslab.models.unet(), and its description."""
    import keras

    from marslab.models import unet

    model = unet()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, 64, 128, 1), dtype=np.float32)
    y = rng.integers(0, 5, (batch_size, 64, 128)).astype(np.int32)
    model.train_on_batch(x, y)  # build and trace
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    rate = steps * batch_size / (time.perf_counter() - start)
    return rate, f"unet() defaults, {model.count_params():,} params, Adam, keras {keras.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (a few seconds of work)")
    parser.add_argument("--images", type=int, default=None, help="images per pass (default 2048; quick 128)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    n = args.images or (128 if args.quick else 2048)
    epochs, steps = (1, 1) if args.quick else (2, 20)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 64, 128), dtype=np.uint8)
    masks = rng.integers(0, 5, (n, 64, 128), dtype=np.uint8)

    strong = {"flip": True, **{k: v for k, v in PRESETS["all"].items() if k != "flip"}}
    cases = [("no augmentation", None, True)]
    cases += [(name, build_augmentation(**{name: strong[name]}), True) for name in STRENGTH_NAMES]
    cases += [(f"preset {p}", build_augmentation(p), True) for p in ("photometric", "geometric", "all")]
    cases += [("preset all, parallel (deterministic=False)", build_augmentation("all"), False)]
    if args.quick:  # one of each kind, enough to see that every path runs
        cases = [case for case in cases if case[0] in QUICK_CASES]

    step_rate, model_info = unet_step_rate(args.batch_size, steps)
    print(f"CPU cores visible: {os.cpu_count()}, {n} images per pass, batch_size {args.batch_size}"
          + (" (quick)" if args.quick else ""))
    print(f"U-Net training step: {step_rate:,.0f} images/s ({model_info})\n")
    print(f"{'pipeline':44s} {'images/s':>10s} {'x U-Net step':>13s}")
    rates = {}
    for name, augment, deterministic in cases:
        rates[name] = pipeline_rate(images, masks, args.batch_size, augment, deterministic, epochs)
        print(f"{name:44s} {rates[name]:10,.0f} {rates[name] / step_rate:12.1f}x", flush=True)
    whole = rates["preset all"]
    verdict = "meets" if whole >= TARGET_RATIO * step_rate else "misses"
    print(f"\nWhole pipeline (preset all, seeded): {whole / step_rate:.1f}x the U-Net step -> {verdict} "
          f"the {TARGET_RATIO:.0f}x target on this CPU.")
    print(f"On a GPU the pipeline still runs on the host CPU: it can feed a GPU that trains at up to about "
          f"{whole:,.0f} images/s (seeded) or {rates['preset all, parallel (deterministic=False)']:,.0f} "
          f"images/s (parallel) on a host like this one; a faster GPU step waits for data, so use more host "
          f"cores, deterministic=False, or offline augmentation (augment_offline) there.")


if __name__ == "__main__":
    main()
