"""How fast, how faithful and how hard the synthetic Mars set is; prints tables.

    python benchmarks/bench_synthetic.py               # generation time, peak memory, cached reload, appearance
    python benchmarks/bench_synthetic.py --quick       # the same on a small set (a smoke run)
    python benchmarks/bench_synthetic.py --difficulty  # + label-noise ceiling, pixel classifiers, a small U-Net

Targets: full set (2615 + 10022) in < 20 s on one core, < 1 GB peak, cached reload < 1 s;
a U-Net (filters 16-32-64-128) trained 10 epochs scores 0.40-0.65 on the hidden test split.
The appearance table (marslab.data.class_appearance) is computed the same way on the real AI4Mars
sample file when marslab.data.find_ai4mars() finds it ($MARSLAB_AI4MARS, or ../shared/data/).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from marslab import CLASS_NAMES, NUM_CLASSES
from marslab.data import APPEARANCE_COLUMNS, class_appearance, find_ai4mars
from marslab.synthetic import make_mars

def print_appearance(synthetic: tuple, real: tuple | None) -> None:
    cols = APPEARANCE_COLUMNS
    syn = class_appearance(*synthetic)
    rea = class_appearance(*real) if real is not None else None
    print("\nPer-class appearance, synthetic" + (" | real AI4Mars" if rea is not None else "") + " (noisy masks)")
    print(f"{'class':<11}" + "".join(f"{c:>20}" for c in cols))
    for k, name in enumerate(CLASS_NAMES):
        cells = [f"{s:8.1f}" + (f" | {r:8.1f}" if rea is not None else "") for s, r in zip(syn[k], rea[k] if rea is not None else syn[k])]
        print(f"{name:<11}" + "".join(f"{c:>20}" for c in cells))
    for label, (images, _) in (("synthetic", synthetic), ("real", real)) if real is not None else (("synthetic", synthetic),):
        per_image = images.reshape(len(images), -1).mean(1)
        print(f"{label}: intensity mean {images.mean():.1f}, std {images.std():.1f}, per-image mean 5-95%: "
              f"{np.percentile(per_image, 5):.0f}-{np.percentile(per_image, 95):.0f}")


def speed_table(n_train: int, n_test: int, n_aliens: int) -> None:
    """Generation time (one process), peak traced memory, and cached reload time."""
    t = time.perf_counter()
    cpu = time.process_time()
    make_mars(n_train=n_train, n_test=n_test, n_aliens=n_aliens, cache=False)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    tracemalloc.start()
    make_mars(n_train=n_train, n_test=n_test, n_aliens=n_aliens, cache=False)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    saved = os.environ.get("MARSLAB_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MARSLAB_CACHE"] = tmp
        make_mars(n_train=n_train, n_test=n_test, n_aliens=n_aliens)
        t = time.perf_counter()
        reloaded = make_mars(n_train=n_train, n_test=n_test, n_aliens=n_aliens)
        touched = sum(int(a.sum()) for a in (reloaded.images, reloaded.masks))  # read the pages, not just map them
        reload = time.perf_counter() - t
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file()) / 2**20
        del reloaded
    if saved is None:
        os.environ.pop("MARSLAB_CACHE")
    else:
        os.environ["MARSLAB_CACHE"] = saved
    n = n_train + n_test
    print(f"\nSynthetic set {n_train} + {n_test} images")
    print(f"{'measure':<28}{'value':>12}{'target':>12}")
    for name, value, target in (("generation wall s", seconds, "< 20"), ("generation CPU s", cpu, ""),
                                ("ms per image (wall)", 1000 * seconds / n, ""), ("peak memory MB (traced)", peak, "< 1024"),
                                ("cached reload + read s", reload, "< 1"), ("cache file MB", size, "")):
        print(f"{name:<28}{value:>12.2f}{target:>12}")


def pixel_features(images: np.ndarray, texture: bool) -> np.ndarray:
    """(N*H*W, F) per-pixel features: the intensity alone, or intensity + local mean/std/gradient at two scales."""
    x = images.astype(np.float32)
    feats = [x]
    if texture:
        for size in (3, 7):
            m = ndi.uniform_filter(x, (1, size, size))
            feats += [m, np.sqrt(np.maximum(ndi.uniform_filter(x * x, (1, size, size)) - m * m, 0))]
        feats.append(ndi.uniform_filter(np.hypot(ndi.sobel(x, 1), ndi.sobel(x, 2)), (1, 5, 5)))
        feats.append(x - ndi.uniform_filter(x, (1, 15, 15)))
    return np.stack([f.ravel() for f in feats], axis=1)


def gaussian_classifier(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray) -> np.ndarray:
    """Per-pixel quadratic discriminant (one Gaussian per class, equal priors dropped) -> predicted labels."""
    scores = []
    for c in range(NUM_CLASSES):
        xc = train_x[train_y == c].astype(np.float64)
        if len(xc) < train_x.shape[1] + 1:
            scores.append(np.full(len(test_x), -np.inf))
            continue
        cov = np.cov(xc, rowvar=False).reshape(train_x.shape[1], -1) + 1e-3 * np.eye(train_x.shape[1])
        inv, logdet = np.linalg.inv(cov), np.linalg.slogdet(cov)[1]
        d = test_x - xc.mean(0)
        scores.append(-0.5 * np.einsum("ij,jk,ik->i", d, inv, d) - 0.5 * logdet + np.log(len(xc) / len(train_x)))
    return np.argmax(np.stack(scores, 1), 1).astype(np.uint8)


def difficulty(data, epochs: int, n_eval: int, unet: bool) -> None:
    """Label-noise ceiling, pixel classifiers (brightness; texture) and a small U-Net, scored by mean IoU."""
    from marslab.metrics import mean_iou, per_class_iou

    def row(name, preds, truth):
        iou = per_class_iou(truth, preds)
        print(f"{name:<44}{mean_iou(truth, preds):>8.3f}" + "".join(f"{v:>8.2f}" for v in iou[1:]))

    keep = np.setdiff1d(np.arange(len(data.images)), data.alien_index)
    test_x, test_y = data.test_images[:n_eval], data.test_masks[:n_eval]
    print(f"\nDifficulty on {len(test_y)} hidden test images (competition metric, noisy test masks)")
    print(f"{'model':<44}{'mIoU':>8}" + "".join(f"{n[:7]:>8}" for n in CLASS_NAMES[1:]))
    row("clean masks (the label-noise ceiling)", data.test_clean_masks[:n_eval], test_y)
    rng = np.random.default_rng(0)
    sample = rng.choice(len(keep) * 64 * 128, 200_000, replace=False)
    for name, texture in (("per-pixel brightness (Gaussian classifier)", False), ("per-pixel texture features", True)):
        fx = pixel_features(data.images[keep], texture)[sample]
        fy = data.masks[keep].ravel()[sample]
        preds = gaussian_classifier(fx, fy, pixel_features(test_x, texture)).reshape(test_y.shape)
        row(name, preds, test_y)
    if not unet:
        return
    import keras
    from marslab.models import unet as build_unet

    keras.utils.set_random_seed(0)
    model = build_unet(filters=16, depth=4)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    def predict(images):
        return np.concatenate([np.argmax(model.predict(images[i:i + 512, ..., None] / 255.0, verbose=0), -1)
                               for i in range(0, len(images), 512)]).astype(np.uint8)

    def progress(epoch, logs):  # the learning curve on a slice of the test split
        if (epoch + 1) % 2 == 0 and epoch + 1 < epochs:
            print(f"  after epoch {epoch + 1}: mean IoU {mean_iou(test_y, predict(test_x)):.3f} on {len(test_y)} test images", flush=True)

    t = time.perf_counter()
    model.fit(data.images[keep, ..., None] / 255.0, data.masks[keep], batch_size=32, epochs=epochs, verbose=2,
              callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=progress)])
    minutes = (time.perf_counter() - t) / 60
    preds = predict(data.test_images)
    print(f"U-Net on all {len(preds)} test images:")
    row(f"U-Net 16-32-64-128, {epochs} epochs ({minutes:.1f} min)", preds, data.test_masks)
    row("  the same, scored on the clean test masks", preds, data.test_clean_masks)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sets, no U-Net: a smoke run")
    parser.add_argument("--difficulty", action="store_true", help="also measure how hard the set is")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--no-unet", action="store_true", help="difficulty without the U-Net (cheap proxies only)")
    args = parser.parse_args(argv)
    n_train, n_test, n_aliens = (240, 60, 12) if args.quick else (2615, 10022, 110)
    speed_table(n_train, n_test, n_aliens)
    data = make_mars(n_train=n_train, n_test=n_test, n_aliens=n_aliens, cache=not args.quick)
    real_path = find_ai4mars()
    real = None
    if real_path is not None:
        with np.load(real_path) as npz:
            pairs = npz["training_set"][: 400 if args.quick else None]
        real = (pairs[:, 0], pairs[:, 1])
    keep = np.setdiff1d(np.arange(len(data.images)), data.alien_index)
    print_appearance((data.images[keep], data.masks[keep]), real)
    if args.difficulty or args.quick:
        difficulty(data, args.epochs, n_eval=60 if args.quick else 500, unet=args.difficulty and not (args.quick or args.no_unet))


if __name__ == "__main__":
    main(sys.argv[1:])
