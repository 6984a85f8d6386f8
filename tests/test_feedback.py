"""Feedback a student can read (grading/feedback.py) and the Canvas gradebook export (grading/gradebook.py)."""
import csv
import json

import pytest

from helpers.coursework.grading import feedback, gradebook, grader
from helpers.coursework.grading.spec import Case
from tests import toycourse as toy

SECRET = "Zebra-7731"  # stands for a hidden input the student's code saw and tries to smuggle out


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return toy.load_toy_course(toy.write_course(tmp_path_factory.mktemp("toy")))


def row(case, message="", failure="compare", passed=False):
    return {"case": case, "passed": passed, "message": message, **({} if passed else {"failure": failure})}


def notebook(exercises=None, questions=None, **extra):
    return {"exercises": exercises or {}, "questions": questions or {}, "locked_cells_changed": [], "errors": [], **extra}


def record(nb_record, **extra):
    return {"student_id": "b01", "status": "graded", "score": 1, "max_score": 7, "notebooks": {"01_toy": nb_record}, **extra}


@pytest.mark.parametrize("message, failure, key, values", [
    ("NotImplementedError: exercise 1.1: implement double", "error", "stub", {}),
    ("ValueError: shapes differ", "error", "raised", {"error": "ValueError"}),
    (f"{SECRET}Error: boom", "error", "raised", {"error": "an exception"}),  # a student's own exception class
    ("timed out after 60 s", "error", "timeout", {}),
    ("`double` is not defined by the notebook", "error", "undefined", {}),
    ("the notebook ran out of time before this test", "error", "late", {}),
    ("output too large", "error", "unreadable", {}),
    ("TypeError: the function returned a set, which the grader cannot read", "error", "unreadable", {}),
    ("not run (exercise 1: SyntaxError: x)", "not run", "not run", {}),
    ("right, but this case counts only when case 'k = 2' passes too", "partner", "partner", {}),
    ("notebook missing from the zip", "problem", "problem", {"problem": "notebook missing from the zip"}),
    ("output: expected shape (3, 4), got (4, 3)", "compare", "shape", {}),
    ("expected dtype float32 (the input's), got float64", "compare", "dtype", {}),
    ("the output has NaN: removed logits must be -inf", "compare", "nonfinite", {}),
    ("output: expected a list of 3, got 'x'", "compare", "structure", {}),
    ("output: 1 of 2 values differ; at index (0,) got 2.6, expected 2.5", "compare", "values", {}),
    ("output could not be compared: ValueError: array data does not fill its shape (5,)", "compare", "unreadable", {}),
])
def test_each_failure_gets_words_from_the_fixed_vocabulary(message, failure, key, values):
    assert feedback.classify(row("c", message, failure)) == (key, values)


@pytest.mark.parametrize("message, shown", [
    ("a kept logit changed: leave the kept logits as they are", True),
    ("the output has NaN: removed logits must be -inf", True),
    ("output: expected 8, got 9", False),  # digits: could carry a value
    (f"output: expected 'a', got '{SECRET}'", False),
    ("row kept ids [a], expected [b]", False),
    ("you got it wrong somehow", False),  # "got" introduces the student's output
    ("x" * 300, False),
])
def test_only_constant_prose_from_a_comparison_is_quoted(message, shown):
    assert (feedback.safe_message(row("c", message)) == message) is shown
    assert feedback.safe_message(row("c", message, failure="error")) == ""  # never a student's error text


def test_what_student_code_controls_never_reaches_the_feedback(course):
    exercises = {"1.1": {"function": "double", "points": 2, "earned": 0.0, "cases": [
        row("four", f"ValueError: {SECRET}", "error"), row("negative", f"output: expected 'x', got '{SECRET}'"),
        row("large", f"{SECRET}: no", "error")]},
        "1.2": {"function": "scale", "points": 3, "earned": 3.0, "cases": [row("vector", passed=True), row("matrix", passed=True)]}}
    nb_record = notebook(exercises, errors=[f"exercise 1: KeyError: {SECRET}", f"context 2: {SECRET}", SECRET])
    text = feedback.render(record(nb_record), course)
    assert SECRET not in text
    assert "raised ValueError: four" in text and "The values differ from the right answer: negative" in text
    assert "raised an exception: large" in text
    assert "exercise cell number 1 raised KeyError" in text and "context cell 2 raised an exception" in text
    assert "### Exercise 1.2 `scale`: 3 / 3 points\n\nAll 2 hidden cases pass." in text


def test_failed_cases_are_named_by_their_kind_and_grouped_by_what_went_wrong(course):
    course.tests["01_toy"][0].case.kind = "a small positive number"  # the optional kind wins over the name
    try:
        exercises = {"1.1": {"function": "double", "points": 2, "earned": 0.0, "cases": [
            row("four", "timed out after 60 s", "error"), row("negative", "timed out after 60 s", "error"),
            row("large", "output: expected 2000000, got 3")]}}
        text = feedback.render(record(notebook(exercises)), course)
    finally:
        course.tests["01_toy"][0].case.kind = ""
    assert "0 of 3 hidden cases pass" in text
    assert "- It ran past its time limit: a small positive number; negative.\n" in text
    assert "- The values differ from the right answer: large.\n" in text
    assert text.count("Look for a Python loop") == 1


def test_snake_case_names_read_as_words_and_names_with_spaces_stay():
    assert feedback.case_kind(Case("prompt_c_last_layer_25")) == "prompt c last layer 25"
    assert feedback.case_kind(Case("generation stops at <end_of_turn>")) == "generation stops at <end_of_turn>"
    assert feedback.case_kind(Case("x_y", kind="another layer")) == "another layer"


def test_questions_are_right_wrong_or_unanswered_and_the_key_only_after_the_deadline(course):
    questions = {"p1.q1": {"points": 1, "earned": 0, "answered": True}, "p1.q2": {"points": 1, "earned": 0, "answered": False}}
    before = feedback.render(record(notebook(questions=questions)), course)
    after = feedback.render(record(notebook(questions=questions)), course, show_keys=True)
    assert "- **p1.q1** (1 point): wrong\n" in before and "- **p1.q2** (1 point): not answered\n" in before
    assert "key" not in before
    assert "- **p1.q1** (1 point): wrong; the key is 'B'" in after and "the key is 42" in after
    right = {"p1.q1": {"points": 1, "earned": 1, "answered": True}}
    assert "key" not in feedback.render(record(notebook(questions=right)), course, show_keys=True)


def test_changed_locked_cells_are_listed_with_their_effect(course):
    changed = [{"first_line": "import torch", "context": True, "change": "deleted", "effect": grader.LOCKED_EFFECT[True]}]
    text = feedback.render(record(notebook(locked_cells_changed=changed)), course)
    assert "1 changed or deleted locked cell(s). Colab does not enforce cell locks" in text
    assert "changed nothing in your grade" in text and "- `import torch` (deleted)" in text


def test_rejected_submission_and_a_missing_notebook_say_so(course):
    nb_record = notebook({"1.1": {"function": "double", "points": 2, "earned": 0.0, "cases": [
        row("four", "notebook missing from the zip", "problem")]}}, problem="notebook missing from the zip")
    text = feedback.render(record(nb_record, status="rejected", error="b01_hw3.zip is not a readable zip"), course)
    assert "Not graded: b01_hw3.zip is not a readable zip" in text
    assert "- Not graded: notebook missing from the zip." in text


def test_the_hint_and_the_check_come_from_the_release_notebook():
    release = {"cells": [
        {"cell_type": "markdown", "source": "### Exercise 4.1 — implement `f`\n<details><summary>Hint 1 — the idea</summary>\n\n"
                                            "Rank the\ntokens.\n</details>\n<details><summary>Hint 2 — the API</summary>sort</details>"},
        {"cell_type": "markdown", "source": "### Exercise 4.2\n<details><summary>Hint 1 — the idea</summary>Other.</details>"},
        {"cell_type": "code", "source": "checks.check_f(f, model)\n"},
        {"cell_type": "code", "source": "checks.check_ff(ff)"}]}
    assert feedback.tier1_hint(release, "4.1") == "Rank the tokens."
    assert feedback.tier1_hint(release, "4.2") == "Other."
    assert feedback.tier1_hint(release, "4.3") == ""
    assert feedback.check_call(release, "f") == "checks.check_f(f, model)"
    assert feedback.check_call(release, "ff") == "checks.check_ff(ff)"
    assert feedback.check_call(release, "g") == ""


def test_every_exercise_of_the_course_has_a_tier1_hint_and_a_check():
    course = grader.load_course()
    for name, spec in course.specs.items():
        for number, ex in spec["exercises"].items():
            hint = feedback.tier1_hint(course.release[name], number)
            assert len(hint) > 40 and "<" not in hint[:1], (name, number)
            assert feedback.check_call(course.release[name], ex["function"]).startswith("checks.check_"), (name, number)


def test_write_puts_one_file_per_student(course, tmp_path):
    path = feedback.write(record(notebook()), course, tmp_path / "feedback")
    assert path == tmp_path / "feedback" / "b01.md" and path.read_text().startswith("# Feedback for b01\n")


# ----------------------------------------------------------------------------- Canvas

def test_canvas_csv_has_canvas_columns_then_the_assignment(tmp_path):
    records = [{"student_id": "b02", "status": "graded", "score": 80.5}, {"student_id": "b01", "status": "graded", "score": 88},
               {"student_id": "bad", "status": "rejected", "score": 0}, {"student_id": "b03", "status": "duplicate id: also x"}]
    path = gradebook.write_canvas(records, tmp_path / "canvas.csv", assignment="HW3 (4242)")
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "HW3 (4242)"]
    assert rows[1:] == [["", "", "b01", "", "", "88"], ["", "", "b02", "", "", "80.5"]]


def test_canvas_roster_fills_name_id_login_and_section(tmp_path):
    roster = tmp_path / "export.csv"
    roster.write_text("\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,HW1 (11)\n"
                      "    Points Possible,,,,,10\n"
                      '"Lee, Ann",501,b01,ann@uni,ML 2025,9\n'
                      "Chen Bo,502,,b02,ML 2025,7\n", encoding="utf-8")
    records = [{"student_id": "b01", "status": "graded", "score": 1}, {"student_id": "b02", "status": "graded", "score": 2},
               {"student_id": "b09", "status": "graded", "score": 3}]
    path = gradebook.write_canvas(records, tmp_path / "canvas.csv", roster=roster)
    rows = list(csv.DictReader(open(path, newline="")))
    assert [(r["Student"], r["ID"], r["SIS User ID"], r["SIS Login ID"], r["Section"], r["HW3"]) for r in rows] == [
        ("Lee, Ann", "501", "b01", "ann@uni", "ML 2025", "1"), ("Chen Bo", "502", "b02", "b02", "ML 2025", "2"),
        ("", "", "b09", "", "", "3")]


def test_a_roster_that_is_not_a_canvas_export_is_refused(tmp_path):
    roster = tmp_path / "export.csv"
    roster.write_text("name,id\nAnn,1\n")
    with pytest.raises(gradebook.RosterError, match="SIS User ID.*Export Entire Gradebook"):
        gradebook.write_canvas([], tmp_path / "c.csv", roster=roster)
    with pytest.raises(ValueError, match="needs a name"):
        gradebook.write_canvas([], tmp_path / "c.csv", assignment=" ")


def test_merge_writes_the_canvas_csv_of_every_shard(course, tmp_path):
    for shard, sid, score in (("g1", "b01", 3.5), ("g2", "b02", 7)):
        (tmp_path / shard).mkdir()
        (tmp_path / shard / f"{sid}.json").write_text(json.dumps(
            {"student_id": sid, "zip": f"{sid}_hw3.zip", "status": "graded", "score": score, "max_score": 7, "notebooks": {}}))
    grader.merge([tmp_path / "g1", tmp_path / "g2"], tmp_path / "out", course=course, canvas={"assignment": "HW3"})
    rows = list(csv.reader(open(tmp_path / "out" / "canvas.csv", newline="")))
    assert rows == [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "HW3"], ["", "", "b01", "", "", "3.5"],
                    ["", "", "b02", "", "", "7"]]
    grader.merge([tmp_path / "g1"], tmp_path / "plain", course=course)
    assert not (tmp_path / "plain" / "canvas.csv").exists()
