"""Random fields and per-image broadcasting for the synthetic scene generator (marslab.synthetic): smooth
fields from a few normal samples stretched over the 64x128 image, the pixel grid, per-image values shaped to
broadcast over pixels."""
from __future__ import annotations

import numpy as np

from marslab import IMAGE_SHAPE

H, W = IMAGE_SHAPE


def interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) linear-interpolation weights that stretch n_in samples over n_out pixels."""
    pos = np.linspace(0, n_in - 1, n_out)
    lo = np.minimum(np.floor(pos).astype(int), n_in - 2)
    frac = pos - lo
    m = np.zeros((n_out, n_in), np.float32)
    m[np.arange(n_out), lo] = 1 - frac
    m[np.arange(n_out), lo + 1] = frac
    return m


def smooth_field(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    """(n, 64, 128) float32 smooth random field, unit-ish std: (h, w) normal samples interpolated up."""
    low = rng.standard_normal((n, h, w), dtype=np.float32)
    return interp_matrix(H, h) @ low @ interp_matrix(W, w).T


def pixel_grid() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    return yy[None], xx[None]


def per_image(values: np.ndarray) -> np.ndarray:
    """Per-image values (n,) shaped (n, 1, 1) to broadcast over pixels."""
    return np.asarray(values, np.float32)[:, None, None]
