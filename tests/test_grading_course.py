"""The real course through the sandboxed grader: solutions full, release zero, each stub costs its own points."""
import json

import nbformat
import pytest

from helpers.coursework import authoring
from helpers.coursework.grading import grader
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


# The attacks on single exercises (the library's warper, an identity, a call of the visible checks) are graded with
# the other shortcuts, in tests/test_grading_shortcuts.py.
