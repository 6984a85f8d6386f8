"""The grader's pure parts (grader.py before its split into course, cells, unpack, run, scoring, grade and
results) the mutation run left untested: locked-cell comparison, CSV columns and rows, merge.
Expected values are written out by hand."""
import json
import types

from helpers.coursework.grading import grade, grader, unpack


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
    assert grader.changed_locked_cells(student, RELEASE, []) == [
        {"first_line": "for i in range(3):", "context": False, "change": "deleted", "effect": "none: the grader does not run this cell"}]


def test_a_student_notebook_without_cells_changed_every_locked_cell():
    not_run, release_run = "none: the grader does not run this cell", "none: the grader runs the release's version of this context cell"
    assert grader.changed_locked_cells({}, RELEASE, []) == [
        {"first_line": "for i in range(3):", "context": False, "change": "deleted", "effect": not_run},
        {"first_line": "setup = 1", "context": True, "change": "deleted", "effect": release_run},
        {"first_line": "bare = 2", "context": False, "change": "deleted", "effect": not_run}]


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


# ----------------------------------------------------------------------------- the complete run of 2026-11-26 (later run)
# The survivors of the first complete mutation run of grader.py. Helpers (no tests) come from test_grader_units.

import zipfile  # noqa: E402

import nbformat  # noqa: E402
import pytest  # noqa: E402

from helpers.coursework.grading.compare import exact  # noqa: E402
from helpers.coursework.grading.spec import Case  # noqa: E402
from tests.test_grader_units import (EXPECTED, TOY_NB, FakeRunner, changed, done, info, make_zip,  # noqa: E402
                                     toy_course, toy_options, write_submission)


def test_cells_of_notebooks_without_cells_metadata_or_code():
    assert grader.exercise_sources({}, ["double"]) == []
    assert grader.exercise_sources({"cells": []}, ["double"]) == []
    assert grader.exercise_sources({"cells": [{"cell_type": "markdown", "source": "def double(x):"}]}, ["double"]) == []
    bare = {"cells": [{"cell_type": "code", "source": "import torch"}]}  # no metadata: not context
    assert grader.context_sources(bare) == [] and grader.context_sources({}) == []


def test_only_the_last_definition_of_each_function_is_taken_and_the_first_cell_counts():
    cells = {"cells": [code("def double(x):\n    return 1"), code("y = 1"), code("def double(x):\n    return 2")]}
    assert grader.exercise_sources(cells, ["double"]) == ["def double(x):\n    return 2"]
    first_only = {"cells": [code("def double(x):\n    return 1"), code("y = 1")]}
    assert grader.exercise_sources(first_only, ["double"]) == ["def double(x):\n    return 1"]


class JobRunner:
    """Records the jobs (cells included) it is given; every case of them passes with ``out``."""

    def __init__(self, out=8):
        self.jobs, self.scratch, self.out = [], [], out

    def __call__(self, jobs, scratch):
        self.jobs += jobs
        self.scratch.append(scratch)
        cases = {(t["function"], t["case"]): {"ok": True, "out": self.out} for j in jobs for t in j["tests"]}
        return {j["name"]: {"cases": cases, "errors": [], "done": True, "seconds": 0.5} for j in jobs}, info()


def toy_zip(tmp_path, sid="b09901001", text=None):
    return write_submission(tmp_path / f"nb-{sid}", sid, {"01_toy": text or nbformat.writes(TOY_NB)}, tmp_path / "zips")


def test_grade_zip_sends_the_students_exercise_cells_and_works_in_a_temporary_folder(tmp_path):
    runner = JobRunner()
    grader.grade_zip(toy_zip(tmp_path), toy_options(tmp_path, runner))
    [job] = runner.jobs
    assert job["cells"] == ["def double(x):\n    return 2 * x"] and job["context"] == ["import torch"]
    [scratch] = runner.scratch
    assert scratch.parent.name.startswith("grade-") and not scratch.parent.exists()  # removed after grading


def test_grade_zip_names_an_unreadable_notebook_in_150_characters(tmp_path, monkeypatch):
    def broken(path):
        raise ValueError("w" * 200)

    monkeypatch.setattr(grade, "read_notebook", broken)
    got = grader.grade_zip(toy_zip(tmp_path), toy_options(tmp_path, JobRunner()))
    assert got["notebooks"]["01_toy"]["problem"] == "not a valid notebook (ValueError: " + "w" * 150 + ")"


def test_grade_zip_totals_to_the_cent_and_times_itself_to_a_tenth(tmp_path, monkeypatch):
    clock = iter([100.0, 112.345])
    monkeypatch.setattr(grade, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
    options = toy_options(tmp_path, JobRunner())
    spec = options.course.specs["01_toy"]
    spec["exercises"]["1.1"]["points"] = 0.125  # earned 0.125 -> rounded to 0.12 per exercise
    spec["questions"]["p1.q1"]["points"] = 0.126  # a question earns its points unrounded
    got = grader.grade_zip(toy_zip(tmp_path), options)
    assert got["notebooks"]["01_toy"]["exercises"]["1.1"]["earned"] == 0.12
    assert (got["score"], got["max_score"]) == (0.25, 0.25)  # 0.12 + 0.126 and 0.125 + 0.126, to the cent
    assert got["seconds"] == 12.3 and type(got["seconds"]) is float


def test_grade_zip_writes_its_record_readable_into_a_new_nested_folder(tmp_path):
    options = toy_options(tmp_path, JobRunner())
    options = grader.Options(tmp_path / "deep" / "er" / "grades", options.runner, options.course, options.expected)
    (tmp_path / "zips").mkdir()
    z = make_zip(tmp_path / "zips" / "b09901001_hw3.zip", {  # a submission.json naming someone else, non-ASCII
        "01_toy.ipynb": nbformat.writes(TOY_NB).encode(), "submission.json": json.dumps({"student_id": "é-student"}).encode()})
    got = grader.grade_zip(z, options)
    text = (tmp_path / "deep" / "er" / "grades" / "b09901001.json").read_text(encoding="utf-8")
    assert got["id_mismatch"] == "the zip is named for b09901001 but submission.json says 'é-student'"
    assert "'é-student'" in text and "\\u00e9" not in text  # written as UTF-8, not escaped
    assert text.startswith('{\n  "zip": "b09901001_hw3.zip",\n  "status": "graded",\n  "notebooks": {\n    "01_toy": {\n')
    assert text.endswith("\n}\n")


def test_results_after_an_unreadable_or_foreign_line_are_still_read():
    raw = (b'not json\n[1, 2]\n{"nb": 5}\n{"ready": true}\n'
           b'{"nb": "01_a", "fn": "f", "case": "c", "ok": true, "out": 1}\n{"nb": "01_a", "done": true, "seconds": 2}\n')
    assert grader.parse_results(raw) == {"01_a": {"cases": {("f", "c"): {"nb": "01_a", "fn": "f", "case": "c", "ok": True,
                                                                          "out": 1}},
                                                  "errors": [], "done": True, "seconds": 2}}


def test_a_zip_without_submission_json_has_empty_metadata(tmp_path):
    z = make_zip(tmp_path / "a_hw3.zip", {"01_a.ipynb": b"{}"})
    assert grader.safe_extract(z, tmp_path / "new" / "nested") == (["01_a.ipynb"], {})
    assert grader.safe_extract(z, tmp_path / "new" / "nested") == (["01_a.ipynb"], {})  # into a folder that exists


def test_the_total_size_limit_is_inclusive_and_counts_from_zero(tmp_path, monkeypatch):
    monkeypatch.setattr(unpack, "MAX_MEMBER_BYTES", 10)
    monkeypatch.setattr(unpack, "MAX_TOTAL_BYTES", 25)
    exact_total = make_zip(tmp_path / "a_hw3.zip", {"01_a.ipynb": b"x" * 10, "02_b.ipynb": b"y" * 10, "03_c.ipynb": b"z" * 5})
    assert grader.safe_extract(exact_total, tmp_path / "a")[0] == ["01_a.ipynb", "02_b.ipynb", "03_c.ipynb"]


def test_a_big_member_is_read_a_megabyte_at_a_time_and_counted_over_its_blocks(tmp_path, monkeypatch):
    sizes = []
    real = zipfile.ZipExtFile.read

    def read(self, n=-1):
        sizes.append(n)
        return real(self, n)

    monkeypatch.setattr(zipfile.ZipExtFile, "read", read)
    monkeypatch.setattr(unpack, "MAX_MEMBER_BYTES", 3 * 2**20 // 2)  # 1.5 MiB: no single block is over it
    big = tmp_path / "big_hw3.zip"
    with zipfile.ZipFile(big, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("01_a.ipynb", b"\0" * (2 * 2**20))  # 2 MiB, a few KB packed
    with pytest.raises(grader.UnsafeZipError, match=r"^01_a\.ipynb unpacks to more than the size limit\.$"):
        grader.safe_extract(big, tmp_path / "out")
    assert sizes and set(sizes) == {2**20}
    assert (tmp_path / "out" / "01_a.ipynb").stat().st_size == 2**20  # the first megabyte, then the refusal


SCORE_SPEC = changed(exercises={"1.1": {"function": "double", "points": 2}},
                     questions={"p1.q2": {"kind": "number", "points": 1, "tolerance": 0.5},
                                "p1.q3": {"kind": "number", "points": 1}})


def answered(q2, q3):
    return {"cells": [code("import torch", tags=["context"]),
                      code(f'answers.fill("p1.q2", {q2})\nanswers.fill("p1.q3", {q3})')], "metadata": {}}


@pytest.mark.parametrize("q2, q3, earned", [
    (42.3, 7, {"p1.q2": 1, "p1.q3": 1}),  # within q2's tolerance (0.5), q3 exact
    (42.6, 7, {"p1.q2": 0, "p1.q3": 1}),
    (42, 7.4, {"p1.q2": 1, "p1.q3": 0}),  # q3 has no tolerance: 0, not 1
])
def test_questions_use_their_kind_and_their_own_tolerance(q2, q3, earned):
    course = toy_course(spec=SCORE_SPEC, keys={"p1.q2": 42, "p1.q3": 7},
                        tests=[grader.Test("1.1", "double", Case("four", (4,), compare=exact()))])
    results = {"cases": {("double", "four"): {"ok": True, "out": 8}}, "errors": [], "done": True}
    got = grader.score_notebook(course, "01_toy", answered(q2, q3), results, EXPECTED)
    assert {q: row["earned"] for q, row in got["questions"].items()} == earned


def test_a_notebook_spec_without_questions_scores_only_exercises():
    spec = changed(exercises={"1.1": {"function": "double", "points": 2}})
    del spec["questions"]
    course = toy_course(spec=spec, tests=[grader.Test("1.1", "double", Case("four", (4,), compare=exact()))])
    results = {"cases": {("double", "four"): {"ok": True, "out": 8}}, "errors": [], "done": True}
    got = grader.score_notebook(course, "01_toy", None, results, EXPECTED)
    assert got["questions"] == {} and got["exercises"]["1.1"]["earned"] == 2.0


def one_case(compare, record):
    course = toy_course(tests=[grader.Test("1.1", "double", Case("four", (4,), compare=compare))],
                        spec=changed(exercises={"1.1": {"function": "double", "points": 2}}))
    results = {"cases": {("double", "four"): record}, "errors": [], "done": True}
    return grader.score_notebook(course, "01_toy", None, results, EXPECTED)["exercises"]["1.1"]["cases"][0]


def test_the_cases_own_comparison_is_used_and_its_message_kept_only_on_failure():
    assert one_case(lambda got, want: (False, "custom: no"), {"ok": True, "out": 8}) == {
        "case": "four", "passed": False, "message": "custom: no", "failure": "compare"}  # the default (allclose) would pass 8 == 8
    assert one_case(lambda got, want: (True, "close enough"), {"ok": True, "out": 9}) == {
        "case": "four", "passed": True, "message": ""}


def test_a_comparison_that_returns_an_array_of_booleans_fails_the_case_without_crashing_the_grader():
    import numpy as np

    got = one_case(lambda got, want: (np.array([True, False]), "mixed"), {"ok": True, "out": 8})
    assert got == {"case": "four", "passed": False, "message": "mixed", "failure": "compare"}
    assert one_case(lambda got, want: (np.bool_(True), ""), {"ok": True, "out": 8})["passed"] is True


def test_a_failed_case_without_an_error_text_and_a_long_comparison_error():
    assert one_case(exact(), {"ok": False}) == {"case": "four", "passed": False, "message": "error", "failure": "error"}

    def broken(got, want):
        raise KeyError("k" * 300)

    message = one_case(broken, {"ok": True, "out": 8})["message"]
    # the comparison's error is cut like a student's (it may name a value of the expected output)
    assert message == "output could not be compared: KeyError: '" + "k" * 79


def test_a_number_exactly_at_the_tolerance_and_the_float_slack():
    assert grader.score_question("number", 0.5 + 1e-12, 0, 0.5) is True  # the 1e-12 slack is inclusive
    assert grader.score_question("number", 0.5 + 1e-11, 0, 0.5) is False


def test_runner_in_a_second_run_still_runs_each_notebook_after_the_culprit():
    runner = FakeRunner(({}, info(returncode=-9)), ({"02_b": done("02_b")}, info()), ({"03_c": done("03_c")}, info()))
    jobs = [{"name": n} for n in ("01_a", "02_b", "03_c")]
    results, runs = grader.run_notebooks(runner, jobs, __import__("pathlib").Path("/tmp/x"))
    assert results["01_a"]["errors"] == ["the sandbox stopped (exit -9)"]
    assert [c[0] for c in runner.calls] == [["01_a", "02_b", "03_c"], ["02_b"], ["03_c"]]
