"""Cost of every report technique in marslab.models (issue 26): parameters at the lessons' smoke size
(filters 8, depth 3) and at the default size (filters 32, depth 4), and seconds per epoch at smoke size.

Every variant trains on the same cleaned synthetic images (aliens removed, split stratified on Big Rock)
with Adam 1e-3 and sparse cross-entropy (a deep-supervised model: the same loss on every output); the
table shows the first epoch's seconds (graph tracing included: what a lesson cell waits for), the last
epoch's, and the validation mean IoU,
which at smoke size says nothing about quality. Run it with one thread so the seconds compare:

    TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/bench_techniques.py
    python benchmarks/bench_techniques.py --quick        # two variants, a few images: the code path only
    python benchmarks/bench_techniques.py --only unet "gated concat" --n-train 600 --epochs 8   # a comparison

Recorded runs: benchmarks/README.md, "Report techniques".
"""
from __future__ import annotations

import argparse
import time

import numpy as np

SMOKE, DEFAULT = dict(filters=8, depth=3), dict(filters=32, depth=4)


def variants() -> dict:
    """{label: builder(filters, depth)}: the baseline U-Net and one row per technique."""
    from marslab.models import deeplab_v3_plus, unet

    def u(**options):
        return lambda filters, depth: unet(filters=filters, depth=depth, **options)

    return {
        "unet": u(),
        "inception encoder (003)": u(encoder_block="inception"),
        "self attention (003)": u(bottleneck="psa"),
        "aspp + self attention (003)": u(bottleneck="aspp+psa"),
        "aspp + self attention + strip (003)": u(bottleneck="aspp+psa+strip"),
        "se bottleneck (004)": u(bottleneck="se"),
        "se every block": u(se=True),
        "gated add (004)": u(skip_merge="gated_add"),
        "gated concat (004)": u(skip_merge="gated_concat"),
        "weighted add (000)": u(skip_merge="weighted_add"),
        "gated concat + deep supervision (002)": u(skip_merge="gated_concat", deep_supervision=True),
        "group norm (001)": u(norm="group"),
        "deeplabv3+ (000, 004)": lambda filters, depth: deeplab_v3_plus(filters=filters),
    }


def prepared_data(n_train: int | None, n_val: int | None, quick: bool, seed: int = 0):
    """(x, y), (x_val, y_val): float images (N,64,128,1) and int masks, aliens removed, stratified split."""
    from marslab.cleaning import find_aliens, remove_images, stratified_split
    from marslab.synthetic import make_mars

    data = make_mars(n_train=96, n_test=8, n_aliens=6) if quick else make_mars()
    clean = remove_images(data, find_aliens(data.masks, min_count=5 if quick else 10))
    train, val = stratified_split(clean.masks, val_fraction=0.2, seed=seed)
    train, val = train[:n_train], val[:n_val]

    def pair(index):
        return clean.images[index][..., None].astype("float32") / 255.0, clean.masks[index].astype("int32")

    return pair(train), pair(val)


class EpochSeconds:
    """A Keras callback factory recording the wall-clock seconds of every epoch."""

    @staticmethod
    def make():
        import keras

        class Timer(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.seconds = []

            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self.start)

        return Timer()


def run(label: str, build, train, val, args) -> dict:
    """Parameters at both sizes; train at (args.filters, args.depth) and score; one row."""
    import keras

    from marslab import CLASS_NAMES, seed_everything
    from marslab.metrics import mean_iou, per_class_iou
    from marslab.models import losses_for, targets_for

    row = {"variant": label, "params smoke": build(**SMOKE).count_params(),
           "params default": build(**DEFAULT).count_params()}
    seed_everything(args.seed, deterministic=False)
    model = build(args.filters, args.depth)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=losses_for(model, "sparse_categorical_crossentropy"))
    timer = EpochSeconds.make()
    model.fit(train[0], targets_for(model, train[1]), batch_size=args.batch_size, epochs=args.epochs,
              callbacks=[timer], verbose=0)
    probs = model.predict(val[0], batch_size=64, verbose=0)
    preds = np.argmax(probs[-1] if isinstance(probs, list) else probs, axis=-1)
    row.update({"first epoch": timer.seconds[0], "s/epoch": timer.seconds[-1], "mean IoU": mean_iou(val[1], preds),
                f"IoU {CLASS_NAMES[4]}": float(per_class_iou(val[1], preds)[4])})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two variants on a few images (code path only)")
    parser.add_argument("--only", nargs="+", help="variant labels (prefixes) to run; default all")
    parser.add_argument("--n-train", type=int, default=64, help="training images (the smoke lessons use 64)")
    parser.add_argument("--n-val", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--filters", type=int, default=SMOKE["filters"])
    parser.add_argument("--depth", type=int, default=SMOKE["depth"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    table = variants()
    chosen = args.only or (["unet", "gated concat"] if args.quick else list(table))
    labels = [label for label in table if any(label.startswith(prefix) for prefix in chosen)]
    if not labels:
        parser.error(f"--only matched no variant; known: {list(table)}")
    if args.quick:
        args.n_train, args.n_val, args.epochs = 16, 8, 1
    train, val = prepared_data(args.n_train, args.n_val, args.quick, args.seed)
    print(f"train {len(train[0])}, val {len(val[0])} images; filters {args.filters}, depth {args.depth}, "
          f"{args.epochs} epochs, batch {args.batch_size}")
    header = (f"{'variant':<40}{'params smoke':>14}{'params default':>16}{'1st epoch':>10}{'s/epoch':>9}"
              f"{'mean IoU':>10}{'Big Rock':>10}")
    print(header)
    for label in labels:
        r = run(label, table[label], train, val, args)
        print(f"{label:<40}{r['params smoke']:>14,}{r['params default']:>16,}{r['first epoch']:>10.1f}"
              f"{r['s/epoch']:>9.1f}"
              f"{r['mean IoU']:>10.3f}{r['IoU Big Rock']:>10.3f}", flush=True)


if __name__ == "__main__":
    main()
