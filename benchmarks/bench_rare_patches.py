"""Generated Big Rock patches against copy-paste (report 001 §6: a GAN for the rare class, dropped for its
cost; report 002: pasting real patches), on the synthetic training split.

1. Cost: seconds to train the small conditional GAN of `marslab.rare_patches` for --steps updates, and
   seconds to make --copies new images by each method.
2. Realism: each pasted rock's brightness contrast with the 3 pixels around it and its texture (standard
   deviation inside), compared with the rocks of the real training images (medians, and the two-sample
   Kolmogorov-Smirnov distance: 0 = same distribution, 1 = disjoint).
3. (unless --no-train) a U-Net trained on the training split alone, + copy-paste, + generated rocks;
   Big Rock IoU and mean IoU on the validation split.

    TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_rare_patches.py
    python benchmarks/bench_rare_patches.py --quick      # tiny: the code path only

Recorded runs: benchmarks/README.md, "Report techniques".
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def train_and_score(images, masks, val, cfg: dict, seed: int) -> tuple[float, float]:
    """(mean IoU, Big Rock IoU) on val of a U-Net trained with plain cross-entropy on uint8 (images, masks)."""
    import keras

    from marslab import seed_everything
    from marslab.metrics import mean_iou, per_class_iou
    from marslab.models import unet

    seed_everything(seed, deterministic=False)
    model = unet(filters=cfg["filters"], depth=cfg["depth"])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(images[..., None] / 255.0, masks.astype("int32"), batch_size=32, epochs=cfg["epochs"], verbose=0)
    preds = np.argmax(model.predict(val[0][..., None] / 255.0, batch_size=64, verbose=0), axis=-1)
    return mean_iou(val[1], preds), float(per_class_iou(val[1], preds)[4])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-train", action="store_true", help="cost and realism only")
    parser.add_argument("--steps", type=int, default=600, help="GAN updates (batch 32)")
    parser.add_argument("--copies", type=int, default=200, help="new images per method")
    parser.add_argument("--filters", type=int, default=8)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from scipy.stats import ks_2samp

    from marslab import rare_patches as rp
    from marslab.augment import copy_paste
    from marslab.cleaning import find_aliens, remove_images, stratified_split
    from marslab.synthetic import make_mars

    data = make_mars(n_train=96, n_test=8, n_aliens=6) if args.quick else make_mars()
    if args.quick:
        args.steps, args.copies, args.epochs, args.filters, args.depth = 5, 8, 1, 4, 3
    data = remove_images(data, find_aliens(data.masks, min_count=5))
    train_index, val_index = stratified_split(data.masks, val_fraction=0.15, seed=args.seed)
    images, masks = data.images[train_index], data.masks[train_index]
    val = data.images[val_index], data.masks[val_index]
    crops, shapes = rp.rock_crops(images, masks)
    generator, _, gan_seconds = rp.train_gan(crops, shapes, steps=args.steps, seed=args.seed)
    start = time.perf_counter()
    pasted = copy_paste(images, masks, args.copies, seed=args.seed)
    paste_seconds = time.perf_counter() - start
    start = time.perf_counter()
    made = rp.paste_generated(images, masks, rp.generate(generator, shapes, args.seed), shapes, args.copies, args.seed)
    made_seconds = time.perf_counter() - start
    print(f"{len(crops)} rock crops of {rp.CROP}x{rp.CROP} from {len(images)} training images; GAN "
          f"{rp.build_generator().count_params():,} + {rp.build_discriminator().count_params():,} weights, "
          f"{args.steps} updates of batch 32: {gan_seconds:.0f} s")
    real = rp.rock_features(images, masks)
    print(f"{'rocks':<22}{'new images':>11}{'s':>7}{'contrast':>10}{'KS':>7}{'texture':>9}{'KS':>7}")
    print(f"{'real (training)':<22}{'':>11}{'':>7}{np.median(real[:, 0]):>10.1f}{'':>7}{np.median(real[:, 1]):>9.1f}")
    for label, (new_images, new_masks), seconds in (("copy-paste", pasted, paste_seconds),
                                                    ("generated (GAN)", made, made_seconds)):
        f = rp.rock_features(new_images, new_masks)
        print(f"{label:<22}{len(new_images):>11}{seconds:>7.1f}{np.median(f[:, 0]):>10.1f}"
              f"{ks_2samp(f[:, 0], real[:, 0]).statistic:>7.2f}{np.median(f[:, 1]):>9.1f}"
              f"{ks_2samp(f[:, 1], real[:, 1]).statistic:>7.2f}")
    if args.no_train:
        return
    cfg = dict(filters=args.filters, depth=args.depth, epochs=args.epochs)
    print(f"U-Net filters {args.filters}, depth {args.depth}, {args.epochs} epochs, cross-entropy; "
          f"{len(val[0])} validation images")
    print(f"{'trained on':<36}{'mean IoU':>10}{'Big Rock':>10}")
    for label, extra in (("training split", None), (f"+ {args.copies} copy-paste", pasted),
                         (f"+ {args.copies} generated", made)):
        x, y = (images, masks) if extra is None else (np.concatenate([images, extra[0]]),
                                                      np.concatenate([masks, extra[1]]))
        score, rock = train_and_score(x, y, val, cfg, args.seed)
        print(f"{label:<36}{score:>10.4f}{rock:>10.4f}", flush=True)


if __name__ == "__main__":
    main()
