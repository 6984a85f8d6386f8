"""grader.py's pure parts the mutation run left untested: locked-cell comparison, CSV columns and rows, merge.
Expected values are written out by hand."""
import json
import types

from helpers.coursework.grading import grader


def code(source, **metadata):
    return {"cell_type": "code", "source": source, "metadata": metadata, "outputs": [], "execution_count": None}


RELEASE = {"cells": [code("for i in range(3):\n    total += i"), code("setup = 1", tags=["context"]),
                     {"cell_type": "markdown", "source": "text", "metadata": {}}, code("bare = 2")]}


def test_locked_cells_without_metadata_or_cells():
    release = {"cells": [{"cell_type": "code", "source": "bare = 2"}]}  # no metadata at all: locked, not context
    assert grader.locked_cells(release, []) == [("bare = 2", False)]
    assert grader.locked_cells({}, []) == []


def test_a_reindented_locked_cell_is_a_change_but_trailing_spaces_are_not():
    student = {"cells": [code("for i in range(3):\ntotal += i"), code("setup = 1   \n"), code("bare = 2")]}
    assert grader.changed_locked_cells(student, RELEASE, []) == [{"first_line": "for i in range(3):", "context": False}]


def test_a_student_notebook_without_cells_changed_every_locked_cell():
    assert grader.changed_locked_cells({}, RELEASE, []) == [
        {"first_line": "for i in range(3):", "context": False}, {"first_line": "setup = 1", "context": True},
        {"first_line": "bare = 2", "context": False}]


COURSE = types.SimpleNamespace(specs={
    "01_a": {"exercises": {"1.1": {"function": "f"}}, "questions": {"p1.q1": {}}},
    "02_b": {"exercises": {"2.1": {"function": "g"}}},  # no questions
})


def test_columns_of_every_notebook_in_order():
    assert grader.columns(COURSE) == ["1.1 f", "p1.q1", "2.1 g"]


def test_csv_row_of_a_notebook_without_exercises_or_questions():
    record = {"student_id": "b1", "zip": "b1_hw3.zip", "status": "graded", "score": 2, "max_score": 5,
              "notebooks": {"01_a": {}, "02_b": {"exercises": {"2.1": {"function": "g", "earned": 2}}}}}
    assert grader.csv_row(record) == {"student_id": "b1", "zip": "b1_hw3.zip", "status": "graded", "score": 2,
                                      "max_score": 5, "2.1 g": 2}


def test_merge_into_a_new_nested_folder_and_again_into_it(tmp_path):
    shard = tmp_path / "shard1"
    shard.mkdir()
    (shard / "b2.json").write_text(json.dumps({
        "student_id": "b2", "zip": "b2_hw3.zip", "status": "graded", "score": 1, "max_score": 3,
        "notebooks": {"01_a": {"exercises": {"1.1": {"function": "f", "earned": 1}, "9.9": {"function": "old", "earned": 7}},
                               "questions": {"p1.q1": {"earned": 0}}}}}))
    (shard / "b1.json").write_text(json.dumps({"student_id": "b1", "zip": "b1_hw3.zip", "status": "no notebooks"}))
    out = tmp_path / "a" / "b"
    expected = ("student_id,zip,status,score,max_score,1.1 f,p1.q1,2.1 g\r\n"
                "b1,b1_hw3.zip,no notebooks,0,,,,\r\n"
                "b2,b2_hw3.zip,graded,1,3,1,0,\r\n")  # 9.9 is no column of the course: left out
    assert grader.merge([shard], out, COURSE) == out / "grades.csv"
    assert (out / "grades.csv").read_bytes().decode() == expected
    grader.merge([shard], out, COURSE)  # the folder exists now
    assert (out / "grades.csv").read_bytes().decode() == expected
