"""Hand in: ``STUDENTID_hw3.zip`` with your notebooks and their answer files, refused if a token is inside.

    python -m helpers.submission --student-id b09901001 --notebooks notebooks/exercises --out .

In a notebook, the last cell calls :func:`submit`, which does the same from Colab (where the
open notebook is not on the runtime's disk: its JSON is asked from Colab) and downloads the zip.
The zip holds ``NN_topic.ipynb``, ``NN_topic.answers.json`` and ``submission.json`` (student id and
sha256 of every file). An existing zip is never replaced unless ``force`` is given, and the zip
is written to a temporary file first, so a failed run leaves nothing behind.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from helpers import colab
from helpers.tokenscan import scan_file

HOMEWORK = "hw3"
STUDENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{1,31}$")
NOTEBOOK_RE = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")
ANSWERS_RE = re.compile(r"^\d\d_[a-z0-9_]+\.answers\.json$")
MANIFEST = "submission.json"
MAX_FILE_BYTES = 40 * 2**20
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class SubmissionError(RuntimeError):
    """The submission cannot be built; the message says what to fix."""


def validate_student_id(student_id: str) -> str:
    """The id, stripped, if it is 2–32 letters, digits or hyphens; otherwise a clear error."""
    value = (student_id or "").strip()
    if not STUDENT_ID_RE.match(value):
        raise SubmissionError(
            f"student id {student_id!r} is not valid: use your student id as 2 to 32 letters, digits or hyphens "
            "(no spaces, slashes or underscores), e.g. b09901001."
        )
    return value


def zip_name(student_id: str) -> str:
    """``STUDENTID_hw3.zip``."""
    return f"{validate_student_id(student_id)}_{HOMEWORK}.zip"


def submission_files(directory: Path) -> list[Path]:
    """The notebooks ``NN_topic.ipynb`` and answer files ``NN_topic.answers.json`` in ``directory``, sorted."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SubmissionError(f"notebook folder {directory} does not exist: pass the folder that holds your NN_topic.ipynb files.")
    files = sorted(p for p in directory.iterdir() if p.is_file() and (NOTEBOOK_RE.match(p.name) or ANSWERS_RE.match(p.name)))
    if not any(NOTEBOOK_RE.match(p.name) for p in files):
        raise SubmissionError(f"no notebook named like 01_chat_template.ipynb in {directory}: pass the folder with your notebooks.")
    for path in files:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SubmissionError(f"{path} is larger than {MAX_FILE_BYTES // 2**20} MB: clear big outputs (Edit > Clear all outputs) and save again.")
    return files


def secret_hits(files: list[Path]) -> list[str]:
    """Every place in ``files`` that holds something shaped like a Hugging Face token."""
    return [hit for path in files for hit in scan_file(path, path.name)]


def answers_summary(files: list[Path]) -> dict[str, int]:
    """Notebook name -> number of recorded answers (-1 if its answers file is unreadable)."""
    summary: dict[str, int] = {}
    for path in files:
        if ANSWERS_RE.match(path.name):
            try:
                summary[path.name[: -len(".answers.json")]] = len(json.loads(path.read_text(encoding="utf-8"))["answers"])
            except (ValueError, KeyError, TypeError):
                summary[path.name[: -len(".answers.json")]] = -1
    return summary


def manifest(student_id: str, files: list[Path]) -> dict:
    """The ``submission.json`` of the zip: homework, student id, files with their sha256."""
    return {
        "homework": HOMEWORK,
        "student_id": student_id,
        "files": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
    }


def _write_zip(target: Path, files: list[Path], meta: dict) -> None:
    """Write the zip (fixed timestamps, sorted entries) to ``target``."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.writestr(zipfile.ZipInfo(path.name, ZIP_DATE), path.read_bytes(), zipfile.ZIP_DEFLATED)
        archive.writestr(zipfile.ZipInfo(MANIFEST, ZIP_DATE), json.dumps(meta, indent=2) + "\n", zipfile.ZIP_DEFLATED)


def _publish(tmp: Path, final: Path, force: bool) -> None:
    """Move the finished temporary zip into place; without ``force`` never replace an existing file."""
    if force:
        os.replace(tmp, final)
        return
    try:
        os.link(tmp, final)  # atomic and fails if ``final`` exists
    except FileExistsError:
        raise SubmissionError(f"{final} already exists: pass --force (force=True) to replace it.") from None
    except OSError:  # file systems without hard links (some network drives)
        if final.exists():
            raise SubmissionError(f"{final} already exists: pass --force (force=True) to replace it.") from None
        os.replace(tmp, final)
        return
    tmp.unlink()


def build_zip(student_id: str, notebooks_dir: Path, out_dir: Path, force: bool = False) -> Path:
    """Check and write ``out_dir/STUDENTID_hw3.zip``; returns its path (nothing is written on error)."""
    student_id = validate_student_id(student_id)
    files = submission_files(Path(notebooks_dir))
    hits = secret_hits(files)
    if hits:
        raise SubmissionError(
            "refused: something shaped like a Hugging Face token is in " + "; ".join(hits) + ". Delete it from the cell "
            "(and its output: Edit > Clear all outputs), save, and revoke that token in your Hugging Face settings — "
            "use the Colab Secrets panel (HF_TOKEN) instead."
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / zip_name(student_id)
    if final.exists() and not force:
        raise SubmissionError(f"{final} already exists: pass --force (force=True) to replace it.")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=out_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _write_zip(tmp, files, manifest(student_id, files))
        _publish(tmp, final, force)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final


def report(files: list[Path]) -> str:
    """Lines saying which notebooks are in and how many answers each recorded."""
    answers = answers_summary(files)
    lines = []
    for path in files:
        if NOTEBOOK_RE.match(path.name):
            count = answers.get(path.stem)
            state = "no answers file: run the notebook" if count is None else "unreadable answers file" if count < 0 else f"{count} answers"
            lines.append(f"  {path.name}: {state}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- notebook cell

def collect_dir() -> Path:
    """Where notebooks are collected for the zip: Drive in Colab (if it mounts), else the working folder."""
    if not colab.in_colab():
        return Path.cwd()
    drive = colab.mount_drive()
    folder = (drive / f"{HOMEWORK}_submission") if drive else Path("/content") / f"{HOMEWORK}_submission"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _save_json_atomically(data: dict, target: Path) -> None:
    """Write a notebook JSON through a temporary file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, ensure_ascii=False)
        handle.write("\n")
    os.replace(tmp, target)


def collect(notebook: str, folder: Path, answers_dir: Path | None = None) -> list[str]:
    """Copy the open notebook (Colab) and its answers file into ``folder``; returns what was copied."""
    copied: list[str] = []
    answers_dir = Path(answers_dir or Path.cwd())
    if colab.in_colab():
        _save_json_atomically(colab.open_notebook_json(), folder / f"{notebook}.ipynb")
        copied.append(f"{notebook}.ipynb")
    answers = answers_dir / f"{notebook}.answers.json"
    if answers.is_file() and answers.resolve() != (folder / answers.name).resolve():
        shutil.copyfile(answers, folder / answers.name)
        copied.append(answers.name)
    return copied


def submit(notebook: str, student_id: str = "", folder: str | Path | None = None, force: bool = False) -> Path | None:
    """Last cell of every notebook: collect it, and with a student id build and offer the zip."""
    if os.environ.get("LAB_GRADING"):
        print("Grading run: hand-in cell skipped.")
        return None
    target = Path(folder) if folder is not None else collect_dir()
    copied = collect(notebook, target)
    if not colab.in_colab():
        print(f"Collecting from {target} — save this notebook first (Ctrl-S / File > Save).")
    elif copied:
        print(f"Copied {', '.join(copied)} to {target}")
    files = submission_files(target)
    print("Collected so far:\n" + report(files))
    if not student_id:
        print('Fill in STUDENT_ID (e.g. "b09901001") and run this cell again to build your zip.')
        return None
    path = build_zip(student_id, target, target, force=force)
    print(f"✓ wrote {path} — hand in this file.")
    colab.download(path)
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line: build the zip; exit 1 with the reason if it is refused."""
    parser = argparse.ArgumentParser(prog="python -m helpers.submission", description=__doc__.splitlines()[0])
    parser.add_argument("--student-id", required=True, help="your student id, e.g. b09901001")
    parser.add_argument("--notebooks", type=Path, required=True, help="folder with NN_topic.ipynb and NN_topic.answers.json")
    parser.add_argument("--out", type=Path, default=Path("."), help="where to write STUDENTID_hw3.zip (default: here)")
    parser.add_argument("--force", action="store_true", help="replace an existing zip")
    args = parser.parse_args(argv)
    try:
        path = build_zip(args.student_id, args.notebooks, args.out, force=args.force)
    except SubmissionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path}\n" + report(submission_files(args.notebooks)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
