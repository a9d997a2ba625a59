"""Training throughput of every model builder on the accelerator: images/s, peak memory, mixed precision.

Runs on any Keras backend with NumPy batches, so it also runs where only JAX is installed:

    python benchmarks/bench_gpu.py                       # TensorFlow (the default backend)
    KERAS_BACKEND=jax python benchmarks/bench_gpu.py     # a GPU machine with JAX and no TensorFlow
    python benchmarks/bench_gpu.py --quick               # a tiny run on the CPU (what the test does)

Prints one row per builder and precision: parameters, training images/s (after a warm-up epoch that
pays for compilation), peak device memory, and the mixed-precision (float16) speed-up over float32.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import numpy as np


def builders(width: int) -> dict:
    """The course's builders at the given level-0 width (models built lazily, after the precision policy is set)."""
    from marslab import models

    return {
        "unet": lambda: models.unet(filters=width),
        "unet residual+attention+SE": lambda: models.unet(filters=width, residual=True, attention=True, se=True),
        "unet_plus_plus": lambda: models.unet_plus_plus(filters=width),
        "unet3plus": lambda: models.unet3plus(filters=width, cat_channels=width),
    }


def device_name() -> str:
    """A readable name of the device Keras trains on."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return str(jax.devices()[0].device_kind)
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else "cpu"


def reset_peak_memory() -> None:
    """Start a fresh peak-memory count where the backend allows it."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            tf.config.experimental.reset_memory_stats("GPU:0")
    elif keras.backend.backend() == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()


def peak_memory_mb() -> float:
    """Peak accelerator memory in MiB (JAX: since start), or the process's peak resident memory on a CPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        if "peak_bytes_in_use" in stats:
            return stats["peak_bytes_in_use"] / 2**20
    elif backend == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(build, images: np.ndarray, masks: np.ndarray, batch_size: int, epochs: int, precision: str) -> dict:
    """Train `build()` under a precision policy; images/s over the epochs after a warm-up epoch."""
    import keras

    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss="sparse_categorical_crossentropy")
    reset_peak_memory()
    model.fit(images, masks, batch_size=batch_size, epochs=1, verbose=0)  # compile + warm up
    start = time.perf_counter()
    model.fit(images, masks, batch_size=batch_size, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    keras.mixed_precision.set_global_policy("float32")
    return {"params": model.count_params(), "images_per_s": epochs * len(images) / seconds,
            "peak_mb": peak_memory_mb()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny data and widths: a CPU smoke run")
    parser.add_argument("--images", type=int, default=2048, help="training images per epoch (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after the warm-up epoch")
    parser.add_argument("--width", type=int, default=32, help="level-0 filters of every builder")
    parser.add_argument("--no-mixed", action="store_true", help="skip the float16 runs (always skipped on a CPU,"
                        " which has no fast float16 kernels: there it runs 50x slower, not faster)")
    parser.add_argument("--only", nargs="+", metavar="BUILDER", help="measure only these builders")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.batch_size, args.epochs, args.width = 32, 16, 1, 8

    import keras

    from marslab.synthetic import make_mars

    data = make_mars(seed=0, n_train=args.images, n_test=1, n_aliens=0)
    images = (data.images[..., None] / 255.0).astype("float32")
    masks = data.masks.astype("int32")
    on_cpu = device_name() == "cpu"
    precisions = ["float32"] if args.no_mixed or on_cpu else ["float32", "mixed_float16"]
    chosen = {k: v for k, v in builders(args.width).items() if not args.only or k in args.only}
    if not chosen:
        raise SystemExit(f"--only names no builder; choose from {list(builders(args.width))}")
    print(f"backend {keras.backend.backend()} | device {device_name()} | {platform.node() or 'host'} | "
          f"{args.images} images, batch {args.batch_size}, {args.epochs} timed epoch(s), width {args.width}")
    print(f"{'builder':<28} {'precision':<14} {'params':>10} {'images/s':>10} {'peak MiB':>10} {'speed-up':>9}")
    for name, build in chosen.items():
        base = None
        for precision in precisions:
            row = measure(build, images, masks, args.batch_size, args.epochs, precision)
            base = base or row["images_per_s"]
            print(f"{name:<28} {precision:<14} {row['params']:>10,} {row['images_per_s']:>10.1f} "
                  f"{row['peak_mb']:>10.0f} {row['images_per_s'] / base:>8.2f}x")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
