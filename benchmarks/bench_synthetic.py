"""How fast, how faithful and how hard the synthetic Mars set is; prints tables.

    python benchmarks/bench_synthetic.py               # generation time, peak memory, cached reload, appearance
    python benchmarks/bench_synthetic.py --quick       # the same on a small set (a smoke run)
    python benchmarks/bench_synthetic.py --difficulty  # + label-noise ceiling, pixel classifiers, a small U-Net
    python benchmarks/bench_synthetic.py --difficulty --baseline --no-real  # lesson 05's full-profile U-Net
    python benchmarks/bench_synthetic.py --difficulty --baseline --minutes 20 --no-real  # the same, fixed CPU budget

Targets: full set (2615 + 10022) in < 20 s on one core, < 1 GB peak, cached reload < 1 s;
a U-Net (filters 16-32-64-128) trained 10 epochs scores 0.40-0.65 on the hidden test split, and ranks
the classes as report 000 Table 3 (CCE) does on the real course data, Soil > Sand > Bedrock > Big Rock,
none more than 0.10 above its Table 3 value. `--difficulty` trains the same U-Net on the real AI4Mars file
(split 85/15 by frame) and prints synthetic, real and Table 3 side by side.
The real file (8,400 crops in course format, not shipped) is found by marslab.data.find_ai4mars()
($MARSLAB_AI4MARS, or ../shared/data/); the appearance table (marslab.data.class_appearance) is computed
the same way on it.
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


# report 000 Table 3, CCE column: class-wise IoU on the real course data (class-weighted cross-entropy, UNet3+)
TABLE_3_CCE = np.array([0.7535, 0.6234, 0.7029, 0.1226])  # Soil, Bedrock, Sand, Big Rock


def iou_row(name: str, truth: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """Print one row (mean IoU, then classes 1-4) and return the four class IoUs."""
    from marslab.metrics import mean_iou, per_class_iou

    iou = per_class_iou(truth, preds)[1:]
    print(f"{name:<52}{mean_iou(truth, preds):>8.3f}" + "".join(f"{v:>8.2f}" for v in iou), flush=True)
    return iou


def predict(model, images: np.ndarray) -> np.ndarray:
    """Label maps (N, 64, 128) uint8 of uint8 images (N, 64, 128), in chunks."""
    return np.concatenate([np.argmax(model.predict(images[i:i + 512, ..., None] / 255.0, verbose=0), -1)
                           for i in range(0, len(images), 512)]).astype(np.uint8)


def train_unet(train: tuple, val: tuple | None, args, curve: tuple | None = None):
    """The difficulty U-Net (filters args.filters..8x, depth 4, plain cross-entropy, batch 32) on (images, masks):
    Adam from 1e-3 down to 0 on a cosine over args.epochs, so that the last epoch's weights have settled; with
    `val` and args.patience, lesson 05's training instead (Adam at 1e-3, early stopping on the competition
    metric, best weights kept). Returns (model, seconds of training, epochs run)."""
    import keras

    from marslab.metrics import CompetitionMeanIoU, mean_iou
    from marslab.models import unet

    keras.utils.set_random_seed(0)
    model = unet(filters=args.filters, depth=4)
    steps = args.epochs * -(-len(train[0]) // 32)
    rate = 1e-3 if val is not None and args.patience else keras.optimizers.schedules.CosineDecay(1e-3, steps)
    model.compile(optimizer=keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy",
                  metrics=[CompetitionMeanIoU()] if val is not None else None)
    callbacks = []
    if args.minutes:  # a fixed CPU budget: the run ends when it is spent, epochs only cap it
        from marslab.recipe import TimeBudget

        callbacks.append(TimeBudget(args.minutes))
    if curve is not None:  # the learning curve on a slice of the test split
        def progress(epoch, logs):
            if (epoch + 1) % 2 == 0 and epoch + 1 < args.epochs:
                print(f"  after epoch {epoch + 1}: mean IoU {mean_iou(curve[1], predict(model, curve[0])):.3f} "
                      f"on {len(curve[1])} test images", flush=True)
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=progress))
    if val is not None and args.patience:
        callbacks.append(keras.callbacks.EarlyStopping("val_mean_iou", mode="max", patience=args.patience,
                                                       restore_best_weights=True))
    validation = None if val is None else (val[0][..., None] / 255.0, val[1])
    t = time.perf_counter()
    history = model.fit(train[0][..., None] / 255.0, train[1], batch_size=32, epochs=args.epochs, verbose=2,
                        callbacks=callbacks, validation_data=validation)
    return model, time.perf_counter() - t, len(history.epoch)


def real_frames(path: Path, limit: int | None, seed: int = 0) -> tuple[tuple, tuple]:
    """The real AI4Mars file split by frame, 85 % / 15 % (stratified on Big Rock): ((images, masks, image_id),
    (images, masks)). limit: keep only the first `limit` training images (a cheaper run)."""
    from marslab.cleaning import stratified_split
    from marslab.course_file import read_course_npz

    real = read_course_npz(path)
    train, test = stratified_split(real.masks, val_fraction=0.15, seed=seed, groups=real.image_id)
    train = train[:limit]
    return (real.images[train], real.masks[train], real.image_id[train]), (real.images[test], real.masks[test])


def difficulty(data, args, n_eval: int, unet: bool, real_path: Path | None) -> None:
    """Label-noise ceiling, pixel classifiers (brightness; texture) and a small U-Net, scored by mean IoU; the same
    U-Net on real AI4Mars frames and report 000 Table 3 side by side."""
    from marslab.cleaning import stratified_split

    keep = np.setdiff1d(np.arange(len(data.images)), data.alien_index)
    test_x, test_y = data.test_images[:n_eval], data.test_masks[:n_eval]
    header = f"{'model':<52}{'mIoU':>8}" + "".join(f"{n[:7]:>8}" for n in CLASS_NAMES[1:])
    print(f"\nDifficulty on {len(test_y)} hidden test images (competition metric, noisy test masks)\n{header}")
    iou_row("clean masks (the label-noise ceiling)", test_y, data.test_clean_masks[:n_eval])
    rng = np.random.default_rng(0)
    sample = rng.choice(len(keep) * 64 * 128, 200_000, replace=False)
    for name, texture in (("per-pixel brightness (Gaussian classifier)", False), ("per-pixel texture features", True)):
        fx = pixel_features(data.images[keep], texture)[sample]
        fy = data.masks[keep].ravel()[sample]
        preds = gaussian_classifier(fx, fy, pixel_features(test_x, texture)).reshape(test_y.shape)
        iou_row(name, test_y, preds)
    if not unet:
        return
    what = f"U-Net {args.filters}-{8 * args.filters}, {args.epochs} epochs"
    what += f", patience {args.patience}" if args.patience else ""
    what += f", {args.minutes:g} min budget" if args.minutes else ""
    images, masks = data.images[keep], data.masks[keep]
    val = None
    if args.patience:  # lesson 05: train on 80 %, stop early on the other 20 %
        train_index, val_index = stratified_split(masks, val_fraction=0.2, seed=0)
        images, masks, val = images[train_index], masks[train_index], (images[val_index], masks[val_index])
    synthetic_model, seconds, ran = train_unet((images, masks), val, args, curve=(test_x, test_y))
    print(f"{what} on {len(images)} synthetic images ({seconds / 60:.1f} min, {ran} epochs), "
          f"{len(data.test_images)} test images:")
    print(header)
    preds = predict(synthetic_model, data.test_images)
    rows = {"synthetic hidden test split": iou_row(what, data.test_masks, preds)}
    iou_row("  the same, scored on the clean test masks", data.test_clean_masks, preds)
    if real_path is not None and not args.no_real:
        (images, masks, frames), test = real_frames(real_path, args.real_images)
        print(f"The synthetic-trained U-Net on {len(test[0])} real AI4Mars images of held-out frames:")
        iou_row("  trained on synthetic only, scored on real", test[1], predict(synthetic_model, test[0]))
        val = None
        if args.patience:
            train_index, val_index = stratified_split(masks, val_fraction=0.2, seed=0, groups=frames)
            images, masks, val = images[train_index], masks[train_index], (images[val_index], masks[val_index])
        model, seconds, ran = train_unet((images, masks), val, args)
        print(f"{what} on {len(images)} real AI4Mars images ({seconds / 60:.1f} min, {ran} epochs), "
              f"{len(test[0])} images of held-out frames:\n{header}")
        rows["real AI4Mars, held-out frames"] = iou_row(what, test[1], predict(model, test[0]))
    rows["report 000 Table 3, CCE (real course data)"] = TABLE_3_CCE
    print(f"\nPer-class IoU side by side\n{'':<44}{'Soil':>8}{'Bedrock':>8}{'Sand':>8}{'Big Rock':>9}   order")
    for name, iou in rows.items():
        order = " > ".join(CLASS_NAMES[1 + c] for c in np.argsort(-iou, kind="stable"))
        print(f"{name:<44}" + "".join(f"{v:>8.2f}" for v in iou) + f"    {order}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sets, no U-Net: a smoke run")
    parser.add_argument("--difficulty", action="store_true", help="also measure how hard the set is")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--filters", type=int, default=16, help="U-Net width of the first level (default 16)")
    parser.add_argument("--patience", type=int, default=0, help="> 0: hold out 20 %% and stop early (lesson 05)")
    parser.add_argument("--baseline", action="store_true", help="lesson 05's full profile: --filters 32 --epochs 40 "
                        "--patience 8")
    parser.add_argument("--minutes", type=float, help="stop each U-Net's training after this many minutes "
                        "(a fixed CPU budget; --epochs then only caps the run)")
    parser.add_argument("--no-unet", action="store_true", help="difficulty without the U-Net (cheap proxies only)")
    parser.add_argument("--no-real", action="store_true", help="do not train the U-Net on the real AI4Mars file")
    parser.add_argument("--real-images", type=int, help="train on only the first N real training images")
    args = parser.parse_args(argv)
    if args.baseline:
        args.filters, args.epochs, args.patience = 32, 40, 8
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
        difficulty(data, args, n_eval=60 if args.quick else 500, real_path=real_path,
                   unet=args.difficulty and not (args.quick or args.no_unet))


if __name__ == "__main__":
    main(sys.argv[1:])
