"""A synthetic Mars: images and masks in the course format, deterministic from a seed.

Each scene is built in three steps, all vectorised over a chunk of images:
1. layout  -> the clean mask: terrain regions (soil, bedrock, sand) from smooth random fields,
   big rocks as small ellipses, background as sky/far field (top halves) and rover parts (bottom halves);
2. render  -> the image: one texture per class (soil fine-grained, bedrock layered and cracked,
   sand smooth with ripples, rocks shaded with a cast shadow), per-image illumination, sensor noise;
3. label   -> the noisy mask a human would draw: coarse wobbly boundaries, missed regions left as
   Background, soil/sand confusion, some big rocks not labelled.
The training set also holds `n_aliens` alien images that all share one mask (the outliers to clean).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from marslab import IMAGE_SHAPE
from marslab.data import MarsData, cache_dir

GENERATOR_VERSION = 1  # bump when the output changes, so stale caches are not reused
CHUNK = 512  # images generated at once: bounds peak memory
H, W = IMAGE_SHAPE
BACKGROUND, SOIL, BEDROCK, SAND, BIG_ROCK = range(5)


def make_mars(seed: int = 0, n_train: int = 2615, n_test: int = 10022, n_aliens: int = 110,
              cache: bool = True) -> MarsData:
    """The synthetic course set: images/masks (n_train, 64, 128) uint8, test split (n_test, 64, 128).

    Also returns clean_masks, test_masks (noisy, as a grader would have), test_clean_masks and
    alien_index (sorted indices of the n_aliens training images that share one mask).
    cache: read/write the result under marslab.data.cache_dir() (keyed on the arguments and generator version).
    """
    for name, value, low in (("seed", seed, 0), ("n_train", n_train, 1), ("n_test", n_test, 1), ("n_aliens", n_aliens, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if n_aliens > n_train:
        raise ValueError(f"n_aliens ({n_aliens}) cannot exceed n_train ({n_train})")
    path = cache_dir() / f"mars_v{GENERATOR_VERSION}_seed{seed}_{n_train}_{n_test}_{n_aliens}.npz"
    if cache and path.is_file():
        with np.load(path) as npz:
            return MarsData(source="synthetic", **{k: npz[k] for k in npz.files})
    data = _generate(int(seed), int(n_train), int(n_test), int(n_aliens))
    if cache:
        _save_atomic(path, data)
    return data


def _save_atomic(path: Path, data: MarsData) -> None:
    """Write the arrays of `data` to `path` via a temporary file, so a crash never leaves half a cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    arrays = {k: v for k, v in vars(data).items() if isinstance(v, np.ndarray)}
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _generate(seed: int, n_train: int, n_test: int, n_aliens: int) -> MarsData:
    train = generate_scenes(seed, 0, n_train)
    test = generate_scenes(seed, 1, n_test)
    rng = np.random.default_rng([seed, 2])
    alien_index = np.sort(rng.choice(n_train, size=n_aliens, replace=False))
    if n_aliens:
        alien_mask = _alien_mask(rng)
        train[0][alien_index] = _alien_images(rng, n_aliens)
        train[1][alien_index] = alien_mask
        train[2][alien_index] = alien_mask
    return MarsData(images=train[0], masks=train[1], test_images=test[0], source="synthetic",
                    clean_masks=train[2], test_masks=test[1], test_clean_masks=test[2], alien_index=alien_index)


def generate_scenes(seed: int, stream: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n scenes -> (images, noisy masks, clean masks), each (n, 64, 128) uint8; chunk k uses rng [seed, stream, k]."""
    images = np.empty((n, H, W), np.uint8)
    noisy = np.empty((n, H, W), np.uint8)
    clean = np.empty((n, H, W), np.uint8)
    for k, start in enumerate(range(0, n, CHUNK)):
        rng = np.random.default_rng([seed, stream, k])
        m = min(CHUNK, n - start)
        scene = _layout(rng, m)
        images[start:start + m] = _render(rng, scene)
        clean[start:start + m] = scene["mask"]
        noisy[start:start + m] = _label_noise(rng, scene)
    return images, noisy, clean


# ----------------------------------------------------------------------------------------------- fields
def _interp_matrix(n_out: int, n_in: int) -> np.ndarray:
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
    return _interp_matrix(H, h) @ low @ _interp_matrix(W, w).T


def _grid() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    return yy[None], xx[None]


def _col(values: np.ndarray) -> np.ndarray:
    """Per-image values (n,) shaped (n, 1, 1) to broadcast over pixels."""
    return np.asarray(values, np.float32)[:, None, None]


# ----------------------------------------------------------------------------------------------- layout
def _layout(rng: np.random.Generator, n: int) -> dict:
    """Clean masks (n, 64, 128) and the per-image facts the renderer needs."""
    yy, xx = _grid()
    # terrain: the class with the largest (smooth field + per-image bias) wins; biases set the mix.
    share = rng.dirichlet([0.55, 0.45, 0.35], size=n).astype(np.float32)  # soil, bedrock, sand
    fields = np.stack([smooth_field(rng, n, 3, 5) + 2.5 * _col(np.log(share[:, c] + 1e-3)) for c in range(3)])
    fields[1] += 0.35 * smooth_field(rng, n, 12, 24)  # bedrock outcrops have ragged outlines
    terrain = (np.argmax(fields, axis=0) + 1).astype(np.uint8)
    mask = terrain.copy()
    # top halves of a frame show the horizon: sky above a wavy line, then a far-field band
    top = rng.random(n) < 0.5
    horizon = np.where(top & (rng.random(n) < 0.85), rng.uniform(6, 34, n), -1).astype(np.float32)
    line = _col(horizon) + 2.0 * smooth_field(rng, n, 1, 6)
    sky = (yy < line) & (_col(horizon) > 0)
    far = (yy < line + _col(rng.uniform(2, 10, n))) & ~sky & (_col(horizon) > 0)
    mask[sky | far] = BACKGROUND
    # bottom halves: rover hardware in a corner (rotated rectangles with sharp edges)
    rover = np.zeros((n, H, W), bool)
    has_rover = ~top & (rng.random(n) < 0.35)
    for _ in range(2):
        cx = _col(np.where(rng.random(n) < 0.5, rng.uniform(-10, 35, n), rng.uniform(95, 140, n)))
        cy = _col(rng.uniform(35, 75, n))
        angle = _col(rng.uniform(-0.6, 0.6, n))
        u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
        rover |= (np.abs(u) < _col(rng.uniform(8, 30, n))) & (np.abs(v) < _col(rng.uniform(5, 18, n)))
    rover &= has_rover[:, None, None]
    mask[rover] = BACKGROUND
    # big rocks: a few small ellipses in a minority of images, on terrain only
    rock = np.zeros((n, H, W), bool)
    shade = np.zeros((n, H, W), np.float32)  # -1..1 lit side to shadow side, on rock pixels
    shadow = np.zeros((n, H, W), bool)
    sun = rng.uniform(0, 2 * np.pi, n)
    has_rock = rng.random(n) < 0.13
    for _ in range(3):
        present = has_rock & (rng.random(n) < 0.55)
        cx, cy = _col(rng.uniform(5, W - 5, n)), _col(rng.uniform(12, H - 3, n))
        rx = _col(rng.uniform(2.0, 5.5, n))
        ry = rx * _col(rng.uniform(0.55, 0.9, n))
        u, v = (xx - cx) / rx, (yy - cy) / ry
        inside = (u * u + v * v < 1) & present[:, None, None]
        du, dv = _col(np.cos(sun)), _col(np.sin(sun))
        shade = np.where(inside, u * du + v * dv, shade)
        shadow |= ((u - 1.2 * du) ** 2 + (v - 0.8 * dv) ** 2 < 1) & present[:, None, None] & ~inside
        rock |= inside
    rock &= mask != BACKGROUND
    mask[rock] = BIG_ROCK
    return {"mask": mask, "terrain": terrain, "sky": sky, "far": far, "rover": rover, "rock": rock,
            "shade": shade, "shadow": shadow & (mask != BACKGROUND), "top": top}


# ----------------------------------------------------------------------------------------------- render
def _render(rng: np.random.Generator, scene: dict) -> np.ndarray:
    """Images (n, 64, 128) uint8 for the layouts in `scene`: class textures, illumination, noise."""
    mask = scene["mask"]
    n = mask.shape[0]
    yy, xx = _grid()
    white = rng.standard_normal((n, H, W), dtype=np.float32)
    fine = ndi.gaussian_filter(white, (0, 0.7, 0.7), truncate=2.0)
    # soil: fine grain plus scattered pebbles
    pebbles = ndi.gaussian_filter((white > 2.6).astype(np.float32), (0, 0.8, 0.8), truncate=2.0)
    soil = 5.0 * _col(rng.uniform(0.6, 1.3, n)) * fine + 25.0 * pebbles * _col(rng.choice([-1, 1], n))
    # bedrock: terraced plates with sharp steps, dark cracks along the zero lines of a smooth field
    plates = smooth_field(rng, n, 8, 16)
    step = _col(rng.uniform(0.35, 0.7, n))
    bedrock = 14.0 * np.floor(plates / step) * step + 6.0 * fine
    cracks = np.abs(smooth_field(rng, n, 10, 20)) < 0.09
    bedrock -= 18.0 * cracks
    # sand: smooth, low-amplitude ripples
    angle = _col(rng.uniform(-0.5, 0.5, n) + np.pi / 2)
    wavelength = _col(rng.uniform(4.5, 9.0, n))
    phase = 1.5 * smooth_field(rng, n, 3, 6)
    sand = 3.5 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / wavelength + phase) + 1.5 * fine
    # big rocks: shaded from the sun side, rough surface; their shadow darkens the ground behind them
    rock = -22.0 * scene["shade"] + 9.0 * fine - 6.0
    # background: sky smooth and dim, far field fine and low-contrast, rover parts dark with bright edges
    sky = 4.0 * smooth_field(rng, n, 2, 4) - 0.25 * (yy - 10)
    far = 3.0 * fine - 6.0
    rover_edges = ndi.sobel(scene["rover"].astype(np.float32), axis=2) ** 2 + ndi.sobel(scene["rover"].astype(np.float32), axis=1) ** 2
    rover = -28.0 + 35.0 * np.minimum(rover_edges, 1.0) + 4.0 * smooth_field(rng, n, 4, 8) + 3.0 * fine

    base = _col(rng.normal(0, 4, n))  # per-class offsets drawn per image: brightness does not give the class away
    texture = np.choose(scene["terrain"] - 1, [soil + base + _col(rng.normal(4, 5, n)),
                                                bedrock + base + _col(rng.normal(2, 6, n)),
                                                sand + base + _col(rng.normal(-6, 5, n))])
    texture = np.where(scene["rock"], rock, texture)
    texture -= 14.0 * scene["shadow"]
    texture = np.where(scene["far"], far, texture)
    texture = np.where(scene["sky"], sky + _col(rng.normal(-4, 6, n)), texture)
    texture = np.where(scene["rover"], rover, texture)
    # illumination: per-image level and contrast, a soft shading gradient, then sensor noise
    level = _col(rng.normal(60, 16, n).clip(22, 110))
    gain = level / 60.0 * _col(rng.uniform(0.8, 1.2, n))
    shading = 1.0 + 0.15 * smooth_field(rng, n, 2, 3)
    image = level * shading + gain * texture + _col(rng.uniform(0.8, 2.0, n)) * rng.standard_normal((n, H, W), dtype=np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------- labels
def _label_noise(rng: np.random.Generator, scene: dict) -> np.ndarray:
    """The mask a hurried human would draw (n, 64, 128) uint8, from the clean one."""
    clean = scene["mask"]
    n = clean.shape[0]
    yy, xx = _grid()
    # coarse, wobbly boundaries: read the clean mask at displaced, snapped coordinates
    amp = _col(rng.uniform(0.5, 3.5, n))
    snap = _col(rng.choice([1, 2, 4], n, p=[0.3, 0.4, 0.3]))
    y = np.clip(np.rint((yy + amp * smooth_field(rng, n, 4, 8)) / snap) * snap, 0, H - 1).astype(np.intp)
    x = np.clip(np.rint((xx + amp * smooth_field(rng, n, 4, 8)) / snap) * snap, 0, W - 1).astype(np.intp)
    noisy = clean[np.arange(n)[:, None, None], y, x]
    # some big rocks are not labelled: the ground under them is given instead
    missed_rock = (noisy == BIG_ROCK) & _col(rng.random(n) < 0.25).astype(bool)
    noisy = np.where(missed_rock, scene["terrain"], noisy)
    # soil and sand confused in some images
    swap = rng.random(n)
    soil_to_sand = (noisy == SOIL) & _col(swap < 0.06).astype(bool)
    sand_to_soil = (noisy == SAND) & _col(swap > 0.9).astype(bool)
    noisy = np.where(soil_to_sand, SAND, np.where(sand_to_soil, SOIL, noisy))
    # regions nobody labelled stay Background, and a thin unlabelled frame in some images
    unlabelled = smooth_field(rng, n, 3, 6) > _col(rng.uniform(0.9, 3.0, n))
    frame = _col(rng.integers(0, 3, n))
    border = (xx < frame) | (xx >= W - frame) | (yy >= H - frame)
    noisy = np.where(unlabelled | border, BACKGROUND, noisy)
    return noisy.astype(np.uint8)


# ----------------------------------------------------------------------------------------------- aliens
def _alien_mask(rng: np.random.Generator) -> np.ndarray:
    """The one mask every alien image carries (64, 128) uint8: a plausible terrain mask."""
    scene = _layout(rng, 1)
    return scene["mask"][0]


def _alien_images(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 64, 128) uint8 pictures of the same cartoon alien, shifted and relit: nothing like Mars."""
    yy, xx = _grid()
    cx, cy = _col(64 + rng.normal(0, 4, n)), _col(34 + rng.normal(0, 2, n))
    head = ((xx - cx) / 22) ** 2 + ((yy - cy) / 26) ** 2 < 1
    eyes = sum(((xx - cx - dx) / 6) ** 2 + ((yy - cy + 6) / 4) ** 2 < 1 for dx in (-9, 9))
    mouth = (np.abs(yy - cy - 12 - 0.02 * (xx - cx) ** 2) < 1.5) & (np.abs(xx - cx) < 10)
    ears = sum(((xx - cx - dx) / 5) ** 2 + ((yy - cy + 20) / 9) ** 2 < 1 for dx in (-24, 24))
    picture = 40 + 120 * (head | (ears > 0)) - 100 * (eyes > 0) - 80 * mouth
    gain = _col(rng.uniform(0.8, 1.2, n))
    image = picture * gain + 6 * rng.standard_normal((n, H, W), dtype=np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
