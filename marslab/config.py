"""Run profiles, devices and seeding: the few settings every lesson shares."""
from __future__ import annotations

import os
import random
import sys

import numpy as np

PROFILES: tuple[str, ...] = ("smoke", "full")
PROFILE_ENV = "MARSLAB_PROFILE"


def keras_backend() -> str:
    """The Keras backend that will be used ("tensorflow", "jax" or "torch"), without importing Keras."""
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def quiet_tensorflow_start() -> None:
    """Import TensorFlow and probe its devices with the C++ log lines of start-up sent to /dev/null.

    Those lines (written by C++ straight to file descriptor 2, which TF_CPP_MIN_LOG_LEVEL does not
    reach) are harmless but fill every lesson's first cell. Python errors still raise as usual.
    Does nothing on another Keras backend, when TensorFlow is already imported or not installed.
    """
    if keras_backend() != "tensorflow" or "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        try:
            import tensorflow as tf
        except ModuleNotFoundError:
            return
        tf.config.list_physical_devices("GPU")  # the CUDA probe logs here
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def list_gpus() -> list[str]:
    """Names of the GPUs the current Keras backend can see (empty on a CPU-only machine)."""
    backend = keras_backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    raise ValueError(f"unknown KERAS_BACKEND {backend!r}; expected tensorflow, jax or torch")


def get_profile() -> str:
    """The run profile: $MARSLAB_PROFILE if set, else "full" with a GPU and "smoke" without.

    smoke: small subsets, a few epochs, small widths (CPU, CI). full: the whole dataset and recipe (GPU).
    """
    profile = os.environ.get(PROFILE_ENV, "").strip().lower()
    if profile:
        if profile not in PROFILES:
            raise ValueError(f"{PROFILE_ENV}={profile!r} is not a run profile; expected one of {PROFILES}")
        return profile
    return "full" if list_gpus() else "smoke"


def seed_everything(seed: int = 0, deterministic: bool | None = None) -> None:
    """Seed Python, NumPy and Keras (and its backend) so that a run repeats exactly.

    deterministic: also ask TensorFlow for deterministic kernels (default: in the smoke profile only,
    where runs are on the CPU and repeatability matters more than speed).
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed)
    import keras

    keras.utils.set_random_seed(int(seed))
    # Unseeded keras.random draws come from a global SeedGenerator. Keras 3.13 and later drop it in
    # set_random_seed so that it restarts from the new seed; before 3.13 it kept running, so do it here.
    from keras.src.backend.common import global_state

    global_state.set_global_attribute("global_seed_generator", None)
    if deterministic is None:
        deterministic = get_profile() == "smoke"
    if deterministic and keras_backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
