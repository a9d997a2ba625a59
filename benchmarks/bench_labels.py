"""Mask cleaning on the synthetic set, scored against the clean masks (report 004 §3 and Table 1, report 000 §2).

Report 004's baseline scored 0.40351 on the raw masks, 0.39320 with region-grown masks and 0.38503 with
visually wrong masks removed; report 000 found hand-edited masks lowered accuracy. The synthetic set
keeps the clean masks its noisy labels were drawn from, so this benchmark measures:

1. label agreement with the clean masks (all training images, aliens removed): the raw masks,
   `labels.grow_regions` at a few settings, `labels.discard_masks` (10 % worst fit) against a random 10 %;
2. (unless --no-train) one U-Net trained on each of: raw masks, grown masks, the kept 90 % by the fit
   rule, and the kept 90 % by a second rule (the masks the raw-mask model contradicts most dropped,
   `labels.prediction_agreement`); each scored on the test split against its NOISY masks (what a grader
   holding human labels sees) and its CLEAN masks.

    TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_labels.py
    python benchmarks/bench_labels.py --quick      # tiny: the code path only

Recorded runs: benchmarks/README.md, "Report techniques".
"""
from __future__ import annotations

import argparse

import numpy as np

GROW_SETTINGS = {  # label: grow_regions keyword arguments
    "grown r2 t12 (Background only)": dict(radius=2, threshold=12.0),
    "grown r2 t20 (Background only)": dict(radius=2, threshold=20.0),
    "grown r2 t12 (any label)": dict(radius=2, threshold=12.0, overwrite=None),
}
TRAINED_GROWTH = "grown r2 t20 (Background only)"
DISCARD_FRACTION = 0.1


def agreement_rows(images, noisy, truth, seed: int) -> list[tuple[str, dict, int]]:
    """(label, agreement with the truth, images kept) for the raw masks, each growth and each discard."""
    from marslab import labels

    rows = [("raw masks (as given)", labels.agreement(noisy, truth), len(noisy))]
    grown = {}
    for label, options in GROW_SETTINGS.items():
        grown[label] = labels.grow_regions(images, noisy, **options)
        rows.append((label, labels.agreement(grown[label], truth), len(noisy)))
    keep = labels.discard_masks(images, noisy, DISCARD_FRACTION)
    rows.append((f"{DISCARD_FRACTION:.0%} worst fit discarded", labels.agreement(noisy[keep], truth[keep]), len(keep)))
    rng = np.random.default_rng(seed)
    draws = [np.sort(rng.permutation(len(noisy))[:len(keep)]) for _ in range(5)]
    scored = [labels.agreement(noisy[d], truth[d]) for d in draws]
    random = {k: float(np.mean([row[k] for row in scored])) for k in ("pixels", "mean IoU")}
    rows.append((f"{DISCARD_FRACTION:.0%} random discarded (mean of 5)", random, len(keep)))
    return rows, grown[TRAINED_GROWTH], keep


def train_and_score(x, y, test, cfg: dict, seed: int) -> tuple[dict, object]:
    """A U-Net trained on (x uint8, y) with plain cross-entropy; the metric against the test split's
    noisy and clean masks and Big Rock's IoU against the noisy ones; and the model."""
    import keras

    from marslab import seed_everything
    from marslab.metrics import mean_iou, per_class_iou
    from marslab.models import unet

    seed_everything(seed, deterministic=False)
    model = unet(filters=cfg["filters"], depth=cfg["depth"])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(x[..., None] / 255.0, y.astype("int32"), batch_size=32, epochs=cfg["epochs"], verbose=0)
    preds = np.argmax(model.predict(test[0][..., None] / 255.0, batch_size=64, verbose=0), axis=-1)
    return {"vs noisy": mean_iou(test[1], preds), "vs clean": mean_iou(test[2], preds),
            "Big Rock vs noisy": float(per_class_iou(test[1], preds)[4])}, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-train", action="store_true", help="only the label agreement table")
    parser.add_argument("--filters", type=int, default=8)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--n-test", type=int, default=3000, help="test images scored")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", nargs="+", default=["raw", "grown", "fit", "model"],
                        help="which trainings: raw masks, grown masks, fit-rule discard, model-rule discard")
    args = parser.parse_args()
    from scipy.stats import spearmanr

    from marslab import labels
    from marslab.cleaning import find_aliens, remove_images
    from marslab.synthetic import make_mars

    data = make_mars(n_train=64, n_test=16, n_aliens=6) if args.quick else make_mars()
    if args.quick:
        args.epochs, args.filters, args.depth = 1, 4, 3
    data = remove_images(data, find_aliens(data.masks, min_count=5))
    images, noisy, truth = data.images, data.masks, data.clean_masks
    rows, grown, keep = agreement_rows(images, noisy, truth, args.seed)
    print(f"{len(images)} training images (aliens removed); agreement with the clean masks")
    print(f"{'masks':<40}{'pixels':>9}{'mean IoU':>10}{'images':>8}")
    for label, row, n in rows:
        print(f"{label:<40}{row['pixels']:>9.4f}{row['mean IoU']:>10.4f}{n:>8}")
    per_image = np.mean(noisy == truth, axis=(1, 2))
    rho = spearmanr(labels.mask_fit_scores(images, noisy), per_image)[0]
    print(f"Spearman correlation of the fit score with each mask's pixel agreement: {rho:.3f}")
    rock = (noisy == 4).any(axis=(1, 2))
    print(f"Big Rock images kept by the discard: {rock[keep].sum()} of {rock.sum()}")
    n_test = min(args.n_test, len(data.test_images))
    test = data.test_images[:n_test], data.test_masks[:n_test], data.test_clean_masks[:n_test]
    ceiling = labels.agreement(test[2], test[1])["mean IoU"]
    print(f"the clean test masks scored against the noisy ones (a perfect model of the truth): {ceiling:.4f}")
    if args.no_train:
        return
    cfg = dict(filters=args.filters, depth=args.depth, epochs=args.epochs)
    print(f"U-Net filters {args.filters}, depth {args.depth}, {args.epochs} epochs, Adam 1e-3, cross-entropy; "
          f"{n_test} test images")
    print(f"{'trained on':<40}{'vs noisy':>10}{'vs clean':>10}{'Big Rock':>10}")

    def report(label, x, y):
        r, model = train_and_score(x, y, test, cfg, args.seed)
        print(f"{label:<40}{r['vs noisy']:>10.4f}{r['vs clean']:>10.4f}{r['Big Rock vs noisy']:>10.4f}", flush=True)
        return model

    if "raw" in args.sets or "model" in args.sets:
        raw_model = report("raw masks", images, noisy)
    if "grown" in args.sets:
        report(TRAINED_GROWTH, images, grown)
    if "fit" in args.sets:
        report(f"{DISCARD_FRACTION:.0%} worst fit discarded", images[keep], noisy[keep])
    if "model" not in args.sets:
        return
    # the second rule: drop the masks the raw-mask model contradicts most
    preds = np.argmax(raw_model.predict(images[..., None] / 255.0, batch_size=64, verbose=0), axis=-1)
    scores = labels.prediction_agreement(preds, noisy)
    kept = labels.keep_best(scores, DISCARD_FRACTION)
    agree = labels.agreement(noisy[kept], truth[kept])
    print(f"rule 2, model disagreement: Spearman with pixel agreement {spearmanr(scores, per_image)[0]:.3f}; kept "
          f"{len(kept)} masks agree with the clean ones on {agree['pixels']:.4f} of pixels, mean IoU "
          f"{agree['mean IoU']:.4f}; Big Rock images kept {rock[kept].sum()} of {rock.sum()}")
    report(f"{DISCARD_FRACTION:.0%} most contradicted discarded", images[kept], noisy[kept])


if __name__ == "__main__":
    main()
