"""The course as the grader loads it before any student code runs: the spec, the notebooks, the hidden cases, the keys.

``data/grading/NN_topic.json`` (points, question kinds, tolerances) is validated strictly; the instructor and
release notebooks must define every graded function and a context cell; every exercise must have hidden cases
(``cases/nbNN.py``); every question must have a key in the instructor notebook.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.coursework.grading.cells import context_sources, exercise_sources, read_notebook
from helpers.coursework.grading.spec import Case, Make, Ref
from helpers.errors import CourseError
from helpers.handin import notebook_answers

REPO_ROOT = Path(__file__).resolve().parents[3]
SPEC_DIR = REPO_ROOT / "data" / "grading"
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
EXERCISE_DIR = NOTEBOOK_DIR / "exercises"
ASSETS_DIR = REPO_ROOT / "data" / "offline"
QUESTION_KINDS = ("choice", "multi", "number", "text")


class GradingError(CourseError, RuntimeError):
    """The grading setup is wrong (spec, cases, arguments); the message says what to fix."""


# ----------------------------------------------------------------------------- the spec

def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed in the grading spec")


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def load_spec(directory: Path = SPEC_DIR) -> dict[str, dict]:
    """Every ``data/grading/NN_topic.json``, validated strictly (types, NaN, negatives)."""
    specs: dict[str, dict] = {}
    files = sorted(Path(directory).glob("[0-9][0-9]_*.json"))
    if not files:
        raise GradingError(f"no grading spec in {directory}: expected data/grading/NN_topic.json files.")
    for path in files:
        where = path.name
        try:
            spec = json.loads(path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
        except ValueError as err:
            raise GradingError(f"{where} is not valid JSON: {err}") from None
        name = spec.get("notebook")
        if name != path.stem:
            raise GradingError(f"{where}: 'notebook' must be {path.stem!r}, not {name!r}.")
        if not _positive(spec.get("timeout_s")):
            raise GradingError(f"{where}: 'timeout_s' must be a positive number of seconds.")
        exercises, questions = spec.get("exercises"), spec.get("questions", {})
        if not isinstance(exercises, dict) or not isinstance(questions, dict):
            raise GradingError(f"{where}: 'exercises' and 'questions' must be objects.")
        _check_exercises(where, exercises)
        _check_questions(where, questions)
        specs[name] = spec
    return specs


def _check_exercises(where: str, exercises: dict) -> None:
    """Exercises numbered like '4.1', each grading a different function for positive finite points."""
    functions = set()
    for number, ex in exercises.items():
        if not re.match(r"^\d+\.\d+$", number) or not isinstance(ex, dict):
            raise GradingError(f"{where}: exercise {number!r} must be numbered like '4.1' and be an object.")
        if not isinstance(ex.get("function"), str) or not ex["function"].isidentifier():
            raise GradingError(f"{where}: exercise {number} needs 'function', a Python name.")
        if ex["function"] in functions:
            raise GradingError(f"{where}: function {ex['function']} is graded twice.")
        functions.add(ex["function"])
        if not _positive(ex.get("points")):
            raise GradingError(f"{where}: exercise {number} needs positive finite 'points', not {ex.get('points')!r}.")
        _check_effort(where, number, ex)


def points_for(difficulty: int, minutes: int) -> int:
    """An exercise's points follow its effort: its difficulty (1-3 stars) plus one point per full 20 minutes."""
    return difficulty + minutes // 20


def _check_effort(where: str, number: str, ex: dict) -> None:
    """Where an exercise states its ``difficulty`` and ``minutes``, its points are ``points_for`` of them."""
    if "difficulty" not in ex and "minutes" not in ex:
        return
    difficulty, minutes = ex.get("difficulty"), ex.get("minutes")
    if not (isinstance(difficulty, int) and not isinstance(difficulty, bool) and 1 <= difficulty <= 3):
        raise GradingError(f"{where}: exercise {number} has difficulty {difficulty!r}: use 1, 2 or 3 (its stars).")
    if not (isinstance(minutes, int) and not isinstance(minutes, bool) and minutes > 0):
        raise GradingError(f"{where}: exercise {number} has minutes {minutes!r}: use a positive whole number.")
    wanted = points_for(difficulty, minutes)
    if ex["points"] != wanted:
        raise GradingError(f"{where}: exercise {number} is worth {ex['points']!r} points, but difficulty {difficulty} "
                           f"and about {minutes} minutes give {wanted} (points = difficulty + minutes // 20).")


def _check_questions(where: str, questions: dict) -> None:
    """Questions named like 'p5.q1', of a known kind, for positive finite points, with a tolerance >= 0."""
    for qid, q in questions.items():
        if not re.match(r"^p\d+\.q\d+$", qid) or not isinstance(q, dict):
            raise GradingError(f"{where}: question {qid!r} must be named like 'p5.q1' and be an object.")
        if q.get("kind") not in QUESTION_KINDS:
            raise GradingError(f"{where}: question {qid} has kind {q.get('kind')!r}: use one of {', '.join(QUESTION_KINDS)}.")
        if not _positive(q.get("points")):
            raise GradingError(f"{where}: question {qid} needs positive finite 'points', not {q.get('points')!r}.")
        tol = q.get("tolerance", 0.0)
        if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not math.isfinite(tol) or tol < 0:
            raise GradingError(f"{where}: question {qid} has tolerance {tol!r}: use a finite number >= 0.")


# ----------------------------------------------------------------------------- hidden cases

@dataclass
class Test:
    """One hidden case, ready to send into the sandbox."""

    exercise: str
    function: str
    case: Case
    forbid: tuple = ()  # library callables that raise while this case runs (the module's LIBRARY_RULE)


def _transport(value: Any) -> Any:
    """Ref/Make placeholders as plain dicts (the sandbox has no grading spec module)."""
    if isinstance(value, Ref):
        return {"__ref__": value.name}
    if isinstance(value, Make):
        return {"__make__": value.name, "args": [_transport(a) for a in value.args],
                "kwargs": {k: _transport(v) for k, v in value.kwargs.items()}}
    if isinstance(value, tuple):
        return tuple(_transport(v) for v in value)
    if isinstance(value, list):
        return [_transport(v) for v in value]
    if isinstance(value, dict):
        return {k: _transport(v) for k, v in value.items()}
    return value


CASES_PACKAGE = "helpers.coursework.grading.cases"


def cases_module(name: str, package: str = CASES_PACKAGE):
    """The module ``package.nbNN`` with the hidden cases of notebook ``NN_topic``."""
    try:
        return importlib.import_module(f"{package}.nb{name[:2]}")
    except ModuleNotFoundError as err:
        raise GradingError(f"no hidden cases for {name}: write {package.replace('.', '/')}/nb{name[:2]}.py ({err}).") from None


def hidden_tests(name: str, spec: dict, package: str = CASES_PACKAGE) -> list[Test]:
    """The hidden cases of a notebook, in the spec's exercise order; every exercise must have some."""
    module = cases_module(name, package)
    by_function = module.cases()
    rule = getattr(module, "LIBRARY_RULE", {})
    tests: list[Test] = []
    for number, ex in spec["exercises"].items():
        cases = by_function.get(ex["function"])
        if not cases:
            raise GradingError(f"exercise {number} (`{ex['function']}`) has no hidden cases in cases/nb{name[:2]}.py.")
        names = [c.name for c in cases]
        if len(set(names)) != len(names):
            raise GradingError(f"cases/nb{name[:2]}.py: case names of `{ex['function']}` repeat.")
        trivial = {c.name for c in cases if c.requires}
        for case in cases:
            if not _positive(case.weight):
                raise GradingError(f"cases/nb{name[:2]}.py: case {case.name} needs a positive weight.")
            if case.requires and (case.requires not in names or case.requires in trivial):
                raise GradingError(f"cases/nb{name[:2]}.py: case {case.name} requires {case.requires!r}, which must be "
                                   f"a non-trivial case of `{ex['function']}`.")
            tests.append(Test(number, ex["function"], case, tuple(rule.get(ex["function"], ()))))
    return tests


# ----------------------------------------------------------------------------- the course

@dataclass
class Course:
    """Everything the grader loads before any student code runs."""

    specs: dict[str, dict]
    instructor: dict[str, dict]
    release: dict[str, dict]
    tests: dict[str, list[Test]]
    keys: dict[str, dict[str, Any]]
    cases_package: str = CASES_PACKAGE

    def functions(self, name: str) -> list[str]:
        return [ex["function"] for ex in self.specs[name]["exercises"].values()]

    def digest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.specs):
            h.update(json.dumps(self.specs[name], sort_keys=True).encode())
            for src in context_sources(self.release[name]) + exercise_sources(self.instructor[name], self.functions(name)):
                h.update(src.encode())
            h.update(Path(cases_module(name, self.cases_package).__file__).read_bytes())
        for path in sorted((REPO_ROOT / "helpers").glob("*.py")) + [ASSETS_DIR / "manifest.json"]:
            h.update(path.read_bytes())
        return h.hexdigest()[:16]


def load_course(spec_dir: Path = SPEC_DIR, notebook_dir: Path = NOTEBOOK_DIR, release_dir: Path = EXERCISE_DIR,
                only: tuple[str, ...] = (), cases_package: str = CASES_PACKAGE) -> Course:
    """Spec, instructor notebooks, release notebooks, hidden cases and question keys; checks they agree."""
    specs = load_spec(spec_dir)
    if only:
        unknown = sorted(set(only) - set(specs))
        if unknown:
            raise GradingError(f"no grading spec for {', '.join(unknown)}; known: {', '.join(specs)}.")
        specs = {k: v for k, v in specs.items() if k in only}
    course = Course(specs, {}, {}, {}, {}, cases_package)
    for name, spec in specs.items():
        for label, directory, store in (("instructor", notebook_dir, course.instructor), ("release", release_dir, course.release)):
            path = Path(directory) / f"{name}.ipynb"
            if not path.is_file():
                raise GradingError(f"{label} notebook {path} is missing (run `make exercises`).")
            store[name] = read_notebook(path)
        functions = course.functions(name)
        for function in functions:
            if not exercise_sources(course.instructor[name], [function]):
                raise GradingError(f"{name}: no cell of the instructor notebook defines `{function}`.")
        if not context_sources(course.release[name]):
            raise GradingError(f"{name}: the release notebook has no cell tagged 'context' (the setup cell must be).")
        course.tests[name] = hidden_tests(name, spec, cases_package)
        keys = notebook_answers(course.instructor[name])
        missing = sorted(set(spec.get("questions", {})) - set(keys))
        extra = sorted(set(keys) - set(spec.get("questions", {})))
        if missing or extra:
            raise GradingError(f"{name}: questions without a key in the instructor notebook: {missing or '-'}; "
                               f"answered in the notebook but not in the spec: {extra or '-'}.")
        course.keys[name] = keys
    return course
