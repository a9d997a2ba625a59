"""Finding outlier ("alien") images, removing them, and a train/validation split that keeps the rare class.

Three detectors, weakest assumption last:
- `find_aliens(masks)`: the aliens share one identical mask of a whole scene (reports 001, 004): exact, needs masks.
- `template_scores(images, template)`: peak normalised cross-correlation with a crop of one known
  alien (report 002): needs one example.
- `autoencoder_scores(...)`: reconstruction error of a small autoencoder (reports 001, 002): needs
  nothing but the images.
The two scoring detectors return one score per image (higher = more alien-like). Threshold rules:
a fixed correlation (TEMPLATE_THRESHOLD) for template matching, whose scores have a meaning, and
`robust_threshold` (median + k MAD) for reconstruction errors, whose scale depends on the model;
`flag` turns scores and a threshold into sorted indices.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
from scipy.signal import fftconvolve

from marslab import BIG_ROCK, IMAGE_SHAPE
from marslab.config import seed_everything
from marslab.pipeline import to_model_input
from marslab.validation import check_images, check_labels

if TYPE_CHECKING:
    import keras
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from marslab.course_file import MarsData

MIN_SHARED = 10  # an exact mask repeated at least this often is a fingerprint, not chance
MIN_TERRAIN_CLASSES = 2  # a fingerprint mask draws a scene: at least this many classes besides Background
TEMPLATE_THRESHOLD = 0.75  # correlation above which the template is taken to be in the image


def find_aliens(masks: np.ndarray, min_count: int = MIN_SHARED) -> np.ndarray:
    """Sorted indices (K,) of the images whose mask is an alien fingerprint; empty when there is none.

    Rule: every mask that draws a scene (labels at least MIN_TERRAIN_CLASSES classes besides Background)
    and that `min_count` or more of masks (N, H, W) share pixel for pixel. Honest labels of two terrain
    classes never coincide pixel for pixel, so such a mask shared many times marks copied labels. Masks of
    a single class (all Soil, Soil with an unlabelled edge, all Background) do repeat honestly: on the
    8,400 real AI4Mars crops 56 masks repeat, up to 155 times, and each labels one class at most.
    """
    masks = check_labels(masks, image_shape=None)
    if min_count < 2:
        raise ValueError(f"min_count must be >= 2 (a mask is always shared with itself), got {min_count}")
    flat = np.ascontiguousarray(masks.reshape(len(masks), -1))
    classes = sum((flat == c).any(axis=1).astype(int) for c in np.unique(flat) if c != 0)  # 0 is Background
    scenes = np.flatnonzero(np.asarray(classes) >= MIN_TERRAIN_CLASSES)
    rows = flat[scenes].view(np.dtype((np.void, flat.shape[1]))).ravel()  # one bytes key per mask
    _, inverse, repeats = np.unique(rows, return_inverse=True, return_counts=True)
    return scenes[repeats[inverse.ravel()] >= min_count].astype(np.int64)


def crop_template(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The patch image[top:top+height, left:left+width] of one image (H, W), box = (top, left, height, width)."""
    image = np.asarray(image)
    top, left, height, width = box
    if image.ndim != 2 or top < 0 or left < 0 or top + height > image.shape[0] or left + width > image.shape[1]:
        raise ValueError(f"box {box} does not fit inside an image of shape {image.shape}")
    if height < 2 or width < 2:
        raise ValueError(f"a template needs at least 2x2 pixels, got {height}x{width}")
    return image[top:top + height, left:left + width].copy()


def template_scores(images: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Peak normalised cross-correlation (N,) in [-1, 1] of a template (h, w) over images (N, H, W).

    The score is the best match over all positions where the template fits entirely; 1 = an exact
    copy up to brightness and contrast. Flat image windows (zero variance) score 0. Threshold rule:
    TEMPLATE_THRESHOLD (0.75: the template explains over half the variance of the window).
    """
    images = check_images(images, image_shape=None).astype(np.float64)
    t = np.asarray(template, dtype=np.float64)
    h, w = t.shape if t.ndim == 2 else (0, 0)
    if t.ndim != 2 or h > images.shape[1] or w > images.shape[2]:
        raise ValueError(f"template must be 2-D and fit inside {images.shape[1:]}, got shape {t.shape}")
    t = t - t.mean()
    t_norm = np.sqrt((t ** 2).sum())
    if t_norm == 0:
        raise ValueError("template is flat (constant): it correlates with nothing")
    # sum over each window of image * template, for every placement ("valid" positions only)
    corr = fftconvolve(images, t[None, ::-1, ::-1], mode="valid", axes=(1, 2))
    # window sums and sums of squares with an integral image
    def window_sum(x: np.ndarray) -> np.ndarray:
        c = np.pad(x.cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))
        return c[:, h:, w:] - c[:, :-h, w:] - c[:, h:, :-w] + c[:, :-h, :-w]
    s, s2 = window_sum(images), window_sum(images ** 2)
    var = np.maximum(s2 - s ** 2 / (h * w), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ncc = np.where(var > 1e-6 * h * w, corr / (np.sqrt(var) * t_norm), 0.0)
    return ncc.reshape(len(images), -1).max(axis=1)


def build_autoencoder(filters: int = 8, depth: int = 2, input_shape: tuple[int, int] = IMAGE_SHAPE) -> keras.Model:
    """A small convolutional autoencoder: (H, W, 1) in [0, 1] -> same shape, sigmoid output.

    Each of `depth` stages halves the resolution (filters doubling), so the bottleneck cannot copy
    the image and must learn what ordinary terrain looks like.
    """
    import keras  # heavy: only the autoencoder detector needs Keras (the other two are NumPy)
    from keras import layers

    if depth < 1 or input_shape[0] % 2 ** depth or input_shape[1] % 2 ** depth:
        raise ValueError(f"depth must be >= 1 and 2**depth must divide {input_shape}, got depth={depth}")
    inputs = keras.Input((*input_shape, 1))
    x = inputs
    for i in range(depth):
        x = layers.Conv2D(filters * 2 ** i, 3, strides=2, padding="same", activation="relu")(x)
    for i in reversed(range(depth)):
        x = layers.Conv2DTranspose(filters * 2 ** i, 3, strides=2, padding="same", activation="relu")(x)
    outputs = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="autoencoder")


def fit_autoencoder(images: np.ndarray, epochs: int = 3, batch_size: int = 32, filters: int = 8,
                    depth: int = 2, seed: int = 0, verbose: int = 0) -> keras.Model:
    """Build and train `build_autoencoder` to reconstruct uint8 images (N, H, W) with the MSE loss."""
    import keras  # heavy: only the autoencoder detector needs Keras

    x = to_model_input(check_images(images, image_shape=None), image_shape=None)
    seed_everything(seed, deterministic=False)  # the seeds only: determinism stays as the caller set it
    model = build_autoencoder(filters, depth, x.shape[1:3])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(x, x, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose)
    return model


def autoencoder_scores(model: keras.Model, images: np.ndarray, quantile: float = 0.99,
                       batch_size: int = 256) -> np.ndarray:
    """Reconstruction error (N,) of each uint8 image (N, H, W): a high quantile of its squared pixel errors.

    quantile=0.99 scores an image by its worst 1 % of pixels, so a small odd object is not averaged
    away by the ordinary terrain around it; quantile=0.5 is close to a typical pixel's error.
    """
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {quantile}")
    x = to_model_input(check_images(images, image_shape=None), image_shape=None)
    scores = []
    for start in range(0, len(x), batch_size):
        chunk = x[start:start + batch_size]
        err = (model.predict(chunk, batch_size=batch_size, verbose=0) - chunk) ** 2
        scores.append(np.quantile(err.reshape(len(chunk), -1), quantile, axis=1))
    return np.concatenate(scores)


def robust_threshold(scores: np.ndarray, k: float = 5.0) -> float:
    """Cut-off median + k * MAD (median absolute deviation, scaled to match a normal std) of scores (N,).

    Robust: the outliers themselves barely move the median and the MAD, unlike a mean and std.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0 or not np.all(np.isfinite(scores)):
        raise ValueError(f"scores must be a non-empty 1-D array of finite numbers, got shape {scores.shape}")
    median = np.median(scores)
    mad = 1.4826 * np.median(np.abs(scores - median))
    return float(median + k * mad)


def flag(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Sorted indices (K,) of the scores (N,) above `threshold`."""
    return np.flatnonzero(np.asarray(scores) > threshold).astype(np.int64)


def precision_recall(found: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(precision, recall) of flagged indices `found` against known alien indices `truth`.

    Precision is 0 when nothing is flagged; recall needs at least one true alien.
    """
    found, truth = set(np.asarray(found).ravel().tolist()), set(np.asarray(truth).ravel().tolist())
    if not truth:
        raise ValueError("truth is empty: recall is undefined without at least one known alien")
    hits = len(found & truth)
    return (hits / len(found) if found else 0.0), hits / len(truth)


def remove_images(data: MarsData, index: np.ndarray) -> MarsData:
    """A copy of a MarsData without the training images at `index` (test split untouched).

    Every per-training-image field (images, masks, clean_masks, image_id) is filtered; alien_index, where
    known, is renumbered to the aliens that remain (empty when all were removed).
    """
    n = len(data.images)
    index = np.unique(np.asarray(index, dtype=np.int64))
    if index.size and (index[0] < 0 or index[-1] >= n):
        raise ValueError(f"indices must lie in 0..{n - 1}, got {index[0]}..{index[-1]}")
    keep = np.setdiff1d(np.arange(n), index)
    changes = {f: getattr(data, f)[keep] for f in ("images", "masks", "clean_masks", "image_id")
               if getattr(data, f, None) is not None}
    if getattr(data, "alien_index", None) is not None:
        remaining = np.setdiff1d(data.alien_index, index)
        changes["alien_index"] = np.searchsorted(keep, remaining).astype(np.int64)
    return dataclasses.replace(data, **changes)


def stratified_split(masks: np.ndarray, val_fraction: float = 0.2, seed: int = 0, class_id: int = BIG_ROCK,
                     groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train_index, val_index) over masks (N, H, W), stratified by presence of `class_id`.

    The images with and without the class are each split in the ratio val_fraction, so both sides
    see the rare class; the same seed gives the same split. groups (N,), e.g. `data.image_id`: the
    frame each image was cut from; then whole groups are split (a group has the class when any of its
    images has it), so no frame is seen in training and in validation. Without groups (the synthetic
    set) every image is its own group.
    """
    masks = check_labels(masks, image_shape=None)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    has = (masks == class_id).any(axis=(1, 2))
    if groups is None:
        inverse = np.arange(len(masks))
    else:
        groups = np.asarray(groups)
        if groups.shape != (len(masks),):
            raise ValueError(f"groups must hold one key per mask, shape ({len(masks)},), got shape {groups.shape}")
        inverse = np.unique(groups, return_inverse=True)[1].ravel()
    group_has = np.zeros(inverse.max() + 1, bool)
    np.logical_or.at(group_has, inverse, has)
    rng = np.random.default_rng(seed)
    val = []
    for stratum in (np.flatnonzero(group_has), np.flatnonzero(~group_has)):
        n_val = int(round(val_fraction * len(stratum)))
        val.append(rng.permutation(stratum)[:n_val])
    val_index = np.flatnonzero(np.isin(inverse, np.concatenate(val))).astype(np.int64)
    return np.setdiff1d(np.arange(len(masks)), val_index), val_index


# ------------------------------------------------------------------------------------ for the lesson
def mask_repeats(masks: np.ndarray, top: int = 5) -> list[tuple[int, int, int]]:
    """The `top` most repeated exact masks of masks (N, H, W): (count, first index, classes in it) each."""
    masks = check_labels(masks, image_shape=None)
    flat = np.ascontiguousarray(masks.reshape(len(masks), -1))
    rows = flat.view(np.dtype((np.void, flat.shape[1]))).ravel()
    _, first, counts = np.unique(rows, return_index=True, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:top]
    return [(int(counts[i]), int(first[i]), int(len(np.unique(flat[first[i]])))) for i in order]


def detector_table(found: dict[str, np.ndarray], truth: np.ndarray) -> str:
    """A text table: per detector ({name: flagged indices}) the count flagged, precision and recall."""
    lines = [f"{'detector':<22}{'flagged':>8}{'precision':>11}{'recall':>8}"]
    for name, idx in found.items():
        p, r = precision_recall(idx, truth)
        lines.append(f"{name:<22}{len(idx):>8}{p:>11.3f}{r:>8.3f}")
    return "\n".join(lines)


def plot_scores(scores: np.ndarray, threshold: float, truth: np.ndarray | None = None, title: str = "",
                ax: Axes | None = None) -> Axes:
    """Histogram of detector scores (N,) with the threshold as a line; known aliens in their own colour."""
    import matplotlib.pyplot as plt  # drawing only (about a second to import)

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    scores = np.asarray(scores)
    is_alien = np.zeros(len(scores), bool)
    if truth is not None:
        is_alien[np.asarray(truth, dtype=np.int64)] = True
    bins = np.linspace(scores.min(), scores.max(), 60)
    ax.hist(scores[~is_alien], bins=bins, label="other images", color="tab:blue")
    if is_alien.any():
        ax.hist(scores[is_alien], bins=bins, label="known aliens", color="tab:red", alpha=0.8)
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3g}")
    ax.set_yscale("log")
    ax.set(xlabel="score", ylabel="images", title=title)
    ax.legend(fontsize="small")
    return ax


def show_images(images: np.ndarray, index: np.ndarray, title: str = "", n: int = 6) -> Figure:
    """The first `n` images (H, W) of images[index] in one row of grey-scale panels, index as captions."""
    import matplotlib.pyplot as plt  # drawing only (about a second to import)

    index = np.asarray(index, dtype=np.int64)[:n]
    fig, axes = plt.subplots(1, max(len(index), 1), figsize=(2.4 * max(len(index), 1), 1.8), squeeze=False)
    for ax, i in zip(axes[0], index):
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"#{i}", fontsize="small")
    for ax in axes[0]:
        ax.axis("off")
    fig.suptitle(f"{title} ({len(index)} shown)" if len(index) else f"{title}: none", fontsize="medium")
    return fig
