"""Student notebooks from instructor notebooks: ``python -m helpers.coursework.authoring`` (``make exercises``).

Instructor notebooks ``notebooks/NN_topic.ipynb`` mark solution code (otter-grader's conventions):

    # BEGIN SOLUTION             ->   # YOUR CODE HERE
    probs = logits.softmax(-1)         raise NotImplementedError("exercise 4.1: implement `top_k_filter`")
    # END SOLUTION
    k = 2  # SOLUTION            ->   k = ...  # YOUR CODE HERE

Markdown may hide model answers between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->``.
Question answers are single lines: ``answers.choose("p5.q1", ["A", "C"])  # SOLUTION`` becomes
``answers.choose("p5.q1", ...)  # YOUR CODE HERE``.

The student version ``notebooks/exercises/NN_topic.ipynb`` gets an Open-in-Colab badge on top,
the course's setup cell (``REPO_URL`` from ``helpers/colab.py``, exit codes checked) in place of
the first code cell, locked cells (``editable``/``deletable`` false: everything but exercises,
answers, cells tagged ``free`` and the hand-in cell), a hand-in cell at the end; it loses outputs and execution counts
and keeps only well-known metadata, so generating it twice gives the same bytes.

A cell tagged ``reenter`` (and ``free``) holds an earlier notebook's exercise that a later notebook's
demonstrations use, so that no locked cell shows that exercise's answer: its first line names it
(``# Exercise 1.1 from notebook 01: paste your `prompt_ids` here``); its solution is stubbed like an
exercise's, it is not one of this notebook's exercises (not graded here) and students may edit it.

A cell tagged ``premise`` (instructor only: ``helpers.coursework.premises``) checks the observation a question's
key rests on; the student version drops it. A cell tagged ``prediction`` (and ``free``) holds the student's
``answers.predict(...)`` lines, written before the cell that shows the result; it is kept as it is.
"""
from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
from pathlib import Path

import nbformat

from helpers.colab import REPO_URL, badge_markdown, readme_with_badges
from helpers.errors import CourseError

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
EXERCISE_DIR = NOTEBOOK_DIR / "exercises"
README = REPO_ROOT / "README.md"
NOTEBOOK_NAME_RE = re.compile(r"^(\d\d)_[a-z0-9_]+$")

BEGIN_RE = re.compile(r"^(\s*)#\s*BEGIN SOLUTION\b.*$")
END_RE = re.compile(r"^\s*#\s*END SOLUTION\b.*$")
LINE_RE = re.compile(r"^(?P<code>.*?\S)\s*#\s*SOLUTION\s*$")
MD_BEGIN_RE = re.compile(r"^\s*<!--\s*BEGIN SOLUTION\s*-->\s*$")
MD_END_RE = re.compile(r"^\s*<!--\s*END SOLUTION\s*-->\s*$")
EXERCISE_RE = re.compile(r"Exercise\s+(\d+\.\d+)\s*[—–:-]*\s*(.*)")
REENTER_TAG = "reenter"
PREMISE_TAG = "premise"
PREDICTION_TAG = "prediction"
REENTER_RE = re.compile(r"^#\s*Exercise\s+(\d+\.\d+)\s+from notebook\s+(\d\d):\s*(.+?)\s*$", re.MULTILINE)
YOUR_CODE = "# YOUR CODE HERE"
MARKER_WORDS = ("BEGIN SOLUTION", "END SOLUTION", "# SOLUTION")

CELL_KEYS = {"tags", "jupyter", "editable", "deletable"}
ANSWER_CALL_RE = re.compile(r"\banswers\.(choose|fill)\(")
BADGE_ID = "open-in-colab"
SUBMIT_IDS = ("submit-text", "submit-code")


class AuthoringError(CourseError, ValueError):
    """An instructor notebook's solution markers cannot be turned into a student version."""


def exercise_title(cells: list, index: int, fallback: str) -> tuple[str, str]:
    """``(number, title)`` of the exercise heading in the nearest markdown cell above ``index``."""
    for cell in reversed(cells[:index]):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                match = EXERCISE_RE.search(line)
                if match:
                    title = re.split(r"\s[(\[]|\s[★☆]", match.group(2))[0]
                    title = re.sub(r"[*#`]", "", title).strip(" .—–-:_")
                    return match.group(1), title[:80]
    return fallback, ""


def stub_raise(indent: str, number: str, title: str) -> list[str]:
    """The two lines that replace a solution block."""
    what = title or "write your code here"
    message = f"exercise {number}: {what}".replace("\\", "\\\\").replace('"', '\\"')
    return [f"{indent}{YOUR_CODE}", f'{indent}raise NotImplementedError("{message}")']


def stub_line(line: str) -> str:
    """``x = value  # SOLUTION`` -> ``x = ...  # YOUR CODE HERE`` (also ``return``, ``+=``, annotations)."""
    match = LINE_RE.match(line)
    code = match.group("code") if match else line
    indent = code[: len(code) - len(code.lstrip())]
    statement = code.strip()
    keep = ""
    try:
        node = ast.parse(statement).body[0]
        if isinstance(node, (ast.Assign, ast.AugAssign)) or (isinstance(node, ast.AnnAssign) and node.value is not None):
            keep = statement[: node.value.col_offset].rstrip() + " "
        elif isinstance(node, ast.Return):
            keep = "return "
        elif (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute)
              and node.value.func.attr in ("choose", "fill") and len(node.value.args) == 2):
            keep = statement[: node.value.args[1].col_offset]
            return f"{indent}{keep}...)  {YOUR_CODE}"
    except (SyntaxError, IndexError):
        assignment = re.match(r"^([^=]*?[^=!<>:+\-*/%&|^@])=(?!=)", statement)
        keep = assignment.group(1).rstrip() + " = " if assignment else ""
    return f"{indent}{keep}...  {YOUR_CODE}"


def strip_code(source: str, number: str, title: str, where: str) -> str:
    """Code cell source with every solution region replaced by a stub."""
    out: list[str] = []
    block_indent: str | None = None
    for line in source.splitlines():
        begin = BEGIN_RE.match(line)
        if begin:
            if block_indent is not None:
                raise AuthoringError(f"{where}: '# BEGIN SOLUTION' inside another solution block: close the first with '# END SOLUTION'.")
            block_indent = begin.group(1)
            out += stub_raise(block_indent, number, title)
        elif END_RE.match(line):
            if block_indent is None:
                raise AuthoringError(f"{where}: '# END SOLUTION' without a '# BEGIN SOLUTION' above it.")
            block_indent = None
        elif block_indent is None:
            out.append(stub_line(line) if LINE_RE.match(line) else line)
    if block_indent is not None:
        raise AuthoringError(f"{where}: '# BEGIN SOLUTION' is never closed: add '# END SOLUTION'.")
    return "\n".join(out)


def strip_markdown(source: str, where: str) -> str:
    """Markdown source without its ``<!-- BEGIN SOLUTION -->`` regions (worked solutions, interpretations, the
    discussion): they are the instructor's and leave no trace, not even a blank line more than was there."""
    out: list[str] = []
    inside = removed = False  # removed: a region was dropped since the last line with text
    for line in source.splitlines():
        if MD_BEGIN_RE.match(line):
            if inside:
                raise AuthoringError(f"{where}: nested <!-- BEGIN SOLUTION --> in markdown.")
            inside = removed = True
        elif MD_END_RE.match(line):
            if not inside:
                raise AuthoringError(f"{where}: <!-- END SOLUTION --> without a BEGIN above it.")
            inside = False
        elif not inside:
            if line.strip():
                removed = False
            elif removed and (not out or not out[-1].strip()):
                continue  # the blank line on each side of a dropped region becomes one
            out.append(line)
    if inside:
        raise AuthoringError(f"{where}: <!-- BEGIN SOLUTION --> is never closed.")
    while removed and out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


def has_solution(cell) -> bool:
    """True if the cell holds any solution marker."""
    return any(word in cell.source for word in MARKER_WORDS) or "<!-- BEGIN SOLUTION" in cell.source


def python_parses(source: str) -> str | None:
    """None if the cell is valid Python once IPython lines (``!``, ``%``) are blanked, else the error."""
    lines = [re.sub(r"^(\s*)[!%].*$", r"\1pass", line) for line in source.splitlines()]
    try:
        ast.parse("\n".join(lines))
    except SyntaxError as err:
        return f"line {err.lineno}: {err.msg}"
    return None


def setup_source(name: str) -> str:
    """The setup cell of every student notebook: fetch the course in Colab (exit codes checked), find it, load helpers."""
    return (
        "# Setup: in Colab, fetch the course code; everywhere, find the course folder and load the helpers.\n"
        "import os, shutil, subprocess, sys\n"
        "from pathlib import Path\n"
        f'REPO_URL = "{REPO_URL}"\n'
        'if "google.colab" in sys.modules and not Path("/content/course/helpers").exists():\n'
        '    shutil.rmtree("/content/course", ignore_errors=True)\n'
        '    for step, cmd in (("git clone", ["git", "clone", "-q", "--depth", "1", REPO_URL, "/content/course"]),\n'
        '                      ("pip install", [sys.executable, "-m", "pip", "install", "-q", "-r", "/content/course/requirements.txt"])):\n'
        "        if subprocess.run(cmd).returncode != 0:\n"
        '            raise SystemExit(f"Setup stopped: `{step}` failed (its message is above). Check the runtime is online "\n'
        '                             "and run this cell again; if it keeps failing: Runtime > Disconnect and delete runtime.")\n'
        '    os.chdir("/content/course/notebooks")\n'
        'ROOT = next((p for p in [Path.cwd(), *Path.cwd().parents, Path("/content/course")] if (p / "helpers" / "backend.py").exists()), None)\n'
        "if ROOT is None:\n"
        '    raise SystemExit("Setup stopped: no course folder (with helpers/) above this notebook: open it from the course repository.")\n'
        "sys.path.insert(0, str(ROOT))\n"
        "\n"
        "from helpers import backend\n"
        "from helpers.handin import AnswerSheet\n"
        "print(backend.describe())\n"
        f'answers = AnswerSheet("{name}")'
    )


def submission_cells(name: str) -> list:
    """The markdown + code cells appended to every student notebook for handing in."""
    text = (
        "## Hand in\n"
        "Run the next cell when you finish this notebook. It keeps a copy of the notebook and its "
        "answers in your submission folder (Google Drive in Colab). With `STUDENT_ID` filled in it also "
        "builds `STUDENTID_hw3.zip` from every notebook collected so far and downloads it: hand in that zip "
        "once all notebooks are done. Never put a token in a cell: the zip is refused if one is found."
    )
    code = (
        "# Hand in: collect this notebook and its answers; with STUDENT_ID set, build and download the zip.\n"
        'STUDENT_ID = ""  # your student id, e.g. "b09901001"\n'
        "from helpers import handin\n"
        f'handin.submit("{name}", student_id=STUDENT_ID)'
    )
    return [
        nbformat.v4.new_markdown_cell(text, id=SUBMIT_IDS[0]),
        nbformat.v4.new_code_cell(code, id=SUBMIT_IDS[1]),
    ]


def clean_metadata(nb) -> None:
    """Notebook metadata a student version keeps: Python kernel, and a T4 GPU runtime in Colab."""
    nb.metadata = nbformat.from_dict({
        "accelerator": "GPU",
        "colab": {"gpuType": "T4", "provenance": [], "toc_visible": True},
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })


def exercise_numbers(nb, name: str) -> list[str]:
    """Numbers of the exercises (solution-bearing code cells) of a notebook, in order."""
    prefix = (NOTEBOOK_NAME_RE.match(name).group(1).lstrip("0") or "0") if NOTEBOOK_NAME_RE.match(name) else "0"
    numbers: list[str] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and has_solution(cell) and not is_reentered(cell):
            number = exercise_title(nb.cells, index, f"{prefix}.{len(numbers) + 1}")[0]
            if number not in numbers:
                numbers.append(number)
    return numbers


def is_reentered(cell) -> bool:
    """A cell tagged ``reenter``: an earlier notebook's exercise, pasted again by the student (not graded here)."""
    return REENTER_TAG in cell.get("metadata", {}).get("tags", [])


def reentered_title(cell, where: str) -> tuple[str, str]:
    """``(number, what to do)`` from a ``reenter`` cell's first line, or an error naming the expected line."""
    match = REENTER_RE.search(cell.source)
    if not match or "free" not in cell.metadata.get("tags", []):
        raise AuthoringError(f"{where}: a cell tagged 'reenter' is also tagged 'free' and starts with a line like "
                             "'# Exercise 1.1 from notebook 01: paste your `prompt_ids` here'.")
    return match.group(1), f"{match.group(3)} (notebook {match.group(2)})"


def make_student(nb, name: str, only: set[str] | None = None, stub_answers: bool = True):
    """Student version of an instructor notebook (``only``: stub just these exercise numbers; ``stub_answers``:
    blank the question answers). ``make_student(nb, name, set(), False)`` is a fully solved hand-in."""
    if not NOTEBOOK_NAME_RE.match(name):
        raise AuthoringError(f"notebook name {name!r} must look like '04_sampling' (two digits, underscore, lowercase).")
    student = copy.deepcopy(nb)
    student.cells = [c for c in student.cells if PREMISE_TAG not in c.get("metadata", {}).get("tags", [])]
    kept = [c for c in nb.cells if PREMISE_TAG not in c.get("metadata", {}).get("tags", [])]  # indexed like student.cells
    prefix = NOTEBOOK_NAME_RE.match(name).group(1).lstrip("0") or "0"
    count = 0
    first_code = True
    for index, cell in enumerate(student.cells):
        where = f"{name}.ipynb cell {index + 1}"
        locked = False
        if cell.cell_type == "code" and first_code:
            first_code = False
            cell.source = setup_source(name)
            locked = True
        elif cell.cell_type == "code" and ANSWER_CALL_RE.search(cell.source) and "BEGIN SOLUTION" not in cell.source:
            if stub_answers:
                cell.source = strip_code(cell.source, "", "", where)  # question answers: single `# SOLUTION` lines
        elif cell.cell_type == "code" and has_solution(cell) and is_reentered(cell):
            number, title = reentered_title(cell, where)
            if only is None:  # a solved hand-in (``only`` given) keeps it
                cell.source = strip_code(cell.source, number, title, where)
        elif cell.cell_type == "code" and has_solution(cell):
            count += 1
            number, title = exercise_title(kept, index, f"{prefix}.{count}")
            if only is None or number in only:
                stubbed = strip_code(cell.source, number, title, where)
                if python_parses(cell.source) is None and (error := python_parses(stubbed)):
                    raise AuthoringError(
                        f"{where}: the student version is not valid Python ({error}); "
                        "put multi-line solutions between '# BEGIN SOLUTION' and '# END SOLUTION'."
                    )
                cell.source = stubbed
        elif cell.cell_type == "markdown" and "<!-- BEGIN SOLUTION" in cell.source:
            cell.source = strip_markdown(cell.source, where)
        elif cell.cell_type == "code":
            locked = "free" not in cell.metadata.get("tags", [])  # `free`: a cell students may change (form fields)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.setdefault("id", f"cell-{index + 1}")
        metadata = {k: v for k, v in sorted(cell.metadata.items()) if k in CELL_KEYS - {"editable", "deletable"}}
        if locked:
            metadata |= {"deletable": False, "editable": False}
        cell.metadata = nbformat.from_dict(dict(sorted(metadata.items())))
    student.cells = [c for c in student.cells if c.cell_type != "markdown" or c.source.strip()]  # solution-only cells
    badge = nbformat.v4.new_markdown_cell(badge_markdown(f"notebooks/exercises/{name}.ipynb"), id=BADGE_ID)
    student.cells.insert(0, badge)
    if "handin.submit(" not in "".join(c.source for c in nb.cells if c.cell_type == "code"):
        student.cells += submission_cells(name)
    clean_metadata(student)
    student.nbformat, student.nbformat_minor = 4, 5
    nbformat.validate(student)
    return student


def render(nb) -> str:
    """Deterministic text of a notebook (nbformat's layout, trailing newline)."""
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def instructor_notebooks(directory: Path = NOTEBOOK_DIR) -> list[Path]:
    """The instructor notebooks ``NN_topic.ipynb``, sorted."""
    return sorted(p for p in Path(directory).glob("[0-9][0-9]_*.ipynb") if NOTEBOOK_NAME_RE.match(p.stem))


def student_text(path: Path, only: set[str] | None = None) -> str:
    """Rendered student version of the instructor notebook at ``path``."""
    nb = nbformat.read(path, as_version=4)
    return render(make_student(nb, path.stem, only))


def generate(source_dir: Path = NOTEBOOK_DIR, out_dir: Path = EXERCISE_DIR, check: bool = False,
             readme: Path | None = README) -> list[str]:
    """Write (or with ``check`` only compare) every student version and the README badges; returns what changed."""
    changed: list[str] = []
    expected = {}
    for path in instructor_notebooks(source_dir):
        expected[path.name] = student_text(path)
    for name, text in expected.items():
        target = Path(out_dir) / name
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            changed.append(name)
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_suffix(".ipynb.tmp")
                tmp.write_text(text, encoding="utf-8")
                tmp.replace(target)
    if readme is not None and readme.is_file():
        text = readme.read_text(encoding="utf-8")
        updated = readme_with_badges(text, list(expected))
        if updated != text:
            changed.append(f"{readme.name} (badge table)")
            if not check:
                readme.write_text(updated, encoding="utf-8")
    for orphan in sorted(p for p in instructor_notebooks(out_dir) if p.name not in expected):
        changed.append(f"{orphan.name} (its instructor notebook is gone)")
        if not check and is_generated(orphan):
            orphan.unlink()
    return changed


def is_generated(path: Path) -> bool:
    """True if the notebook was written by this module (its first cell is the Colab badge)."""
    try:
        cells = nbformat.read(path, as_version=4).cells
    except Exception:
        return False
    return bool(cells) and cells[0].get("id") == BADGE_ID


def main(argv: list[str] | None = None) -> int:
    """Command line: write notebooks/exercises/ (``--check``: exit 1 if it is stale)."""
    parser = argparse.ArgumentParser(prog="python -m helpers.coursework.authoring", description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=NOTEBOOK_DIR, help="instructor notebooks (default notebooks/)")
    parser.add_argument("--out", type=Path, default=EXERCISE_DIR, help="student notebooks (default notebooks/exercises/)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a student version is stale")
    parser.add_argument("--readme", type=Path, default=README, help="README whose badge table is refreshed (default README.md)")
    args = parser.parse_args(argv)
    try:
        changed = generate(args.source, args.out, check=args.check, readme=args.readme)
    except (AuthoringError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.check and changed:
        print("stale student notebooks (run `make exercises`): " + ", ".join(changed), file=sys.stderr)
        return 1
    for name in changed:
        print(f"updated {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
