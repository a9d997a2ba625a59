"""Run profiles, devices, seeding and a quiet TensorFlow start: the few settings every lesson shares.

Nothing here imports TensorFlow at module import time; the functions that need it import it through
`tensorflow()`, which keeps its C++ start-up lines out of the output.
"""
from __future__ import annotations

import contextlib
import functools
import os
import random
import sys

import numpy as np

PROFILES: tuple[str, ...] = ("smoke", "full")
PROFILE_ENV = "MARSLAB_PROFILE"


def keras_backend() -> str:
    """The Keras backend that will be used ("tensorflow", "jax" or "torch"), without importing Keras."""
    return os.environ.get("KERAS_BACKEND", "tensorflow")


@contextlib.contextmanager
def _stderr_to_devnull():
    """File descriptor 2 sent to /dev/null for the duration: C++ libraries write their logs straight to it,
    where neither Python's sys.stderr nor TF_CPP_MIN_LOG_LEVEL reaches. Python exceptions still raise."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@functools.cache
def tensorflow():
    """The tensorflow module, imported (the first time) with TF_CPP_MIN_LOG_LEVEL=2 (unless set) and its GPUs
    probed, the C++ log lines of both sent to /dev/null. Raises ModuleNotFoundError without TensorFlow."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's later informational C++ messages
    with _stderr_to_devnull():
        import tensorflow as tf  # heavy (seconds): imported only by the functions that need it

        tf.config.list_physical_devices("GPU")  # the CUDA probe ("failed call to cuInit ...") logs here, once
    return tf


def quiet() -> None:
    """Keep TensorFlow's C++ start-up lines (oneDNN notice, "could not find cuda drivers", the CUDA probe)
    out of the output; call it before `import keras`. Idempotent; nothing to do on another Keras backend.

    Lines that an earlier `import keras` already printed cannot be taken back, but the CUDA probe's
    line, which comes at the first device use, is still kept out whatever was imported first. Sets
    TF_CPP_MIN_LOG_LEVEL=2 (unless set) for TensorFlow's later informational C++ messages.
    """
    if keras_backend() != "tensorflow":
        return
    try:
        tensorflow()
    except ModuleNotFoundError:
        return
    with _stderr_to_devnull():
        import keras  # noqa: F401  (Keras' own import-time lines, if any, go the same way)


def list_gpus() -> list[str]:
    """Names of the GPUs the current Keras backend can see (empty on a CPU-only machine)."""
    backend = keras_backend()
    if backend == "tensorflow":
        return [d.name for d in tensorflow().config.list_physical_devices("GPU")]
    if backend == "jax":
        import jax  # optional: only on the JAX backend

        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":
        import torch  # optional: only on the PyTorch backend

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    raise ValueError(f"KERAS_BACKEND must be tensorflow, jax or torch, found {backend!r}")


def get_profile() -> str:
    """The run profile: $MARSLAB_PROFILE if set, else "full" with a GPU and "smoke" without.

    smoke: small subsets, a few epochs, small widths (CPU, CI). full: the whole dataset and recipe (GPU).
    """
    profile = os.environ.get(PROFILE_ENV, "").strip().lower()
    if profile:
        if profile not in PROFILES:
            raise ValueError(f"{PROFILE_ENV} must be one of {PROFILES}, found {profile!r}")
        return profile
    return "full" if list_gpus() else "smoke"


def seed_everything(seed: int = 0, deterministic: bool | None = None) -> None:
    """Seed Python, NumPy and Keras (and its backend) so that a run repeats exactly.

    deterministic: also ask TensorFlow for deterministic kernels (default: in the smoke profile only,
    where runs are on the CPU and repeatability matters more than speed).
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, found {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed)
    if deterministic is None:
        deterministic = get_profile() == "smoke"
    if keras_backend() == "tensorflow":
        tensorflow()  # a quiet first import, if Keras has not imported it yet
    import keras  # heavy: imported when seeding, not with marslab

    keras.utils.set_random_seed(int(seed))
    # Unseeded keras.random draws come from a global SeedGenerator. Keras 3.13 and later drop it in
    # set_random_seed so that it restarts from the new seed; before 3.13 it kept running, so do it here.
    from keras.src.backend.common import global_state

    global_state.set_global_attribute("global_seed_generator", None)
    if deterministic and keras_backend() == "tensorflow":
        tensorflow().config.experimental.enable_op_determinism()
