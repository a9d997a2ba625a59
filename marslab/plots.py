"""Pictures of images and masks with one class palette for the whole course.

Masks are drawn in opaque class colours beside the image (MASK_ALPHA = 1): blended with a gray image,
pale-yellow Sand turns olive and no longer matches the legend. Every figure names the run profile that
made it (`stamp_profile`), and grids label rows "image <index>" by dataset index when given `ids`.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

from marslab import CLASS_NAMES, NUM_CLASSES
from marslab.validation import check_images, check_int, check_labels

# One colour per class, used by every lesson: Background, Soil, Bedrock, Sand, Big Rock (RGB 0-255).
PALETTE = np.array([
    [40, 40, 40],     # Background: dark grey
    [214, 140, 60],   # Soil: ochre
    [150, 70, 60],    # Bedrock: rust
    [240, 220, 120],  # Sand: pale yellow
    [60, 160, 230],   # Big Rock: blue (rare: it must stand out)
], dtype=np.uint8)


MASK_ALPHA = 1.0  # opacity of class colours over an image: 1 draws the legend's colours exactly


def stamp_profile(fig, profile: str | None = None):
    """Write "profile: <name>" in the bottom-right corner of a matplotlib figure (the run profile by default,
    `marslab.get_profile()`), so a smoke figure is never mistaken for a result. Returns the figure."""
    if profile is None:
        from marslab.config import get_profile

        profile = get_profile()
    fig.text(0.995, 0.005, f"profile: {profile}", ha="right", va="bottom", fontsize=8, color="0.4")
    return fig


def colorize(masks: np.ndarray) -> np.ndarray:
    """Label maps (..., H, W) of 0..4 -> RGB uint8 (..., H, W, 3) in PALETTE colours."""
    return PALETTE[check_labels(masks, any_shape=True)]


def overlay(images: np.ndarray, masks: np.ndarray, alpha: float = MASK_ALPHA) -> np.ndarray:
    """Grayscale images (..., H, W) (uint8, or float in [0, 1]) blended with colorize(masks)
    -> RGB uint8 (..., H, W, 3). alpha 1 (the default) gives the class colours exactly; below 1 the image
    shows through but the colours shift (Sand looks olive over dark ground)."""
    images = np.asarray(images)
    if images.shape != np.shape(masks):
        raise ValueError(f"images and masks must have the same shape, got {images.shape} and {np.shape(masks)}")
    gray = images.astype(np.float32) * (255.0 if images.dtype.kind == "f" else 1.0)
    blend = (1 - alpha) * gray[..., None] + alpha * colorize(masks).astype(np.float32)
    return np.clip(np.rint(blend), 0, 255).astype(np.uint8)


def legend_handles() -> list:
    """Matplotlib patches naming each class in its palette colour (for `ax.legend(handles=...)`)."""
    return [Patch(color=PALETTE[c] / 255, label=f"{c} {name}") for c, name in enumerate(CLASS_NAMES)]


def show_samples(images: np.ndarray, masks: np.ndarray | None = None, preds: np.ndarray | None = None,
                 n: int = 8, index: np.ndarray | list | None = None, titles: list[str] | None = None,
                 alpha: float = MASK_ALPHA, overlay_masks: bool = True, width: float = 10.0,
                 ids: np.ndarray | list | None = None):
    """A grid, one row per sample: image | mask | prediction (the last two optional), with a class legend.

    images (N, H, W) (or (N, H, W, 1)); masks, preds (N, H, W) integer labels (preds may also be
    probabilities (N, H, W, C), argmaxed here). n: how many rows (the first n, or `index`).
    ids (N,): the dataset index of each image (e.g. when images is a subset); rows are labelled
    "image <ids[i]>" (default: "image <i>", the position in images). overlay_masks: draw masks over the
    image with `alpha` (True) or as flat colour (False). Returns the figure, stamped with the profile.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, 1), got {images.shape}")
    if preds is not None and np.ndim(preds) == 4:
        preds = np.argmax(preds, axis=-1)
    index = np.arange(min(n, len(images))) if index is None else np.asarray(index)
    if ids is not None and np.shape(ids) != (len(images),):
        raise ValueError(f"ids must hold one dataset index per image, shape ({len(images)},), got {np.shape(ids)}")
    label = (lambda i: f"image {i}") if ids is None else (lambda i: f"image {np.asarray(ids)[i]}")
    columns = [("image", None)] + [(name, a) for name, a in (("mask", masks), ("prediction", preds)) if a is not None]
    for name, a in columns[1:]:
        if np.shape(a) != images.shape:
            raise ValueError(f"{name}s must have the shape of images {images.shape}, got {np.shape(a)}")
    scale = width / len(columns)
    fig, axes = plt.subplots(len(index), len(columns), figsize=(width, scale * 0.5 * len(index) + 0.6), squeeze=False)
    for row, i in enumerate(index):
        for col, (name, a) in enumerate(columns):
            ax = axes[row, col]
            if a is None:
                ax.imshow(images[i], cmap="gray", vmin=0, vmax=255 if images.dtype.kind != "f" else 1)
            else:
                ax.imshow(overlay(images[i], a[i], alpha) if overlay_masks else colorize(a[i]))
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name)
        axes[row, 0].set_ylabel(titles[row] if titles is not None else label(i), rotation=0, ha="right", va="center")
    fig.legend(handles=legend_handles(), loc="lower center", ncol=NUM_CLASSES, frameon=False)
    fig.tight_layout(rect=(0, 0.06 if len(index) < 4 else 0.03, 1, 1))
    return stamp_profile(fig)


def show_pair(image: np.ndarray, masks: dict[str, np.ndarray], title: str = "", alpha: float = MASK_ALPHA,
              width: float = 12.0):
    """One image (H, W) with several label maps side by side: the image, then each entry of `masks`
    ({"mask": ..., "clean mask": ...}) in the class colours. With alpha < 1 the maps are blended over the
    image and the first mask follows as flat colour. Returns the figure."""
    names = list(masks)
    blended = alpha < 1
    columns = len(names) + 1 + blended
    fig, axes = plt.subplots(1, columns, figsize=(width, width / columns * 0.5 + 0.8))
    axes[0].imshow(image, cmap="gray", vmin=0, vmax=255)
    axes[0].set_title(title or "image")
    for ax, name in zip(axes[1:], names):
        ax.imshow(overlay(image, masks[name], alpha))
        ax.set_title(f"{name} over image" if blended else name)
    if blended:
        axes[-1].imshow(colorize(masks[names[0]]))
        axes[-1].set_title(names[0])
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.legend(handles=legend_handles(), loc="lower center", ncol=NUM_CLASSES, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return stamp_profile(fig)


def browse(images: np.ndarray, masks: np.ndarray, clean_masks: np.ndarray | None = None, start: int = 0):
    """An ipywidgets slider that flips through images (N, H, W) with their masks (and clean masks, if given):
    the slider above a PNG picture (an `ipywidgets.Image`) that it redraws; returns the box of the two.

    Not `ipywidgets.interact`, whose output goes to an Output widget: executing a notebook headless
    (nbclient, so nbconvert and nbval), the client then sends the Output widget's state to the kernel on
    the shell channel while it waits there for the cell's reply, and in about half the runs it saw that
    reply only when the cell's timeout ran out (never, without a timeout). tests/test_headless.py.
    """
    import ipywidgets as widgets  # only for the interactive browser

    images = check_images(images, image_shape=None)
    masks = check_labels(masks, image_shape=None, count=len(images))
    if clean_masks is not None:
        clean_masks = check_labels(clean_masks, "clean_masks", image_shape=None, count=len(images))
    start = check_int(start, "start", 0, len(images) - 1)

    def picture(index: int) -> bytes:
        shown = {"mask": masks[index]}
        if clean_masks is not None:
            shown["clean mask"] = clean_masks[index]
        fig = show_pair(images[index], shown, title=f"image {index}")
        png = io.BytesIO()
        fig.savefig(png, format="png")
        plt.close(fig)  # shown as the PNG only
        return png.getvalue()

    slider = widgets.IntSlider(value=start, min=0, max=len(images) - 1, description="image", continuous_update=False,
                               layout=widgets.Layout(width="60%"))
    image = widgets.Image(value=picture(start), format="png")
    slider.observe(lambda change: setattr(image, "value", picture(change["new"])), names="value")
    box = widgets.VBox([slider, image])
    box.add_class("marslab-browser")
    return box


def show_augmentations(images: np.ndarray, masks: np.ndarray, augmentations: Mapping[str, Callable],
                       n: int = 3, width: float = 12.0):
    """A grid: one row per augmentation (the originals first), n image | mask-overlay pairs per row.

    images (>=n,64,128) uint8, masks (>=n,64,128) labels; augmentations {name: an
    `marslab.augment.Augmentation`}. Returns the matplotlib figure.
    """
    from marslab.augment import augment_arrays  # Keras and TensorFlow: only when augmentations are drawn

    rows = {"original": (images[:n], masks[:n])}
    rows.update({name: augment_arrays(aug, images[:n], masks[:n]) for name, aug in augmentations.items()})
    fig, axes = plt.subplots(len(rows), 2 * n, figsize=(width, width / (2 * n) * 0.55 * len(rows) + 0.6),
                             squeeze=False)
    for row, (name, (x, y)) in enumerate(rows.items()):
        for i in range(n):
            axes[row, 2 * i].imshow(x[i], cmap="gray", vmin=0, vmax=255)
            axes[row, 2 * i + 1].imshow(overlay(x[i], y[i]))
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center")
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    fig.legend(handles=legend_handles(), loc="lower center", ncol=5, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return stamp_profile(fig)
