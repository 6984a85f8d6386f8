"""Grade submissions: hidden tests on the student's functions, in a sandbox; questions against keys.

    python -m helpers.coursework.grading grade submissions/*.zip --out grades [-j 2] [--shard 1/4]
    python -m helpers.coursework.grading merge grades-1 grades-2 ... --out grades
    python -m helpers.coursework.grading expected --out grades     # the instructor outputs only

For every notebook of a submission the sandbox runs the release's context cells, the student's
exercise cells and then every hidden case (``cases/nbNN.py``); the outputs come back as plain
JSON and are compared here, outside the sandbox, with what the instructor solutions give on the
same inputs. A case passes or fails; an exercise earns its points times the share of its cases
that pass. Conceptual questions are read from the notebook's answer cells (literals, not run)
and compared with the instructor notebook's answers. Recorded values are never trusted.

Locked cells (every code cell of the release that is not an exercise, a question, a cell tagged
``free`` or the hand-in cell) are compared with the release: a changed or deleted one is reported in the record
(and the student's feedback) and voids nothing, because nothing the grader scores depends on it: the sandbox runs
the *release's* context cells, never the student's, and runs no other locked cell; answers are read from the
question cells. Colab does not enforce the ``editable``/``deletable`` cell metadata, so an edit there is no
attempt to cheat.
"""
from __future__ import annotations

import csv
import hashlib
import importlib
import json
import math
import re
import stat
import tempfile
import time
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from helpers.coursework.config import HOMEWORK
from helpers.coursework.grading import sandbox
from helpers.coursework.grading.compare import secret_words, student_error
from helpers.coursework.grading.spec import Case, Make, Ref
from helpers.errors import CourseError
from helpers.handin import notebook_answers

REPO_ROOT = Path(__file__).resolve().parents[3]
SPEC_DIR = REPO_ROOT / "data" / "grading"
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
EXERCISE_DIR = NOTEBOOK_DIR / "exercises"
ASSETS_DIR = REPO_ROOT / "data" / "offline"
ZIP_STEM_RE = re.compile(rf"^([A-Za-z0-9][A-Za-z0-9-]{{1,31}})_{HOMEWORK}$")
NOTEBOOK_MEMBER_RE = re.compile(r"^(\d\d_[a-z0-9_]+)\.ipynb$")
QUESTION_KINDS = ("choice", "multi", "number", "text")
MAX_MEMBERS = 64
MAX_MEMBER_BYTES = 50 * 2**20
MAX_TOTAL_BYTES = 200 * 2**20
CASE_TIMEOUT_S = 60.0
STARTUP_S = 60.0


class GradingError(CourseError, RuntimeError):
    """The grading setup is wrong (spec, cases, arguments); the message says what to fix."""


class UnsafeZipError(CourseError, ValueError):
    """A submitted zip is malformed, damaged, encrypted or tries to write outside its folder."""


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
        specs[name] = spec
    return specs


# ----------------------------------------------------------------------------- notebooks and cells

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


# ----------------------------------------------------------------------------- running the harness

def job_for(course: Course, name: str, cells: list[str]) -> dict:
    spec = course.specs[name]
    return {"name": name, "timeout_s": float(spec["timeout_s"]), "context": context_sources(course.release[name]),
            "cells": cells, "tests": [{"exercise": t.exercise, "function": t.function, "case": t.case.name,
                                       "args": _transport(t.case.args), "kwargs": _transport(t.case.kwargs),
                                       "forbid": list(t.forbid), "timeout_s": CASE_TIMEOUT_S} for t in course.tests[name]]}


# The visible checks compare with references (library calls, hooks, a KV-cache loop); an exercise function that
# called one would pass the hidden tests without doing the exercise. While grading, `helpers.checks` is this stub.
CHECKS_STUB = '''"""Grading run: the visible checks are not available to exercise functions."""


def __getattr__(name):
    def unavailable(*args, **kwargs):
        raise RuntimeError(f"helpers.checks.{name} is not available while grading: an exercise must compute its "
                           "answer itself, not call the checks")
    return unavailable
'''


def release_code(root: Path) -> Path:
    """``root/helpers``: a copy of the shipped package (what the release holds, with ``checks`` stubbed out);
    ``root/data/offline`` links the assets."""
    from helpers.coursework.release import copy_package

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    copy_package(root / "helpers")
    import shutil

    shutil.rmtree(root / "helpers" / "checks", ignore_errors=True)  # the package: its pinned data is not there either
    (root / "helpers" / "checks.py").write_text(CHECKS_STUB, encoding="utf-8")
    (root / "data").mkdir(exist_ok=True)
    (root / "notebooks").mkdir(exist_ok=True)
    if not (root / "data" / "offline").exists():
        (root / "data" / "offline").symlink_to(ASSETS_DIR, target_is_directory=True)
    return root


@dataclass(frozen=True)
class Runner:
    """How to run a job: in the sandbox (default) or, only on a throwaway machine, without it."""

    code_root: Path
    assets_dir: Path = ASSETS_DIR
    unsafe: bool = False

    def __call__(self, jobs: list[dict], scratch: Path) -> tuple[dict, dict]:
        import torch

        Path(scratch).mkdir(parents=True, exist_ok=True)
        job_file = Path(scratch) / "job.pt"
        torch.save({"notebooks": jobs}, job_file)
        job_file.chmod(0o644)
        limits = sandbox.Limits(seconds=sum(j["timeout_s"] for j in jobs), startup_seconds=STARTUP_S)
        if self.unsafe:
            workdir = Path(tempfile.mkdtemp(prefix="run-", dir=self.code_root / "notebooks"))
            outcome = sandbox.run_unsafe(self.code_root, job_file, limits, workdir=workdir)
        else:
            outcome = sandbox.run(self.code_root / "helpers", self.assets_dir, job_file, limits)
        return parse_results(outcome.results), {"timed_out": outcome.timed_out, "returncode": outcome.returncode,
                                                "seconds": outcome.seconds,
                                                "log_tail": outcome.log[-2000:].decode("utf-8", "replace")}


def parse_results(raw: bytes) -> dict:
    """Results by notebook: ``{"cases": {(fn, case): record}, "errors": [...], "done": bool}`` (first line wins)."""
    out: dict[str, dict] = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line, parse_constant=_reject_constant)
        except ValueError:
            continue
        if not isinstance(record, dict) or not isinstance(record.get("nb"), str):
            continue
        nb = out.setdefault(record["nb"], {"cases": {}, "errors": [], "done": False, "seconds": None})
        if "fn" in record and "case" in record:
            nb["cases"].setdefault((str(record["fn"]), str(record["case"])), record)
        elif record.get("done"):
            nb["done"] = True
            nb["seconds"] = record.get("seconds")
            if record.get("error"):
                nb["errors"].append(str(record["error"])[:500])
        elif "error" in record:
            nb["errors"].append(f"{record.get('cell', '')}: {str(record['error'])[:300]}")
    return out


def run_notebooks(runner: Runner, jobs: list[dict], scratch: Path) -> tuple[dict, dict]:
    """All notebooks in one sandbox. If it stops early (time, memory, a crash), the notebook it was in keeps what
    it had and is marked; each notebook after it runs again alone, so one bad notebook fails alone."""
    results, info = runner(jobs, scratch / "all")
    runs = {"together": info}
    why = "timed out" if info["timed_out"] else f"the sandbox stopped (exit {info['returncode']})"
    culprit_seen = False
    for job in jobs:
        got = results.get(job["name"])
        if got and got.get("done"):
            continue
        if not culprit_seen:  # the notebook that was running when the sandbox stopped
            culprit_seen = True
            results[job["name"]] = got or {"cases": {}, "errors": [], "done": False}
            results[job["name"]]["errors"].append(why)
            continue
        alone, info = runner([job], scratch / job["name"])
        results[job["name"]] = alone.get(job["name"], {"cases": {}, "errors": ["the sandbox stopped"], "done": False})
        runs[job["name"]] = info
    return results, runs


def expected_outputs(course: Course, runner: Runner, cache_dir: Path | None = None) -> dict:
    """The instructor solutions' outputs on the hidden cases (cached by the course digest)."""
    digest = course.digest()
    cache = Path(cache_dir) / f".expected-{digest}.json" if cache_dir else None
    if cache and cache.is_file():
        data = json.loads(cache.read_text(encoding="utf-8"))
        return {name: {tuple(k.split("\x00")): v for k, v in cases.items()} for name, cases in data.items()}
    jobs = [job_for(course, name, exercise_sources(course.instructor[name], course.functions(name))) for name in course.specs]
    with tempfile.TemporaryDirectory(prefix="expected-") as tmp:
        results, runs = run_notebooks(runner, jobs, Path(tmp))
    expected: dict[str, dict] = {}
    for name in course.specs:
        got = results.get(name, {"cases": {}, "errors": []})
        for test in course.tests[name]:
            record = got["cases"].get((test.function, test.case.name))
            if not record or not record.get("ok"):
                why = record.get("error") if record else "; ".join(got["errors"]) or "no result"
                raise GradingError(f"the instructor solution of {name} `{test.function}` fails hidden case "
                                   f"{test.case.name}: {why}. Fix the solution or the case. {runs}")
            expected.setdefault(name, {})[(test.function, test.case.name)] = record["out"]
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({n: {"\x00".join(k): v for k, v in c.items()} for n, c in expected.items()}),
                         encoding="utf-8")
    return expected


# ----------------------------------------------------------------------------- unpacking

def safe_extract(zip_path: Path, dest: Path) -> tuple[list[str], dict]:
    """Unpack the notebooks (and ``submission.json``) of a zip into ``dest``; raise ``UnsafeZipError`` if unsafe."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise UnsafeZipError(f"{Path(zip_path).name} is not a readable zip ({err}).") from None
    meta: dict = {}
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise UnsafeZipError(f"{Path(zip_path).name} has {len(infos)} entries (at most {MAX_MEMBERS}).")
        chosen: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts or "\x00" in name:
                raise UnsafeZipError(f"entry {name!r} points outside the submission folder.")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeZipError(f"entry {name!r} is a symbolic link.")
            if info.flag_bits & 0x1:
                raise UnsafeZipError(f"entry {name!r} is encrypted: hand in a zip without a password.")
            base = parts[-1]
            if info.is_dir() or parts[0] == "__MACOSX" or not (NOTEBOOK_MEMBER_RE.match(base) or base == "submission.json"):
                continue
            if base in chosen:
                raise UnsafeZipError(f"{base} appears twice in the zip.")
            chosen[base] = info
        total = 0
        dest.mkdir(parents=True, exist_ok=True)
        for base, info in sorted(chosen.items()):
            written = 0
            try:
                with archive.open(info) as src, open(dest / base, "wb") as out:
                    while block := src.read(1 << 20):
                        written += len(block)
                        total += len(block)
                        if written > MAX_MEMBER_BYTES or total > MAX_TOTAL_BYTES:
                            raise UnsafeZipError(f"{base} unpacks to more than the size limit.")
                        out.write(block)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as err:
                raise UnsafeZipError(f"{base} is damaged in the zip ({err}): build the zip again.") from None
    if "submission.json" in chosen:
        try:
            meta = json.loads((dest / "submission.json").read_text(encoding="utf-8"))
            meta = meta if isinstance(meta, dict) else {}
        except ValueError:
            meta = {}
        (dest / "submission.json").unlink()
    return sorted(b for b in chosen if b != "submission.json"), meta


def student_id_of(zip_path: Path) -> str:
    match = ZIP_STEM_RE.match(Path(zip_path).stem)
    if not match:
        raise UnsafeZipError(f"{Path(zip_path).name} is not named STUDENTID_{HOMEWORK}.zip.")
    return match.group(1)


# ----------------------------------------------------------------------------- scoring

def score_question(kind: str, answer: Any, key: Any, tolerance: float) -> bool:
    if answer is None:
        return False
    if kind == "number":
        return (isinstance(answer, (int, float)) and isinstance(key, (int, float))
                and abs(float(answer) - float(key)) <= tolerance + 1e-12)
    if kind == "text":
        return isinstance(answer, str) and answer.strip().casefold() == str(key).strip().casefold()
    return answer == key


def _secrets(course: Course, name: str, expected: dict) -> set[str]:
    """Strings and words of the notebook's hidden inputs and expected outputs: redacted from student error text
    (student code can read every case's inputs while it runs)."""
    values = [(t.case.args, t.case.kwargs) for t in course.tests[name]]
    values.append(list((expected or {}).get(name, {}).values()))
    return secret_words(_transport(values))


def score_notebook(course: Course, name: str, student_nb: dict | None, results: dict | None, expected: dict,
                   problem: str | None = None) -> dict:
    """Points per exercise (share of passing cases) and per question for one notebook."""
    spec = course.specs[name]
    functions = course.functions(name)
    changed = changed_locked_cells(student_nb, course.release[name], functions) if student_nb else []
    results = results or {"cases": {}, "errors": [], "done": False}
    secrets = _secrets(course, name, expected)
    errors = [student_error(e, secrets) for e in results.get("errors", [])]
    exercises: dict[str, dict] = {}
    for number, ex in spec["exercises"].items():
        tests = [t for t in course.tests[name] if t.exercise == number]
        total = sum(t.case.weight for t in tests)
        outcome: dict[str, tuple[bool, str, str]] = {}
        for test in tests:
            record = results["cases"].get((test.function, test.case.name))
            failure = "compare"  # where a failure's message comes from (the feedback shows only safe parts of it)
            if problem:
                ok, message, failure = False, problem, "problem"
            elif record is None:
                ok, message, failure = False, "not run (" + ("; ".join(errors) or "the notebook stopped") + ")", "not run"
            elif not record.get("ok"):
                ok, message, failure = False, student_error(record.get("error", "error"), secrets), "error"
            else:
                compare = test.case.compare
                if compare is None:
                    from helpers.coursework.grading.compare import allclose
                    compare = allclose()
                try:
                    ok, message = compare(record.get("out"), expected[name][(test.function, test.case.name)])
                    ok = False if hasattr(ok, "__len__") else bool(ok)  # an array of booleans is no verdict
                except Exception as err:  # a malformed output is a failed case
                    ok, message = False, "output could not be compared: " + student_error(
                        f"{type(err).__name__}: {err}", secrets)
            outcome[test.case.name] = (ok, message, failure)
        rows, passed = [], 0.0
        for test in tests:
            ok, message, failure = outcome[test.case.name]
            partner = test.case.requires
            if ok and partner and not outcome[partner][0]:  # a constant passes this one: it pays with its partner only
                ok, message, failure = False, f"right, but this case counts only when case {partner!r} passes too", "partner"
            passed += test.case.weight if ok else 0.0
            rows.append({"case": test.case.name, "passed": bool(ok), "message": "" if ok else message,
                         **({} if ok else {"failure": failure})})
        earned = round(ex["points"] * passed / total, 2)
        exercises[number] = {"function": ex["function"], "points": ex["points"], "earned": earned, "cases": rows}
    answers = notebook_answers(student_nb) if student_nb else {}
    questions = {}
    for qid, q in spec.get("questions", {}).items():
        correct = score_question(q["kind"], answers.get(qid), course.keys[name][qid], float(q.get("tolerance", 0.0)))
        questions[qid] = {"points": q["points"], "earned": q["points"] if correct else 0, "answered": qid in answers}
    return {"exercises": exercises, "questions": questions, "locked_cells_changed": changed,
            "errors": errors, **({"problem": problem} if problem else {})}


@dataclass(frozen=True)
class Options:
    out: Path
    runner: Runner
    course: Course
    expected: dict
    show_keys: bool = False  # the feedback shows the question keys (after the deadline)


def grade_zip(zip_path: Path, options: Options) -> dict:
    """Grade one zip; write ``out/ID.json``; never raises for a bad submission."""
    zip_path = Path(zip_path)
    started = time.monotonic()
    record: dict[str, Any] = {"zip": zip_path.name, "status": "graded", "notebooks": {}}
    try:
        record["student_id"] = student_id_of(zip_path)
    except UnsafeZipError as err:
        record.update(student_id=zip_path.stem, status="rejected", error=str(err))
    course = options.course
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        scratch = Path(tmp)
        files, meta = [], {}
        if record["status"] == "graded":
            try:
                files, meta = safe_extract(zip_path, scratch / "submitted")
            except UnsafeZipError as err:
                record.update(status="rejected", error=str(err))
        recorded_id = meta.get("student_id")
        if recorded_id is not None and recorded_id != record["student_id"]:
            record["id_mismatch"] = f"the zip is named for {record['student_id']} but submission.json says {recorded_id!r}"
        notebooks, problems = {}, {}
        for name in course.specs:
            path = scratch / "submitted" / f"{name}.ipynb"
            if record["status"] != "graded":
                problems[name] = "submission rejected"
            elif not path.is_file():
                problems[name] = "notebook missing from the zip"
            else:
                try:
                    notebooks[name] = read_notebook(path)
                except Exception as err:  # invalid JSON / not a notebook: this notebook alone scores 0
                    problems[name] = f"not a valid notebook ({type(err).__name__}: {str(err)[:150]})"
        jobs = [job_for(course, name, exercise_sources(nb, course.functions(name))) for name, nb in notebooks.items()]
        results, runs = run_notebooks(options.runner, jobs, scratch) if jobs else ({}, {})
    score = max_score = 0.0
    for name in course.specs:
        nb_record = score_notebook(course, name, notebooks.get(name), results.get(name), options.expected, problems.get(name))
        nb_record["seconds"] = (results.get(name) or {}).get("seconds")
        record["notebooks"][name] = nb_record
        for part in ("exercises", "questions"):
            for row in nb_record[part].values():
                score += row["earned"]
                max_score += row["points"]
    record.update(score=round(score, 2), max_score=round(max_score, 2), seconds=round(time.monotonic() - started, 1),
                  files=files, sandbox_runs={k: {kk: vv for kk, vv in v.items() if kk != "log_tail"} for k, v in runs.items()})
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{record['student_id']}.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    from helpers.coursework.grading import feedback
    feedback.write(record, course, out / "feedback", show_keys=options.show_keys)
    return record


# ----------------------------------------------------------------------------- many zips

def columns(course: Course) -> list[str]:
    cols = []
    for name, spec in course.specs.items():
        cols += [f"{number} {ex['function']}" for number, ex in spec["exercises"].items()]
        cols += list(spec.get("questions", {}))
    return cols


def csv_row(record: dict) -> dict:
    row = {"student_id": record["student_id"], "zip": record["zip"], "status": record["status"],
           "score": record.get("score", 0), "max_score": record.get("max_score", "")}
    for nb in record.get("notebooks", {}).values():
        row |= {f"{n} {e['function']}": e["earned"] for n, e in nb.get("exercises", {}).items()}
        row |= {q: v["earned"] for q, v in nb.get("questions", {}).items()}
    return row


def write_csv(records: list[dict], path: Path, cols: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["student_id", "zip", "status", "score", "max_score", *cols],
                                extrasaction="ignore")
        writer.writeheader()
        for record in sorted(records, key=lambda r: (r["student_id"], r["zip"])):
            writer.writerow(csv_row(record))


def parse_shard(text: str | None) -> tuple[int, int]:
    if not text:
        return 1, 1
    match = re.match(r"^(\d+)/(\d+)$", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise GradingError(f"--shard {text!r}: use I/N with 1 <= I <= N, e.g. --shard 2/8.")
    return int(match.group(1)), int(match.group(2))


def grade_all(zips: list[Path], out: Path, jobs: int = 1, shard: str | None = None, unsafe: bool = False,
              only: tuple[str, ...] = (), course: Course | None = None, cache_dir: Path | None = None,
              show_keys: bool = False, canvas: dict | None = None, runner_factory=None) -> list[dict]:
    """Grade the zips of this shard (``jobs`` at a time); write ``ID.json``, ``feedback/ID.md`` and the shard's CSV
    (and Canvas's import CSV with ``canvas={"assignment": ..., "roster": ...}``). ``runner_factory(code_root)``
    replaces the sandbox runner (the Gradescope autograder's, where bubblewrap cannot start)."""
    index, count = parse_shard(shard)
    zips = sorted(Path(z) for z in zips)
    missing = [str(z) for z in zips if not z.is_file()]
    if missing:
        raise GradingError(f"no such zip: {', '.join(missing)}")
    if not unsafe and runner_factory is None:
        sandbox.bwrap_path()
    course = course or load_course(only=only)  # spec, keys and cases are loaded before any student code runs
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="course-code-") as code_tmp:
        code_root = release_code(Path(code_tmp) / "course")
        runner = runner_factory(code_root) if runner_factory else Runner(code_root, unsafe=unsafe)
        expected = expected_outputs(course, runner, cache_dir=cache_dir or out)
        mine = zips[index - 1::count]
        seen: dict[str, str] = {}
        todo, records = [], []
        for z in mine:
            sid = ZIP_STEM_RE.match(z.stem).group(1) if ZIP_STEM_RE.match(z.stem) else z.stem
            if sid in seen:
                records.append({"student_id": sid, "zip": z.name, "status": f"duplicate id: also {seen[sid]}", "score": 0})
            else:
                seen[sid] = z.name
                todo.append(z)
        options = Options(out, runner, course, expected, show_keys)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            records += list(pool.map(lambda z: grade_zip(z, options), todo))
    name = "grades.csv" if count == 1 else f"grades-{index}-of-{count}.csv"
    write_csv(records, out / name, columns(course))
    if canvas is not None:
        from helpers.coursework.grading import gradebook
        gradebook.write_canvas(records, out / name.replace("grades", "canvas"), **canvas)
    return records


def merge(dirs: list[Path], out: Path, course: Course | None = None, canvas: dict | None = None) -> Path:
    """One ``grades.csv`` from the ``ID.json`` files of several shard folders."""
    course = course or load_course()
    records, seen = [], {}
    for directory in dirs:
        for path in sorted(Path(directory).glob("*.json")):
            if path.name.startswith("."):
                continue
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("student_id") in seen:
                raise GradingError(f"{record.get('student_id')} was graded in {seen[record['student_id']]} and {directory}.")
            seen[record.get("student_id")] = str(directory)
            records.append(record)
    Path(out).mkdir(parents=True, exist_ok=True)
    write_csv(records, Path(out) / "grades.csv", columns(course))
    if canvas is not None:
        from helpers.coursework.grading import gradebook
        gradebook.write_canvas(records, Path(out) / "canvas.csv", **canvas)
    return Path(out) / "grades.csv"
