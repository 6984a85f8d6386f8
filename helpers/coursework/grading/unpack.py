"""Unpacking a submitted zip: only its notebooks (and ``submission.json``), within size limits, never outside its folder.

Every zip is treated as hostile: absolute paths, ``..``, links, encrypted or damaged entries, too many entries and
entries that unpack past the limits raise :class:`UnsafeZipError`, which rejects the submission.
"""
from __future__ import annotations

import json
import re
import stat
import zipfile
import zlib
from pathlib import Path

from helpers.coursework.config import HOMEWORK
from helpers.errors import CourseError

ZIP_STEM_RE = re.compile(rf"^([A-Za-z0-9][A-Za-z0-9-]{{1,31}})_{HOMEWORK}$")
NOTEBOOK_MEMBER_RE = re.compile(r"^(\d\d_[a-z0-9_]+)\.ipynb$")
MAX_MEMBERS = 64
MAX_MEMBER_BYTES = 50 * 2**20
MAX_TOTAL_BYTES = 200 * 2**20


class UnsafeZipError(CourseError, ValueError):
    """A submitted zip is malformed, damaged, encrypted or tries to write outside its folder."""


def safe_extract(zip_path: Path, dest: Path) -> tuple[list[str], dict]:
    """Unpack the notebooks (and ``submission.json``) of a zip into ``dest``; raise ``UnsafeZipError`` if unsafe."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise UnsafeZipError(f"{Path(zip_path).name} is not a readable zip ({err}).") from None
    with archive:
        chosen = _chosen_members(archive, Path(zip_path).name)
        _write_members(archive, chosen, dest)
    meta = _submission_meta(dest / "submission.json") if "submission.json" in chosen else {}
    return sorted(b for b in chosen if b != "submission.json"), meta


def _chosen_members(archive: zipfile.ZipFile, zip_name: str) -> dict[str, zipfile.ZipInfo]:
    """The entries to unpack, by file name: notebooks and ``submission.json``, wherever they are in the zip (not in
    ``__MACOSX``); raise ``UnsafeZipError`` for too many entries or an entry that is unsafe or appears twice."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise UnsafeZipError(f"{zip_name} has {len(infos)} entries (at most {MAX_MEMBERS}).")
    chosen: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts or "\x00" in name:
            raise UnsafeZipError(f"entry {name!r} points outside the submission folder.")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeZipError(f"entry {name!r} is a symbolic link.")
        if info.flag_bits & 0x1:
            raise UnsafeZipError(f"entry {name!r} is encrypted: hand in a zip without a password.")
        base = parts[-1]
        if info.is_dir() or parts[0] == "__MACOSX" or not (NOTEBOOK_MEMBER_RE.match(base) or base == "submission.json"):
            continue
        if base in chosen:
            raise UnsafeZipError(f"{base} appears twice in the zip.")
        chosen[base] = info
    return chosen


def _write_members(archive: zipfile.ZipFile, chosen: dict[str, zipfile.ZipInfo], dest: Path) -> None:
    """Write the chosen entries into ``dest`` a megabyte at a time, within the size limits of one and of all."""
    total = 0
    dest.mkdir(parents=True, exist_ok=True)
    for base, info in sorted(chosen.items()):
        written = 0
        try:
            with archive.open(info) as src, open(dest / base, "wb") as out:
                while block := src.read(1 << 20):
                    written += len(block)
                    total += len(block)
                    if written > MAX_MEMBER_BYTES or total > MAX_TOTAL_BYTES:
                        raise UnsafeZipError(f"{base} unpacks to more than the size limit.")
                    out.write(block)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as err:
            raise UnsafeZipError(f"{base} is damaged in the zip ({err}): build the zip again.") from None


def _submission_meta(path: Path) -> dict:
    """The unpacked ``submission.json`` as a dict ({} if it is not a JSON object); the file is removed."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        meta = meta if isinstance(meta, dict) else {}
    except ValueError:
        meta = {}
    path.unlink()
    return meta


def student_id_of(zip_path: Path) -> str:
    match = ZIP_STEM_RE.match(Path(zip_path).stem)
    if not match:
        raise UnsafeZipError(f"{Path(zip_path).name} is not named STUDENTID_{HOMEWORK}.zip.")
    return match.group(1)
