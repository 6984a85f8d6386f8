"""The grader's pure parts without the sandbox: spec validation, zip extraction, results, scoring, CSV, shards.

Every expected value here is written out by hand (points, shares, messages), or comes from a
fake sandbox runner whose answers the test chooses; nothing is recomputed the grader's way.
"""
import csv
import importlib
import io
import json
import stat
import sys
import zipfile

import nbformat
import pytest

from helpers import handin
from helpers.coursework.grading import grader, unpack
from helpers.coursework.grading.compare import allclose, exact
from helpers.coursework.grading.spec import Case, make, ref
from tests import toycourse as toy

# ----------------------------------------------------------------------------- spec validation

GOOD_SPEC = {
    "notebook": "01_toy", "timeout_s": 60,
    "exercises": {"1.1": {"function": "double", "points": 2}, "1.2": {"function": "scale", "points": 3}},
    "questions": {"p1.q1": {"kind": "choice", "points": 1}, "p1.q2": {"kind": "number", "points": 1, "tolerance": 0.5}},
}


def write_spec(directory, spec, name="01_toy.json", raw=None):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(raw if raw is not None else json.dumps(spec))
    return directory


def changed(**parts):
    spec = json.loads(json.dumps(GOOD_SPEC))
    for key, value in parts.items():
        spec[key] = value
    return spec


def test_load_spec_reads_every_numbered_file_and_ignores_others(tmp_path):
    write_spec(tmp_path, GOOD_SPEC)
    second = changed(notebook="02_more", exercises={"2.1": {"function": "triple", "points": 1.5}})
    del second["questions"]  # questions are optional
    write_spec(tmp_path, second, "02_more.json")
    write_spec(tmp_path, {"not": "a spec"}, "notes.json")
    write_spec(tmp_path, {"not": "a spec"}, "3_short.json")
    specs = grader.load_spec(tmp_path)
    assert list(specs) == ["01_toy", "02_more"]
    assert specs["01_toy"] == GOOD_SPEC and specs["02_more"]["exercises"]["2.1"]["points"] == 1.5


def test_load_spec_without_files_names_the_place(tmp_path):
    with pytest.raises(grader.GradingError) as info:
        grader.load_spec(tmp_path)
    assert str(info.value) == f"no grading spec in {tmp_path}: expected data/grading/NN_topic.json files."


def test_load_spec_defaults_to_the_course_spec_folder():
    assert set(grader.load_spec()) >= {"01_chat_template", "04_sampling_self_bleu"}


BAD_SPECS = [
    ("not JSON", None, "{", "01_toy.json is not valid JSON: "),
    ("NaN", None, json.dumps(GOOD_SPEC).replace('"points": 2', '"points": NaN'),
     "01_toy.json is not valid JSON: NaN is not allowed in the grading spec"),
    ("Infinity", None, json.dumps(GOOD_SPEC).replace('"timeout_s": 60', '"timeout_s": Infinity'),
     "01_toy.json is not valid JSON: Infinity is not allowed in the grading spec"),
    ("wrong notebook", changed(notebook="01_other"), None, "01_toy.json: 'notebook' must be '01_toy', not '01_other'."),
    ("no notebook", {k: v for k, v in GOOD_SPEC.items() if k != "notebook"}, None,
     "01_toy.json: 'notebook' must be '01_toy', not None."),
    ("no timeout", {k: v for k, v in GOOD_SPEC.items() if k != "timeout_s"}, None,
     "01_toy.json: 'timeout_s' must be a positive number of seconds."),
    ("zero timeout", changed(timeout_s=0), None, "01_toy.json: 'timeout_s' must be a positive number of seconds."),
    ("negative timeout", changed(timeout_s=-5), None, "'timeout_s' must be a positive number"),
    ("text timeout", changed(timeout_s="60"), None, "'timeout_s' must be a positive number"),
    ("boolean timeout", changed(timeout_s=True), None, "'timeout_s' must be a positive number"),
    ("exercises a list", changed(exercises=[]), None, "01_toy.json: 'exercises' and 'questions' must be objects."),
    ("no exercises", {k: v for k, v in GOOD_SPEC.items() if k != "exercises"}, None,
     "'exercises' and 'questions' must be objects."),
    ("questions a list", changed(questions=[]), None, "'exercises' and 'questions' must be objects."),
    ("exercise number", changed(exercises={"4": {"function": "f", "points": 1}}), None,
     "01_toy.json: exercise '4' must be numbered like '4.1' and be an object."),
    ("exercise number with text", changed(exercises={"4.1a": {"function": "f", "points": 1}}), None,
     "exercise '4.1a' must be numbered like '4.1'"),
    ("exercise number with a prefix", changed(exercises={"x4.1": {"function": "f", "points": 1}}), None,
     "exercise 'x4.1' must be numbered"),
    ("exercise not an object", changed(exercises={"4.1": "f"}), None, "exercise '4.1' must be numbered like '4.1' and be an object."),
    ("no function", changed(exercises={"4.1": {"points": 1}}), None, "01_toy.json: exercise 4.1 needs 'function', a Python name."),
    ("function not a name", changed(exercises={"4.1": {"function": "top-k", "points": 1}}), None,
     "exercise 4.1 needs 'function', a Python name."),
    ("function twice", changed(exercises={"4.1": {"function": "f", "points": 1}, "4.2": {"function": "f", "points": 1}}),
     None, "01_toy.json: function f is graded twice."),
    ("no points", changed(exercises={"4.1": {"function": "f"}}), None,
     "01_toy.json: exercise 4.1 needs positive finite 'points', not None."),
    ("zero points", changed(exercises={"4.1": {"function": "f", "points": 0}}), None, "needs positive finite 'points', not 0."),
    ("boolean points", changed(exercises={"4.1": {"function": "f", "points": True}}), None, "not True."),
    ("question id", changed(questions={"q1": {"kind": "choice", "points": 1}}), None,
     "01_toy.json: question 'q1' must be named like 'p5.q1' and be an object."),
    ("question id with a suffix", changed(questions={"p1.q1x": {"kind": "choice", "points": 1}}), None,
     "question 'p1.q1x' must be named like 'p5.q1'"),
    ("question not an object", changed(questions={"p1.q1": "A"}), None, "question 'p1.q1' must be named like 'p5.q1' and be an object."),
    ("question kind", changed(questions={"p1.q1": {"kind": "essay", "points": 1}}), None,
     "01_toy.json: question p1.q1 has kind 'essay': use one of choice, multi, number, text."),
    ("no kind", changed(questions={"p1.q1": {"points": 1}}), None, "question p1.q1 has kind None"),
    ("question points", changed(questions={"p1.q1": {"kind": "text", "points": -1}}), None,
     "01_toy.json: question p1.q1 needs positive finite 'points', not -1."),
    ("negative tolerance", changed(questions={"p1.q1": {"kind": "number", "points": 1, "tolerance": -0.1}}), None,
     "01_toy.json: question p1.q1 has tolerance -0.1: use a finite number >= 0."),
    ("text tolerance", changed(questions={"p1.q1": {"kind": "number", "points": 1, "tolerance": "0.1"}}), None,
     "has tolerance '0.1'"),
    ("boolean tolerance", changed(questions={"p1.q1": {"kind": "number", "points": 1, "tolerance": False}}), None,
     "has tolerance False"),
]


@pytest.mark.parametrize("spec, raw, message", [c[1:] for c in BAD_SPECS], ids=[c[0] for c in BAD_SPECS])
def test_load_spec_refuses_each_mistake_with_its_fix(tmp_path, spec, raw, message):
    write_spec(tmp_path, spec, raw=raw)
    with pytest.raises(grader.GradingError) as info:
        grader.load_spec(tmp_path)
    text = str(info.value)
    assert text == message if message.startswith("01_toy.json") and message.endswith(".") else message in text


def test_zero_tolerance_and_integer_points_are_fine(tmp_path):
    spec = changed(questions={"p1.q1": {"kind": "number", "points": 2, "tolerance": 0}})
    assert grader.load_spec(write_spec(tmp_path, spec))["01_toy"]["questions"]["p1.q1"]["tolerance"] == 0


@pytest.mark.parametrize("value, ok", [(1, True), (0.25, True), (1e-9, True), (0, False), (-1, False), (True, False),
                                       (float("inf"), False), (float("nan"), False), ("3", False), (None, False)])
def test_positive(value, ok):
    assert grader._positive(value) is ok


# ----------------------------------------------------------------------------- cells

def nb(*cells) -> dict:
    return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def code(source, tags=(), **extra) -> dict:
    return {"cell_type": "code", "source": source, "metadata": {"tags": list(tags)} if tags else {},
            "outputs": [], "execution_count": None, **extra}


def md(source) -> dict:
    return {"cell_type": "markdown", "source": source, "metadata": {"tags": ["context"]}}


@pytest.mark.parametrize("source, defined", [
    ("def double(x):\n    return 2 * x", True),
    ("import torch\n\ndef double (x):\n    pass", True),
    ("async def double(x):\n    pass", True),
    ("def doubled(x):\n    pass", False),
    ("    def double(x):\n        pass", False),  # not at top level
    ("# def double(x): in a comment", False),
    ("x = double(3)", False),
    ("def double(x) broken syntax", True),  # counted, so the error is reported
])
def test_defines(source, defined):
    assert grader.defines(source, "double") is defined


def test_defines_takes_the_name_literally():
    assert grader.defines("def ab(x): pass", "a.") is False


@pytest.mark.parametrize("source, question", [
    ('answers.choose("p1.q1", "B")', True), ('answers.fill("p1.q2", 3)', True), ("x = 1\nanswers.fill(", True),
    ('myanswers.choose("p1.q1", "B")', False), ('answers.chooser("p1.q1")', False), ("answers = AnswerSheet('x')", False),
])
def test_is_question_cell(source, question):
    assert grader.is_question_cell(source) is question


def test_is_handin_cell():
    assert grader.is_handin_cell({"id": "submit-code", "source": "x"})
    assert grader.is_handin_cell({"id": "other", "source": ['STUDENT_ID = ""\n', "submit()"]})
    assert not grader.is_handin_cell({"id": "submit-text", "source": "STUDENT_ID=''"})
    assert not grader.is_handin_cell({"source": ""})


def test_source_joins_lists_and_accepts_missing_source():
    assert grader._source({"source": ["a\n", "b"]}) == "a\nb"
    assert grader._source({"source": "x"}) == "x" and grader._source({}) == ""


def test_exercise_sources_take_the_last_definition_in_notebook_order():
    notebook = nb(code("def scale(v, k):\n    return v"), md("def double(x): markdown is not code"),
                  code("def double(x):\n    return 1"), code("print(1)"),
                  code("def double(x):\n    return 2 * x"), code("def scale(v, k):\n    return v * k\ndef double(x): pass"))
    assert grader.exercise_sources(notebook, ["double", "scale"]) == [
        "def scale(v, k):\n    return v * k\ndef double(x): pass"]
    assert grader.exercise_sources(notebook, ["missing"]) == []
    two = nb(code("def b(): pass"), code("def a(): pass"))
    assert grader.exercise_sources(two, ["a", "b"]) == ["def b(): pass", "def a(): pass"]


def test_context_sources_are_the_tagged_code_cells_in_order():
    notebook = nb(code("setup", ["setup", "context"]), md("not code"), code("plain"), code(["import ", "torch"], ["context"]))
    assert grader.context_sources(notebook) == ["setup", "import torch"]
    assert grader.context_sources({}) == []


RELEASE = nb(
    code("import torch", ["setup", "context"]),
    md("### Exercise"),
    code("def double(x):\n    raise NotImplementedError"),
    code("print(double(3))  "),
    code('answers.choose("p1.q1", ...)'),
    code("form_field = 3", ["free"]),
    code('STUDENT_ID = ""\nhandin.submit("01_toy")', id="submit-code"),
    code(""),
)


def test_locked_cells_are_everything_but_exercises_questions_free_and_handin_cells():
    assert grader.locked_cells(RELEASE, ["double"]) == [("import torch", True), ("print(double(3))  ", False), ("", False)]
    assert grader.locked_cells(RELEASE, []) == [("import torch", True), ("def double(x):\n    raise NotImplementedError", False),
                                                ("print(double(3))  ", False), ("", False)]


def test_changed_locked_cells_ignore_trailing_spaces_and_report_first_lines():
    student = nb(code("import torch\n\n"), code("def double(x):\n    return 2 * x"), code("print(double(3))"), code(""))
    assert grader.changed_locked_cells(student, RELEASE, ["double"]) == []
    edited = nb(code("import torch, os"), code("print(double(4))"), code(""))
    run_release, not_run = grader.LOCKED_EFFECT[True], grader.LOCKED_EFFECT[False]
    assert run_release.startswith("none") and "release's version" in run_release and not_run.startswith("none")
    assert grader.changed_locked_cells(edited, RELEASE, ["double"]) == [
        {"first_line": "import torch", "context": True, "change": "deleted", "effect": run_release},
        {"first_line": "print(double(3))", "context": False, "change": "deleted", "effect": not_run}]
    long_line = "x = '" + "a" * 100 + "'"
    release = nb(code(long_line + "\nsecond line"), code("   \n"))
    assert grader.changed_locked_cells(nb(), release, []) == [
        {"first_line": long_line[:80], "context": False, "change": "deleted", "effect": not_run},
        {"first_line": "", "context": False, "change": "deleted", "effect": not_run}]


def test_a_locked_cell_kept_under_its_id_is_changed_one_gone_is_deleted():
    release = nb(code("import torch", ["context"], id="setup"), code("print(1)", id="demo"), code("print(2)", id="demo2"))
    student = nb(code("import torch  # mine", ["context"], id="setup"), code("print(2)", id="demo2"))
    got = grader.changed_locked_cells(student, release, [])
    assert [(c["first_line"], c["change"], c["context"]) for c in got] == [("import torch", "changed", True),
                                                                          ("print(1)", "deleted", False)]


# ----------------------------------------------------------------------------- hidden cases

def test_transport_turns_placeholders_into_plain_values():
    value = {"a": [ref("model"), (1, make("keep", [3, 5], scale=ref("sae")))], "b": "text"}
    assert grader._transport(value) == {"a": [{"__ref__": "model"}, (1, {"__make__": "keep", "args": [[3, 5]],
                                                                          "kwargs": {"scale": {"__ref__": "sae"}}})],
                                        "b": "text"}
    assert isinstance(grader._transport((1, 2)), tuple) and grader._transport(None) is None


@pytest.fixture
def cases_package(tmp_path, monkeypatch):
    """A package ``gradercases_<n>`` on sys.path; ``write(body)`` puts ``cases()`` into nb01.py."""
    name = f"gradercases_{tmp_path.name.replace('-', '_')}"
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(body: str) -> str:
        (tmp_path / name / "nb01.py").write_text("from helpers.coursework.grading.spec import Case\n\ndef cases():\n"
                                                 f"    return {body}\n")
        sys.modules.pop(f"{name}.nb01", None)
        importlib.invalidate_caches()
        return name
    return write


def test_hidden_tests_follow_the_spec_order(cases_package):
    package = cases_package('{"scale": [Case("s1", (1,))], "double": [Case("d1", (2,)), Case("d2", (3,), weight=2)], '
                            '"unused": [Case("u", ())]}')
    tests = grader.hidden_tests("01_toy", GOOD_SPEC, package)
    assert [(t.exercise, t.function, t.case.name, t.case.weight) for t in tests] == [
        ("1.1", "double", "d1", 1.0), ("1.1", "double", "d2", 2), ("1.2", "scale", "s1", 1.0)]


@pytest.mark.parametrize("body, message", [
    ('{"double": [Case("d", ())]}', "exercise 1.2 (`scale`) has no hidden cases in cases/nb01.py."),
    ('{"double": [Case("d", ())], "scale": []}', "exercise 1.2 (`scale`) has no hidden cases in cases/nb01.py."),
    ('{"double": [Case("d", ()), Case("d", (1,))], "scale": [Case("s", ())]}', "cases/nb01.py: case names of `double` repeat."),
    ('{"double": [Case("d", (), weight=0)], "scale": [Case("s", ())]}', "cases/nb01.py: case d needs a positive weight."),
    ('{"double": [Case("d", ())], "scale": [Case("s", (), weight=-1.0)]}', "cases/nb01.py: case s needs a positive weight."),
    ('{"double": [Case("d", (), requires="x")], "scale": [Case("s", ())]}',
     "cases/nb01.py: case d requires 'x', which must be a non-trivial case of `double`."),
    ('{"double": [Case("d", (), requires="e"), Case("e", (), requires="d")], "scale": [Case("s", ())]}',
     "cases/nb01.py: case d requires 'e', which must be a non-trivial case of `double`."),
])
def test_hidden_tests_refuse_incomplete_cases(cases_package, body, message):
    with pytest.raises(grader.GradingError) as info:
        grader.hidden_tests("01_toy", GOOD_SPEC, cases_package(body))
    assert str(info.value) == message


def test_the_library_rule_of_a_cases_module_goes_with_each_of_its_tests(cases_package, tmp_path):
    package = cases_package('{"double": [Case("d", ())], "scale": [Case("s", ())]}')
    module = tmp_path / package / "nb01.py"
    module.write_text(module.read_text() + '\nLIBRARY_RULE = {"scale": ("torch:mul",)}\n')
    sys.modules.pop(f"{package}.nb01", None)
    tests = grader.hidden_tests("01_toy", GOOD_SPEC, package)
    assert [(t.function, t.forbid) for t in tests] == [("double", ()), ("scale", ("torch:mul",))]
    course = toy_course(tests=tests)
    assert [t["forbid"] for t in grader.job_for(course, "01_toy", [])["tests"]] == [[], ["torch:mul"]]


def test_missing_cases_module_says_which_file_to_write():
    with pytest.raises(grader.GradingError) as info:
        grader.cases_module("99_nothing")
    assert str(info.value).startswith("no hidden cases for 99_nothing: write helpers/coursework/grading/cases/nb99.py (")


def toy_course(release=None, instructor=None, tests=None, keys=None, spec=None) -> grader.Course:
    """A course assembled by hand: one notebook ``01_toy`` with two exercises and two questions."""
    spec = spec or GOOD_SPEC
    release = release or nb(code("import torch", ["context"]), code("def double(x):\n    raise NotImplementedError"),
                            code("def scale(v, k):\n    raise NotImplementedError"), code("print(double(2))"))
    tests = tests if tests is not None else [
        grader.Test("1.1", "double", Case("four", (4,), compare=exact())),
        grader.Test("1.1", "double", Case("big", (10**6,), compare=exact(), weight=3.0)),
        grader.Test("1.2", "scale", Case("vector", ([1.0, 2.0], 2.5))),
    ]
    return grader.Course({"01_toy": spec}, {"01_toy": instructor or release}, {"01_toy": release}, {"01_toy": tests},
                         {"01_toy": keys or {"p1.q1": "B", "p1.q2": 42}})


def test_job_for_sends_context_cells_exercise_cells_and_transported_cases():
    course = toy_course(tests=[grader.Test("1.1", "double", Case("m", (ref("model"),), {"k": make("f", 2)}))])
    job = grader.job_for(course, "01_toy", ["def double(x): return 2 * x"])
    assert job == {"name": "01_toy", "timeout_s": 60.0, "context": ["import torch"], "cells": ["def double(x): return 2 * x"],
                   "tests": [{"exercise": "1.1", "function": "double", "case": "m", "args": ({"__ref__": "model"},),
                              "kwargs": {"k": {"__make__": "f", "args": [2], "kwargs": {}}}, "forbid": [], "timeout_s": 60.0}]}
    assert isinstance(job["timeout_s"], float) and course.functions("01_toy") == ["double", "scale"]


# ----------------------------------------------------------------------------- results from the sandbox

def lines(*records) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode()


def test_parse_results_groups_records_by_notebook():
    raw = lines(
        {"nb": "01_a", "fn": "f", "case": "c1", "ok": True, "out": 1},
        {"nb": "01_a", "fn": "f", "case": "c1", "ok": True, "out": 2},  # a repeated case: the first one counts
        {"nb": "01_a", "cell": "exercise 2", "error": "NameError: x"},
        {"nb": "01_a", "fn": "g", "case": 3, "ok": False, "error": "boom"},
        {"nb": "01_a", "done": True, "seconds": 1.5},
        {"nb": "02_b", "error": "timed out", "done": True},
        {"nb": "03_c", "fn": "h"},  # no case: neither a case nor an error
        {"finished": True},
        "not json", '{"nb": "01_a", "fn": "f", "case": "c9", "out": NaN}', "[1, 2]", '{"nb": 5, "done": true}',
    ) + b"\xff\xfe broken utf-8\n"
    assert grader.parse_results(raw) == {
        "01_a": {"cases": {("f", "c1"): {"nb": "01_a", "fn": "f", "case": "c1", "ok": True, "out": 1},
                           ("g", "3"): {"nb": "01_a", "fn": "g", "case": 3, "ok": False, "error": "boom"}},
                 "errors": ["exercise 2: NameError: x"], "done": True, "seconds": 1.5},
        "02_b": {"cases": {}, "errors": ["timed out"], "done": True, "seconds": None},
        "03_c": {"cases": {}, "errors": [], "done": False, "seconds": None},
    }


def test_parse_results_caps_error_texts():
    raw = lines({"nb": "a", "cell": "context 1", "error": "e" * 1000}, {"nb": "a", "error": "x" * 1000},
                {"nb": "a", "done": True, "error": "d" * 1000}, {"nb": "b", "done": False, "error": "plain"})
    got = grader.parse_results(raw)
    assert got["a"]["errors"] == ["context 1: " + "e" * 300, ": " + "x" * 300, "d" * 500]
    assert got["a"]["done"] is True and got["b"] == {"cases": {}, "errors": [": plain"], "done": False, "seconds": None}
    assert grader.parse_results(b"") == {}


class FakeRunner:
    """Answers each call with the next prepared ``(results, info)``; records what it was asked."""

    def __init__(self, *answers):
        self.answers, self.calls = list(answers), []

    def __call__(self, jobs, scratch):
        self.calls.append(([j["name"] for j in jobs], scratch))
        return self.answers.pop(0)


def info(timed_out=False, returncode=0):
    return {"timed_out": timed_out, "returncode": returncode, "seconds": 1.0, "log_tail": ""}


def done(name, **cases):
    return {"cases": cases, "errors": [], "done": True, "seconds": 0.5}


def test_run_notebooks_in_one_sandbox_when_all_finish(tmp_path):
    together = {"01_a": done("01_a"), "02_b": done("02_b")}
    runner = FakeRunner((together, info()))
    results, runs = grader.run_notebooks(runner, [{"name": "01_a"}, {"name": "02_b"}], tmp_path)
    assert results == together and runs == {"together": info()} and runner.calls == [(["01_a", "02_b"], tmp_path / "all")]


@pytest.mark.parametrize("stop, why", [(info(timed_out=True), "timed out"), (info(returncode=-9), "the sandbox stopped (exit -9)")])
def test_the_notebook_that_stops_the_sandbox_fails_alone_and_the_rest_run_again(tmp_path, stop, why):
    partial = {"01_a": done("01_a"), "02_b": {"cases": {("f", "c"): {"ok": True}}, "errors": ["cell 2: x"], "done": False}}
    alone_c = {"03_c": done("03_c")}
    runner = FakeRunner((partial, stop), (alone_c, info()), ({}, info(returncode=1)))
    jobs = [{"name": "01_a"}, {"name": "02_b"}, {"name": "03_c"}, {"name": "04_d"}]
    results, runs = grader.run_notebooks(runner, jobs, tmp_path)
    assert runner.calls == [(["01_a", "02_b", "03_c", "04_d"], tmp_path / "all"), (["03_c"], tmp_path / "03_c"),
                            (["04_d"], tmp_path / "04_d")]
    assert results["01_a"] == done("01_a") and results["03_c"] == done("03_c")
    assert results["02_b"] == {"cases": {("f", "c"): {"ok": True}}, "errors": ["cell 2: x", why], "done": False}
    assert results["04_d"] == {"cases": {}, "errors": ["the sandbox stopped"], "done": False}
    assert runs == {"together": stop, "03_c": info(), "04_d": info(returncode=1)}


def test_a_notebook_with_no_result_at_all_is_the_culprit(tmp_path):
    runner = FakeRunner(({}, info(timed_out=True)), ({"02_b": done("02_b")}, info()))
    results, _ = grader.run_notebooks(runner, [{"name": "01_a"}, {"name": "02_b"}], tmp_path)
    assert results == {"01_a": {"cases": {}, "errors": ["timed out"], "done": False}, "02_b": done("02_b")}


# ----------------------------------------------------------------------------- unpacking

def make_zip(path, entries, *, attrs=None, flags=None):
    """A zip with ``entries`` {name: bytes}; ``attrs``/``flags`` set external attributes / flag bits per name."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            if attrs and name in attrs:
                info.external_attr = attrs[name]
            archive.writestr(info, data)
    if flags:
        raw = bytearray(path.read_bytes())
        for signature, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            start = 0
            while (start := raw.find(signature, start)) >= 0:
                raw[start + at] |= flags
                start += 4
        path.write_bytes(bytes(raw))
    return path


def test_safe_extract_takes_notebooks_and_the_manifest_only(tmp_path):
    z = make_zip(tmp_path / "s_hw3.zip", {
        "02_b.ipynb": b"B", "work/01_a.ipynb": b"A", "notes.txt": b"n", "1_short.ipynb": b"x", "01_A.ipynb": b"x",
        "__MACOSX/03_c.ipynb": b"mac", "folder/": b"", "submission.json": json.dumps({"student_id": "s"}).encode()})
    files, meta = grader.safe_extract(z, tmp_path / "out")
    assert files == ["01_a.ipynb", "02_b.ipynb"] and meta == {"student_id": "s"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["01_a.ipynb", "02_b.ipynb"]
    assert (tmp_path / "out" / "01_a.ipynb").read_bytes() == b"A"


@pytest.mark.parametrize("manifest", [b"[1, 2]", b"{broken", b'"text"'])
def test_a_broken_manifest_is_an_empty_one(tmp_path, manifest):
    z = make_zip(tmp_path / "s_hw3.zip", {"01_a.ipynb": b"A", "submission.json": manifest})
    assert grader.safe_extract(z, tmp_path / "out") == (["01_a.ipynb"], {})
    assert not (tmp_path / "out" / "submission.json").exists()


@pytest.mark.parametrize("name", ["/etc/01_a.ipynb", "\\01_a.ipynb", "C:01_a.ipynb", "c:/x/01_a.ipynb", "../01_a.ipynb",
                                  "a/../../01_a.ipynb", "a\\..\\01_a.ipynb"])
def test_entries_outside_the_folder_are_refused(tmp_path, name):
    z = make_zip(tmp_path / "s_hw3.zip", {name: b"x"})
    with pytest.raises(grader.UnsafeZipError) as info:
        grader.safe_extract(z, tmp_path / "out")
    assert str(info.value) == f"entry {name!r} points outside the submission folder."


def test_symbolic_links_are_refused(tmp_path):
    z = make_zip(tmp_path / "s_hw3.zip", {"01_a.ipynb": b"/etc/passwd"}, attrs={"01_a.ipynb": (stat.S_IFLNK | 0o777) << 16})
    with pytest.raises(grader.UnsafeZipError) as info:
        grader.safe_extract(z, tmp_path / "out")
    assert str(info.value) == "entry '01_a.ipynb' is a symbolic link."


def test_a_plain_file_with_permissions_is_fine(tmp_path):
    z = make_zip(tmp_path / "s_hw3.zip", {"01_a.ipynb": b"A"}, attrs={"01_a.ipynb": (stat.S_IFREG | 0o644) << 16})
    assert grader.safe_extract(z, tmp_path / "out")[0] == ["01_a.ipynb"]


def test_encrypted_entries_are_refused(tmp_path):
    z = make_zip(tmp_path / "s_hw3.zip", {"01_a.ipynb": b"A"}, flags=0x1)
    with pytest.raises(grader.UnsafeZipError) as info:
        grader.safe_extract(z, tmp_path / "out")
    assert str(info.value) == "entry '01_a.ipynb' is encrypted: hand in a zip without a password."


def test_other_flag_bits_are_fine(tmp_path):
    z = make_zip(tmp_path / "s_hw3.zip", {"01_a.ipynb": b"A"}, flags=0x2)  # a compression option bit
    assert grader.safe_extract(z, tmp_path / "out")[0] == ["01_a.ipynb"]


def test_the_same_notebook_twice_is_refused(tmp_path):
    z = make_zip(tmp_path / "s_hw3.zip", {"01_a.ipynb": b"1", "copy/01_a.ipynb": b"2"})
    with pytest.raises(grader.UnsafeZipError) as info:
        grader.safe_extract(z, tmp_path / "out")
    assert str(info.value) == "01_a.ipynb appears twice in the zip."


def test_member_count_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(unpack, "MAX_MEMBERS", 3)
    ok = make_zip(tmp_path / "ok_hw3.zip", {f"0{i}_a.ipynb": b"x" for i in range(3)})
    assert len(grader.safe_extract(ok, tmp_path / "out")[0]) == 3
    many = make_zip(tmp_path / "many_hw3.zip", {f"0{i}_a.ipynb": b"x" for i in range(4)})
    with pytest.raises(grader.UnsafeZipError) as info:
        grader.safe_extract(many, tmp_path / "out2")
    assert str(info.value) == "many_hw3.zip has 4 entries (at most 3)."


def test_size_limits_per_member_and_in_all(tmp_path, monkeypatch):
    monkeypatch.setattr(unpack, "MAX_MEMBER_BYTES", 10)
    monkeypatch.setattr(unpack, "MAX_TOTAL_BYTES", 25)
    exact_size = make_zip(tmp_path / "a_hw3.zip", {"01_a.ipynb": b"x" * 10, "02_b.ipynb": b"y" * 10})
    assert grader.safe_extract(exact_size, tmp_path / "a")[0] == ["01_a.ipynb", "02_b.ipynb"]
    one_more = make_zip(tmp_path / "b_hw3.zip", {"01_a.ipynb": b"x" * 11})
    with pytest.raises(grader.UnsafeZipError) as info:
        grader.safe_extract(one_more, tmp_path / "b")
    assert str(info.value) == "01_a.ipynb unpacks to more than the size limit."
    total = make_zip(tmp_path / "c_hw3.zip", {"01_a.ipynb": b"x" * 10, "02_b.ipynb": b"y" * 10, "03_c.ipynb": b"z" * 6})
    with pytest.raises(grader.UnsafeZipError, match=r"^03_c\.ipynb unpacks to more than the size limit\.$"):
        grader.safe_extract(total, tmp_path / "c")


def test_not_a_zip_and_a_damaged_member(tmp_path):
    (tmp_path / "x_hw3.zip").write_bytes(b"PK not really")
    with pytest.raises(grader.UnsafeZipError, match=r"^x_hw3\.zip is not a readable zip \("):
        grader.safe_extract(tmp_path / "x_hw3.zip", tmp_path / "out")
    with pytest.raises(grader.UnsafeZipError, match=r"^none_hw3\.zip is not a readable zip"):
        grader.safe_extract(tmp_path / "none_hw3.zip", tmp_path / "out")
    z = make_zip(tmp_path / "d_hw3.zip", {"01_a.ipynb": b"some notebook text " * 20})
    raw = bytearray(z.read_bytes())
    raw[raw.find(b"some notebook") + 5] ^= 0xFF  # stored, so the CRC check fails
    z.write_bytes(bytes(raw))
    with pytest.raises(grader.UnsafeZipError, match=r"^01_a\.ipynb is damaged in the zip \(.*\): build the zip again\.$"):
        grader.safe_extract(z, tmp_path / "out")


@pytest.mark.parametrize("name, sid", [("b09901001_hw3.zip", "b09901001"), ("R12-345_hw3.zip", "R12-345"),
                                       ("ab_hw3.zip", "ab"), ("x" * 32 + "_hw3.zip", "x" * 32)])
def test_student_id_of(tmp_path, name, sid):
    assert grader.student_id_of(tmp_path / name) == sid


@pytest.mark.parametrize("name", ["a_hw3.zip", "x" * 33 + "_hw3.zip", "b09_hw4.zip", "b09.zip", "-b09_hw3.zip", "b_09_hw3.zip"])
def test_student_id_of_refuses_other_names(tmp_path, name):
    with pytest.raises(grader.UnsafeZipError) as info:
        grader.student_id_of(tmp_path / name)
    assert str(info.value) == f"{name} is not named STUDENTID_hw3.zip."


# ----------------------------------------------------------------------------- scoring

@pytest.mark.parametrize("kind, answer, key, tolerance, right", [
    ("choice", "B", "B", 0, True), ("choice", "A", "B", 0, False), ("choice", None, "B", 0, False),
    ("multi", ["A", "C"], ["A", "C"], 0, True), ("multi", ["A"], ["A", "C"], 0, False),
    ("number", 42.5, 42, 0.5, True), ("number", 41.5, 42, 0.5, True), ("number", 42.50001, 42, 0.5, False),
    ("number", 42, 42, 0.0, True), ("number", 0.1 + 0.2, 0.3, 0.0, True), ("number", 42.001, 42, 0.0, False),
    ("number", "42", 42, 1, False), ("number", 42, "42", 1, False), ("number", None, 42, 1, False),
    ("text", " Red ", "red", 0, True), ("text", "RED", " Red", 0, True), ("text", "Straße", "STRASSE", 0, True),
    ("text", "blue", "red", 0, False), ("text", 42, "42", 0, False), ("text", None, "red", 0, False),
])
def test_score_question(kind, answer, key, tolerance, right):
    assert grader.score_question(kind, answer, key, tolerance) is right


def record(out, ok=True, **extra):
    return {"ok": ok, "out": out, **extra}


EXPECTED = {"01_toy": {("double", "four"): 8, ("double", "big"): 2 * 10**6,
                       ("scale", "vector"): {"__array__": [2.5, 5.0], "dtype": "float32", "shape": [2]}}}
ANSWERED = nb(code("import torch", ["context"]), code("print(double(2))"),
              code('answers.choose("p1.q1", "B")\nanswers.fill("p1.q2", 42.6)'))  # key 42, tolerance 0.5


def test_score_notebook_full_marks():
    results = {"cases": {("double", "four"): record(8), ("double", "big"): record(2_000_000),
                         ("scale", "vector"): record({"__array__": [2.5, 5.0000001], "dtype": "float32", "shape": [2]})},
               "errors": [], "done": True}
    got = grader.score_notebook(toy_course(), "01_toy", ANSWERED, results, EXPECTED)
    assert got == {
        "exercises": {"1.1": {"function": "double", "points": 2, "earned": 2.0, "cases": [
                          {"case": "four", "passed": True, "message": ""}, {"case": "big", "passed": True, "message": ""}]},
                      "1.2": {"function": "scale", "points": 3, "earned": 3.0, "cases": [
                          {"case": "vector", "passed": True, "message": ""}]}},
        "questions": {"p1.q1": {"points": 1, "earned": 1, "answered": True}, "p1.q2": {"points": 1, "earned": 0, "answered": True}},
        "locked_cells_changed": [], "errors": [],
    }


def test_score_notebook_weights_cases_and_names_each_failure():
    results = {"cases": {("double", "four"): record(9), ("double", "big"): record(2_000_000),
                         ("scale", "vector"): record(None, ok=False, error="NotImplementedError: " + "x" * 400)},
               "errors": ["exercise 2: SyntaxError"], "done": True}
    got = grader.score_notebook(toy_course(), "01_toy", ANSWERED, results, EXPECTED)
    double, scale = got["exercises"]["1.1"], got["exercises"]["1.2"]
    assert double["earned"] == 1.5  # 2 points x 3 of 4 weight
    assert double["cases"][0] == {"case": "four", "passed": False, "message": "output: the number is wrong",
                                  "failure": "compare"}
    assert scale["cases"][0]["failure"] == "error"
    # the student's error: its type and the first line, cut to a fixed length
    assert scale["earned"] == 0 and scale["cases"][0]["message"] == "NotImplementedError: " + "x" * 80
    assert got["errors"] == ["exercise 2: SyntaxError"]


def test_student_error_text_is_redacted_of_the_hidden_inputs_and_expected_outputs():
    tests = [grader.Test("1.1", "double", Case("four", ("Wie viele Farben", 4), compare=exact())),
             grader.Test("1.2", "scale", Case("vector", ([1.0, 2.0], 2.5)))]
    results = {"cases": {("double", "four"): record(None, ok=False, error="ValueError: got 'Wie viele Farben' and 8")},
               "errors": ["exercise 1: KeyError: 'Farben'\nTraceback ..."], "done": True}
    expected = {"01_toy": {("double", "four"): "eight 12345"}}
    got = grader.score_notebook(toy_course(tests=tests), "01_toy", None, results, expected)
    assert got["exercises"]["1.1"]["cases"][0]["message"] == "ValueError: got '…' and 8"
    assert got["errors"] == ["exercise 1: KeyError: '…'"]


def test_a_trivial_case_pays_only_together_with_its_partner():
    tests = [grader.Test("1.1", "double", Case("four", (4,), compare=exact())),
             grader.Test("1.1", "double", Case("big", (1,), compare=exact(), requires="four"))]
    spec = changed(exercises={"1.1": {"function": "double", "points": 2}})
    course = toy_course(tests=tests, spec=spec)
    alone = {"cases": {("double", "four"): record(9), ("double", "big"): record(2_000_000)}, "errors": [], "done": True}
    got = grader.score_notebook(course, "01_toy", None, alone, EXPECTED)["exercises"]["1.1"]
    assert got["earned"] == 0 and got["cases"][1] == {
        "case": "big", "passed": False, "message": "right, but this case counts only when case 'four' passes too",
        "failure": "partner"}
    both = {"cases": {("double", "four"): record(8), ("double", "big"): record(2_000_000)}, "errors": [], "done": True}
    assert grader.score_notebook(course, "01_toy", None, both, EXPECTED)["exercises"]["1.1"]["earned"] == 2.0


def test_score_notebook_rounds_to_cents():
    results = {"cases": {("double", "four"): record(8), ("double", "big"): record(0), ("scale", "vector"): record(0)},
               "errors": [], "done": True}
    tests = [grader.Test("1.1", "double", Case("four", (4,), compare=exact())),
             grader.Test("1.1", "double", Case("big", (1,), compare=exact(), weight=2.0))]
    spec = changed(exercises={"1.1": {"function": "double", "points": 2}})
    got = grader.score_notebook(toy_course(tests=tests, spec=spec), "01_toy", None, results, EXPECTED)
    assert got["exercises"]["1.1"]["earned"] == 0.67  # 2 x 1/3


def test_cases_that_never_ran_say_why():
    course = toy_course()
    no_result = grader.score_notebook(course, "01_toy", ANSWERED, None, EXPECTED)
    assert {c["message"] for ex in no_result["exercises"].values() for c in ex["cases"]} == {"not run (the notebook stopped)"}
    assert no_result["errors"] == [] and no_result["questions"]["p1.q1"]["earned"] == 1
    stopped = {"cases": {("double", "four"): record(8)}, "errors": ["cell 1: x", "timed out"], "done": False}
    got = grader.score_notebook(course, "01_toy", ANSWERED, stopped, EXPECTED)
    assert got["exercises"]["1.1"]["cases"][1]["message"] == "not run (cell 1: x; timed out)"
    assert got["exercises"]["1.1"]["earned"] == 0.5


def test_a_problem_fails_every_case_with_its_reason():
    results = {"cases": {("double", "four"): record(8)}, "errors": [], "done": True}
    got = grader.score_notebook(toy_course(), "01_toy", None, results, EXPECTED, problem="notebook missing from the zip")
    assert {c["message"] for ex in got["exercises"].values() for c in ex["cases"]} == {"notebook missing from the zip"}
    assert got["problem"] == "notebook missing from the zip"
    assert got["questions"]["p1.q1"] == {"points": 1, "earned": 0, "answered": False}


def test_the_default_comparison_is_allclose_and_a_broken_output_fails_the_case():
    course = toy_course()
    near = {"__array__": [2.5 + 1e-6, 5.0], "dtype": "float32", "shape": [2]}
    far = {"__array__": [2.6, 5.0], "dtype": "float32", "shape": [2]}
    broken = {"__array__": [1.0], "dtype": "float32", "shape": [5]}
    for out, ok, message in ((near, True, ""), (far, False, "output: 1 of 2 values differ"),
                             (broken, False, "output could not be compared: ValueError: array data does not fill its shape")):
        results = {"cases": {("scale", "vector"): record(out)}, "errors": [], "done": True}
        case = grader.score_notebook(course, "01_toy", None, results, EXPECTED)["exercises"]["1.2"]["cases"][0]
        assert case["passed"] is ok and case["message"].startswith(message)


def test_a_changed_context_cell_is_reported_and_voids_nothing():
    # The sandbox runs the release's context cells, not the student's: an edited setup cell (Colab does not
    # enforce cell locks) cannot change a result, so it keeps every point and is only reported.
    results = {"cases": {("double", "four"): record(8), ("double", "big"): record(2_000_000)}, "errors": [], "done": True}
    student = nb(code("import torch, os", ["context"]), code('answers.choose("p1.q1", "B")'))
    got = grader.score_notebook(toy_course(), "01_toy", student, results, EXPECTED)
    assert got["exercises"]["1.1"]["earned"] == 2.0 and "voided" not in got["exercises"]["1.1"]
    assert [(c["first_line"], c["context"]) for c in got["locked_cells_changed"]] == [("import torch", True),
                                                                                     ("print(double(2))", False)]
    assert got["questions"]["p1.q1"]["earned"] == 1
    demo_only = nb(code("import torch"), code('answers.choose("p1.q1", "B")'))
    got = grader.score_notebook(toy_course(), "01_toy", demo_only, results, EXPECTED)
    assert got["exercises"]["1.1"]["earned"] == 2.0 and "voided" not in got["exercises"]["1.1"]
    assert [c["first_line"] for c in got["locked_cells_changed"]] == ["print(double(2))"]


# ----------------------------------------------------------------------------- one zip, with a fake sandbox

TOY_NB = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import torch", metadata={"tags": ["context"]}),
                                         nbformat.v4.new_code_cell("def double(x):\n    return 2 * x"),
                                         nbformat.v4.new_code_cell('answers.choose("p1.q1", "B")')])


def write_submission(folder, sid, notebooks: dict, zips):
    folder.mkdir(parents=True)
    for name, text in notebooks.items():
        (folder / f"{name}.ipynb").write_text(text)
    return handin.build_zip(sid, folder, zips)


def toy_options(tmp_path, runner):
    release = nb(code("import torch", ["context"]), code("def double(x):\n    raise NotImplementedError"))
    tests = [grader.Test("1.1", "double", Case("four", (4,), compare=exact()))]
    spec = changed(exercises={"1.1": {"function": "double", "points": 2}},
                   questions={"p1.q1": {"kind": "choice", "points": 1}})
    course = grader.Course({"01_toy": spec}, {"01_toy": release}, {"01_toy": release}, {"01_toy": tests}, {"01_toy": {"p1.q1": "B"}})
    return grader.Options(tmp_path / "grades", runner, course, {"01_toy": {("double", "four"): 8}})


def test_grade_zip_scores_a_submission_and_writes_its_record(tmp_path):
    z = write_submission(tmp_path / "nb", "b09901001", {"01_toy": nbformat.writes(TOY_NB)}, tmp_path / "zips")
    runner = FakeRunner(({"01_toy": {"cases": {("double", "four"): record(8)}, "errors": [], "done": True, "seconds": 0.7}}, info()))
    got = grader.grade_zip(z, toy_options(tmp_path, runner))
    assert runner.calls[0][0] == ["01_toy"]
    assert (got["zip"], got["student_id"], got["status"], got["score"], got["max_score"], got["files"]) == (
        "b09901001_hw3.zip", "b09901001", "graded", 3.0, 3.0, ["01_toy.ipynb"])
    assert got["notebooks"]["01_toy"]["seconds"] == 0.7 and got["sandbox_runs"] == {"together": {
        "timed_out": False, "returncode": 0, "seconds": 1.0}}
    assert "id_mismatch" not in got
    assert json.loads((tmp_path / "grades" / "b09901001.json").read_text()) == json.loads(json.dumps(got))


def test_grade_zip_rejects_a_misnamed_or_unsafe_zip_without_running_anything(tmp_path):
    runner = FakeRunner()
    z = write_submission(tmp_path / "nb", "b09901001", {"01_toy": nbformat.writes(TOY_NB)}, tmp_path / "zips")
    misnamed = z.rename(tmp_path / "zips" / "homework.zip")
    got = grader.grade_zip(misnamed, toy_options(tmp_path, runner))
    assert (got["student_id"], got["status"], got["error"], got["score"], got["max_score"]) == (
        "homework", "rejected", "homework.zip is not named STUDENTID_hw3.zip.", 0.0, 3.0)
    assert got["notebooks"]["01_toy"]["problem"] == "submission rejected" and runner.calls == []
    unsafe = make_zip(tmp_path / "zips" / "evil_hw3.zip", {"../01_toy.ipynb": b"{}"})
    got = grader.grade_zip(unsafe, toy_options(tmp_path, runner))
    assert got["status"] == "rejected" and got["error"] == "entry '../01_toy.ipynb' points outside the submission folder."
    assert (tmp_path / "grades" / "evil.json").is_file() and runner.calls == []


def test_grade_zip_missing_or_invalid_notebook_scores_zero_for_that_notebook(tmp_path):
    runner = FakeRunner()
    other = write_submission(tmp_path / "nb1", "s1", {"02_other": nbformat.writes(TOY_NB)}, tmp_path / "zips")
    got = grader.grade_zip(other, toy_options(tmp_path, runner))
    assert got["status"] == "graded" and got["notebooks"]["01_toy"]["problem"] == "notebook missing from the zip"
    assert runner.calls == [] and got["files"] == ["02_other.ipynb"] and got["score"] == 0
    broken = write_submission(tmp_path / "nb2", "s2", {"01_toy": json.dumps({"cells": [{"cell_type": "bogus"}]})}, tmp_path / "zips")
    got = grader.grade_zip(broken, toy_options(tmp_path, runner))
    assert got["notebooks"]["01_toy"]["problem"].startswith("not a valid notebook (ValidationError: ")


def test_grade_zip_reports_an_id_mismatch(tmp_path):
    z = write_submission(tmp_path / "nb", "real", {"01_toy": nbformat.writes(TOY_NB)}, tmp_path / "zips")
    renamed = z.rename(tmp_path / "zips" / "someone_hw3.zip")
    runner = FakeRunner(({"01_toy": done("01_toy")}, info()))
    got = grader.grade_zip(renamed, toy_options(tmp_path, runner))
    assert got["id_mismatch"] == "the zip is named for someone but submission.json says 'real'"


# ----------------------------------------------------------------------------- many zips

def test_columns_and_csv_rows():
    course = toy_course()
    assert grader.columns(course) == ["1.1 double", "1.2 scale", "p1.q1", "p1.q2"]
    rec = {"student_id": "s", "zip": "s_hw3.zip", "status": "graded", "score": 3.5, "max_score": 7,
           "notebooks": {"01_toy": {"exercises": {"1.1": {"function": "double", "earned": 2.0}},
                                    "questions": {"p1.q1": {"earned": 1}}}}}
    assert grader.csv_row(rec) == {"student_id": "s", "zip": "s_hw3.zip", "status": "graded", "score": 3.5, "max_score": 7,
                                   "1.1 double": 2.0, "p1.q1": 1}
    assert grader.csv_row({"student_id": "d", "zip": "d.zip", "status": "duplicate id"}) == {
        "student_id": "d", "zip": "d.zip", "status": "duplicate id", "score": 0, "max_score": ""}


def test_write_csv_sorts_by_student_and_zip(tmp_path):
    records = [{"student_id": "b", "zip": "b2.zip", "status": "graded", "score": 1, "max_score": 2},
               {"student_id": "a", "zip": "a.zip", "status": "rejected", "score": 0, "max_score": 2, "extra": "x"},
               {"student_id": "b", "zip": "b1.zip", "status": "graded", "score": 2, "max_score": 2}]
    grader.write_csv(records, tmp_path / "g.csv", ["1.1 f"])
    assert (tmp_path / "g.csv").read_bytes().decode() == ("student_id,zip,status,score,max_score,1.1 f\r\n"
                                                "a,a.zip,rejected,0,2,\r\nb,b1.zip,graded,2,2,\r\nb,b2.zip,graded,1,2,\r\n")


@pytest.mark.parametrize("text, shard", [(None, (1, 1)), ("", (1, 1)), ("1/1", (1, 1)), ("2/8", (2, 8)), ("8/8", (8, 8)),
                                         ("10/12", (10, 12))])
def test_parse_shard(text, shard):
    assert grader.parse_shard(text) == shard


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "1-2", "1/2/3", " 1/2", "1/2 "])
def test_parse_shard_refuses(text):
    with pytest.raises(grader.GradingError) as info:
        grader.parse_shard(text)
    assert str(info.value) == f"--shard {text!r}: use I/N with 1 <= I <= N, e.g. --shard 2/8."


def test_merge_joins_shard_folders_and_refuses_a_student_graded_twice(tmp_path):
    course = toy_course()
    for folder, sid, score in (("s1", "b", 2), ("s2", "a", 1)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"{sid}.json").write_text(json.dumps(
            {"student_id": sid, "zip": f"{sid}_hw3.zip", "status": "graded", "score": score, "max_score": 7,
             "notebooks": {"01_toy": {"exercises": {"1.1": {"function": "double", "earned": score}}, "questions": {}}}}))
    (tmp_path / "s1" / ".expected-abc.json").write_text("{}")  # the instructor-output cache is not a student
    out = grader.merge([tmp_path / "s1", tmp_path / "s2"], tmp_path / "all", course=course)
    assert out == tmp_path / "all" / "grades.csv"
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["student_id"], r["score"], r["1.1 double"], r["1.2 scale"]) for r in rows] == [("a", "1", "1", ""), ("b", "2", "2", "")]
    (tmp_path / "s2" / "b.json").write_text((tmp_path / "s1" / "b.json").read_text())
    with pytest.raises(grader.GradingError) as info:
        grader.merge([tmp_path / "s1", tmp_path / "s2"], tmp_path / "all", course=course)
    assert str(info.value) == f"b was graded in {tmp_path / 's1'} and {tmp_path / 's2'}."


def test_grade_all_refuses_missing_zips_before_anything(tmp_path):
    with pytest.raises(grader.GradingError) as info:
        grader.grade_all([tmp_path / "a_hw3.zip", tmp_path / "b_hw3.zip"], tmp_path / "out", course=toy_course())
    assert str(info.value) == f"no such zip: {tmp_path / 'a_hw3.zip'}, {tmp_path / 'b_hw3.zip'}"


def test_toy_course_loads_through_load_course(tmp_path):
    """The hand-made course above has the shape load_course gives the toy course on disk."""
    paths = toy.write_course(tmp_path)
    loaded = toy.load_toy_course(paths)
    assert loaded.functions("01_toy") == ["double", "scale"] and loaded.keys["01_toy"] == {"p1.q1": "B", "p1.q2": 42}
    assert [(t.exercise, t.function, t.case.name) for t in loaded.tests["01_toy"]] == [
        ("1.1", "double", "four"), ("1.1", "double", "negative"), ("1.1", "double", "large"),
        ("1.2", "scale", "vector"), ("1.2", "scale", "matrix")]
    assert isinstance(loaded.tests["01_toy"][0].case.compare(8, 8), tuple)
    assert allclose()(1.0, 1.0) == (True, "")
