"""The `marslab` command: `marslab info | data | score | exercises` (`--help` on each)."""
from __future__ import annotations

import argparse
import sys


def _info(args: argparse.Namespace) -> None:
    from marslab.info import print_report

    print_report()


def _data(args: argparse.Namespace) -> None:
    from marslab.data import save_course_npz
    from marslab.synthetic import make_mars

    dataset = make_mars(seed=args.seed)
    save_course_npz(dataset, args.out, with_test_masks=args.with_test_masks)
    print(f"wrote {args.out}: {len(dataset.images)} training and {len(dataset.test_images)} test images (seed {args.seed})")


def _score(args: argparse.Namespace) -> None:
    from marslab.submission import score
    from marslab.synthetic import make_mars

    true_masks = make_mars(seed=args.seed).test_masks
    print(f"{score(args.submission, true_masks):.4f}  mean IoU (classes 1-4) on the synthetic hidden test split")


def _exercises(args: argparse.Namespace) -> None:
    from marslab.exercises import generate_exercises

    written = generate_exercises(args.solutions, args.exercises)
    print(f"wrote {len(written)} exercise notebooks to {args.exercises}/")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per task."""
    parser = argparse.ArgumentParser(prog="marslab", description="Helpers for the marslab course.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="print versions, devices, run profile and data source")
    p.set_defaults(run=_info)

    p = sub.add_parser("data", help="write the synthetic dataset as an npz in the course format")
    p.add_argument("--out", default="mars_synthetic.npz", help="output file (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default: %(default)s)")
    p.add_argument("--with-test-masks", action="store_true", help="also store the hidden test labels (key test_masks)")
    p.set_defaults(run=_data)

    p = sub.add_parser("score", help="score a submission CSV on the synthetic hidden test split (local leaderboard)")
    p.add_argument("submission", help="the CSV written by marslab.submission.to_csv")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic set it was predicted on (default: %(default)s)")
    p.set_defaults(run=_score)

    p = sub.add_parser("exercises", help="regenerate exercises/ from solutions/")
    p.add_argument("--solutions", default="solutions", help="source folder (default: %(default)s)")
    p.add_argument("--exercises", default="exercises", help="output folder (default: %(default)s)")
    p.set_defaults(run=_exercises)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; errors print as one line and exit with status 2."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, KeyError, OSError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"marslab {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
