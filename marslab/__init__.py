"""marslab: helpers for the Mars terrain segmentation course.

`import marslab` is light: it imports NumPy, not TensorFlow, and changes nothing in the process. The class
ids and names live here, once. Notebooks call `marslab.quiet()` before they import Keras, which keeps
TensorFlow's C++ start-up lines out of their output (see `marslab.config.quiet`).
"""
from marslab.config import get_profile, quiet, seed_everything

__version__ = "0.1.0"

CLASS_NAMES: tuple[str, ...] = ("Background", "Soil", "Bedrock", "Sand", "Big Rock")
NUM_CLASSES: int = len(CLASS_NAMES)
BACKGROUND, SOIL, BEDROCK, SAND, BIG_ROCK = range(NUM_CLASSES)
IMAGE_SHAPE: tuple[int, int] = (64, 128)

__all__ = ["CLASS_NAMES", "NUM_CLASSES", "BACKGROUND", "SOIL", "BEDROCK", "SAND", "BIG_ROCK", "IMAGE_SHAPE",
           "get_profile", "quiet", "seed_everything", "__version__"]
