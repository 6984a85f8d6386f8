"""Grading zips: one zip (unpack, run in the sandbox, score, write ``ID.json`` and the feedback) and many (a shard of
them, ``jobs`` at a time, and the shard's CSV)."""
from __future__ import annotations

import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.coursework.grading import sandbox
from helpers.coursework.grading.cells import exercise_sources, read_notebook
from helpers.coursework.grading.course import Course, GradingError, load_course
from helpers.coursework.grading.results import columns, parse_shard, write_csv
from helpers.coursework.grading.run import Runner, expected_outputs, job_for, release_code, run_notebooks
from helpers.coursework.grading.scoring import score_notebook
from helpers.coursework.grading.unpack import UnsafeZipError, ZIP_STEM_RE, safe_extract, student_id_of


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
        files = _unpack(zip_path, scratch / "submitted", record)
        notebooks, problems = _read_notebooks(course, scratch / "submitted", record["status"])
        jobs = [job_for(course, name, exercise_sources(nb, course.functions(name))) for name, nb in notebooks.items()]
        results, runs = run_notebooks(options.runner, jobs, scratch) if jobs else ({}, {})
    score, max_score = _score_notebooks(record, course, notebooks, results, options.expected, problems)
    record.update(score=round(score, 2), max_score=round(max_score, 2), seconds=round(time.monotonic() - started, 1),
                  files=files, sandbox_runs={k: {kk: vv for kk, vv in v.items() if kk != "log_tail"} for k, v in runs.items()})
    _write_record(record, options)
    return record


def _unpack(zip_path: Path, folder: Path, record: dict) -> list[str]:
    """The files unpacked from a zip not yet rejected into ``folder``; an unsafe zip is rejected and a
    ``submission.json`` naming another student is noted, in ``record``."""
    files, meta = [], {}
    if record["status"] == "graded":
        try:
            files, meta = safe_extract(zip_path, folder)
        except UnsafeZipError as err:
            record.update(status="rejected", error=str(err))
    recorded_id = meta.get("student_id")
    if recorded_id is not None and recorded_id != record["student_id"]:
        record["id_mismatch"] = f"the zip is named for {record['student_id']} but submission.json says {recorded_id!r}"
    return files


def _read_notebooks(course: Course, folder: Path, status: str) -> tuple[dict[str, dict], dict[str, str]]:
    """The course's notebooks found in ``folder``, and why each other one scores 0."""
    notebooks, problems = {}, {}
    for name in course.specs:
        path = folder / f"{name}.ipynb"
        if status != "graded":
            problems[name] = "submission rejected"
        elif not path.is_file():
            problems[name] = "notebook missing from the zip"
        else:
            try:
                notebooks[name] = read_notebook(path)
            except Exception as err:  # invalid JSON / not a notebook: this notebook alone scores 0
                problems[name] = f"not a valid notebook ({type(err).__name__}: {str(err)[:150]})"
    return notebooks, problems


def _score_notebooks(record: dict, course: Course, notebooks: dict, results: dict, expected: dict,
                     problems: dict) -> tuple[float, float]:
    """Score every notebook of the course into ``record["notebooks"]``; the points earned and possible in all."""
    score = max_score = 0.0
    for name in course.specs:
        nb_record = score_notebook(course, name, notebooks.get(name), results.get(name), expected, problems.get(name))
        nb_record["seconds"] = (results.get(name) or {}).get("seconds")
        record["notebooks"][name] = nb_record
        for part in ("exercises", "questions"):
            for row in nb_record[part].values():
                score += row["earned"]
                max_score += row["points"]
    return score, max_score


def _write_record(record: dict, options: Options) -> None:
    """``out/ID.json`` and the student's feedback (in ``out/feedback``)."""
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{record['student_id']}.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    from helpers.coursework.grading import feedback
    feedback.write(record, options.course, out / "feedback", show_keys=options.show_keys)


# ----------------------------------------------------------------------------- many zips

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
