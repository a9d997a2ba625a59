"""A synthetic Mars: images and masks in the course format, deterministic from a seed.

Each scene is built in three steps, all vectorised over a chunk of images:
1. layout  -> the clean mask: terrain regions (soil, bedrock, sand) from smooth random fields,
   big rocks as small ellipses, background as sky/far field (top halves) and rover parts (bottom halves);
   the edges of bedrock outcrops dip under a dust cover;
2. render  -> the image: one texture per class (soil fine-grained, bedrock from smooth slabs to layered
   and cracked plates, sand smooth with ripples, rocks shaded with a cast shadow), dusted bedrock fading
   into soil, per-image illumination, sensor noise;
3. label   -> the noisy mask a human would draw: coarse wobbly boundaries, missed regions left as
   Background, soil/sand confusion, dusted bedrock called soil by some labellers, some big rocks not labelled.
Real bedrock is the hard terrain class (report 000 Table 3): it looks like soil where dust covers it and
like soil or rock depending on how fractured it is, and labellers disagree on where it ends. The world
has these causes, so that a model ranks the classes as on real data (benchmarks/bench_synthetic.py).
The training set also holds `n_aliens` alien images that all share one mask (the outliers to clean).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from marslab import BACKGROUND, BEDROCK, BIG_ROCK, IMAGE_SHAPE, NUM_CLASSES, SAND, SOIL
from marslab.cache import cache_dir, load_set, save_set
from marslab.course_file import MarsData
from marslab.fields import per_image, pixel_grid, smooth_field

GENERATOR_VERSION = 6  # bump when the output changes, so stale caches are not reused
H, W = IMAGE_SHAPE
TERRAIN_MIX = (0.55, 0.52, 0.3)  # Dirichlet concentration of the soil / bedrock / sand shares per image
TERRAIN_OFFSET = (5.0, 8.0, -6.0)  # mean brightness offset of soil / bedrock / sand
ROCK_IMAGES = 0.18  # share of images drawn with big rocks (label noise drops some): about 11 % of masks show one
# long semi-axis of a big rock in pixels; with ROCK_IMAGES: about 0.13 % of pixels (report 000 Table 1)
ROCK_RADIUS = (3.0, 7.0)
VENEER_REACH = 8.0  # largest reach of the veneer into an outcrop, in units of the terrain fields (per image: 0..this)
VENEER_SAND = 0.3  # share of images whose outcrop edges are buried by drift sand; the others by dust (soil-like)
VENEER_LABELLED = 0.5  # share of labellers who label the veneer (Sand or Soil), not the bedrock under it
SOIL_SAND_SWAP = (0.04, 0.04)  # share of images whose labeller calls Soil Sand / Sand Soil
BLURRED = 0.3  # share of images rendered slightly out of focus
CHUNK = 128  # images generated at once: small arrays stay in the CPU cache; bounds peak memory


def make_mars(seed: int = 0, n_train: int = 2615, n_test: int = 10022, n_aliens: int = 110,
              cache: bool = True) -> MarsData:
    """The synthetic course set: images/masks (n_train, 64, 128) uint8, test split (n_test, 64, 128).

    Also returns clean_masks, test_masks (noisy, as a grader would have), test_clean_masks and
    alien_index (sorted indices of the n_aliens training images that share one mask).
    cache: read/write the result under marslab.cache.cache_dir() (keyed on the arguments and generator version).
    """
    for name, value, low in (("seed", seed, 0), ("n_train", n_train, 1), ("n_test", n_test, 1),
                             ("n_aliens", n_aliens, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if n_aliens > n_train:
        raise ValueError(f"n_aliens ({n_aliens}) cannot exceed n_train ({n_train})")
    key = f"mars_v{GENERATOR_VERSION}_seed{seed}_{n_train}_{n_test}_{n_aliens}"
    if cache:
        cached = load_set(cache_dir() / key, _cache_layout(n_train, n_test, n_aliens), source="synthetic")
        if cached is not None:
            return cached
    data = _generate(int(seed), int(n_train), int(n_test), int(n_aliens))
    if cache:
        save_set(cache_dir() / key, data, stale_pattern=r"mars_v\d+_seed\d+_\d+_\d+_\d+")
    return data


def _cache_layout(n_train: int, n_test: int, n_aliens: int) -> dict:
    """What a cached set must hold: {array: (shape, dtype, labels 0..n-1 or None)}."""
    labels = {"masks": n_train, "clean_masks": n_train, "test_masks": n_test, "test_clean_masks": n_test}
    layout = {name: ((n, H, W), "uint8", NUM_CLASSES) for name, n in labels.items()}
    layout.update(images=((n_train, H, W), "uint8", None), test_images=((n_test, H, W), "uint8", None),
                  alien_index=((n_aliens,), "int64", n_train))  # indices 0..n_train-1
    return layout


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


# ----------------------------------------------------------------------------------------------- layout
def _layout(rng: np.random.Generator, n: int) -> dict:
    """Clean masks (n, 64, 128) and the per-image facts the renderer needs."""
    yy, xx = pixel_grid()
    # terrain: the class with the largest (smooth field + per-image bias) wins; biases set the mix.
    bias = 2.5 * np.log(rng.dirichlet(TERRAIN_MIX, size=n) + 1e-3).astype(np.float32)
    f_soil, f_sand = (smooth_field(rng, n, 3, 5) + per_image(bias[:, c]) for c in (0, 2))
    # ragged outcrops
    f_bedrock = smooth_field(rng, n, 3, 5) + per_image(bias[:, 1]) + 0.35 * smooth_field(rng, n, 12, 24)
    terrain = np.where(f_bedrock > f_soil, BEDROCK, SOIL).astype(np.uint8)
    terrain[f_sand > np.maximum(f_soil, f_bedrock)] = SAND
    mask = terrain.copy()
    # bedrock dips under the soil at the edges of an outcrop: there a dust cover hides it, thinning inwards
    reach = per_image(rng.uniform(0, VENEER_REACH, n))
    depth = (f_bedrock - np.maximum(f_soil, f_sand)) / np.maximum(reach, 1e-3)  # 0 at the edge, 1 where it shows
    mantle = (terrain == BEDROCK) & (depth < 1)
    top = rng.random(n) < 0.5  # top halves of a frame may show the horizon, bottom halves the rover
    sky = np.zeros((n, H, W), bool)
    far = np.zeros((n, H, W), bool)
    i = np.flatnonzero(top & (rng.random(n) < 0.85))
    line = per_image(rng.uniform(6, 34, i.size)) + 2.0 * smooth_field(rng, i.size, 1, 6)
    sky[i] = yy < line
    far[i] = (yy < line + per_image(rng.uniform(2, 10, i.size))) & ~sky[i]
    rover = np.zeros((n, H, W), bool)
    i = np.flatnonzero(~top & (rng.random(n) < 0.35))
    for _ in range(2):  # rover hardware: rotated rectangles in a bottom corner
        corner = np.where(rng.random(i.size) < 0.5, rng.uniform(-10, 35, i.size), rng.uniform(95, 140, i.size))
        u, v = _rotated(xx, yy, corner,
                        rng.uniform(35, 75, i.size), rng.uniform(-0.6, 0.6, i.size))
        half_width, half_height = per_image(rng.uniform(8, 30, i.size)), per_image(rng.uniform(5, 18, i.size))
        rover[i] |= (np.abs(u) < half_width) & (np.abs(v) < half_height)
    mask[sky | far | rover] = BACKGROUND
    # big rocks: a few small ellipses in a minority of images, on terrain only, each with a cast shadow
    rock = np.zeros((n, H, W), bool)
    shade = np.zeros((n, H, W), np.float32)  # -1..1 from the lit side to the dark side, on rock pixels
    shadow = np.zeros((n, H, W), bool)
    i = np.flatnonzero(rng.random(n) < ROCK_IMAGES)
    sun = rng.uniform(0, 2 * np.pi, i.size)
    du, dv = per_image(np.cos(sun)), per_image(np.sin(sun))
    for _ in range(3):
        present = per_image(rng.random(i.size) < 0.55).astype(bool)
        rx = rng.uniform(*ROCK_RADIUS, i.size)
        u, v = _rotated(xx, yy, rng.uniform(5, W - 5, i.size), rng.uniform(12, H - 3, i.size),
                        rng.uniform(-0.4, 0.4, i.size))
        u, v = u / per_image(rx), v / per_image(rx * rng.uniform(0.55, 0.9, i.size))
        inside = (u * u + v * v < 1) & present
        shade[i] = np.where(inside, u * du + v * dv, shade[i])
        shadow[i] |= ((u - 1.1 * du) ** 2 + (v - 0.9 * dv) ** 2 < 1.1) & present & ~inside
        rock[i] |= inside
    rock &= mask != BACKGROUND
    mask[rock] = BIG_ROCK
    return {"mask": mask, "terrain": terrain, "sky": sky, "far": far, "rover": rover, "rock": rock,
            "shade": shade, "shadow": shadow & (mask != BACKGROUND) & ~rock,
            "mantle": mantle & (mask == BEDROCK), "depth": np.clip(depth, 0, 1) ** 2,
            "veneer": np.where(rng.random(n) < VENEER_SAND, SAND, SOIL).astype(np.uint8)}


def _rotated(xx: np.ndarray, yy: np.ndarray, cx: np.ndarray, cy: np.ndarray,
             angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (n, 64, 128) relative to per-image centres (n,), rotated by per-image angles (n,)."""
    c, s = per_image(np.cos(angle)), per_image(np.sin(angle))
    x, y = xx - per_image(cx), yy - per_image(cy)
    return x * c + y * s, y * c - x * s


# ----------------------------------------------------------------------------------------------- render
def _render(rng: np.random.Generator, scene: dict) -> np.ndarray:
    """Images (n, 64, 128) uint8 for the layouts in `scene`: class textures, illumination, noise.

    Each texture is computed only on the images that show its class (the random draws are made for all).
    """
    terrain = scene["terrain"]
    n = terrain.shape[0]
    yy, xx = pixel_grid()
    white = rng.standard_normal((n, H, W), dtype=np.float32)
    fine = ndi.uniform_filter(white, (1, 2, 2))  # grain a pixel or two across (std 0.5)
    image = np.zeros((n, H, W), np.float32)

    def paint(where: np.ndarray, texture) -> None:  # texture(i): values on images i, where `where` holds
        i = np.flatnonzero(where.any(axis=(1, 2)))
        image[i] = np.where(where[i], texture(i), image[i])

    # soil: fine grain with scattered pebbles, roughness varying from place to place
    grain, pebbles = per_image(rng.uniform(7, 14, n)), per_image(rng.uniform(0, 16, n))
    # bedrock: plates with sharp steps (layers), dark cracks along the zero lines of a smooth field; how
    # fractured varies from image to image, from smooth slabs (soil-like) to broken, cracked plates
    step, fractured = per_image(rng.uniform(0.35, 0.7, n)), per_image(rng.random(n))
    plates, layers, rough = 4 + 20 * fractured, smooth_field(rng, n, 8, 16), 6 + 11 * fractured
    dark, lines, width = 26 * fractured, smooth_field(rng, n, 10, 20), per_image(rng.uniform(0.04, 0.1, n))
    # sand: smooth, low ripples
    angle = rng.uniform(-0.5, 0.5, n) + np.pi / 2
    kx, ky = per_image(np.cos(angle) / rng.uniform(4.5, 9.0, n)), per_image(np.sin(angle) / rng.uniform(4.5, 9.0, n))
    ripple, wobble = per_image(rng.uniform(1.0, 4.0, n)), smooth_field(rng, n, 3, 6)
    sand_grain = per_image(rng.uniform(1.0, 3.5, n))
    offsets = rng.normal(TERRAIN_OFFSET, 6.0, (n, 3)).astype(np.float32)  # brightness per class and image: no giveaway
    def soil(i: np.ndarray) -> np.ndarray:
        return grain[i] * fine[i] + pebbles[i] * (fine[i] > 1.1) + per_image(offsets[i, 0])

    def bedrock(i: np.ndarray) -> np.ndarray:
        return (plates[i] * np.floor(layers[i] / step[i]) * step[i] + rough[i] * fine[i]
                - dark[i] * (np.abs(lines[i]) < width[i]) + per_image(offsets[i, 1]))

    def sand(i: np.ndarray) -> np.ndarray:
        return (ripple[i] * np.sin(2 * np.pi * (xx * kx[i] + yy * ky[i]) + 1.5 * wobble[i]) + sand_grain[i] * fine[i]
                + per_image(offsets[i, 2]))

    paint(terrain == SOIL, soil)
    paint(terrain == BEDROCK, bedrock)
    for kind, cover in ((SAND, sand), (SOIL, soil)):  # drift sand or dust over bedrock, thinning into the outcrop
        buried = scene["mantle"] & per_image(scene["veneer"] == kind).astype(bool)
        paint(buried, lambda i, cover=cover: scene["depth"][i] * bedrock(i) + (1 - scene["depth"][i]) * cover(i))
    paint(terrain == SAND, sand)
    # big rocks: lit on the sun side, dark on the other, rough; their shadow darkens the ground behind
    paint(scene["rock"], lambda i: -30.0 * scene["shade"][i] + 18.0 * fine[i] - 10.0)
    image -= 22.0 * scene["shadow"]
    # background: far field low-contrast and streaky, sky smooth and bright, rover dark with bright edges
    paint(scene["far"], lambda i: 16.0 * fine[i] - 8.0)
    sky, sky_level = smooth_field(rng, n, 2, 4), per_image(rng.normal(0, 10, n))
    paint(scene["sky"], lambda i: 6.0 * sky[i] - 0.3 * yy + sky_level[i])
    bolts, panels = smooth_field(rng, n, 8, 16), smooth_field(rng, n, 4, 8)

    def rover(i: np.ndarray) -> np.ndarray:
        body = scene["rover"][i].astype(np.float32)
        edges = np.abs(ndi.correlate1d(body, [1, -1], axis=2)) + np.abs(ndi.correlate1d(body, [1, -1], axis=1))
        return (-30.0 + 60.0 * np.minimum(edges, 1.0) + (40.0 * (np.abs(bolts[i]) > 1.3) + 12.0 * panels[i])
                + 14.0 * fine[i])

    paint(scene["rover"], rover)
    # illumination: per-image level and contrast, a soft shading gradient, then sensor noise
    level = per_image(np.clip(rng.normal(58, 20, n), 20, 120))
    image = level * (1.0 + 0.12 * smooth_field(rng, n, 2, 3)) + (level / 60.0) * image
    blurred = np.flatnonzero(rng.random(n) < BLURRED)  # out of focus or seen from afar: fine texture washed out
    image[blurred] = ndi.gaussian_filter(image[blurred], (0, 0.8, 0.8), truncate=2.0)
    image += per_image(rng.uniform(0.8, 2.2, n)) * white
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------- labels
def _label_noise(rng: np.random.Generator, scene: dict) -> np.ndarray:
    """The mask a hurried human would draw (n, 64, 128) uint8, from the clean one."""
    n = scene["mask"].shape[0]
    # where sand or dust hides the bedrock, some labellers label the veneer
    veneer = scene["mantle"] & per_image(rng.random(n) < VENEER_LABELLED).astype(bool)
    clean = np.where(veneer, per_image(scene["veneer"]), scene["mask"]).astype(np.uint8)
    yy, xx = pixel_grid()
    # coarse, wobbly boundaries: read the clean mask at displaced, snapped coordinates
    amp = per_image(rng.uniform(0.5, 3.5, n))
    snap = per_image(rng.choice([1, 2, 4], n, p=[0.3, 0.4, 0.3]))
    y = np.clip(np.rint((yy + amp * smooth_field(rng, n, 4, 8)) / snap) * snap, 0, H - 1).astype(np.intp)
    x = np.clip(np.rint((xx + amp * smooth_field(rng, n, 4, 8)) / snap) * snap, 0, W - 1).astype(np.intp)
    noisy = clean[np.arange(n)[:, None, None], y, x]
    # some big rocks are not labelled: the ground under them is given instead
    missed_rock = (noisy == BIG_ROCK) & per_image(rng.random(n) < 0.25).astype(bool)
    noisy = np.where(missed_rock, scene["terrain"], noisy)
    # soil and sand confused in some images
    swap = rng.random(n)
    soil_to_sand = (noisy == SOIL) & per_image(swap < SOIL_SAND_SWAP[0]).astype(bool)
    sand_to_soil = (noisy == SAND) & per_image(swap > 1 - SOIL_SAND_SWAP[1]).astype(bool)
    noisy = np.where(soil_to_sand, SAND, np.where(sand_to_soil, SOIL, noisy))
    # regions nobody labelled stay Background, and a thin unlabelled frame in some images
    unlabelled = smooth_field(rng, n, 3, 6) > per_image(rng.uniform(0.9, 3.0, n))
    frame = per_image(rng.integers(0, 3, n))
    border = (xx < frame) | (xx >= W - frame) | (yy >= H - frame)
    noisy = np.where(unlabelled | border, BACKGROUND, noisy)
    return noisy.astype(np.uint8)


# ----------------------------------------------------------------------------------------------- aliens
def _alien_mask(rng: np.random.Generator) -> np.ndarray:
    """The one mask every alien image carries (64, 128) uint8: a plausible terrain mask."""
    while True:  # one with several classes, so that nothing else repeats it by chance
        mask = _layout(rng, 1)["mask"][0]
        if len(np.unique(mask)) >= 3:
            return mask


def _alien_images(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 64, 128) uint8 pictures of the same cartoon alien, shifted and relit: nothing like Mars."""
    yy, xx = pixel_grid()
    cx, cy = per_image(64 + rng.normal(0, 4, n)), per_image(34 + rng.normal(0, 2, n))
    head = ((xx - cx) / 22) ** 2 + ((yy - cy) / 26) ** 2 < 1
    eyes = sum(((xx - cx - dx) / 6) ** 2 + ((yy - cy + 6) / 4) ** 2 < 1 for dx in (-9, 9))
    mouth = (np.abs(yy - cy - 12 - 0.02 * (xx - cx) ** 2) < 1.5) & (np.abs(xx - cx) < 10)
    ears = sum(((xx - cx - dx) / 5) ** 2 + ((yy - cy + 20) / 9) ** 2 < 1 for dx in (-24, 24))
    picture = 40 + 120 * (head | (ears > 0)) - 100 * (eyes > 0) - 80 * mouth
    gain = per_image(rng.uniform(0.8, 1.2, n))
    image = picture * gain + 6 * rng.standard_normal((n, H, W), dtype=np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
