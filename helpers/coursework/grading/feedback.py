"""Feedback a student can read, from one grading record: ``OUT/feedback/ID.md`` and Gradescope's ``output``.

Per exercise: the points, which *kinds* of hidden case failed (``Case.kind``, else the case's name: what the case
varies, never its values), what went wrong in words from a fixed vocabulary, what to try, the notebook's check to
run again and the tier-1 hint ("Hint 1 — the idea") to reread. Per question: right, wrong or not answered; the key
only with ``show_keys`` (after the deadline). Changed or deleted locked cells are listed with what they changed in
the grade (nothing).

Students are adversaries and their code saw the hidden inputs, so no text that student code could have shaped
reaches the feedback: error messages are reduced to a built-in exception's name, and a comparison's message is
quoted only when it is plain prose (no digits, quotes, brackets or "got": nothing that can carry a value). Everything
else comes from this module, the spec, the cases' names and the release notebook (which the student has anyway).
"""
from __future__ import annotations

import builtins
import re
from pathlib import Path
from typing import Any

from helpers.coursework.grading.spec import Case

BUILTIN_ERRORS = frozenset(name for name in dir(builtins)
                           if isinstance(getattr(builtins, name), type) and issubclass(getattr(builtins, name), BaseException))
# A comparison message that is constant prose: letters, spaces and a little punctuation only.
SAFE_PROSE = re.compile(r"^[A-Za-z ,;:.()'\-<>=+*/_]{1,240}$")
UNSAFE_WORDS = re.compile(r"\bgot\b|'", re.IGNORECASE)

WHAT = {  # what went wrong -> what to try
    "stub": ("the stub is still there (NotImplementedError)",
             "replace the `raise NotImplementedError(...)` line with your code and run the cell again."),
    "raised": ("your function raised {error}",
               "call it on inputs unlike the notebook's (another size, batch or dtype; an empty input) and read the "
               "traceback."),
    "timeout": ("it ran past its time limit",
                "look for a Python loop over every token or element, or a loop that never ends; use tensor operations."),
    "undefined": ("the function is not defined by your notebook",
                  "keep the exercise cell's `def` line (name and arguments) exactly as the stub has it."),
    "late": ("not run: the notebook's time ran out before this case", "make the slow exercise of this notebook faster."),
    "unreadable": ("the output could not be read (too large, or a type the grader cannot read)",
                   "return the type the docstring names: a tensor, a number, a string, a list or a dict of those."),
    "not run": ("not run: the notebook stopped before the hidden cases", "see the notes on the notebook above."),
    "partner": ("right here, but this case counts only together with a harder case of the same exercise, which failed",
                "a constant or the input itself is right on this easy case by chance: make the harder cases pass."),
    "problem": ("not graded: {problem}", "see the notes on the notebook above."),
    "shape": ("the output has the wrong shape", "compare your output's shape with the docstring's, on a batch of "
                                                "more than one row and on other sizes than the notebook's."),
    "dtype": ("the output has the wrong dtype", "keep the dtype the docstring asks for (often the input's)."),
    "nonfinite": ("the output has NaN or infinite values where none belong",
                  "look for a division by zero, log(0), or a softmax over a row with nothing left."),
    "structure": ("the output has the wrong type or structure",
                  "return exactly the type, length and keys the docstring describes."),
    "values": ("the values differ from the right answer", "the contract holds on the notebook's input but not on this "
                                                          "kind of input: reread the exercise text for the edge case."),
}


# ----------------------------------------------------------------------------- pieces

def case_kind(case: Case) -> str:
    """What a case varies, in words: ``case.kind``, else its name with underscores as spaces."""
    text = (getattr(case, "kind", "") or case.name).strip()
    return text if " " in text else text.replace("_", " ")  # snake_case names read as words


def classify(row: dict) -> tuple[str, dict]:
    """``(key of WHAT, format values)`` for a failed case row of the record; never returns student text."""
    failure, message = row.get("failure", "compare"), str(row.get("message", ""))
    if failure == "problem":
        reason = message.split(" (")[0]
        return "problem", {"problem": reason if SAFE_PROSE.match(reason) else "the notebook could not be read"}
    if failure in ("not run", "partner"):
        return failure, {}
    if failure == "error":
        if message.startswith("timed out after"):
            return "timeout", {}
        if message.endswith("is not defined by the notebook"):
            return "undefined", {}
        if message.startswith("the notebook ran out of time"):
            return "late", {}
        if message.startswith("output too large") or "which the grader cannot read" in message:
            return "unreadable", {}
        name = message.split(":", 1)[0].strip()
        if name == "NotImplementedError":
            return "stub", {}
        return "raised", {"error": name if name in BUILTIN_ERRORS else "an exception"}
    low = message.lower()
    if "could not be compared" in low:
        return "unreadable", {}
    if "shape" in low:
        return "shape", {}
    if "dtype" in low:
        return "dtype", {}
    if re.search(r"\bnan\b|\binf\b|infinite|non-finite", low):
        return "nonfinite", {}
    if re.search(r"expected (a|an|the) (list|number|array|tensor|dict|str)|expected keys|items, got|expected \w+ items", low):
        return "structure", {}
    return "values", {}


def safe_message(row: dict) -> str:
    """The comparison's own message when it is constant prose (it then names the fix), else ""."""
    message = str(row.get("message", "")).strip()
    if row.get("failure", "compare") != "compare" or not SAFE_PROSE.match(message) or UNSAFE_WORDS.search(message):
        return ""
    return message


def tier1_hint(release_nb: dict, number: str) -> str:
    """The text of "Hint 1" in the release notebook's section of exercise ``number`` ("" if there is none)."""
    for cell in release_nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        source = "".join(cell.get("source", ""))
        heading = re.search(r"(?m)^#+\s*Exercise\s+(\d+\.\d+)", source)
        if not heading or heading.group(1) != number:
            continue
        hint = re.search(r"<summary>\s*Hint 1[^<]*</summary>(.*?)</details>", source, re.S)
        if hint:
            return " ".join(hint.group(1).split())
    return ""


def check_call(release_nb: dict, function: str) -> str:
    """The visible check cell that tests ``function`` (e.g. ``checks.check_top_k_filter(top_k_filter)``)."""
    for cell in release_nb.get("cells", []):
        source = "".join(cell.get("source", "")) if cell.get("cell_type") == "code" else ""
        match = re.search(rf"checks\.check_\w+\(\s*{re.escape(function)}\b[^\n]*", source)
        if match:
            return match.group(0).strip()
    return ""


# ----------------------------------------------------------------------------- sections

def exercise_text(course, name: str, number: str, row: dict) -> str:
    """Markdown for one exercise of a notebook record."""
    function = row["function"]
    title = f"### Exercise {number} `{function}`: {_pts(row['earned'])} / {_pts(row['points'])} points"
    cases = row.get("cases", [])
    failed = [c for c in cases if not c.get("passed")]
    lines = [title, ""]
    if not failed:
        lines.append(f"All {len(cases)} hidden cases pass.")
        return "\n".join(lines)
    lines.append(f"{len(cases) - len(failed)} of {len(cases)} hidden cases pass. The failed ones, by what went wrong:")
    by_name = {t.case.name: t.case for t in course.tests.get(name, []) if t.exercise == number}
    tries: list[str] = []
    groups: dict[str, list[str]] = {}  # what went wrong -> the kinds of case it happened on
    for c in failed:
        key, values = classify(c)
        what, todo = WHAT[key]
        detail = safe_message(c)
        case = by_name.get(c["case"])
        groups.setdefault(what.format(**values) + (f" ({detail})" if detail else ""), []).append(
            case_kind(case) if case else case_kind(Case(c["case"])))
        if todo not in tries:
            tries.append(todo)
    for what, kinds in groups.items():
        lines.append(f"- {what[:1].upper() + what[1:]}: {'; '.join(kinds)}.")
    lines += ["", "What to try:"] + [f"- {t[:1].upper() + t[1:]}" for t in tries]
    release = course.release.get(name, {})
    check = check_call(release, function)
    if check:
        lines.append(f"- Run the check cell `{check}` again: its message names the mistake it finds on the notebook's inputs.")
    hint = tier1_hint(release, number)
    if hint:
        lines += ["", f"Reread *Hint 1 — the idea* of exercise {number}:", "", f"> {hint}"]
    return "\n".join(lines)


def question_text(course, name: str, qid: str, row: dict, show_keys: bool = False) -> str:
    """One line for a question: right / wrong / not answered (and the key, after the deadline)."""
    verdict = "right" if row["earned"] else ("wrong" if row.get("answered") else "not answered")
    line = f"- **{qid}** ({_pts(row['points'])} point{'s' if row['points'] != 1 else ''}): {verdict}"
    if show_keys and not row["earned"]:
        line += f"; the key is {course.keys[name][qid]!r}"
    return line


def notebook_notes(nb_record: dict) -> list[str]:
    """Problems, cells that failed to run, and changed locked cells of one notebook."""
    notes = []
    if nb_record.get("problem"):
        key, values = classify({"failure": "problem", "message": nb_record["problem"]})
        notes.append(f"- {WHAT[key][0].format(**values)[:1].upper()}{WHAT[key][0].format(**values)[1:]}.")
    for error in nb_record.get("errors", []):
        cell = re.match(r"^(context|exercise) (\d+): ([A-Za-z_]\w*)", str(error))
        if cell:
            where, index, exc = cell.groups()
            exc = exc if exc in BUILTIN_ERRORS else "an exception"
            notes.append(f"- Your exercise cell number {index} raised {exc} when the grader ran it." if where == "exercise"
                         else f"- The course's context cell {index} raised {exc} while grading: tell the TAs.")
        elif "timed out" in str(error):
            notes.append("- The notebook ran past its time limit; the cases after that point were not run.")
        else:
            notes.append("- The grader stopped while running this notebook; the cases after that point were not run.")
    changed = nb_record.get("locked_cells_changed", [])
    if changed:
        notes.append(f"- {len(changed)} changed or deleted locked cell(s). Colab does not enforce cell locks; the "
                     "grader used the release's version (or did not run the cell), so this changed nothing in your "
                     "grade:")
        notes += [f"  - `{c['first_line']}` ({c.get('change', 'changed')})" for c in changed]
    return notes


def render(record: dict, course, show_keys: bool = False) -> str:
    """The whole feedback of one submission, in Markdown."""
    sid = record.get("student_id", "")
    lines = [f"# Feedback for {sid}", "",
             f"Score: {_pts(record.get('score', 0))} / {_pts(record.get('max_score', 0))}", ""]
    if record.get("status") != "graded":
        lines += [f"Not graded: {record.get('error') or record.get('status')}", ""]
    if record.get("id_mismatch"):
        lines += [f"Note: {record['id_mismatch']}.", ""]
    for name, nb_record in record.get("notebooks", {}).items():
        earned = sum(r["earned"] for part in ("exercises", "questions") for r in nb_record.get(part, {}).values())
        points = sum(r["points"] for part in ("exercises", "questions") for r in nb_record.get(part, {}).values())
        lines += [f"## {name}: {_pts(earned)} / {_pts(points)}", ""]
        notes = notebook_notes(nb_record)
        if notes:
            lines += notes + [""]
        for number, row in nb_record.get("exercises", {}).items():
            lines += [exercise_text(course, name, number, row), ""]
        questions = nb_record.get("questions", {})
        if questions:
            lines += ["### Questions", ""]
            lines += [question_text(course, name, qid, row, show_keys) for qid, row in questions.items()] + [""]
    return "\n".join(lines).rstrip() + "\n"


def write(record: dict, course, directory: Path, show_keys: bool = False) -> Path:
    """``directory/ID.md``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{record['student_id']}.md"
    path.write_text(render(record, course, show_keys), encoding="utf-8")
    return path


def _pts(value: Any) -> str:
    return f"{float(value):g}"
