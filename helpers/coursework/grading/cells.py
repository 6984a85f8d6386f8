"""Notebook cells, as the grader reads them: which cell defines an exercise, which are context, which are locked.

Locked cells (every code cell of the release that is not an exercise, a question, a cell tagged ``free`` or the
hand-in cell) are compared with the release: a changed or deleted one is reported in the record (and the student's
feedback) and voids nothing, because nothing the grader scores depends on it: the sandbox runs the *release's*
context cells, never the student's, and runs no other locked cell; answers are read from the question cells. Colab
does not enforce the ``editable``/``deletable`` cell metadata, so an edit there is no attempt to cheat.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def defines(source: str, function: str) -> bool:
    """True if the cell defines ``function`` at top level (a syntax error still counts, so it is reported)."""
    return re.search(rf"(?m)^(async\s+)?def\s+{re.escape(function)}\s*\(", source) is not None


def is_question_cell(source: str) -> bool:
    return re.search(r"\banswers\.(choose|fill)\(", source) is not None


def is_handin_cell(cell) -> bool:
    return cell.get("id") == "submit-code" or "STUDENT_ID =" in _source(cell)


def exercise_sources(nb: dict, functions: list[str]) -> list[str]:
    """The code cells that define the exercise functions (the last cell per function), in notebook order."""
    chosen: dict[int, str] = {}
    cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    for function in functions:
        for index in range(len(cells) - 1, -1, -1):
            if defines(_source(cells[index]), function):
                chosen[index] = _source(cells[index])
                break
    return [chosen[i] for i in sorted(chosen)]


def context_sources(nb: dict) -> list[str]:
    """The cells tagged ``context`` (setup, imports, models), in order."""
    return [_source(c) for c in nb.get("cells", []) if c.get("cell_type") == "code"
            and "context" in c.get("metadata", {}).get("tags", [])]


def locked_cells(release_nb: dict, functions: list[str]) -> list[tuple[str, bool]]:
    """``(source, is_context)`` of every locked code cell of the release notebook."""
    locked = []
    for cell in release_nb.get("cells", []):
        if cell.get("cell_type") != "code" or is_handin_cell(cell) or "free" in cell.get("metadata", {}).get("tags", []):
            continue
        source = _source(cell)
        if is_question_cell(source) or any(defines(source, f) for f in functions):
            continue
        locked.append((source, "context" in cell.get("metadata", {}).get("tags", [])))
    return locked


LOCKED_EFFECT = {True: "none: the grader runs the release's version of this context cell",
                 False: "none: the grader does not run this cell"}


def changed_locked_cells(student_nb: dict, release_nb: dict, functions: list[str]) -> list[dict]:
    """Locked cells of the release that the student's notebook no longer has unchanged: ``change`` is "changed"
    when a cell with the release cell's id is still there (edited), "deleted" otherwise; ``effect`` says what it
    changes in the grade (nothing: see the module docstring)."""
    code_cells = [c for c in student_nb.get("cells", []) if c.get("cell_type") == "code"]
    present = {_norm(_source(c)) for c in code_cells}
    ids = {c.get("id") for c in code_cells if c.get("id")}
    changed = []
    for cell_id, src, ctx in _locked_with_ids(release_nb, functions):
        if _norm(src) in present:
            continue
        changed.append({"first_line": src.strip().splitlines()[0][:80] if src.strip() else "", "context": ctx,
                        "change": "changed" if cell_id and cell_id in ids else "deleted",
                        "effect": LOCKED_EFFECT[ctx]})
    return changed


def _locked_with_ids(release_nb: dict, functions: list[str]) -> list[tuple[str | None, str, bool]]:
    """``(cell id, source, is_context)`` of the locked cells, in the order of ``locked_cells``."""
    out = []
    for cell in release_nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if locked_cells({"cells": [cell]}, functions):
            out.append((cell.get("id"), _source(cell), "context" in cell.get("metadata", {}).get("tags", [])))
    return out


def read_notebook(path: Path) -> dict:
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    nbformat.validate(nbformat.from_dict(nb))
    return nb
