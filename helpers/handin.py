"""Hand in: answers to the conceptual questions, the submission zip, the token guard.

In a notebook::

    answers = AnswerSheet("05_contextual_embeddings")
    answers.choose("p5.q1", ["A", "C"])   # several correct options: a list of letters
    answers.choose("p5.q2", "B")          # exactly one correct option: one letter
    answers.fill("p3.q1", 692)            # a number or a short text

Answers are graded from the notebook itself: write them as literals in the answer cell (the
grader reads the cell, it does not run it). Exercise points come from hidden tests on your
functions, never from numbers you record.
"""
from __future__ import annotations

import ast
import math
import re
from typing import Any

QUESTION_RE = re.compile(r"^p\d+\.q\d+$")
OPTION_RE = re.compile(r"^[A-H]$")
MAX_TEXT = 200


class AnswerError(ValueError):
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
