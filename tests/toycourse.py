"""A tiny two-exercise course used by the authoring, submission and grading tests (no models)."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat

from helpers.colab import REPO_URL

SETUP = f'''# Setup: in Colab, fetch the course code; everywhere, find the repo and load the models.
import os, sys
from pathlib import Path
REPO_URL = "{REPO_URL}"
if "google.colab" in sys.modules and not Path("/content/course/helpers").exists():
    !git clone -q --depth 1 {{REPO_URL}} /content/course
    os.chdir("/content/course/notebooks")
ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents, Path("/content/course")] if (p / "helpers" / "backend.py").exists())
sys.path.insert(0, str(ROOT))
from helpers.answers import AnswerSheet
answers = AnswerSheet("01_toy")'''

DOUBLE = '''def double(x: int) -> int:
    """Twice x."""
    # BEGIN SOLUTION
    result = 2 * x
    return result
    # END SOLUTION'''

SPEC = {
    "homework": "hw3",
    "notebooks": {"01_toy": {"timeout_s": 60}},
    "questions": {
        "p1.double": {"notebook": "01_toy", "points": 2, "compare": "exact", "exercises": ["1.1"]},
        "p1.k_squared": {"notebook": "01_toy", "points": 1, "compare": "exact", "exercises": ["1.2"]},
        "p1.both": {"notebook": "01_toy", "points": 1, "compare": "abs", "tolerance": 0.5, "exercises": ["1.1", "1.2"]},
        "p2.order": {"notebook": "01_toy", "points": 1, "compare": "ordering", "exercises": []},
        "p2.token_seen": {"notebook": "01_toy", "points": 1, "compare": "exact", "exercises": []},
    },
}


def toy_notebook(sleep_s: float = 0.0):
    """The instructor version of ``01_toy``: two exercises, their checks, five recorded answers."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cells = [
        md("# 01 · Toy\nA notebook for the tests."),
        code(SETUP),
        md("### Exercise 1.1 — implement `double` (★, up to ~2 minutes)\nReturn twice the input."),
        code(DOUBLE, outputs=[nbformat.v4.new_output("stream", text="leftover output\n")], execution_count=3),
        code('assert double(3) == 6, f"double(3) gave {double(3)}, expected 6"\nprint("✓ double")'),
        code('answers.record("p1.double", double(21))'),
        md("### Exercise 1.2 — choose `k`\n<!-- BEGIN SOLUTION -->\nk is 3 because three.\n<!-- END SOLUTION -->"),
        code("k = 3  # SOLUTION\nprint(k)"),
        code('answers.record("p1.k_squared", k * k)\nanswers.record("p1.both", double(k) + 0.25)'),
        code(f'import time\ntime.sleep({sleep_s})\nanswers.record("p2.order", [0.1, 0.9, 0.5])\n'
             'answers.record("p2.token_seen", any(os.environ.get(n) for n in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")))'),
        md("## Discussion\nDone."),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["widgets"] = {"state": {}}
    return nb


REFERENCE = {"p1.double": 42, "p1.k_squared": 9, "p1.both": 6.25, "p2.order": [0.1, 0.9, 0.5], "p2.token_seen": False}


def write_course(root: Path, sleep_s: float = 0.0) -> dict[str, Path]:
    """Instructor notebook, spec and offline reference of the toy course under ``root``."""
    paths = {"notebooks": root / "notebooks", "spec": root / "grading.json", "reference": root / "reference"}
    paths["notebooks"].mkdir(parents=True, exist_ok=True)
    paths["reference"].mkdir(parents=True, exist_ok=True)
    nbformat.write(toy_notebook(sleep_s), paths["notebooks"] / "01_toy.ipynb")
    paths["spec"].write_text(json.dumps(SPEC, indent=2))
    (paths["reference"] / "offline.json").write_text(json.dumps({"backend": "offline", "answers": REFERENCE}))
    return paths


def write_answers(directory: Path, answers: dict, notebook: str = "01_toy") -> Path:
    """An answers file as AnswerSheet writes it."""
    path = Path(directory) / f"{notebook}.answers.json"
    path.write_text(json.dumps({"notebook": notebook, "backend": "offline", "answers": answers}, indent=2))
    return path
