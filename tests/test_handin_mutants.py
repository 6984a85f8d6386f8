"""helpers.handin: behaviour the mutation run showed untested (temporary files, the Colab folder, the command
line's help and required options, exact refusal messages). Expected values are written out by hand."""
import json
import os
import pathlib
import zipfile

import nbformat
import pytest

from helpers import colab, handin
from tests.tokens import fake_hf_token
from tests.toycourse import toy_notebook, toy_work_folder


@pytest.fixture
def work(tmp_path):
    return toy_work_folder(tmp_path)


# ----------------------------------------------------------------------------- temporary files


def test_the_zip_is_written_to_a_hidden_partial_file_next_to_it(work, tmp_path, monkeypatch):
    out = tmp_path / "out"
    seen = []
    real = handin._write_zip

    def spy(target, files, meta):
        seen.append(target)
        real(target, files, meta)

    monkeypatch.setattr(handin, "_write_zip", spy)
    path = handin.build_zip("b09901001", work, out)
    assert path == out / "b09901001_hw3.zip" and zipfile.is_zipfile(path)
    [tmp] = seen
    assert tmp.parent == out
    assert tmp.name.startswith(".b09901001_hw3.zip.") and tmp.name.endswith(".partial")
    assert not tmp.exists() and sorted(p.name for p in out.iterdir()) == ["b09901001_hw3.zip"]


def test_a_notebook_is_saved_through_a_hidden_file_in_the_same_folder(tmp_path, monkeypatch):
    moves = []
    real = os.replace

    def spy(src, dst):
        moves.append((pathlib.Path(src), pathlib.Path(dst)))
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    target = tmp_path / "nb.ipynb"
    handin._save_json_atomically({"cells": []}, target)
    [(src, dst)] = moves
    assert dst == target and src.parent == tmp_path and src.name.startswith(".nb.ipynb.")


# ----------------------------------------------------------------------------- the Colab folder


def test_collect_dir_in_colab_without_drive_is_under_content(monkeypatch):
    made = []
    monkeypatch.setattr(colab, "in_colab", lambda: True)
    monkeypatch.setattr(colab, "mount_drive", lambda: None)
    monkeypatch.setattr(pathlib.Path, "mkdir", lambda self, mode=0o777, parents=False, exist_ok=False:
                        made.append((str(self), parents, exist_ok)))
    assert handin.collect_dir() == pathlib.Path("/content/hw3_submission")
    assert made == [("/content/hw3_submission", True, True)]


def test_collect_dir_on_drive_twice_reuses_the_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(colab, "in_colab", lambda: True)
    monkeypatch.setattr(colab, "mount_drive", lambda: tmp_path / "MyDrive")
    assert handin.collect_dir() == tmp_path / "MyDrive" / "hw3_submission"
    assert handin.collect_dir() == tmp_path / "MyDrive" / "hw3_submission"  # the folder exists: no error


def test_submit_without_a_folder_collects_from_the_working_folder(work, monkeypatch, capsys):
    monkeypatch.delenv("LAB_GRADING", raising=False)
    monkeypatch.setattr(colab, "in_colab", lambda: False)
    monkeypatch.chdir(work)
    assert handin.submit("01_toy") is None
    assert capsys.readouterr().out.startswith(f"Collecting from {work} — save this notebook first")


# ----------------------------------------------------------------------------- messages


def test_the_refusal_message_names_every_place_and_what_to_do(work, tmp_path):
    nb = toy_notebook()
    nb.cells[0].source = f'a = "{fake_hf_token(seed=3)}"'
    nb.cells[1].source = f'b = "{fake_hf_token(seed=4)}"'
    nbformat.write(nb, work / "02_toy.ipynb")
    with pytest.raises(handin.SubmissionError) as info:
        handin.build_zip("b09901001", work, tmp_path / "out")
    assert str(info.value) == (
        "refused: something shaped like a Hugging Face token is in 02_toy.ipynb: cell 1 source line 1; "
        "02_toy.ipynb: cell 2 source line 1. Remove it: delete it from the cell's code. Save the notebook and hand in "
        "again. Then revoke that token in your Hugging Face settings (Access Tokens) and never write one in a notebook: "
        "put it in the Colab Secrets panel (key icon, secret HF_TOKEN, notebook access on) or in the HF_TOKEN "
        "environment variable, where the helpers read it.")


def test_a_notebook_over_40_mb_is_named_with_the_limit(work):
    big = work / "02_big.ipynb"
    with open(big, "wb") as handle:
        handle.truncate(40 * 2**20 + 1)  # sparse: no 40 MB written
    with pytest.raises(handin.SubmissionError) as info:
        handin.submission_files(work)
    assert str(info.value) == (f"{big} is larger than 40 MB: clear big outputs (Edit > Clear all outputs) "
                               "and save again.")


def test_a_notebook_without_cells_says_so(work):
    (work / "02_x.ipynb").write_text('{"metadata": {}}')
    with pytest.raises(handin.SubmissionError) as info:
        handin.submission_files(work)
    assert str(info.value) == ("02_x.ipynb is not a valid notebook (no cells): open it in Jupyter/Colab, save it "
                               "again, or copy a fresh one from the course and redo your cells.")


# ----------------------------------------------------------------------------- reading answers and progress


def test_a_call_split_over_source_lines_is_read_as_one():
    nb = {"cells": [{"cell_type": "code", "source": ['answers.fill("p1.q1",\n', '             7)\n']}]}
    assert handin.notebook_answers(nb) == {"p1.q1": 7}


def test_progress_of_cells_without_source_and_of_a_notebook_without_cells(tmp_path):
    path = tmp_path / "01_x.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code"},
                                          {"cell_type": "code", "source": ['answers.choose("p1.q1", "B")']}]}))
    assert handin.progress(path) == "0 exercise stub(s) left, 1/1 questions answered"
    path.write_text("{}")
    assert handin.progress(path) == "0 exercise stub(s) left, 0/0 questions answered"


# ----------------------------------------------------------------------------- the command line


def test_command_line_help(run_cli):
    code, out, _ = run_cli(handin.main, ["--help"])
    assert code == 0
    assert out == (
        "usage: python -m helpers.handin [-h] --student-id STUDENT_ID --notebooks NOTEBOOKS [--out OUT] [--force]\n"
        "\n"
        "Build STUDENTID_hw3.zip from your notebooks (refused if a token is inside).\n"
        "\n"
        "options:\n"
        "  -h, --help            show this help message and exit\n"
        "  --student-id STUDENT_ID\n"
        "                        your student id, e.g. b09901001\n"
        "  --notebooks NOTEBOOKS\n"
        "                        folder with your NN_topic.ipynb notebooks\n"
        "  --out OUT             where to write STUDENTID_hw3.zip (default: here)\n"
        "  --force               replace an existing zip\n")


def test_command_line_needs_the_notebook_folder(run_cli):
    code, _, err = run_cli(handin.main, ["--student-id", "b09901001"])
    assert code == 2
    assert err.endswith("error: the following arguments are required: --notebooks\n")
