"""The `marslab` command: `marslab info | data | score | exercises` (`--help` on each).

Errors print as one line (`marslab <command>: error: ...`) with exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys

SIZES_HELP = "set sizes of the synthetic data (defaults: the course's 2615 / 10022 / 110); smaller sizes are for quick tries and tests"


def _synthetic(args: argparse.Namespace):
    from marslab.synthetic import make_mars

    return make_mars(seed=args.seed, n_train=args.n_train, n_test=args.n_test, n_aliens=args.n_aliens)


def _info(args: argparse.Namespace) -> None:
    from marslab.info import print_report

    print_report()


def _data(args: argparse.Namespace) -> None:
    from marslab.data import save_course_npz

    dataset = _synthetic(args)
    path = save_course_npz(dataset, args.out, with_test_masks=args.with_test_masks)
    extra = " and the hidden test labels" if args.with_test_masks else ""
    print(f"wrote {path}: {len(dataset.images)} training and {len(dataset.test_images)} test images{extra} (seed {args.seed})")


def _score(args: argparse.Namespace) -> None:
    from marslab import CLASS_NAMES
    from marslab.metrics import mean_iou, per_class_iou
    from marslab.submission import read_csv

    if not os.path.isfile(args.submission):  # before generating the truth, which takes a while the first time
        raise FileNotFoundError(f"submission file {args.submission!r} does not exist")
    if args.truth:
        from marslab.data import SAMPLE_NAME, read_course_npz, sample_path

        true_masks = read_course_npz(sample_path() if args.truth == SAMPLE_NAME else args.truth).test_masks
        if true_masks is None:
            raise KeyError(f"{args.truth} has no key 'test_masks' (write one with: marslab data --with-test-masks)")
        against = f"the test labels in {args.truth}"
    else:
        true_masks = _synthetic(args).test_masks
        against = f"the synthetic hidden test split (seed {args.seed})"
    preds = read_csv(args.submission, n_images=len(true_masks), progress=False)
    per_class = per_class_iou(true_masks, preds)
    for name, iou in zip(CLASS_NAMES[1:], per_class[1:]):
        print(f"  IoU {name:<9} {iou:.4f}")
    print(f"{mean_iou(true_masks, preds):.4f}  mean IoU (classes 1-4, competition metric) on {against}")


def _exercises(args: argparse.Namespace) -> None:
    from marslab.exercises import generate_exercises

    written = generate_exercises(args.solutions, args.exercises)
    print(f"wrote {len(written)} exercise notebooks to {args.exercises}/")


def _add_synthetic_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic set (default: %(default)s)")
    sizes = p.add_argument_group("sizes", SIZES_HELP)
    sizes.add_argument("--n-train", type=int, default=2615, metavar="N")
    sizes.add_argument("--n-test", type=int, default=10022, metavar="N")
    sizes.add_argument("--n-aliens", type=int, default=110, metavar="N")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per task."""
    parser = argparse.ArgumentParser(prog="marslab", description="Helpers for the marslab course.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{info,data,score,exercises}")

    p = sub.add_parser("info", help="print versions, devices, run profile and data source",
                       description="Print versions, devices, the run profile and where the data comes from.")
    p.set_defaults(run=_info)

    p = sub.add_parser("data", help="write the synthetic dataset as an npz in the course format",
                       description="Write the synthetic Mars set as an npz in the course format "
                                   "(training_set (N,2,64,128), test_set (M,64,128)).")
    p.add_argument("--out", default="mars_synthetic.npz", help="output file (default: %(default)s)")
    p.add_argument("--with-test-masks", action="store_true", help="also store the hidden test labels (key test_masks)")
    _add_synthetic_options(p)
    p.set_defaults(run=_data)

    p = sub.add_parser("score", help="score a submission CSV on the synthetic hidden test split (local leaderboard)",
                       description="Score a submission CSV with the competition metric (mean IoU over classes 1-4) "
                                   "against the synthetic hidden test labels, or those of an npz (--truth).")
    p.add_argument("submission", help="the CSV written by marslab.submission.to_csv")
    p.add_argument("--truth", metavar="NPZ", help="score against the test_masks of this course npz instead "
                   "(ai4mars: the real sample shipped with marslab)")
    _add_synthetic_options(p)
    p.set_defaults(run=_score)

    p = sub.add_parser("exercises", help="regenerate exercises/ from solutions/",
                       description="Regenerate the student notebooks in exercises/ from solutions/.")
    p.add_argument("--solutions", default="solutions", help="source folder (default: %(default)s)")
    p.add_argument("--exercises", default="exercises", help="output folder (default: %(default)s)")
    p.set_defaults(run=_exercises)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; errors print as one line and return status 2."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, TypeError, KeyError, OSError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"marslab {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
