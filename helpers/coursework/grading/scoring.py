"""Scoring one notebook: hidden cases against the instructor solutions' outputs, questions against the keys.

A case passes or fails; an exercise earns its points times the share (by weight) of its cases that pass, and a case
that ``requires`` a partner counts only when the partner passes too. Conceptual questions are read from the
notebook's answer cells (literals, not run) and compared with the instructor notebook's answers.
"""
from __future__ import annotations

from typing import Any

from helpers.coursework.grading.cells import changed_locked_cells
from helpers.coursework.grading.compare import secret_words, student_error
from helpers.coursework.grading.course import Course, Test, _transport
from helpers.handin import notebook_answers


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
        outcome: dict[str, tuple[bool, str, str]] = {}
        for test in tests:
            record = results["cases"].get((test.function, test.case.name))
            outcome[test.case.name] = _case_outcome(test, record, problem, errors, expected, name, secrets)
        exercises[number] = _exercise_record(ex, tests, outcome)
    answers = notebook_answers(student_nb) if student_nb else {}
    questions = _question_records(spec, answers, course.keys, name)
    return {"exercises": exercises, "questions": questions, "locked_cells_changed": changed,
            "errors": errors, **({"problem": problem} if problem else {})}


def _case_outcome(test: Test, record: dict | None, problem: str | None, errors: list[str], expected: dict, name: str,
                  secrets: set[str]) -> tuple[bool, str, str]:
    """``(ok, message, failure)`` of one hidden case of notebook ``name``; ``failure`` says where a failure's message
    comes from (the feedback shows only safe parts of it): "problem", "not run", "error" or "compare"."""
    if problem:
        return False, problem, "problem"
    if record is None:
        return False, "not run (" + ("; ".join(errors) or "the notebook stopped") + ")", "not run"
    if not record.get("ok"):
        return False, student_error(record.get("error", "error"), secrets), "error"
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
    return ok, message, "compare"


def _exercise_record(ex: dict, tests: list[Test], outcome: dict[str, tuple[bool, str, str]]) -> dict:
    """An exercise's points earned (its points times the passing share of its cases' weight) and a row per case."""
    total = sum(t.case.weight for t in tests)
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
    return {"function": ex["function"], "points": ex["points"], "earned": earned, "cases": rows}


def _question_records(spec: dict, answers: dict, keys: dict[str, dict], name: str) -> dict:
    """Each question of notebook ``name``: its points earned (all or nothing) and whether it was answered."""
    questions = {}
    for qid, q in spec.get("questions", {}).items():
        correct = score_question(q["kind"], answers.get(qid), keys[name][qid], float(q.get("tolerance", 0.0)))
        questions[qid] = {"points": q["points"], "earned": q["points"] if correct else 0, "answered": qid in answers}
    return questions
