"""The student release: ``python -m helpers.coursework.release --out DIR`` (``make release OUT=DIR``).

The repository students clone is a plain copy along the package boundary, never a filter over
file contents:

- ``helpers/*.py``, the modules a notebook imports, and the ``helpers/checks/`` package (the visible
  checks; not ``helpers/coursework/``: authoring, release, grading, hidden tests, the check-data pinner;
  not ``helpers/offline/``: the asset builder and benchmarks; not the maintainer modules in
  ``MAINTAINER_MODULES``);
- ``data/offline/`` (the lab assets), ``data/checks/*.json`` (the checks' pinned expected values on
  their visible inputs), ``notebooks/exercises/`` (the generated student notebooks),
  ``requirements.txt``, and ``README.md`` written from ``release_readme.md``.

Nothing else: no instructor notebooks, no ``data/grading/`` (points, keys), no hidden cases, no
reference outputs. Files are copied byte for byte in sorted order, so the same input gives the
same bytes. A check refuses the release if a solution marker or an original-run fill-in value is
found in it.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

from helpers.errors import CourseError

REPO_ROOT = Path(__file__).resolve().parents[2]
MAINTAINER_MODULES: set[str] = set()  # maintainer tools live in helpers/offline/
SHIPPED_SUBPACKAGES = ("checks",)  # helpers/<name>/*.py ship too
README_TEMPLATE = Path(__file__).with_name("release_readme.md")
# Markers of solutions, and the original run's fill-in values (P3 ids, P1 and P7 numbers).
# A `# SOLUTION` line ends the line, or (inside notebook JSON) the string: `...  # SOLUTION\n"` / `# SOLUTION"`.
FORBIDDEN = re.compile(r'BEGIN SOLUTION|END SOLUTION|#\s*SOLUTION(?=\s*$|\\n|")|\b18809\b|\b12636\b|6\.0734|58\.04|31\.76',
                       re.MULTILINE)
TEXT_SUFFIXES = {".py", ".ipynb", ".md", ".txt", ".json", ".jinja", ".cfg", ".toml"}


class ReleaseError(CourseError, RuntimeError):
    """The release cannot be written; the message says why."""


def package_files(root: Path = REPO_ROOT) -> list[Path]:
    """The shipped modules of ``helpers/`` and its shipped subpackages (relative paths), sorted."""
    files = [p for p in (root / "helpers").glob("*.py") if p.name not in MAINTAINER_MODULES]
    files += [p for name in SHIPPED_SUBPACKAGES for p in (root / "helpers" / name).glob("*.py")]
    return sorted(p.relative_to(root) for p in files)


def release_files(root: Path = REPO_ROOT) -> list[Path]:
    """Every file of the release except the generated README (relative paths), sorted."""
    files = package_files(root)
    files += sorted(p.relative_to(root) for p in (root / "data" / "offline").rglob("*") if p.is_file())
    files += sorted(p.relative_to(root) for p in (root / "data" / "checks").glob("*.json"))
    files += sorted(p.relative_to(root) for p in (root / "notebooks" / "exercises").glob("[0-9][0-9]_*.ipynb"))
    files.append(Path("requirements.txt"))
    return files


def copy_package(target: Path, root: Path = REPO_ROOT) -> Path:
    """Copy the shipped ``helpers/`` modules into ``target`` (a folder named like the package); returns it."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    target.chmod(0o755)
    for rel in package_files(root):
        dest = target / rel.relative_to("helpers")
        if dest.parent != target:
            dest.parent.mkdir(exist_ok=True)
            dest.parent.chmod(0o755)
        shutil.copyfile(root / rel, dest)
        dest.chmod(0o644)
    return target


def forbidden_hits(directory: Path) -> list[str]:
    """``file:line`` of every solution marker or original fill-in value in the release's text files."""
    hits = []
    for path in sorted(Path(directory).rglob("*")):
        if path.is_file() and path.suffix in TEXT_SUFFIXES:
            text = path.read_text(encoding="utf-8", errors="replace")
            for match in FORBIDDEN.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                hits.append(f"{path.relative_to(directory)}:{line}: {match.group(0)!r}")
    return hits


def write_release(out: Path, root: Path = REPO_ROOT) -> list[Path]:
    """Write the student repository into ``out`` (which must be empty or absent); returns the files written."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ReleaseError(f"{out} is not empty: give a new folder (the release never overwrites files).")
    stale = _stale_exercises(root)
    if stale:
        raise ReleaseError(f"the student notebooks are stale ({', '.join(stale)}): run `make exercises` first.")
    written = []
    for rel in release_files(root):
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, target)
        written.append(rel)
    (out / "README.md").write_text(README_TEMPLATE.read_text(encoding="utf-8"), encoding="utf-8")
    (out / ".gitignore").write_text(".venv/\n__pycache__/\n*.pyc\n.ipynb_checkpoints/\n*_hw3.zip\n", encoding="utf-8")
    written += [Path("README.md"), Path(".gitignore")]
    hits = forbidden_hits(out)
    if hits:
        shutil.rmtree(out)
        raise ReleaseError("the release would show solutions or original fill-in values: " + "; ".join(hits[:5]))
    return sorted(written)


def _stale_exercises(root: Path) -> list[str]:
    from helpers.coursework import authoring

    return authoring.generate(root / "notebooks", root / "notebooks" / "exercises", check=True, readme=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.coursework.release", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="an empty or new folder for the student repository")
    args = parser.parse_args(argv)
    try:
        files = write_release(args.out)
    except ReleaseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {len(files)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
