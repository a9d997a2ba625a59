"""marslab: helpers for the Mars terrain segmentation course.

On the TensorFlow backend, importing marslab imports TensorFlow once with its C++ start-up log lines
(oneDNN notice, "could not find cuda drivers" on a CPU) kept out of the lessons' output.
"""
import os as _os

# Keep TensorFlow's C++ start-up chatter out of the lessons (set before any TensorFlow import).
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

CLASS_NAMES: tuple[str, ...] = ("Background", "Soil", "Bedrock", "Sand", "Big Rock")
NUM_CLASSES: int = len(CLASS_NAMES)
IMAGE_SHAPE: tuple[int, int] = (64, 128)

from marslab.config import get_profile, quiet_tensorflow_start, seed_everything  # noqa: E402

quiet_tensorflow_start()

__all__ = ["CLASS_NAMES", "NUM_CLASSES", "IMAGE_SHAPE", "get_profile", "seed_everything", "__version__"]
