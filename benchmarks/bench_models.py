"""Model builders at the course defaults: parameters, peak memory and training speed, with and without XLA.

Next to marslab's builders runs a plain U-Net written out layer by layer with the same widths, so the
table shows what building from blocks costs (target: marslab's `unet` within 5% of it; a last line
times the two alternately in one process, which is the fair comparison on a busy machine).
Each (model, XLA) pair trains in a fresh process on random NumPy batches, so its peak memory is its own:
"peak extra MB" is peak resident memory minus what the process held before building the model
(on a GPU: the device's peak allocation). images/s is the best of several timed windows, the one
least disturbed by other processes. Works on any Keras backend; with KERAS_BACKEND=jax no
TensorFlow is needed (on JAX, XLA off means eager execution: very slow).

    python benchmarks/bench_models.py                  # course defaults, batch 32, best of 3 x 5 steps
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
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.Activation("relu")(x)
        skips.append(x)
    for i in reversed(range(depth - 1)):
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
        x = layers.Concatenate()([skips[i], x])
        for _ in range(2):
            x = layers.Conv2D(filters * 2**i, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization(momentum=0.9)(x)
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


def _batch(batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.random((batch_size, HEIGHT, WIDTH, 1), dtype=np.float32)
    masks = rng.integers(0, NUM_CLASSES, (batch_size, HEIGHT, WIDTH)).astype("int32")
    return images, masks


def _compiled(name: str, xla: bool, filters: int | None):
    model = build(name, filters)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=xla)
    return model


def _images_per_s(model, batch: tuple, steps: int) -> float:
    """Training images per second over `steps` train steps on one batch."""
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(*batch)
    seconds = time.perf_counter() - start
    if not np.isfinite(np.asarray(loss)).all():
        raise RuntimeError(f"{model.name}: training loss is not finite ({loss})")
    return steps * len(batch[0]) / seconds


def measure(name: str, xla: bool, filters: int | None, batch_size: int, steps: int, warmup: int = 2,
            repeats: int = 3) -> dict:
    """Train `name` for warmup steps, then `repeats` windows of `steps` steps; return params, the best
    window's images/s (the least disturbed by other processes) and the peak memory."""
    import keras

    batch = _batch(batch_size)
    keras.utils.set_random_seed(0)
    before = _rss_mb()
    model = _compiled(name, xla, filters)
    for _ in range(warmup):
        model.train_on_batch(*batch)
    speed = max(_images_per_s(model, batch, steps) for _ in range(repeats))
    device = _device_peak_mb()
    return {"model": name, "xla": xla, "params": model.count_params(), "images_per_s": speed,
            "peak_mb": device if device is not None else _rss_mb() - before,
            "memory": "device" if device is not None else "RSS"}


def paired_ratio(xla: bool, filters: int | None, batch_size: int, steps: int, warmup: int = 2,
                 repeats: int = 3) -> float:
    """images/s of marslab's `unet` over the hand-written U-Net, timed in one process: windows of the two
    run back to back in alternating order (plain-unet, unet-plain, ...), and the median of the paired
    ratios is returned, so that a change in the machine's load hits both alike."""
    import keras

    batch = _batch(batch_size)
    keras.utils.set_random_seed(0)
    models = {name: _compiled(name, xla, filters) for name in ("plain_unet", "unet")}
    for model in models.values():
        for _ in range(warmup):
            model.train_on_batch(*batch)
    ratios = []
    for r in range(repeats):
        order = ("plain_unet", "unet") if r % 2 == 0 else ("unet", "plain_unet")
        speed = {name: _images_per_s(models[name], batch, steps) for name in order}
        ratios.append(speed["unet"] / speed["plain_unet"])
    return float(np.median(ratios))


def _child(fn, args: tuple, queue) -> None:
    queue.put(fn(*args))


def in_fresh_process(fn, *args):
    """fn(*args) in a fresh process (spawned, so nothing is shared with the parent or other runs)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny widths, 2 images, 1 step, one process (no memory column)")
    parser.add_argument("--xla", choices=["both", "on", "off"], default="both")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5, help="train steps per timed window")
    parser.add_argument("--repeats", type=int, default=3, help="timed windows; the best one counts")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {MODELS}")
    args = parser.parse_args(argv)
    names = [m for m in args.models.split(",") if m]
    unknown = set(names) - set(MODELS)
    if unknown:
        raise SystemExit(f"unknown models {sorted(unknown)}; choose from {MODELS}")
    xlas = {"both": [False, True], "on": [True], "off": [False]}[args.xla]
    if args.quick:
        filters, batch_size, steps, warmup, repeats = 4, 2, 1, 1, 1
    else:
        filters, batch_size, steps, warmup, repeats = None, args.batch_size, args.steps, 2, args.repeats

    def run(fn, *fn_args):
        return fn(*fn_args) if args.quick else in_fresh_process(fn, *fn_args)

    import keras

    print(f"backend {keras.backend.backend()}, {os.cpu_count()} CPUs visible, batch {batch_size}, "
          f"best of {repeats} windows of {steps} steps, {'quick: tiny widths' if args.quick else 'course defaults'}")
    print(f"{'model':<16}{'XLA':<5}{'params':>11}{'images/s':>10}{'peak extra MB':>15}{'vs plain':>10}")
    rows = []
    for xla in xlas:
        for name in names:
            row = run(measure, name, xla, filters, batch_size, steps, warmup, repeats)
            if args.quick:  # one process: its lifetime peak says nothing about one model
                row["peak_mb"], row["memory"] = float("nan"), "n/a"
            rows.append(row)
            plain = [r for r in rows if r["model"] == "plain_unet" and r["xla"] == xla]
            ratio = f"{row['images_per_s'] / plain[0]['images_per_s']:.2f}x" if plain else "-"
            print(f"{name:<16}{'on' if xla else 'off':<5}{row['params']:>11,}{row['images_per_s']:>10.1f}"
                  f"{row['peak_mb']:>11.0f} {row['memory']:<4}{ratio:>9}", flush=True)
    if {"plain_unet", "unet"} <= set(names):
        for xla in xlas:
            ratio = run(paired_ratio, xla, filters, batch_size, steps, warmup, repeats)
            verdict = "within" if ratio >= 1 - TARGET_OVERHEAD else "OUTSIDE"
            verdict = "quick run: too short to judge" if args.quick else f"{verdict} the {TARGET_OVERHEAD:.0%} target"
            print(f"unet / plain_unet, XLA {'on' if xla else 'off'}, alternating in one process (median of {repeats}): {ratio:.3f}x "
                  f"({verdict})", flush=True)
    print("Separate rows run in separate processes at different times: on a shared CPU their images/s "
          "move with the load. The alternating ratio is the fair comparison.")
    return rows


if __name__ == "__main__":
    main()
