"""Model builders at the course defaults: parameters, peak memory and training speed, with and without XLA.

Next to marslab's builders runs a plain U-Net written out layer by layer with the same widths, so the
table shows what building from blocks costs (target: marslab's `unet` within 5% of it).
Each (model, XLA) pair trains in a fresh process on random NumPy batches, so its peak memory is its own:
"peak extra MB" is peak resident memory minus what the process held before building the model
(on a GPU: the device's peak allocation). Works on any Keras backend; with KERAS_BACKEND=jax no
TensorFlow is needed.

    python benchmarks/bench_models.py                  # course defaults, batch 32, 10 timed steps
    python benchmarks/bench_models.py --quick          # tiny widths, in one process: a smoke run
    KERAS_BACKEND=jax python benchmarks/bench_models.py --xla on
On a shared CPU the images/s depend on what else runs: compare rows of one table, not across runs.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import time

import numpy as np

HEIGHT, WIDTH, NUM_CLASSES = 64, 128, 5
TARGET_OVERHEAD = 0.05


def plain_unet(filters: int = 32, depth: int = 4):
    """A U-Net written out without helpers (keras-io style), the reference for marslab's `unet`."""
    import keras
    from keras import layers

    inputs = keras.Input((HEIGHT, WIDTH, 1))
    x, skips = inputs, []
    for i in range(depth):
        if i:
            x = layers.MaxPooling2D(2)(x)
        for _ in range(2):
            x = layers.Conv2D(filters * 2**i, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        skips.append(x)
    for i in reversed(range(depth - 1)):
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
        x = layers.Concatenate()([skips[i], x])
        for _ in range(2):
            x = layers.Conv2D(filters * 2**i, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
    outputs = layers.Conv2D(NUM_CLASSES, 1, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="plain_unet")


def build(name: str, filters: int | None):
    """The model called `name`; filters None means the builder's own default."""
    from marslab import models

    kw = {} if filters is None else {"filters": filters}
    if name == "plain_unet":
        return plain_unet(**kw)
    if name == "unet3plus" and filters is not None:
        kw["cat_channels"] = filters
    return getattr(models, name)(**kw)


MODELS = ("plain_unet", "unet", "unet_plus_plus", "unet3plus")


def _rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def _device_peak_mb() -> float | None:
    """Peak accelerator memory of this process in MB, or None on a CPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        return gpus[0].memory_stats()["peak_bytes_in_use"] / 2**20 if gpus else None
    if backend == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    return None


def measure(name: str, xla: bool, filters: int | None, batch_size: int, steps: int, warmup: int = 1) -> dict:
    """Train `name` for warmup + steps batches; return params, images/s (timed steps only), peak memory."""
    import keras

    rng = np.random.default_rng(0)
    images = rng.random((batch_size, HEIGHT, WIDTH, 1), dtype=np.float32)
    masks = rng.integers(0, NUM_CLASSES, (batch_size, HEIGHT, WIDTH)).astype("int32")
    keras.utils.set_random_seed(0)
    before = _rss_mb()
    model = build(name, filters)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=xla)
    for _ in range(warmup):
        model.train_on_batch(images, masks)
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(images, masks)
    seconds = time.perf_counter() - start
    if not np.isfinite(np.asarray(loss)).all():
        raise RuntimeError(f"{name}: training loss is not finite ({loss})")
    device = _device_peak_mb()
    return {"model": name, "xla": xla, "params": model.count_params(),
            "images_per_s": steps * batch_size / seconds,
            "peak_mb": device if device is not None else _rss_mb() - before,
            "memory": "device" if device is not None else "RSS"}


def _child(args: tuple, queue) -> None:
    queue.put(measure(*args))


def measure_in_process(*args) -> dict:
    """`measure` in a fresh process (spawned, so nothing is shared with the parent or other runs)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny widths, 2 images, 1 step, one process")
    parser.add_argument("--xla", choices=["both", "on", "off"], default="both")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {MODELS}")
    args = parser.parse_args(argv)
    names = [m for m in args.models.split(",") if m]
    unknown = set(names) - set(MODELS)
    if unknown:
        raise SystemExit(f"unknown models {sorted(unknown)}; choose from {MODELS}")
    xlas = {"both": [False, True], "on": [True], "off": [False]}[args.xla]
    filters, batch_size, steps = (4, 2, 1) if args.quick else (None, args.batch_size, args.steps)
    run = measure if args.quick else measure_in_process

    import keras

    print(f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs visible, batch {batch_size}, "
          f"{steps} timed steps, {'quick: tiny widths' if args.quick else 'course defaults'}")
    rows = [run(name, xla, filters, batch_size, steps) for xla in xlas for name in names]
    print(f"{'model':<16}{'XLA':<5}{'params':>11}{'images/s':>10}{'peak extra MB':>15}{'vs plain':>10}")
    for row in rows:
        plain = [r for r in rows if r["model"] == "plain_unet" and r["xla"] == row["xla"]]
        ratio = f"{row['images_per_s'] / plain[0]['images_per_s']:.2f}x" if plain else "-"
        print(f"{row['model']:<16}{'on' if row['xla'] else 'off':<5}{row['params']:>11,}"
              f"{row['images_per_s']:>10.1f}{row['peak_mb']:>11.0f} {row['memory']:<4}{ratio:>9}")
    print(f"Target: unet within {TARGET_OVERHEAD:.0%} of plain_unet's images/s (same widths, same graph). "
          "Timings on a shared CPU vary with the load from other processes.")
    return rows


if __name__ == "__main__":
    main()
