"""A tiny two-exercise course (no model) used by the authoring, hand-in and grading tests."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat

from helpers.coursework import authoring

SETUP = '''# Setup (the student version gets the course's own setup cell)
import os, sys
from pathlib import Path
ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "helpers" / "backend.py").exists())
sys.path.insert(0, str(ROOT))
from helpers.handin import AnswerSheet
answers = AnswerSheet("01_toy")'''

DOUBLE = '''def double(x: int) -> int:
    """Twice x."""
    # BEGIN SOLUTION
    result = 2 * x
    return result
    # END SOLUTION'''

SCALE = '''def scale(v: torch.Tensor, k: float) -> torch.Tensor:
    """v times k, as a new tensor."""
    # BEGIN SOLUTION
    return v * k
    # END SOLUTION'''

SPEC = {
    "notebook": "01_toy",
    "timeout_s": 60,
    "exercises": {
        "1.1": {"function": "double", "points": 2, "difficulty": 2, "importance": 1, "minutes": 2},
        "1.2": {"function": "scale", "points": 3, "difficulty": 2, "importance": 1, "minutes": 20},
    },
    "questions": {
        "p1.q1": {"kind": "choice", "points": 1},
        "p1.q2": {"kind": "number", "points": 1, "tolerance": 0.5},
    },
}

CASES = '''"""Hidden cases of the toy course."""
import torch
from helpers.coursework.grading.compare import allclose, exact
from helpers.coursework.grading.spec import Case


def cases():
    g = torch.Generator().manual_seed(7)
    return {
        "double": [Case("four", (4,), compare=exact()), Case("negative", (-7,), compare=exact()),
                   Case("large", (10**6,), compare=exact())],
        "scale": [Case("vector", (torch.randn(5, generator=g), 2.5), compare=allclose()),
                  Case("matrix", (torch.randn(3, 4, generator=g), -1.0), compare=allclose())],
    }
'''


def toy_notebook():
    """The instructor version of ``01_toy``."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cells = [
        md("# 01 · Toy\nA notebook for the tests."),
        code(SETUP, metadata={"tags": ["setup", "context"]}),
        code("import torch", metadata={"tags": ["context"]}),
        md("### Exercise 1.1 — implement `double`\nReturn twice the input."),
        code(DOUBLE, outputs=[nbformat.v4.new_output("stream", text="leftover output\n")], execution_count=3),
        code('assert double(3) == 6, f"double(3) gave {double(3)}, expected 6"\nprint("✓ double")'),
        md("### Exercise 1.2 — implement `scale`\n<!-- BEGIN SOLUTION -->\nMultiply.\n<!-- END SOLUTION -->"),
        code(SCALE),
        code("print(scale(torch.ones(2), 3.0))"),
        md("**p1.q1** Which is right? A. no B. yes"),
        code('answers.choose("p1.q1", "B")  # SOLUTION\nanswers.fill("p1.q2", 42)  # SOLUTION'),
        md("## Discussion\nDone."),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def write_course(root: Path) -> dict[str, Path]:
    """Instructor notebook, its student version, spec and hidden cases of the toy course under ``root``."""
    paths = {"notebooks": root / "notebooks", "exercises": root / "notebooks" / "exercises",
             "spec": root / "grading", "cases": root / "toycases"}
    for key in ("notebooks", "spec", "cases"):
        paths[key].mkdir(parents=True, exist_ok=True)
    nbformat.write(toy_notebook(), paths["notebooks"] / "01_toy.ipynb")
    authoring.generate(paths["notebooks"], paths["exercises"], readme=None)
    (paths["spec"] / "01_toy.json").write_text(json.dumps(SPEC, indent=2))
    (paths["cases"] / "__init__.py").write_text("")
    (paths["cases"] / "nb01.py").write_text(CASES)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return paths


def load_toy_course(paths: dict[str, Path]):
    from helpers.coursework.grading import grader

    return grader.load_course(paths["spec"], paths["notebooks"], paths["exercises"], cases_package="toycases")


def student_notebook(paths: dict[str, Path], edit=None) -> dict:
    """The release notebook as JSON, optionally changed by ``edit(nb)``."""
    nb = json.loads((paths["exercises"] / "01_toy.ipynb").read_text())
    if edit:
        edit(nb)
    return nb


def set_cell(nb: dict, contains: str, source: str) -> None:
    """Replace the source of the first code cell that contains ``contains``."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and contains in "".join(cell["source"]):
            cell["source"] = source
            return
    raise KeyError(contains)


def write_zip(directory: Path, student_id: str, nb: dict, name: str = "01_toy") -> Path:
    """``directory/STUDENTID_hw3.zip`` holding one notebook, built by the course's hand-in code."""
    from helpers import handin

    folder = directory / f"nb-{student_id}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.ipynb").write_text(json.dumps(nb))
    return handin.build_zip(student_id, folder, directory)


def toy_work_folder(tmp_path: Path) -> Path:
    """A student's work folder ``tmp_path/work`` holding the toy course's ``01_toy.ipynb``."""
    folder = tmp_path / "work"
    folder.mkdir()
    nbformat.write(toy_notebook(), folder / "01_toy.ipynb")
    return folder
