"""Command line of the grader: ``python -m helpers.coursework.grading {grade,merge,expected} ...``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers.coursework.grading import grader, sandbox


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
    merge = sub.add_parser("merge", help="one grades.csv from the ID.json files of shard folders")
    merge.add_argument("dirs", nargs="+", type=Path)
    merge.add_argument("--out", type=Path, required=True)
    expected = sub.add_parser("expected", help="run the instructor solutions on the hidden cases (checks the course)")
    expected.add_argument("--out", type=Path, required=True)
    expected.add_argument("--unsafe-no-sandbox", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "grade":
            if args.jobs < 1:
                raise grader.GradingError("-j must be at least 1.")
            records = grader.grade_all(args.zips, args.out, jobs=args.jobs, shard=args.shard,
                                       unsafe=args.unsafe_no_sandbox, only=tuple(args.notebooks))
            for r in sorted(records, key=lambda r: r["student_id"]):
                print(f"{r['student_id']:>12}  {r['status']:<10} {r.get('score', 0):>6} / {r.get('max_score', '')}")
        elif args.command == "merge":
            print(f"wrote {grader.merge(args.dirs, args.out)}")
        else:
            import tempfile
            course = grader.load_course()
            with tempfile.TemporaryDirectory() as tmp:
                runner = grader.Runner(grader.release_code(Path(tmp) / "course"), unsafe=args.unsafe_no_sandbox)
                got = grader.expected_outputs(course, runner, cache_dir=args.out)
            print(f"instructor solutions pass: {sum(len(v) for v in got.values())} hidden cases in {len(got)} notebooks")
    except (grader.GradingError, sandbox.SandboxError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
