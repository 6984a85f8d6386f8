"""Offline lab assets: where they live, and checks of their files against ``manifest.json``.

``python -m helpers.assets verify [DIR]`` checks every file's size and sha256;
``python -m helpers.assets compare DIR_A DIR_B`` compares two builds' manifests.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from helpers.errors import CourseError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OFFLINE_DIR = REPO_ROOT / "data" / "offline"
REBUILD_HINT = "run `make offline-assets` (or `git checkout -- data/offline`) to restore it"


class AssetError(CourseError, RuntimeError):
    """An offline asset is missing or does not match its manifest."""


def offline_dir() -> Path:
    """Directory of the offline assets: ``$LAB_OFFLINE_DIR`` or ``data/offline`` in the repo."""
    return Path(os.environ.get("LAB_OFFLINE_DIR") or DEFAULT_OFFLINE_DIR)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(root: Path) -> dict:
    """The parsed ``manifest.json`` of an asset directory (clear error if missing or broken)."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise AssetError(f"offline asset manifest {path} is missing: {REBUILD_HINT}.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AssetError(f"offline asset manifest {path} is not valid JSON ({err}): {REBUILD_HINT}.") from None


def manifest_files(manifest: dict) -> dict[str, dict]:
    """Map relative path -> {size (or bytes), sha256} from a manifest."""
    files = manifest.get("files")
    if isinstance(files, dict):
        return files
    if isinstance(files, list):
        return {entry["path"]: entry for entry in files}
    raise AssetError("manifest.json has no 'files' entry: " + REBUILD_HINT + ".")


def verify(root: Path | None = None, subdir: str | None = None) -> None:
    """Check every manifest file under ``root`` (optionally only ``subdir/``): present, right size, right sha256."""
    root = Path(root) if root is not None else offline_dir()
    for rel, entry in sorted(manifest_files(load_manifest(root)).items()):
        if subdir and not rel.startswith(subdir.rstrip("/") + "/"):
            continue
        path = root / rel
        if not path.is_file():
            raise AssetError(f"offline asset {path} is missing: {REBUILD_HINT}.")
        size = entry.get("size", entry.get("bytes"))
        if path.stat().st_size != size or sha256_file(path) != entry["sha256"]:
            raise AssetError(f"offline asset {path} is corrupt (size or sha256 differs from manifest.json): {REBUILD_HINT}.")


def compare(dir_a: Path, dir_b: Path) -> list[str]:
    """Differences between two asset builds' file lists and hashes (empty list = identical)."""
    files_a = manifest_files(load_manifest(Path(dir_a)))
    files_b = manifest_files(load_manifest(Path(dir_b)))
    diffs = []
    for rel in sorted(set(files_a) | set(files_b)):
        a, b = files_a.get(rel), files_b.get(rel)
        if a is None or b is None:
            diffs.append(f"{rel}: only in {dir_a if b is None else dir_b}")
        elif a["sha256"] != b["sha256"]:
            diffs.append(f"{rel}: sha256 differs")
    return diffs


def main(argv: list[str] | None = None) -> int:
    """Command line: ``verify [DIR]`` or ``compare DIR_A DIR_B``."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] == ["verify"] and len(args) <= 2:
            verify(Path(args[1]) if len(args) == 2 else None)
            print("offline assets match manifest.json")
            return 0
        if args[:1] == ["compare"] and len(args) == 3:
            diffs = compare(Path(args[1]), Path(args[2]))
            for line in diffs:
                print(line)
            print("identical" if not diffs else f"{len(diffs)} file(s) differ")
            return 0 if not diffs else 1
    except AssetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("usage: python -m helpers.assets verify [DIR] | compare DIR_A DIR_B", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
