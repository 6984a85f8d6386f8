"""Hand-in zips: the right files, a valid id, never a token, never an overwrite without force."""
import json
import sys
import types
import zipfile

import nbformat
import pytest

from helpers import handin as submission
from tests.tokens import fake_hf_token
from tests.toycourse import toy_notebook

# A real token's shape (hf_ + 34 letters and digits, at least one of each kind a real one has), made at run time.
FAKE_TOKEN = fake_hf_token(seed=3)


@pytest.fixture
def folder(tmp_path):
    """A student's folder: the toy notebook and files that must not be zipped."""
    directory = tmp_path / "work"
    directory.mkdir()
    nbformat.write(toy_notebook(), directory / "01_toy.ipynb")
    (directory / "01_toy.answers.json").write_text("{}")
    (directory / "notes.txt").write_text("private notes")
    return directory


@pytest.mark.parametrize("student_id", ["b09901001", "R12-345", "ab"])
def test_valid_student_ids(student_id):
    assert submission.validate_student_id(f" {student_id} ") == student_id


@pytest.mark.parametrize("student_id", ["", "a", "b0990 1001", "../b09", "b09_901", "x" * 33, "b09/9"])
def test_invalid_student_ids_are_refused(student_id):
    with pytest.raises(submission.SubmissionError, match="student id"):
        submission.validate_student_id(student_id)


def test_zip_holds_notebooks_answers_and_manifest(folder, tmp_path):
    path = submission.build_zip("b09901001", folder, tmp_path / "out")
    assert path.name == "b09901001_hw3.zip"
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["01_toy.ipynb", "submission.json"]
        meta = json.loads(archive.read("submission.json"))
    assert meta["student_id"] == "b09901001" and set(meta["files"]) == {"01_toy.ipynb"}
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["b09901001_hw3.zip"]  # no partial file left


def test_existing_zip_is_kept_without_force(folder, tmp_path):
    out = tmp_path / "out"
    first = submission.build_zip("b09901001", folder, out)
    first.write_bytes(b"the earlier submission")
    with pytest.raises(submission.SubmissionError, match="already exists: pass --force"):
        submission.build_zip("b09901001", folder, out)
    assert first.read_bytes() == b"the earlier submission"
    assert zipfile.is_zipfile(submission.build_zip("b09901001", folder, out, force=True))
    assert [p.name for p in out.iterdir()] == ["b09901001_hw3.zip"]


@pytest.mark.parametrize("where", ["source", "output", "login"])
def test_token_in_a_cell_refuses_the_zip(folder, tmp_path, capsys, where):
    nb = nbformat.read(folder / "01_toy.ipynb", as_version=4)
    cell = nb.cells[5]
    if where == "source":
        cell.source += f'\nmy_token = "{FAKE_TOKEN}"'
    elif where == "output":
        cell.outputs = [nbformat.v4.new_output("stream", text=f"token is {FAKE_TOKEN}\n")]
    else:
        cell.source += "\nfrom huggingface_hub import login\nlog" + 'in(token="abc")'
    nbformat.write(nb, folder / "01_toy.ipynb")
    code = submission.main(["--student-id", "b09901001", "--notebooks", str(folder), "--out", str(tmp_path / "out")])
    assert code == 1
    error = capsys.readouterr().err
    assert "refused" in error and "01_toy.ipynb: cell 6" in error and FAKE_TOKEN not in error
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_invalid_notebook_json_is_refused_and_nothing_is_written(folder, tmp_path):
    (folder / "02_broken.ipynb").write_text('{"cells": [')
    with pytest.raises(submission.SubmissionError, match="02_broken.ipynb is not a valid notebook"):
        submission.build_zip("b09901001", folder, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_folder_without_notebooks_is_refused(tmp_path):
    with pytest.raises(submission.SubmissionError, match="no notebook named like"):
        submission.build_zip("b09901001", tmp_path, tmp_path)


def test_cli_writes_the_zip(folder, tmp_path, capsys):
    assert submission.main(["--student-id", "b09901001", "--notebooks", str(folder), "--out", str(tmp_path)]) == 0
    assert "01_toy.ipynb: 0 exercise stub(s) left, 2/2 questions answered" in capsys.readouterr().out


@pytest.fixture
def fake_colab(monkeypatch):
    """A stand-in for ``google.colab`` that serves a notebook and records downloads."""
    served, downloads = toy_notebook(), []
    served.cells[5].outputs = [nbformat.v4.new_output("stream", text="unsaved work\n")]
    google, colab = types.ModuleType("google"), types.ModuleType("google.colab")
    colab._message = types.SimpleNamespace(blocking_request=lambda kind, **kw: {"ipynb": dict(served)} if kind == "get_ipynb" else None)
    colab.files = types.SimpleNamespace(download=lambda path: downloads.append(path))
    google.colab = colab
    for name, module in {"google": google, "google.colab": colab, "google.colab._message": colab._message,
                         "google.colab.files": colab.files}.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delenv("LAB_GRADING", raising=False)
    return downloads


def test_colab_submit_collects_the_open_notebook_and_downloads_the_zip(fake_colab, tmp_path, monkeypatch):
    runtime, collected = tmp_path / "course" / "notebooks", tmp_path / "drive"
    runtime.mkdir(parents=True)
    collected.mkdir()
    monkeypatch.chdir(runtime)
    assert submission.submit("01_toy", folder=collected) is None  # no id yet: collect only
    saved = nbformat.read(collected / "01_toy.ipynb", as_version=4)
    assert saved.cells[5].outputs[0]["text"] == "unsaved work\n"
    path = submission.submit("01_toy", student_id="b09901001", folder=collected)
    assert fake_colab == [str(path)] and path.parent == collected
    with pytest.raises(submission.SubmissionError, match="force=True"):
        submission.submit("01_toy", student_id="b09901001", folder=collected)


def test_submit_does_nothing_in_a_grading_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAB_GRADING", "1")
    assert submission.submit("01_toy", student_id="b09901001", folder=tmp_path) is None
    assert list(tmp_path.iterdir()) == [] and "skipped" in capsys.readouterr().out


@pytest.mark.parametrize("call, expected", [
    ('answers.choose("p5.q1", ["c", "A"])', {"p5.q1": ["A", "C"]}),
    ('answers.choose("p5.q2", "b")', {"p5.q2": "B"}),
    ('answers.fill("p3.q1", 692)', {"p3.q1": 692}),
    ('answers.fill("p3.q1", " Red ")', {"p3.q1": "Red"}),
    ('answers.choose("p5.q1", ...)', {}),            # unanswered
    ('answers.choose("p5.q1", my_choice)', {}),      # not a literal: the grader does not run code
    ('answers.choose("p5.q1", ["Z"])', {}),          # not an option letter
    ('answers.fill("p3.q1", float("nan"))', {}),
    ('answers.choose("p5.q1", "A")\nanswers.choose("p5.q1", "B")', {"p5.q1": "B"}),  # the last answer counts
])
def test_answers_are_read_from_literals(call, expected):
    assert submission.answers_in_source(call) == expected


@pytest.mark.parametrize("qid, choice, message", [
    ("p5.q1", ..., "replace `...`"),
    ("p5.q1", "Z", "not an option letter"),
    ("q1", "A", "must look like 'p5.q1'"),
    ("p5.q1", [], "non-empty list"),
])
def test_answer_sheet_explains_bad_answers(qid, choice, message):
    with pytest.raises(submission.AnswerError, match=message):
        submission.AnswerSheet("05_x").choose(qid, choice)
