"""helpers.coursework.authoring: what the mutation run found untested (the command line's help, defaults and
messages, exercise numbers taken from the heading nearest above). Expected values are written out by hand."""
from pathlib import Path

import nbformat
import pytest

from helpers.coursework import authoring
from tests.toycourse import toy_notebook

md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell


def test_command_line_help_names_the_real_module(run_cli):
    code, out, _ = run_cli(authoring.main, ["--help"])
    assert code == 0
    assert out == (
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


# ----------------------------------------------------------------------------- titles, numbers, stubs


def test_a_title_starting_with_x_keeps_its_x():
    cells = [md("### Exercise 2.3 — XOR gate"), code("x = 1  # SOLUTION")]
    assert authoring.exercise_title(cells, 1, "9.9") == ("2.3", "XOR gate")


@pytest.mark.parametrize("name, numbers", [("04_x", ["4.1", "4.2"]), ("10_x", ["10.1", "10.2"]), ("00_x", ["0.1", "0.2"])])
def test_exercises_without_a_heading_are_numbered_from_the_notebook(name, numbers):
    nb = nbformat.v4.new_notebook(cells=[code("# setup"), code("# BEGIN SOLUTION\nx = 1\n# END SOLUTION"),
                                         code("y = 2  # SOLUTION")])
    student = authoring.make_student(nb, name)
    assert student.cells[2].source == (f"# YOUR CODE HERE\nraise NotImplementedError(\"exercise {numbers[0]}: "
                                       "write your code here\")")
    assert student.cells[3].source == "y = ...  # YOUR CODE HERE"
    assert authoring.exercise_numbers(nb, name) == numbers


def test_a_solution_block_holding_an_answer_call_is_an_exercise():
    nb = nbformat.v4.new_notebook(cells=[code("# setup"), md("### Exercise 2.1 — mix"),
                                         code("# BEGIN SOLUTION\nanswers.fill(\"p2.q1\", 3)\nx = 1\n# END SOLUTION")])
    student = authoring.make_student(nb, "02_x")
    assert student.cells[3].source == '# YOUR CODE HERE\nraise NotImplementedError("exercise 2.1: mix")'


def test_marker_errors_in_answer_and_markdown_cells_name_the_cell():
    nb = nbformat.v4.new_notebook(cells=[code("# setup"), code('answers.fill("p1.q1", 3)  # SOLUTION\n# END SOLUTION')])
    with pytest.raises(authoring.AuthoringError) as info:
        authoring.make_student(nb, "01_x")
    assert str(info.value) == "01_x.ipynb cell 2: '# END SOLUTION' without a '# BEGIN SOLUTION' above it."
    nb = nbformat.v4.new_notebook(cells=[code("# setup"), md("<!-- BEGIN SOLUTION -->\nanswer")])
    with pytest.raises(authoring.AuthoringError) as info:
        authoring.make_student(nb, "01_x")
    assert str(info.value) == "01_x.ipynb cell 2: <!-- BEGIN SOLUTION --> is never closed."


def test_a_stub_that_breaks_python_has_the_whole_message():
    nb = nbformat.v4.new_notebook(cells=[code("# setup"), code("if x:  # SOLUTION\n    y = 1")])
    with pytest.raises(authoring.AuthoringError) as info:
        authoring.make_student(nb, "01_x")
    message = str(info.value)
    assert message.startswith("01_x.ipynb cell 2: the student version is not valid Python (line ")
    assert message.endswith("); put multi-line solutions between '# BEGIN SOLUTION' and '# END SOLUTION'.")


def test_markdown_without_solutions_is_kept_byte_for_byte():
    nb = nbformat.v4.new_notebook(cells=[code("# setup"), md("Some text\n\nmore\n")])
    assert authoring.make_student(nb, "01_x").cells[2].source == "Some text\n\nmore\n"


def test_unlocked_cells_lose_stale_lock_flags():
    nb = nbformat.v4.new_notebook(cells=[code("# setup"),
                                         code("x = 1  # SOLUTION", metadata={"editable": False, "deletable": False,
                                                                             "tags": ["t"], "scrolled": True})])
    assert authoring.make_student(nb, "01_x").cells[2].metadata == {"tags": ["t"]}


@pytest.mark.parametrize("line", ["total  # SOLUTION", "import numpy  # SOLUTION", "print(x)  # SOLUTION"])
def test_stub_line_of_a_statement_that_is_not_an_assignment(line):
    assert authoring.stub_line(line) == "...  # YOUR CODE HERE"


def test_python_parses_an_indented_magic_line():
    assert authoring.python_parses("if True:\n    !ls\n    %time x = 1\n") is None


def test_student_text_stubs_only_the_chosen_exercises(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[code("# setup"), md("### Exercise 1.1 — a"), code("a = 1  # SOLUTION"),
                                         md("### Exercise 1.2 — b"), code("b = 2  # SOLUTION")])
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, path)
    student = nbformat.reads(authoring.student_text(path, {"1.2"}), as_version=4)
    assert [student.cells[i].source for i in (3, 5)] == ["a = 1  # SOLUTION", "b = ...  # YOUR CODE HERE"]


# ----------------------------------------------------------------------------- generate


def test_generate_makes_a_nested_output_folder_through_a_tmp_file(tmp_path, monkeypatch):
    source, out = tmp_path / "src", tmp_path / "a" / "b"
    source.mkdir()
    nbformat.write(toy_notebook(), source / "01_toy.ipynb")
    moves = []
    real = Path.replace
    monkeypatch.setattr(Path, "replace", lambda self, target: moves.append((self.name, Path(target).name))
                        or real(self, target))
    assert authoring.generate(source, out, readme=None) == ["01_toy.ipynb"]
    assert moves == [("01_toy.ipynb.tmp", "01_toy.ipynb")]
    assert sorted(p.name for p in out.iterdir()) == ["01_toy.ipynb"]


def test_the_third_exercise_without_a_heading_is_numbered_third():
    block = "# BEGIN SOLUTION\nx = 1\n# END SOLUTION"
    nb = nbformat.v4.new_notebook(cells=[code("# setup"), code(block), code(block), code(block)])
    student = authoring.make_student(nb, "05_x")
    assert [c.source.splitlines()[1] for c in student.cells[2:5]] == [
        f'raise NotImplementedError("exercise 5.{n}: write your code here")' for n in (1, 2, 3)]
