"""Hand in: answers to the conceptual questions, the submission zip (refused if a token is inside).

In a notebook::

    answers = AnswerSheet("05_contextual_embeddings")
    answers.choose("p5.q1", ["A", "C"])   # several correct options: a list of letters
    answers.choose("p5.q2", "B")          # exactly one correct option: one letter
    answers.fill("p3.q1", 692)            # a number or a short text
    answers.predict("p5.q2", "the two 'bank' vectors will be far apart")   # before the cell that shows it

A prediction is one line written *before* running the cell that shows a result: it is not graded,
and it stays in the notebook you hand in (so you can compare it with what you then saw).

Answers are graded from the notebook itself: write them as literals in the answer cell (the
grader reads the cell, it does not run it). Exercise points come from hidden tests on your
functions, never from numbers you record.

The last cell of every notebook calls :func:`submit`; on your own machine the same is
``python -m helpers.handin --student-id b09901001 --notebooks notebooks/exercises --out .``
(``make submission``). The zip holds your notebooks and ``submission.json`` (student id, sha256
of every file); an existing zip is only replaced with ``force``.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import math
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from helpers import colab
from helpers.errors import CourseError
from helpers.tokenscan import scan_file

QUESTION_RE = re.compile(r"^p\d+\.q\d+$")
OPTION_RE = re.compile(r"^[A-H]$")
MAX_TEXT = 200


class SubmissionError(CourseError, RuntimeError):
    """The submission cannot be built; the message says what to fix."""


class AnswerError(CourseError, ValueError):
    """An answer has the wrong form; the message says which form is expected."""


def check_question_id(qid: str) -> str:
    """``qid`` if it looks like ``p5.q1``; otherwise a clear error."""
    if not isinstance(qid, str) or not QUESTION_RE.match(qid):
        raise AnswerError(f"question id {qid!r} must look like 'p5.q1' (as printed above the question).")
    return qid


def normalise_choice(choice: Any) -> str | list[str]:
    """One letter ``"B"`` or a sorted list of distinct letters ``["A", "C"]``, upper case."""
    if choice is Ellipsis:
        raise AnswerError("replace `...` with your answer: a letter like \"B\" or a list like [\"A\", \"C\"].")
    if isinstance(choice, str):
        letter = choice.strip().upper()
        if not OPTION_RE.match(letter):
            raise AnswerError(f"{choice!r} is not an option letter: use one of A–H, e.g. \"B\".")
        return letter
    if isinstance(choice, (list, tuple, set)):
        letters = sorted({str(c).strip().upper() for c in choice})
        bad = [c for c in letters if not OPTION_RE.match(c)]
        if bad or not letters:
            raise AnswerError(f"{list(choice)!r} must be a non-empty list of option letters A–H, e.g. [\"A\", \"C\"].")
        return letters
    raise AnswerError(f"a choice is a letter or a list of letters, not {type(choice).__name__}.")


def normalise_fill(value: Any) -> int | float | str:
    """A finite number or a short stripped text."""
    if value is Ellipsis:
        raise AnswerError("replace `...` with your answer: a number or a short text.")
    if isinstance(value, bool):
        raise AnswerError("a fill-in answer is a number or a text, not True/False.")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise AnswerError(f"{value!r} is not a finite number.")
        return value
    if isinstance(value, str) and value.strip() and len(value) <= MAX_TEXT:
        return value.strip()
    raise AnswerError(f"a fill-in answer is a number or a text of 1–{MAX_TEXT} characters, not {value!r}.")


class AnswerSheet:
    """The conceptual-question answers of one notebook (kept in memory; graded from the notebook)."""

    def __init__(self, notebook: str):
        self.notebook = notebook
        self.answers: dict[str, Any] = {}
        self.predictions: dict[str, str] = {}

    def choose(self, qid: str, choice: Any) -> Any:
        """Answer a multiple-choice question with one letter or a list of letters."""
        value = normalise_choice(choice)
        self.answers[check_question_id(qid)] = value
        print(f"{qid}: {value}")
        return value

    def fill(self, qid: str, value: Any) -> Any:
        """Answer a fill-in question with a number or a short text."""
        value = normalise_fill(value)
        self.answers[check_question_id(qid)] = value
        print(f"{qid}: {value!r}")
        return value

    def predict(self, qid: str, text: Any) -> str:
        """Write down what you expect before the next cell shows it (one line, not graded, kept in the hand-in)."""
        value = normalise_prediction(text)
        check_question_id(qid)
        if value:
            self.predictions[qid] = value
            print(f"{qid} prediction noted: {value}")
        else:
            print(f"{qid}: no prediction yet — write one line in the quotes, then run the cell that shows the result.")
        return value


MAX_PREDICTION = 300


def normalise_prediction(text: Any) -> str:
    """A prediction: one line of text, at most ``MAX_PREDICTION`` characters ("" = not written yet)."""
    if text is Ellipsis or text is None:
        return ""
    if not isinstance(text, str):
        raise AnswerError(f"a prediction is one line of text in quotes, not {text!r}.")
    value = " ".join(text.split())
    if len(value) > MAX_PREDICTION:
        raise AnswerError(f"a prediction is one line of at most {MAX_PREDICTION} characters (this one has {len(value)}).")
    return value


def answers_in_source(source: str) -> dict[str, Any]:
    """``{qid: answer}`` of every ``answers.choose(...)`` / ``answers.fill(...)`` call with literal arguments.

    Calls whose answer is not a literal (or is ``...``) count as unanswered; the last call wins.
    Used by the hand-in summary and by the grader, so both read answers the same way.
    """
    try:
        tree = ast.parse(re.sub(r"(?m)^(\s*)[!%].*$", r"\1pass", source))
    except SyntaxError:
        return {}
    found: dict[str, Any] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("choose", "fill") and len(node.args) == 2 and not node.keywords):
            continue
        try:
            qid, raw = ast.literal_eval(node.args[0]), ast.literal_eval(node.args[1])
            check_question_id(qid)
            found[qid] = normalise_choice(raw) if node.func.attr == "choose" else normalise_fill(raw)
        except (ValueError, TypeError, SyntaxError, AnswerError):
            continue
    return found


def notebook_answers(nb: dict) -> dict[str, Any]:
    """The answers of a notebook (its JSON as a dict), cell by cell in order."""
    found: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            found.update(answers_in_source("".join(source) if isinstance(source, list) else source))
    return found


# ----------------------------------------------------------------------------- the submission zip

HOMEWORK = "hw3"  # also in helpers/coursework/config.py
STUDENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{1,31}$")
NOTEBOOK_RE = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")
MANIFEST = "submission.json"
MAX_FILE_BYTES = 40 * 2**20
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


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
    """The notebooks ``NN_topic.ipynb`` in ``directory``, sorted; each must be a readable notebook."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SubmissionError(f"notebook folder {directory} does not exist: pass the folder that holds your NN_topic.ipynb files.")
    files = sorted(p for p in directory.iterdir() if p.is_file() and NOTEBOOK_RE.match(p.name))
    if not files:
        raise SubmissionError(f"no notebook named like 01_chat_template.ipynb in {directory}: pass the folder with your notebooks.")
    for path in files:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SubmissionError(f"{path} is larger than {MAX_FILE_BYTES // 2**20} MB: clear big outputs (Edit > Clear all outputs) and save again.")
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
                raise ValueError("no cells")
        except (ValueError, UnicodeDecodeError) as err:
            raise SubmissionError(f"{path.name} is not a valid notebook ({err}): open it in Jupyter/Colab, save it again, "
                                  "or copy a fresh one from the course and redo your cells.") from None
    return files


def secret_hits(files: list[Path]) -> list[str]:
    """Every place in ``files`` that holds something shaped like a Hugging Face token."""
    return [hit for path in files for hit in scan_file(path, path.name)]


# What to do about a token, by the place the scan names (tokenscan.scan_notebook_json's words): the first match.
FIXES = (
    (" source line ", "delete it from the cell's code"),
    (" output", "clear the output that shows it (Edit > Clear all outputs, or rerun the cell without printing it)"),
    (" attachment", "delete the markdown cell with that attached file and write it again without it"),
    ("metadata", "delete it from the metadata (JupyterLab: the property inspector, gear icon in the right bar; "
                 "or open the .ipynb file in a text editor)"),
    (": cell ", "delete that cell (it is not a well-formed notebook cell)"),
)
FIX_ELSEWHERE = "open the .ipynb file in a text editor and delete it"


def refusal(hits: list[str]) -> str:
    """The error of a hand-in with a token: every place it is, how to remove it, where a token belongs."""
    fixes: list[str] = []
    for hit in hits:
        fix = next((fix for mark, fix in FIXES if mark in hit), FIX_ELSEWHERE)
        if fix not in fixes:
            fixes.append(fix)
    return ("refused: something shaped like a Hugging Face token is in " + "; ".join(hits) + ". Remove it: "
            + "; ".join(fixes) + ". Save the notebook and hand in again. Then revoke that token in your Hugging Face "
            "settings (Access Tokens) and never write one in a notebook: put it in the Colab Secrets panel (key icon, "
            "secret HF_TOKEN, notebook access on) or in the HF_TOKEN environment variable, where the helpers read it.")


def progress(path: Path) -> str:
    """``1 exercise stub(s) left, 2/5 questions answered`` for one notebook (read, not run)."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    code = ["".join(c.get("source", "")) for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    stubs = sum(src.count('raise NotImplementedError("exercise') for src in code)
    asked = sum(len(re.findall(r"\banswers\.(?:choose|fill)\(", src)) for src in code)
    answered = len(notebook_answers(nb))
    return f"{stubs} exercise stub(s) left, {answered}/{asked} questions answered"


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
        raise SubmissionError(refusal(hits))
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
    """One line per notebook: how many exercise stubs are left and how many questions are answered."""
    lines = []
    for path in files:
        try:
            lines.append(f"  {path.name}: {progress(path)}")
        except (ValueError, OSError):
            lines.append(f"  {path.name}: not a readable notebook")
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


def collect(notebook: str, folder: Path) -> list[str]:
    """Copy the open notebook (Colab) into ``folder``; returns what was copied."""
    if colab.in_colab():
        _save_json_atomically(colab.open_notebook_json(), folder / f"{notebook}.ipynb")
        return [f"{notebook}.ipynb"]
    return []


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
    parser = argparse.ArgumentParser(prog="python -m helpers.handin", description="Build STUDENTID_hw3.zip from your notebooks (refused if a token is inside).")
    parser.add_argument("--student-id", required=True, help="your student id, e.g. b09901001")
    parser.add_argument("--notebooks", type=Path, required=True, help="folder with your NN_topic.ipynb notebooks")
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
