"""Running notebooks in the sandbox: the job (context cells, exercise cells, hidden cases), the course code it sees,
the runner, its results, and the instructor solutions' expected outputs.

For every notebook the sandbox runs the release's context cells, the given exercise cells and then every hidden
case; the outputs come back as plain JSON lines (:func:`parse_results`). Recorded values are never trusted.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from helpers.coursework.grading import sandbox
from helpers.coursework.grading.cells import context_sources, exercise_sources
from helpers.coursework.grading.course import ASSETS_DIR, Course, GradingError, _reject_constant, _transport

CASE_TIMEOUT_S = 60.0
STARTUP_S = 60.0


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
