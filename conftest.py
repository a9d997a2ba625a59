"""Root pytest configuration: tests and notebooks run in the smoke profile unless told otherwise."""
import os

os.environ.setdefault("MARSLAB_PROFILE", "smoke")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
