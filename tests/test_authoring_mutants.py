"""helpers.coursework.authoring: what the mutation run found untested (the command line's help, defaults and
messages, exercise numbers taken from the heading nearest above). Expected values are written out by hand."""
from pathlib import Path

import nbformat
import pytest

from helpers.coursework import authoring
from tests.toycourse import toy_notebook

md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell


def test_command_line_help_names_the_real_module(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as info:
        authoring.main(["--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out == (
        "usage: python -m helpers.coursework.authoring [-h] [--source SOURCE] [--out OUT] [--check] [--readme README]\n"
        "\n"
        "Student notebooks from instructor notebooks: ``python -m helpers.coursework.authoring`` (``make exercises``).\n"
        "\n"
        "options:\n"
        "  -h, --help       show this help message and exit\n"
        "  --source SOURCE  instructor notebooks (default notebooks/)\n"
        "  --out OUT        student notebooks (default notebooks/exercises/)\n"
        "  --check          write nothing; exit 1 if a student version is stale\n"
        "  --readme README  README whose badge table is refreshed (default README.md)\n")


def test_command_line_defaults_and_paths(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(authoring, "generate", lambda *args, **kwargs: calls.append((args, kwargs)) or [])
    root = Path(authoring.__file__).resolve().parents[2]
    assert authoring.main([]) == 0
    assert calls[-1] == ((root / "notebooks", root / "notebooks" / "exercises"),
                         {"check": False, "readme": root / "README.md"})
    assert authoring.main(["--source", "a", "--out", "b", "--readme", "c.md", "--check"]) == 0
    (source, out), kwargs = calls[-1]
    assert (source, out, kwargs) == (Path("a"), Path("b"), {"check": True, "readme": Path("c.md")})
    assert all(isinstance(p, Path) for p in (source, out, kwargs["readme"]))  # generate takes paths
    assert capsys.readouterr().out == ""


def test_check_names_every_stale_notebook(tmp_path, capsys):
    source, out = tmp_path / "src", tmp_path / "out"
    source.mkdir()
    nbformat.write(toy_notebook(), source / "01_toy.ipynb")
    nbformat.write(toy_notebook(), source / "02_toy.ipynb")
    assert authoring.main(["--source", str(source), "--out", str(out), "--readme", str(tmp_path / "none.md"),
                           "--check"]) == 1
    assert capsys.readouterr().err == "stale student notebooks (run `make exercises`): 01_toy.ipynb, 02_toy.ipynb\n"
    assert not out.exists()


def test_each_exercise_takes_the_heading_nearest_above_it():
    nb = nbformat.v4.new_notebook(cells=[code("# setup"), md("### Exercise 3.1 — first"), code("x = 1  # SOLUTION"),
                                         md("### Exercise 3.2 — second"), code("y = 2  # SOLUTION"), md("Summary")])
    assert authoring.exercise_numbers(nb, "03_x") == ["3.1", "3.2"]
