"""Command line of the grader: ``python -m helpers.coursework.grading {grade,merge,expected} ...``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers.coursework.grading import gradebook, grader, sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.coursework.grading", description=grader.__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    grade = sub.add_parser("grade", help="grade submission zips into OUT/ID.json and OUT/grades.csv")
    grade.add_argument("zips", nargs="+", type=Path)
    grade.add_argument("--out", type=Path, required=True)
    grade.add_argument("-j", "--jobs", type=int, default=1, help="submissions graded at a time")
    grade.add_argument("--shard", help="I/N: grade only every N-th zip starting at the I-th (sorted by name)")
    grade.add_argument("--notebooks", nargs="*", default=(), help="grade only these notebooks (e.g. 04_sampling_self_bleu)")
    grade.add_argument("--unsafe-no-sandbox", action="store_true",
                       help="run student code without bubblewrap: ONLY on a throwaway machine with no secrets")
    grade.add_argument("--show-keys", action="store_true",
                       help="the feedback (OUT/feedback/ID.md) shows the key of each wrong question: after the deadline")
    merge = sub.add_parser("merge", help="one grades.csv from the ID.json files of shard folders")
    merge.add_argument("dirs", nargs="+", type=Path)
    merge.add_argument("--out", type=Path, required=True)
    for command in (grade, merge):
        command.add_argument("--format", choices=("csv", "canvas"), default="csv",
                             help="canvas: also OUT/canvas.csv, Canvas's gradebook import file")
        command.add_argument("--canvas-assignment", default=grader.HOMEWORK.upper(),
                             help="the Canvas column: a new assignment's name, or 'Name (id)' of an existing one")
        command.add_argument("--canvas-roster", type=Path,
                             help="Canvas's gradebook export: fills Student, ID, SIS Login ID and Section")
    expected = sub.add_parser("expected", help="run the instructor solutions on the hidden cases (checks the course)")
    expected.add_argument("--out", type=Path, required=True)
    expected.add_argument("--unsafe-no-sandbox", action="store_true")
    args = parser.parse_args(argv)
    canvas = None
    if getattr(args, "format", "csv") == "canvas":
        if args.canvas_roster and not args.canvas_roster.is_file():
            print(f"error: no such roster: {args.canvas_roster} (export it from Canvas: Grades > Export)", file=sys.stderr)
            return 2
        canvas = {"assignment": args.canvas_assignment, "roster": args.canvas_roster}
    try:
        if args.command == "grade":
            if args.jobs < 1:
                raise grader.GradingError("-j must be at least 1.")
            records = grader.grade_all(args.zips, args.out, jobs=args.jobs, shard=args.shard,
                                       unsafe=args.unsafe_no_sandbox, only=tuple(args.notebooks),
                                       show_keys=args.show_keys, canvas=canvas)
            for r in sorted(records, key=lambda r: r["student_id"]):
                print(f"{r['student_id']:>12}  {r['status']:<10} {r.get('score', 0):>6} / {r.get('max_score', '')}")
        elif args.command == "merge":
            print(f"wrote {grader.merge(args.dirs, args.out, canvas=canvas)}")
        else:
            import tempfile
            course = grader.load_course()
            with tempfile.TemporaryDirectory() as tmp:
                runner = grader.Runner(grader.release_code(Path(tmp) / "course"), unsafe=args.unsafe_no_sandbox)
                got = grader.expected_outputs(course, runner, cache_dir=args.out)
            print(f"instructor solutions pass: {sum(len(v) for v in got.values())} hidden cases in {len(got)} notebooks")
    except (grader.GradingError, sandbox.SandboxError, gradebook.RosterError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
