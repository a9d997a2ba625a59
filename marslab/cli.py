"""The `marslab` command: `marslab info | data | score | exercises | grade` (`--help` on each).

Errors print as one line (`marslab <command>: error: ...`) with exit status 2, never a traceback.
Each sub-command imports what it needs when it runs, so `marslab data` never loads TensorFlow.
"""
from __future__ import annotations

import argparse
import os
import sys

from marslab import CLASS_NAMES, quiet
from marslab.course_file import npz_path, read_course_npz, save_course_npz
from marslab.data import SAMPLE_NAME, sample_path
from marslab.files import refuse_to_overwrite
from marslab.info import print_report
from marslab.synthetic import make_mars

SIZES_HELP = ("set sizes of the synthetic data (defaults: the course's 2615 / 10022 / 110); smaller sizes are for "
              "quick tries and tests")


def _synthetic(args: argparse.Namespace):
    return make_mars(seed=args.seed, n_train=args.n_train, n_test=args.n_test, n_aliens=args.n_aliens)


def _info(args: argparse.Namespace) -> None:
    print_report()


def _data(args: argparse.Namespace) -> None:
    out = npz_path(args.out)
    if not args.force:  # before generating, which takes a while the first time
        refuse_to_overwrite(out, "course file", "choose another --out, or replace it on purpose with --force")
    dataset = _synthetic(args)
    path = save_course_npz(dataset, out, with_test_masks=args.with_test_masks, overwrite=args.force)
    extra = " and the hidden test labels" if args.with_test_masks else ""
    print(f"wrote {path}: {len(dataset.images)} training and {len(dataset.test_images)} test images{extra} "
          f"(seed {args.seed})")


def _score(args: argparse.Namespace) -> None:
    quiet()  # before Keras, which the metrics import (seconds; hence here, not at the top)
    from marslab.metrics import mean_iou, per_class_iou
    from marslab.submission import READINGS, read_csv

    if not os.path.isfile(args.submission):  # before generating the truth, which takes a while the first time
        raise FileNotFoundError(f"submission file {args.submission!r} does not exist")
    if args.truth:
        true_masks = read_course_npz(sample_path() if args.truth == SAMPLE_NAME else args.truth).test_masks
        if true_masks is None:
            raise KeyError(f"{args.truth} has no key 'test_masks' (write one with: marslab data --with-test-masks)")
        against = f"the test labels in {args.truth}"
    else:
        true_masks = _synthetic(args).test_masks
        against = f"the synthetic hidden test split (seed {args.seed})"
    preds = read_csv(args.submission, n_images=len(true_masks), progress=False)
    all_pixels = args.reading == READINGS[1]
    per_class = per_class_iou(true_masks, preds, all_pixels=all_pixels)
    for name, iou in zip(CLASS_NAMES[1:], per_class[1:]):
        print(f"  IoU {name:<9} {iou:.4f}")
    which = "every pixel counts" if all_pixels else "pixels truly Background left out, the competition's reading"
    print(f"{mean_iou(true_masks, preds, all_pixels=all_pixels):.4f}  mean IoU (classes 1-4; {which}) on {against}")


def _exercises(args: argparse.Namespace) -> None:
    from marslab.exercises import generate_exercises  # nbgrader: an instructor-only dependency

    written = generate_exercises(args.solutions, args.exercises)
    print(f"wrote {len(written)} exercise notebooks to {args.exercises}/")


def _grade(args: argparse.Namespace) -> None:
    from collections import Counter

    from marslab.grading import grade

    result = grade(args.submissions, args.out, exercise=args.exercise, feedback=args.feedback, jobs=args.jobs,
                   timeout=args.timeout, memory_mb=args.memory_mb, students=args.student, force=args.force,
                   update=args.update, progress=None if args.quiet else print)
    possible = sum(q.points for q in result.questions)
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(Counter(r.status for r in result.rows).items()))
    print(f"wrote {result.path}: {len(result.rows)} submissions of {result.exercise} ({statuses}; out of {possible} "
          f"points) and their feedback in {result.feedback}/ in {result.startup_seconds + result.seconds:.0f} s")


def _add_synthetic_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic set (default: %(default)s)")
    sizes = p.add_argument_group("sizes", SIZES_HELP)
    sizes.add_argument("--n-train", type=int, default=2615, metavar="N")
    sizes.add_argument("--n-test", type=int, default=10022, metavar="N")
    sizes.add_argument("--n-aliens", type=int, default=110, metavar="N")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per task."""
    parser = argparse.ArgumentParser(prog="marslab", description="Helpers for the marslab course.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{info,data,score,exercises,grade}")

    p = sub.add_parser("info", help="print versions, devices, run profile and data source",
                       description="Print versions, devices, the run profile and where the data comes from.")
    p.set_defaults(run=_info)

    p = sub.add_parser("data", help="write the synthetic dataset as an npz in the course format",
                       description="Write the synthetic Mars set as an npz in the course format "
                                   "(training_set (N,2,64,128), test_set (M,64,128)).")
    p.add_argument("--out", default="mars_synthetic.npz",
                   help="output file; .npz is added if missing (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists (never done without it)")
    p.add_argument("--with-test-masks", action="store_true", help="also store the hidden test labels (key test_masks)")
    _add_synthetic_options(p)
    p.set_defaults(run=_data)

    p = sub.add_parser("score", help="score a submission CSV on the synthetic hidden test split (local leaderboard)",
                       description="Score a submission CSV with the competition metric (mean IoU over classes 1-4) "
                                   "against the synthetic hidden test labels, or those of an npz (--truth).")
    p.add_argument("submission", help="the CSV written by marslab.submission.to_csv")
    p.add_argument("--truth", metavar="NPZ",
                   help='score against the test_masks of this course npz instead ("ai4mars": the shipped real sample)')
    p.add_argument("--reading", choices=("ignore_true_background", "all_pixels"), default="ignore_true_background",
                   help="which reading of the metric (lesson 10): leave out pixels whose true label is Background "
                        "(default, the competition's) or count every pixel")
    _add_synthetic_options(p)
    p.set_defaults(run=_score)

    p = sub.add_parser("exercises", help="regenerate exercises/ from solutions/",
                       description="Regenerate the student notebooks in exercises/ from solutions/. The two "
                                   "folders must be distinct (neither inside the other), and a notebook in the "
                                   "exercises folder that holds solution markers is never overwritten.")
    p.add_argument("--solutions", default="solutions", help="source folder (default: %(default)s)")
    p.add_argument("--exercises", default="exercises", help="output folder (default: %(default)s)")
    p.set_defaults(run=_exercises)

    p = sub.add_parser("grade", help="grade submitted exercise notebooks into a gradebook CSV and feedback files",
                       description="Grade submitted exercise notebooks (folders, LMS zips or files) with the course's "
                                   "checks, one process per submission under a time and memory limit, into a "
                                   "gradebook CSV and one feedback file per submission.")
    p.add_argument("submissions", nargs="+", help="notebooks, folders of them, or zips (as an LMS exports them)")
    p.add_argument("--out", required=True, help="the gradebook CSV to write")
    p.add_argument("--feedback", metavar="DIR", help="folder of feedback files (default: <out stem>_feedback)")
    p.add_argument("--exercise", help="ex01..ex10 (default: the exercise most submissions answer)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="submissions graded at once (default: the number of cores, %(default)s)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="seconds for loading a notebook's definitions and for each question (default: %(default)g)")
    p.add_argument("--memory-mb", type=int, default=1024, metavar="MB",
                   help="new memory a grading process may take (default: %(default)s)")
    p.add_argument("--student", action="append", metavar="ID", help="grade only this student (repeatable)")
    modes = p.add_mutually_exclusive_group()
    modes.add_argument("--force", action="store_true", help="replace an existing gradebook and feedback folder")
    modes.add_argument("--update", action="store_true",
                       help="re-grade into an existing gradebook: these students' rows and feedback are replaced")
    p.add_argument("--quiet", action="store_true", help="no line per graded submission")
    p.set_defaults(run=_grade)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; errors print as one line and return status 2."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, TypeError, KeyError, OSError, ImportError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"marslab {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # files are written under temporary names: nothing half-written is left
        print(f"marslab {args.command}: interrupted; no file was left half-written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
