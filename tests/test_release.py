"""The student release: a copy along the package boundary, with no answers, byte-identical on rerun."""
import filecmp
import json
import re
import subprocess
import sys

import nbformat
import pytest

from helpers.coursework import release
from helpers.coursework.grading import grader
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "student-repo"
    release.write_release(out)
    return out


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.slow
def test_release_is_byte_identical_on_rerun(released, tmp_path):
    again = tmp_path / "again"
    assert subprocess.run([sys.executable, "-m", "helpers.coursework.release", "--out", str(again)],
                          cwd=REPO_ROOT, capture_output=True).returncode == 0
    assert tree(released) == tree(again)
    _, mismatch, errors = filecmp.cmpfiles(released, again, tree(released), shallow=False)
    assert mismatch == [] and errors == []


def test_release_holds_only_what_students_need(released):
    files = tree(released)
    assert "README.md" in files and "requirements.txt" in files and "data/offline/manifest.json" in files
    assert not [f for f in files if f.startswith(("helpers/coursework", "helpers/offline", "data/grading", "data/reference"))]
    assert not [f for f in files if re.match(r"notebooks/\d\d_", f)], "instructor notebooks must not ship"
    assert {f for f in files if f.startswith("notebooks/")} == {
        f"notebooks/exercises/{p.name}" for p in (REPO_ROOT / "notebooks" / "exercises").glob("[0-9][0-9]_*.ipynb")}
    for name in release.MAINTAINER_MODULES:
        assert f"helpers/{name}" not in files


def test_release_has_no_solution_marker_key_or_original_value(released):
    assert release.forbidden_hits(released) == []


def test_no_exercise_function_exists_in_the_shipped_helpers(released):
    course = grader.load_course()
    code = "\n".join(p.read_text() for p in (released / "helpers").rglob("*.py"))
    for name in course.specs:
        for function in course.functions(name):
            assert not re.search(rf"(?m)^\s*def {function}\(", code), f"helpers ship `{function}`, the answer of an exercise"


def test_release_notebooks_hold_no_question_key(released):
    from helpers.handin import notebook_answers

    for path in (released / "notebooks" / "exercises").glob("*.ipynb"):
        assert notebook_answers(json.loads(path.read_text())) == {}, f"{path.name} shows an answer"


def test_release_refuses_a_leaking_notebook(tmp_path, monkeypatch):
    leaky = tmp_path / "leaky"
    (leaky / "notebooks" / "exercises").mkdir(parents=True)
    (leaky / "notebooks" / "exercises" / "01_x.ipynb").write_text('{"cells": ["x = 1  # SOLUTION"]}')
    assert release.forbidden_hits(leaky) == ["notebooks/exercises/01_x.ipynb:1: '# SOLUTION'"]
    (leaky / "README.md").write_text("the original run scored 6.0734")
    assert any("6.0734" in hit for hit in release.forbidden_hits(leaky))


def test_release_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(release.ReleaseError, match="not empty"):
        release.write_release(tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"


@pytest.fixture(scope="module")
def student_kernel(released):
    """One Jupyter kernel for the eight release notebooks (a kernel's start-up and first imports cost seconds).

    Before each notebook the kernel forgets every name (``%reset -f``) and moves to the notebook's folder, so a
    notebook that uses a name it does not define itself fails as it would in a fresh Colab runtime; imported
    modules stay loaded, which only saves their import time.
    """
    from nbclient import NotebookClient

    client = NotebookClient(nbformat.v4.new_notebook(), timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(released / "notebooks" / "exercises")}})
    with client.setup_kernel():
        yield client


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted((REPO_ROOT / "notebooks" / "exercises").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_release_notebook_runs_to_its_first_exercise(released, student_kernel, path):
    """Top to bottom, a fresh student notebook stops only at its first unsolved exercise."""
    from nbclient.exceptions import CellExecutionError

    folder = released / "notebooks" / "exercises"
    nb = nbformat.read(folder / path.name, as_version=4)
    fresh = nbformat.v4.new_code_cell(f"%reset -f\nimport os\nos.chdir({str(folder)!r})\ndel os")
    student_kernel.nb = nbformat.v4.new_notebook(cells=[fresh])
    student_kernel.execute_cell(fresh, 0, store_history=False)
    student_kernel.nb = nb
    with pytest.raises(CellExecutionError) as err:
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                student_kernel.execute_cell(cell, index)
    assert "NotImplementedError" in str(err.value) and "exercise" in str(err.value)


@pytest.mark.slow
def test_a_notebook_in_the_shared_kernel_cannot_use_a_name_an_earlier_one_defined(student_kernel):
    from nbclient.exceptions import CellExecutionError

    cells = [nbformat.v4.new_code_cell(src) for src in ("left_by_an_earlier_notebook = 1", "%reset -f",
                                                        "left_by_an_earlier_notebook")]
    student_kernel.nb = nbformat.v4.new_notebook(cells=cells)
    student_kernel.execute_cell(cells[0], 0)
    student_kernel.execute_cell(cells[1], 1, store_history=False)
    with pytest.raises(CellExecutionError, match="NameError"):
        student_kernel.execute_cell(cells[2], 2)
