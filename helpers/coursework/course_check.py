"""``make course-check``: before a release, do the question keys hold on the model students will run?

    LAB_BACKEND=gemma python -m helpers.coursework.course_check          # a TA, once, on a GPU (Colab T4 too)
    LAB_BACKEND=offline python -m helpers.coursework.course_check 07     # offline (CI runs this)

Every question about an observation (``"observation": true`` in ``data/grading/NN_topic.json``) has a
``premise`` cell in its instructor notebook (``helpers.coursework.premises``): the claim its key rests on,
checked on the values the notebook computes. This command executes the instructor notebooks in fresh kernels
on the chosen backend (executed copies in ``--out``), collects every premise and prints one line per
question — premise, observed value, ``holds`` / ``FAILS`` — then a summary. It exits 1 if a premise fails,
an observation question has no premise that ran, or a notebook stopped with an error; 0 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO_ROOT / "data" / "grading"
DEFAULT_OUT = REPO_ROOT / "build" / "course-check"


@dataclass
class Line:
    """The outcome for one observation question."""

    qid: str
    status: str  # "holds", "FAILS" or "MISSING"
    text: str

    def render(self, width: int = 8) -> str:
        return f"{self.qid:<{width}} {self.status:<8} {self.text}"


def observation_questions(notebook: str, spec_dir: Path = SPEC_DIR) -> list[str]:
    """The ids of the questions of ``notebook`` whose key depends on an observation, in spec order."""
    from helpers.coursework.grading.course import load_spec  # the grader's strict validation of the same files

    spec = load_spec(spec_dir)[notebook]
    return [qid for qid, question in spec["questions"].items() if question.get("observation")]


def read_report(path: Path) -> list[dict]:
    """The premise records a run appended to ``path`` (none if it never ran one)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def judge(questions: list[str], records: list[dict], error: str = "") -> list[Line]:
    """One line per observation question: every premise of it must hold; a question with none is MISSING."""
    lines = []
    for qid in questions:
        mine = [r for r in records if r["qid"] == qid]
        if not mine:
            why = f"no premise ran ({error})" if error else "no premise cell for this question in the notebook"
            lines.append(Line(qid, "MISSING", why))
        for record in mine:
            status = "holds" if record["holds"] else "FAILS"
            lines.append(Line(qid, status, f"{record['claim']} — observed {record['observed']}"))
    stray = sorted({r["qid"] for r in records} - set(questions))
    for qid in stray:
        lines.append(Line(qid, "MISSING", 'a premise for a question not marked "observation": true in its spec'))
    return lines


def check_notebook(path: Path, out: Path, timeout: int) -> tuple[list[Line], str]:
    """Run one instructor notebook with premises collected; its lines and its error ("" when it ran through)."""
    from helpers.offline.run_all import run_notebook

    with tempfile.TemporaryDirectory(prefix="course-check-") as tmp:
        report = Path(tmp) / "premises.jsonl"
        os.environ["COURSE_CHECK_REPORT"] = str(report)
        try:
            result = run_notebook(path, out, timeout, cwd=path.parent)  # the setup cell finds the course from there
        finally:
            os.environ.pop("COURSE_CHECK_REPORT", None)
        records = read_report(report)
    return judge(observation_questions(path.stem), records, result.error), result.error


def resolve(selection: list[str], root: Path = REPO_ROOT) -> list[Path]:
    """Instructor notebooks by number (``07``), stem or path; all of them when ``selection`` is empty."""
    from helpers.coursework.authoring import instructor_notebooks

    every = instructor_notebooks(root / "notebooks")
    if not selection:
        return every
    chosen = []
    for item in selection:
        matches = [p for p in every if item in (p.stem, p.name, p.stem[:2], str(p))]
        if not matches:
            names = ", ".join(p.stem for p in every)
            raise SystemExit(f"course-check: no instructor notebook {item!r}; choose from {names} (or their numbers)")
        chosen += matches
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.coursework.course_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="numbers (07), stems or paths; default: every instructor notebook")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="executed notebooks go here (default build/course-check)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell (default 900)")
    args = parser.parse_args(argv)
    notebooks = resolve(args.notebooks)
    backend = os.environ.setdefault("LAB_BACKEND", "gemma")
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"course-check on LAB_BACKEND={backend}" + (f" LAB_DTYPE={os.environ['LAB_DTYPE']}" if os.environ.get("LAB_DTYPE") else ""))
    lines, errors = [], []
    for path in notebooks:
        print(f"== {path.stem}", flush=True)
        mine, error = check_notebook(path, args.out.resolve(), args.timeout)
        for line in mine:
            print(line.render(), flush=True)
        if error:
            print(f"   {path.stem} stopped: {error}")
            errors.append(path.stem)
        lines += mine
    bad = [line for line in lines if line.status != "holds"]
    print(f"{len(lines) - len(bad)}/{len(lines)} premises hold on {backend}"
          + (f"; {len(errors)} notebook(s) stopped: {', '.join(errors)}" if errors else "")
          + f"; executed notebooks in {args.out}")
    return 1 if bad or errors else 0


if __name__ == "__main__":
    sys.exit(main())
