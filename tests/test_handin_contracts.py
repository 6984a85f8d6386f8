"""helpers.handin value by value: answer forms, the zip's exact layout, publishing without overwriting, the cell's output."""
import hashlib
import json
import os
import sys
import types
import zipfile

import nbformat
import pytest

from helpers import colab, handin
from tests.tokens import fake_hf_token
from tests.toycourse import toy_notebook, toy_work_folder

# ----------------------------------------------------------------------------- answers


@pytest.mark.parametrize("qid", ["p5.q1", "p10.q12", "p0.q0"])
def test_question_ids(qid):
    assert handin.check_question_id(qid) == qid


@pytest.mark.parametrize("qid", ["q1", "p5q1", "p5.q", "P5.Q1", "p5.q1.a", " p5.q1", "p.q1", 51, None])
def test_bad_question_ids(qid):
    with pytest.raises(handin.AnswerError) as info:
        handin.check_question_id(qid)
    assert str(info.value) == f"question id {qid!r} must look like 'p5.q1' (as printed above the question)."


@pytest.mark.parametrize("choice, value", [("b", "B"), (" c ", "C"), ("H", "H"), (["c", "a", "c"], ["A", "C"]),
                                           (("B",), ["B"]), ({"d", " a"}, ["A", "D"])])
def test_choices_are_normalised(choice, value):
    assert handin.normalise_choice(choice) == value


@pytest.mark.parametrize("choice, message", [
    (..., 'replace `...` with your answer: a letter like "B" or a list like ["A", "C"].'),
    ("I", "'I' is not an option letter: use one of A–H, e.g. \"B\"."),
    ("AB", "'AB' is not an option letter"),
    ("", "'' is not an option letter"),
    ([], '[] must be a non-empty list of option letters A–H, e.g. ["A", "C"].'),
    (["A", 1], "['A', 1] must be a non-empty list of option letters"),
    (["A", "Z"], "['A', 'Z'] must be a non-empty list"),
    (3, "a choice is a letter or a list of letters, not int."),
    (None, "a choice is a letter or a list of letters, not NoneType."),
])
def test_bad_choices(choice, message):
    with pytest.raises(handin.AnswerError) as info:
        handin.normalise_choice(choice)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("value, normalised", [(692, 692), (0, 0), (-2.5, -2.5), (" Red ", "Red"), ("x" * 200, "x" * 200)])
def test_fill_in_answers(value, normalised):
    got = handin.normalise_fill(value)
    assert got == normalised and type(got) is type(normalised)


@pytest.mark.parametrize("value, message", [
    (..., "replace `...` with your answer: a number or a short text."),
    (True, "a fill-in answer is a number or a text, not True/False."),
    (float("nan"), "nan is not a finite number."),
    (float("-inf"), "-inf is not a finite number."),
    ("", "a fill-in answer is a number or a text of 1–200 characters, not ''."),
    ("  ", "a fill-in answer is a number or a text of 1–200 characters, not '  '."),
    ("x" * 201, "a fill-in answer is a number or a text of 1–200 characters"),
    (None, "a fill-in answer is a number or a text of 1–200 characters, not None."),
    ([1], "a fill-in answer is a number or a text of 1–200 characters, not [1]."),
])
def test_bad_fill_ins(value, message):
    with pytest.raises(handin.AnswerError) as info:
        handin.normalise_fill(value)
    assert str(info.value).startswith(message)


def test_answer_sheet_prints_and_keeps_the_answers(capsys):
    sheet = handin.AnswerSheet("05_x")
    assert sheet.notebook == "05_x" and sheet.answers == {}
    assert sheet.choose("p5.q1", ["c", "a"]) == ["A", "C"]
    assert sheet.fill("p5.q2", " Red ") == "Red"
    assert sheet.choose("p5.q1", "b") == "B"
    assert sheet.answers == {"p5.q1": "B", "p5.q2": "Red"}
    assert capsys.readouterr().out == "p5.q1: ['A', 'C']\np5.q2: 'Red'\np5.q1: B\n"
    with pytest.raises(handin.AnswerError, match="must look like"):
        sheet.fill("q3", 1)
    with pytest.raises(handin.AnswerError, match="must look like"):
        sheet.choose("q3", "A")
    assert sheet.answers == {"p5.q1": "B", "p5.q2": "Red"}


@pytest.mark.parametrize("source, answers", [
    ('!pip install x\n%time y\nanswers.fill("p1.q1", 3)', {"p1.q1": 3}),  # IPython lines do not hide the answer
    ("if True:\n    !ls\nanswers.choose('p1.q2', 'a')", {"p1.q2": "A"}),  # the indentation is kept
    ('answers.choose("p1.q1", "A"', {}),  # a syntax error: nothing is read
    ('answers.choose("p1.q1", choice="A")', {}),
    ('answers.choose("p1.q1")', {}),
    ('answers.choose("p1.q1", "A", "B")', {}),
    ('answers.pick("p1.q1", "A")', {}),
    ('choose("p1.q1", "A")', {}),
    ('answers.fill("q1", 3)', {}),
    ('answers.fill(qid, 3)', {}),
    ('answers.fill("p1.q1", [1, 2])', {}),
    ('answers.fill("p1.q1", -4)\nanswers.choose("p1.q2", ("b", "a"))', {"p1.q1": -4, "p1.q2": ["A", "B"]}),
])
def test_answers_in_source(source, answers):
    assert handin.answers_in_source(source) == answers


def test_notebook_answers_reads_code_cells_in_order():
    nb = {"cells": [{"cell_type": "code", "source": ['answers.choose("p1.q1", "A")\n', 'answers.fill("p1.q2", 1)']},
                    {"cell_type": "markdown", "source": 'answers.choose("p1.q3", "C")'},
                    {"cell_type": "code", "source": 'answers.choose("p1.q1", "B")'},
                    {"cell_type": "code"}]}
    assert handin.notebook_answers(nb) == {"p1.q1": "B", "p1.q2": 1}
    assert handin.notebook_answers({}) == {}


# ----------------------------------------------------------------------------- the zip


@pytest.mark.parametrize("student_id, value", [("ab", "ab"), (" b09901001\n", "b09901001"), ("A" * 32, "A" * 32),
                                               ("9-x", "9-x")])
def test_student_ids(student_id, value):
    assert handin.validate_student_id(student_id) == value
    assert handin.zip_name(student_id) == f"{value}_hw3.zip"


@pytest.mark.parametrize("student_id", ["", None, "a", "-ab", "A" * 33, "b09.1", "b 09"])
def test_bad_student_ids(student_id):
    with pytest.raises(handin.SubmissionError) as info:
        handin.validate_student_id(student_id)
    assert str(info.value) == (f"student id {student_id!r} is not valid: use your student id as 2 to 32 letters, digits "
                               "or hyphens (no spaces, slashes or underscores), e.g. b09901001.")


@pytest.fixture
def work(tmp_path):
    folder = toy_work_folder(tmp_path)
    nb = toy_notebook()
    nb.cells[4].source = 'def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError("exercise 1.1: implement double")'
    nb.cells[10].source = 'answers.choose("p1.q1", ...)\nanswers.fill("p1.q2", 42)'
    nbformat.write(nb, folder / "02_toy.ipynb")
    (folder / "03_dir.ipynb").mkdir()              # a folder named like a notebook is not a notebook
    (folder / "1_short.ipynb").write_text("{}")    # not NN_topic: left out
    (folder / "04_Upper.ipynb").write_text("{}")   # not lower case: left out
    return folder


def test_submission_files_are_the_sorted_notebooks(work):
    assert [p.name for p in handin.submission_files(work)] == ["01_toy.ipynb", "02_toy.ipynb"]


@pytest.mark.parametrize("content, reason", [("{", "Expecting property name"), ("[]", "no cells"), ('{"cells": {}}', "no cells"),
                                             (b"\xff\xfe", "codec can't decode")])
def test_a_broken_notebook_is_named(work, content, reason):
    path = work / "05_broken.ipynb"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(handin.SubmissionError) as info:
        handin.submission_files(work)
    message = str(info.value)
    assert message.startswith("05_broken.ipynb is not a valid notebook (") and reason in message
    assert message.endswith("): open it in Jupyter/Colab, save it again, or copy a fresh one from the course and redo your cells.")


def test_size_limit_per_notebook(work, monkeypatch):
    (work / "02_toy.ipynb").write_text((work / "02_toy.ipynb").read_text() + " " * 5000)
    size = (work / "02_toy.ipynb").stat().st_size  # the larger of the two
    monkeypatch.setattr(handin, "MAX_FILE_BYTES", size)
    assert len(handin.submission_files(work)) == 2
    monkeypatch.setattr(handin, "MAX_FILE_BYTES", size - 1)
    with pytest.raises(handin.SubmissionError) as info:
        handin.submission_files(work)
    assert str(info.value).startswith(f"{work / '02_toy.ipynb'} is larger than 0 MB: clear big outputs")


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(handin.SubmissionError) as info:
        handin.submission_files(tmp_path / "nowhere")
    assert str(info.value) == (f"notebook folder {tmp_path / 'nowhere'} does not exist: pass the folder that holds "
                               "your NN_topic.ipynb files.")
    (tmp_path / "file.ipynb").write_text("{}")
    with pytest.raises(handin.SubmissionError) as info:
        handin.submission_files(tmp_path / "file.ipynb")
    assert "does not exist" in str(info.value)
    with pytest.raises(handin.SubmissionError) as info:
        handin.submission_files(tmp_path)
    assert str(info.value) == (f"no notebook named like 01_chat_template.ipynb in {tmp_path}: pass the folder with "
                               "your notebooks.")


def test_progress_counts_stubs_and_answers(work):
    assert handin.progress(work / "01_toy.ipynb") == "0 exercise stub(s) left, 2/2 questions answered"
    assert handin.progress(work / "02_toy.ipynb") == "1 exercise stub(s) left, 1/2 questions answered"
    (work / "06_x.ipynb").write_text("not json")
    assert handin.report([work / "02_toy.ipynb", work / "06_x.ipynb", work / "07_gone.ipynb"]) == (
        "  02_toy.ipynb: 1 exercise stub(s) left, 1/2 questions answered\n  06_x.ipynb: not a readable notebook\n"
        "  07_gone.ipynb: not a readable notebook")


def test_the_zip_layout_is_fixed(work, tmp_path):
    path = handin.build_zip("b09901001", work, tmp_path / "out" / "deep")
    assert path == tmp_path / "out" / "deep" / "b09901001_hw3.zip"
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == ["01_toy.ipynb", "02_toy.ipynb", "submission.json"]
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
        assert archive.read("01_toy.ipynb") == (work / "01_toy.ipynb").read_bytes()
        manifest = archive.read("submission.json").decode()
    expected = {"homework": "hw3", "student_id": "b09901001",
                "files": {name: hashlib.sha256((work / name).read_bytes()).hexdigest() for name in ("01_toy.ipynb", "02_toy.ipynb")}}
    assert manifest == json.dumps(expected, indent=2) + "\n"
    first = path.read_bytes()
    assert handin.build_zip("b09901001", work, tmp_path / "out" / "deep", force=True).read_bytes() == first  # same input, same bytes


def test_a_token_refuses_the_zip_and_names_every_place(work, tmp_path):
    token = fake_hf_token(seed=11)
    nb = nbformat.read(work / "02_toy.ipynb", as_version=4)
    nb.cells[8].source += f'\nt = "{token}"'
    nbformat.write(nb, work / "02_toy.ipynb")
    assert handin.secret_hits(handin.submission_files(work)) == ["02_toy.ipynb: cell 9 source line 2"]
    with pytest.raises(handin.SubmissionError) as info:
        handin.build_zip("b09901001", work, tmp_path / "out")
    assert str(info.value).startswith("refused: something shaped like a Hugging Face token is in 02_toy.ipynb: cell 9 "
                                      "source line 2. Remove it: delete it from the cell's code. ")
    assert token not in str(info.value) and not (tmp_path / "out").exists()


def test_an_existing_zip_is_refused_before_anything_is_written(work, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "b09901001_hw3.zip").write_bytes(b"earlier")
    with pytest.raises(handin.SubmissionError) as info:
        handin.build_zip("b09901001", work, out)
    assert str(info.value) == f"{out / 'b09901001_hw3.zip'} already exists: pass --force (force=True) to replace it."
    assert sorted(p.name for p in out.iterdir()) == ["b09901001_hw3.zip"]


def test_a_failed_write_leaves_no_partial_file(work, tmp_path, monkeypatch):
    def broken(target, files, meta):
        target.write_bytes(b"half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(handin, "_write_zip", broken)
    with pytest.raises(OSError, match="disk full"):
        handin.build_zip("b09901001", work, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_publish_never_replaces_without_force(tmp_path):
    tmp, final = tmp_path / "t.partial", tmp_path / "final.zip"
    tmp.write_bytes(b"new")
    handin._publish(tmp, final, force=False)
    assert final.read_bytes() == b"new" and not tmp.exists()
    tmp.write_bytes(b"newer")
    with pytest.raises(handin.SubmissionError, match=r"final\.zip already exists: pass --force"):
        handin._publish(tmp, final, force=False)
    assert final.read_bytes() == b"new" and tmp.exists()
    handin._publish(tmp, final, force=True)
    assert final.read_bytes() == b"newer" and not tmp.exists()


def test_publish_without_hard_links(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise PermissionError("no hard links on this drive")

    monkeypatch.setattr(handin.os, "link", no_links)
    tmp, final = tmp_path / "t.partial", tmp_path / "final.zip"
    tmp.write_bytes(b"new")
    handin._publish(tmp, final, force=False)
    assert final.read_bytes() == b"new" and not tmp.exists()
    tmp.write_bytes(b"newer")
    with pytest.raises(handin.SubmissionError, match="already exists"):
        handin._publish(tmp, final, force=False)
    assert final.read_bytes() == b"new"


def test_save_json_atomically(tmp_path):
    target = tmp_path / "nb.ipynb"
    handin._save_json_atomically({"cells": [], "title": "Straße"}, target)
    assert target.read_text(encoding="utf-8") == '{\n "cells": [],\n "title": "Straße"\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["nb.ipynb"]


# ----------------------------------------------------------------------------- the hand-in cell and the command line


def test_collect_dir_outside_colab_is_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(colab, "in_colab", lambda: False)
    monkeypatch.chdir(tmp_path)
    assert handin.collect_dir() == tmp_path
    assert handin.collect("01_toy", tmp_path) == [] and list(tmp_path.iterdir()) == []


def test_collect_dir_in_colab_is_a_folder_on_drive(tmp_path, monkeypatch):
    monkeypatch.setattr(colab, "in_colab", lambda: True)
    monkeypatch.setattr(colab, "mount_drive", lambda: tmp_path / "MyDrive")
    assert handin.collect_dir() == tmp_path / "MyDrive" / "hw3_submission"
    assert (tmp_path / "MyDrive" / "hw3_submission").is_dir()


def test_collect_in_colab_saves_the_open_notebook(tmp_path, monkeypatch):
    monkeypatch.setattr(colab, "in_colab", lambda: True)
    monkeypatch.setattr(colab, "open_notebook_json", lambda: {"cells": [{"cell_type": "code", "source": "x = 'é'"}]})
    assert handin.collect("03_x", tmp_path) == ["03_x.ipynb"]
    assert json.loads((tmp_path / "03_x.ipynb").read_text(encoding="utf-8"))["cells"][0]["source"] == "x = 'é'"


def test_submit_outside_colab_without_an_id_only_reports(work, monkeypatch, capsys):
    monkeypatch.delenv("LAB_GRADING", raising=False)
    monkeypatch.setattr(colab, "in_colab", lambda: False)
    assert handin.submit("01_toy", folder=work) is None
    assert capsys.readouterr().out == (
        f"Collecting from {work} — save this notebook first (Ctrl-S / File > Save).\nCollected so far:\n"
        "  01_toy.ipynb: 0 exercise stub(s) left, 2/2 questions answered\n"
        "  02_toy.ipynb: 1 exercise stub(s) left, 1/2 questions answered\n"
        'Fill in STUDENT_ID (e.g. "b09901001") and run this cell again to build your zip.\n')
    assert not list(work.glob("*.zip"))


def test_submit_with_an_id_builds_and_offers_the_zip(work, monkeypatch, capsys):
    monkeypatch.delenv("LAB_GRADING", raising=False)
    monkeypatch.setattr(colab, "in_colab", lambda: False)
    path = handin.submit("01_toy", student_id="b09901001", folder=str(work))
    assert path == work / "b09901001_hw3.zip" and zipfile.is_zipfile(path)
    out = capsys.readouterr().out
    assert out.endswith(f"✓ wrote {path} — hand in this file.\nSaved {path}\n")
    handin.submit("01_toy", student_id="b09901001", folder=work, force=True)


def test_submit_in_colab_says_what_it_copied(work, monkeypatch, capsys):
    monkeypatch.delenv("LAB_GRADING", raising=False)
    monkeypatch.setattr(colab, "in_colab", lambda: True)
    monkeypatch.setattr(colab, "open_notebook_json", lambda: json.loads((work / "01_toy.ipynb").read_text()))
    assert handin.submit("08_copy", folder=work) is None
    out = capsys.readouterr().out
    assert out.startswith(f"Copied 08_copy.ipynb to {work}\nCollected so far:\n") and "08_copy.ipynb: 0 exercise" in out


@pytest.mark.parametrize("value", ["1", "yes"])
def test_submit_does_nothing_when_grading(tmp_path, monkeypatch, capsys, value):
    monkeypatch.setenv("LAB_GRADING", value)
    assert handin.submit("01_toy", "b09901001", folder=tmp_path) is None
    assert capsys.readouterr().out == "Grading run: hand-in cell skipped.\n"


def test_submit_with_an_empty_grading_variable_runs(work, monkeypatch, capsys):
    monkeypatch.setenv("LAB_GRADING", "")
    monkeypatch.setattr(colab, "in_colab", lambda: False)
    handin.submit("01_toy", folder=work)
    assert "Collected so far" in capsys.readouterr().out


def test_command_line(work, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert handin.main(["--student-id", "b09901001", "--notebooks", str(work), "--out", str(out)]) == 0
    assert capsys.readouterr().out == (
        f"wrote {out / 'b09901001_hw3.zip'}\n  01_toy.ipynb: 0 exercise stub(s) left, 2/2 questions answered\n"
        "  02_toy.ipynb: 1 exercise stub(s) left, 1/2 questions answered\n")
    assert handin.main(["--student-id", "b09901001", "--notebooks", str(work), "--out", str(out)]) == 1
    assert capsys.readouterr().err == (f"error: {out / 'b09901001_hw3.zip'} already exists: pass --force (force=True) "
                                       "to replace it.\n")
    assert handin.main(["--student-id", "b09901001", "--notebooks", str(work), "--out", str(out), "--force"]) == 0
    monkeypatch.chdir(tmp_path)
    assert handin.main(["--student-id", "zz", "--notebooks", str(work)]) == 0
    assert (tmp_path / "zz_hw3.zip").is_file()
    with pytest.raises(SystemExit):
        handin.main(["--notebooks", str(work)])
