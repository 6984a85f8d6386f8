"""The release on a small repository made here: which files, their modes, the leak check, refusals, the command line."""
import stat

import nbformat
import pytest

from helpers.coursework import authoring, release
from tests.toycourse import toy_notebook


@pytest.fixture
def root(tmp_path):
    """A repository with shipped modules, TA code, assets, an instructor notebook and its fresh student version."""
    repo = tmp_path / "repo"
    for rel, text in {"helpers/b.py": "B = 1\n", "helpers/a.py": "A = 1\n", "helpers/bench.py": "x\n",
                      "helpers/coursework/grader.py": "SECRET = 1\n", "helpers/notes.txt": "not a module\n",
                      "data/offline/manifest.json": "{}\n", "data/offline/lm/z.bin": "z", "data/offline/lm/a.json": "{}",
                      "data/grading/01_toy.json": "{}", "requirements.txt": "torch\n"}.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    (repo / "notebooks").mkdir()
    nbformat.write(toy_notebook(), repo / "notebooks" / "01_toy.ipynb")
    authoring.generate(repo / "notebooks", repo / "notebooks" / "exercises", readme=None)
    (repo / "notebooks" / "exercises" / "notes.ipynb").write_text("{}")
    return repo


def test_package_files_are_the_top_level_modules(root, monkeypatch):
    assert [str(p) for p in release.package_files(root)] == ["helpers/a.py", "helpers/b.py", "helpers/bench.py"]
    monkeypatch.setattr(release, "MAINTAINER_MODULES", {"bench.py"})
    assert [str(p) for p in release.package_files(root)] == ["helpers/a.py", "helpers/b.py"]


def test_shipped_subpackages_ship_with_their_folder(root, tmp_path):
    (root / "helpers" / "checks").mkdir()
    (root / "helpers" / "checks" / "nb01.py").write_text("C = 1\n")
    (root / "helpers" / "other").mkdir()
    (root / "helpers" / "other" / "x.py").write_text("X = 1\n")
    assert "helpers/checks/nb01.py" in [str(p) for p in release.package_files(root)]
    assert "helpers/other/x.py" not in [str(p) for p in release.package_files(root)]
    target = release.copy_package(tmp_path / "helpers", root)
    assert (target / "checks" / "nb01.py").read_text() == "C = 1\n" and not (target / "nb01.py").exists()
    assert stat.S_IMODE((target / "checks").stat().st_mode) == 0o755


def test_pinned_check_data_ships(root):
    (root / "data" / "checks").mkdir(parents=True)
    (root / "data" / "checks" / "01.json").write_text("{}\n")
    (root / "data" / "checks" / "notes.txt").write_text("not data\n")
    files = [str(p) for p in release.release_files(root)]
    assert "data/checks/01.json" in files and "data/checks/notes.txt" not in files


def test_release_files_in_order(root):
    assert [str(p) for p in release.release_files(root)] == [
        "helpers/a.py", "helpers/b.py", "helpers/bench.py", "data/offline/lm/a.json", "data/offline/lm/z.bin",
        "data/offline/manifest.json", "notebooks/exercises/01_toy.ipynb", "requirements.txt"]


def test_copy_package_copies_bytes_with_plain_modes(root, tmp_path):
    (root / "helpers" / "a.py").chmod(0o700)
    target = release.copy_package(tmp_path / "out" / "helpers", root)
    assert target == tmp_path / "out" / "helpers"
    assert sorted(p.name for p in target.iterdir()) == ["a.py", "b.py", "bench.py"]
    assert (target / "a.py").read_text() == "A = 1\n"
    assert stat.S_IMODE((target / "a.py").stat().st_mode) == 0o644 and stat.S_IMODE(target.stat().st_mode) == 0o755


@pytest.mark.parametrize("text, hit", [
    ("x = 1  # SOLUTION\n", "'# SOLUTION'"),
    ("x = 1  #SOLUTION", "'#SOLUTION'"),
    ('"source": ["x = 1  # SOLUTION\\n", "y"]', "'# SOLUTION'"),
    ('"source": "x = 1  # SOLUTION"', "'# SOLUTION'"),
    ("# BEGIN SOLUTION\n", "'BEGIN SOLUTION'"),
    ("<!-- END SOLUTION -->", "'END SOLUTION'"),
    ("id 18809 is Hung", "'18809'"),
    ("yi = 12636", "'12636'"),
    ("the run scored 6.0734", "'6.0734'"),
    ("max 58.04", "'58.04'"),
    ("max 31.76.", "'31.76'"),
])
def test_forbidden_hits_find_each_marker_and_value(tmp_path, text, hit):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f.md").write_text("first line\n" + text)
    assert release.forbidden_hits(tmp_path) == [f"sub/f.md:2: {hit}"]


@pytest.mark.parametrize("text", ["the # SOLUTIONS are hidden", "# SOLUTION is a marker word", "id 118809", "3188095",
                                  "58.4", "31.7", "your code here"])
def test_forbidden_hits_leave_look_alikes(tmp_path, text):
    (tmp_path / "f.md").write_text(text)
    assert release.forbidden_hits(tmp_path) == []


def test_forbidden_hits_read_text_files_only_in_sorted_order(tmp_path):
    for name in ("b.py", "a.json", "c.bin", "d.ipynb", "e.toml", "f.cfg", "g.jinja", "h.txt", "i.csv"):
        (tmp_path / name).write_text("BEGIN SOLUTION")
    assert [h.split(":")[0] for h in release.forbidden_hits(tmp_path)] == [
        "a.json", "b.py", "d.ipynb", "e.toml", "f.cfg", "g.jinja", "h.txt"]
    (tmp_path / "j.md").write_bytes(b"\xff BEGIN SOLUTION")
    assert "j.md:1: 'BEGIN SOLUTION'" in release.forbidden_hits(tmp_path)


def test_write_release(root, tmp_path):
    out = tmp_path / "student"
    written = release.write_release(out, root)
    assert [str(p) for p in written] == sorted([
        "helpers/a.py", "helpers/b.py", "helpers/bench.py", "data/offline/lm/a.json", "data/offline/lm/z.bin",
        "data/offline/manifest.json", "notebooks/exercises/01_toy.ipynb", "requirements.txt", "README.md", ".gitignore"])
    assert (out / "README.md").read_text() == release.README_TEMPLATE.read_text()
    assert (out / ".gitignore").read_text() == ".venv/\n__pycache__/\n*.pyc\n.ipynb_checkpoints/\n*_hw3.zip\n"
    assert (out / "data" / "offline" / "lm" / "z.bin").read_text() == "z"
    assert not (out / "helpers" / "coursework").exists() and not (out / "data" / "grading").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    release.write_release(empty, root)  # an existing empty folder is fine


def test_write_release_refuses_a_non_empty_folder(root, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    with pytest.raises(release.ReleaseError) as info:
        release.write_release(tmp_path / "full", root)
    assert str(info.value) == f"{tmp_path / 'full'} is not empty: give a new folder (the release never overwrites files)."


def test_write_release_refuses_stale_student_notebooks_and_changes_none(root, tmp_path):
    nbformat.write(toy_notebook(), root / "notebooks" / "02_more.ipynb")
    (root / "notebooks" / "exercises" / "01_toy.ipynb").write_text("{}")
    with pytest.raises(release.ReleaseError) as info:
        release.write_release(tmp_path / "out", root)
    assert str(info.value) == "the student notebooks are stale (01_toy.ipynb, 02_more.ipynb): run `make exercises` first."
    assert not (tmp_path / "out").exists()
    assert (root / "notebooks" / "exercises" / "01_toy.ipynb").read_text() == "{}"  # checked, not rewritten
    assert not (root / "notebooks" / "exercises" / "02_more.ipynb").exists()


def test_copy_package_into_an_existing_folder(root, tmp_path):
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "a.py").write_text("old")
    release.copy_package(tmp_path / "helpers", root)
    assert (tmp_path / "helpers" / "a.py").read_text() == "A = 1\n"


def test_write_release_removes_a_leaking_release(root, tmp_path):
    (root / "helpers" / "a.py").write_text("# BEGIN SOLUTION\nx = 6.0734\n")
    with pytest.raises(release.ReleaseError) as info:
        release.write_release(tmp_path / "out", root)
    assert str(info.value) == ("the release would show solutions or original fill-in values: "
                               "helpers/a.py:1: 'BEGIN SOLUTION'; helpers/a.py:2: '6.0734'")
    assert not (tmp_path / "out").exists()


def test_only_the_first_five_leaks_are_named(root, tmp_path):
    (root / "helpers" / "a.py").write_text("18809\n" * 7)
    with pytest.raises(release.ReleaseError) as info:
        release.write_release(tmp_path / "out", root)
    assert str(info.value).count("'18809'") == 5 and "helpers/a.py:5:" in str(info.value) and "a.py:6:" not in str(info.value)


def test_command_line(tmp_path, capsys, monkeypatch, root):
    original = release.write_release
    monkeypatch.setattr(release, "write_release", lambda out: original(out, root))
    assert release.main(["--out", str(tmp_path / "a")]) == 0
    assert capsys.readouterr().out == f"wrote 10 files to {tmp_path / 'a'}\n"
    assert release.main(["--out", str(tmp_path / "a")]) == 1
    assert capsys.readouterr().err == (f"error: {tmp_path / 'a'} is not empty: give a new folder (the release never "
                                       "overwrites files).\n")
    with pytest.raises(SystemExit):
        release.main([])  # --out is required
