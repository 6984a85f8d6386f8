"""The real course through the sandboxed grader: solutions full, release zero, each stub costs its own points."""
import json

import nbformat
import pytest

from helpers.coursework import authoring
from helpers.coursework.grading import grader
from tests import toycourse as toy
from tests.shortcuts import TOP_P_WARPER
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def course():
    return grader.load_course()


def solved(name, stub=()) -> dict:
    nb = nbformat.read(REPO_ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    return json.loads(authoring.render(authoring.make_student(nb, name, only=set(stub), stub_answers=False)))


def released(name) -> dict:
    return json.loads((REPO_ROOT / "notebooks" / "exercises" / f"{name}.ipynb").read_text())


def write(tmp_path, sid, notebooks: dict):
    folder = tmp_path / f"nb-{sid}"
    folder.mkdir()
    for name, nb in notebooks.items():
        (folder / f"{name}.ipynb").write_text(json.dumps(nb))
    from helpers import handin

    return handin.build_zip(sid, folder, tmp_path / "zips")




# Passes the visible check in the notebook (the check's own reference), but is not the student's computation.
VIA_CHECK = '''def attention_from_scratch(q, k, config, layer):
    from helpers import checks
    return checks._attention_reference(q, k, config, layer)'''


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory, grade_shared):
    tmp = tmp_path_factory.mktemp("course")
    names = list(course.specs)
    numbers = [(name, number) for name in names for number in course.specs[name]["exercises"]]
    odd = {n for i, n in enumerate(numbers) if i % 2}
    subs = {
        "full": {n: solved(n) for n in names},
        "release": {n: released(n) for n in names},
        "odd": {n: solved(n, stub={num for nb, num in odd if nb == n}) for n in names},
        "even": {n: solved(n, stub={num for nb, num in set(numbers) - odd if nb == n}) for n in names},
    }
    if "04_sampling_self_bleu" in names:
        warper, identity = solved("04_sampling_self_bleu"), solved("04_sampling_self_bleu")
        toy.set_cell(warper, "def top_p_filter", TOP_P_WARPER)
        toy.set_cell(identity, "def top_p_filter", "def top_p_filter(logits, p):\n    return logits")
        subs["warper"], subs["identity"] = {"04_sampling_self_bleu": warper}, {"04_sampling_self_bleu": identity}
    if "08_papers" in names:
        via_check = solved("08_papers")
        toy.set_cell(via_check, "def attention_from_scratch", VIA_CHECK)
        subs["viacheck"] = {"08_papers": via_check}
    zips = [write(tmp, sid, nbs) for sid, nbs in subs.items()]
    records = grade_shared(zips, tmp / "out", course, jobs=2)
    return {r["student_id"]: r for r in records}, odd


def exercise_points(record):
    return {(name, number): ex["earned"] for name, nb in record["notebooks"].items() for number, ex in nb["exercises"].items()}


def test_instructor_solutions_get_full_marks(graded):
    records, _ = graded
    full = records["full"]
    failed = [(n, num, c) for n, nb in full["notebooks"].items() for num, ex in nb["exercises"].items()
              for c in ex["cases"] if not c["passed"]]
    assert not failed, failed
    assert full["score"] == full["max_score"] > 0


def test_unmodified_release_scores_zero(graded):
    records, _ = graded
    assert records["release"]["score"] == 0


def test_each_stubbed_exercise_loses_exactly_its_own_points(graded, course):
    records, odd = graded
    full = exercise_points(records["full"])
    for sid, stubbed in (("odd", odd), ("even", set(full) - odd)):
        got = exercise_points(records[sid])
        for key, points in full.items():
            assert got[key] == (0 if key in stubbed else points), f"{sid}: exercise {key}"


def test_top_p_through_the_library_warper_or_returning_the_input_scores_nothing(graded):
    records, _ = graded
    if "warper" not in records:
        pytest.fail("notebook 04 is not graded")
    by_function = lambda r: {e["function"]: e for e in r["notebooks"]["04_sampling_self_bleu"]["exercises"].values()}
    warper = by_function(records["warper"])["top_p_filter"]
    assert warper["earned"] == 0  # 4.2 is top-p: the library's warper raises while its cases run
    assert {c["message"].split(":")[0] for c in warper["cases"]} == {"LibraryRuleError"}
    identity = by_function(records["identity"])["top_p_filter"]
    p_one = [c for c in identity["cases"] if c["case"] == "p = 1 keeps (almost) everything"][0]
    assert p_one["message"] == "right, but this case counts only when case 'p = 0.9' passes too"  # keeping all is right
    assert not any(c["passed"] for c in identity["cases"]) and identity["earned"] == 0


def test_an_exercise_that_calls_the_visible_checks_scores_nothing(graded):
    records, _ = graded
    exercise = records["viacheck"]["notebooks"]["08_papers"]["exercises"]["8.1"]
    assert exercise["earned"] == 0
    assert all("not available while grading" in case["message"] for case in exercise["cases"])
