"""Command line of the pinned check data (see the package docstring)."""
from __future__ import annotations

import argparse
import sys

from helpers.coursework.pin_checks.core import NOTEBOOKS, Objects, stale, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.coursework.pin_checks",
                                     description="Pin the visible checks' expected values (data/checks/NN.json).")
    parser.add_argument("notebooks", nargs="*", default=sorted(NOTEBOOKS), help="notebook numbers (default: all)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the pinned data is stale")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.notebooks) - set(NOTEBOOKS))
    if unknown:
        print(f"error: unknown notebooks {unknown}; known: {sorted(NOTEBOOKS)}", file=sys.stderr)
        return 2
    objects = Objects()
    if args.check:
        found = stale(args.notebooks, objects)
        for number, diffs in found.items():
            print(f"data/checks/{number}.json is stale (run `make check-data`): {'; '.join(diffs[:3])}", file=sys.stderr)
        return 1 if found else 0
    for path in write(args.notebooks, objects):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
