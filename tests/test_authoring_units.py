"""authoring, function by function: exercise titles, stubs, marker errors, cell metadata, the command line."""
import nbformat
import pytest

from helpers.colab import REPO_URL, badge_markdown
from helpers.coursework import authoring
from tests.toycourse import toy_notebook

md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell


@pytest.mark.parametrize("heading, number, title", [
    ("### Exercise 4.2 — implement `top_p_filter` ★★☆ difficulty", "4.2", "implement top_p_filter"),
    ("## Exercise 1.1: double (2 points)", "1.1", "double"),
    ("Exercise 3.10 – **tokens** [hard]", "3.10", "tokens"),
    ("Exercise 2.3 -- _name_ .", "2.3", "name"),
    ("Exercise 5.1", "5.1", ""),
    ("text\nmore text\n### Exercise 6.4 — `x`", "6.4", "x"),
])
def test_exercise_title(heading, number, title):
    cells = [md(heading), code("def f(): pass")]
    assert authoring.exercise_title(cells, 1, "9.9") == (number, title)


def test_exercise_title_takes_the_nearest_markdown_above_and_has_a_fallback():
    cells = [md("### Exercise 1.1 — first"), md("### Exercise 1.2 — second"), code("# Exercise 7.7 — in code"),
             code("x"), md("### Exercise 1.3 — below")]
    assert authoring.exercise_title(cells, 3, "0.1") == ("1.2", "second")
    assert authoring.exercise_title(cells, 0, "0.1") == ("0.1", "")
    assert authoring.exercise_title([md("no heading")], 1, "4.4") == ("4.4", "")
    long = authoring.exercise_title([md("Exercise 1.1 — " + "w" * 100)], 1, "0.1")[1]
    assert long == "w" * 80



def test_a_premise_cell_before_an_exercise_does_not_shift_its_number():
    """Premise cells are dropped from the student version first: each stub still names its own exercise."""
    nb = nbformat.v4.new_notebook()
    premise = code("premise('p1.q1', 'x', observed=1, holds=True)")
    premise.metadata["tags"] = ["premise"]
    nb.cells = [code("setup"), md("### Exercise 1.1 — first"),
                code("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION"), premise,
                md("### Exercise 1.2 — second"), code("def g():\n    # BEGIN SOLUTION\n    return 2\n    # END SOLUTION")]
    student = authoring.make_student(nb, "01_toy", only={"1.2"}, stub_answers=False)
    stubs = [c.source for c in student.cells if "NotImplementedError" in c.source]
    assert len(stubs) == 1 and "def g" in stubs[0] and "exercise 1.2: second" in stubs[0]

def test_stub_raise_escapes_the_message():
    assert authoring.stub_raise("    ", "4.1", 'say "hi" \\ bye') == [
        "    # YOUR CODE HERE", '    raise NotImplementedError("exercise 4.1: say \\"hi\\" \\\\ bye")']
    assert authoring.stub_raise("", "2.2", "") == ["# YOUR CODE HERE",
                                                   'raise NotImplementedError("exercise 2.2: write your code here")']


@pytest.mark.parametrize("line, stub", [
    ("y: int = 3  # SOLUTION", "y: int = ...  # YOUR CODE HERE"),
    ("y: int  # SOLUTION", "...  # YOUR CODE HERE"),
    ("a, b = f()  #SOLUTION", "a, b = ...  # YOUR CODE HERE"),
    ("x = foo(  # SOLUTION", "x = ...  # YOUR CODE HERE"),                     # not parseable alone: by the text
    ("x == y and (  # SOLUTION", "...  # YOUR CODE HERE"),
    ("        k = 2  # SOLUTION   ", "        k = ...  # YOUR CODE HERE"),
    ('answers.fill("p3.q1", 692)', 'answers.fill("p3.q1", ...)  # YOUR CODE HERE'),  # no marker: the whole line
    ("x.fill(1)  # SOLUTION", "...  # YOUR CODE HERE"),                          # one argument: not an answer call
    ("obj.choose(a, b)  # SOLUTION", "obj.choose(a, ...)  # YOUR CODE HERE"),
    ("", "...  # YOUR CODE HERE"),
])
def test_stub_line(line, stub):
    assert authoring.stub_line(line) == stub


def test_strip_code_keeps_what_is_around_the_blocks():
    source = ("def f(x):\n    a = 1\n    # BEGIN SOLUTION (anything)\n    b = 2\n    return b\n    # END SOLUTION\n"
              "    c = 3  # SOLUTION\n\nprint(f(1))")
    assert authoring.strip_code(source, "4.1", "implement f", "w") == (
        "def f(x):\n    a = 1\n    # YOUR CODE HERE\n    raise NotImplementedError(\"exercise 4.1: implement f\")\n"
        "    c = ...  # YOUR CODE HERE\n\nprint(f(1))")


@pytest.mark.parametrize("source, message", [
    ("# BEGIN SOLUTION\nx = 1", "w: '# BEGIN SOLUTION' is never closed: add '# END SOLUTION'."),
    ("x = 1\n# END SOLUTION", "w: '# END SOLUTION' without a '# BEGIN SOLUTION' above it."),
    ("# BEGIN SOLUTION\n  # BEGIN SOLUTION\n# END SOLUTION",
     "w: '# BEGIN SOLUTION' inside another solution block: close the first with '# END SOLUTION'."),
])
def test_strip_code_marker_errors(source, message):
    with pytest.raises(authoring.AuthoringError) as info:
        authoring.strip_code(source, "1.1", "", "w")
    assert str(info.value) == message


def test_strip_markdown():
    text = "Intro\n<!-- BEGIN SOLUTION -->\nsecret\n<!--END SOLUTION-->\nafter\n  <!--  BEGIN SOLUTION  -->  \nmore\n<!-- END SOLUTION -->"
    assert authoring.strip_markdown(text, "w") == "Intro\nafter"
    region = "<!-- BEGIN SOLUTION -->\nsecret\n\nmore secret\n<!-- END SOLUTION -->"
    assert authoring.strip_markdown(f"A\n\n{region}\n\nB", "w") == "A\n\nB"  # one blank line between paragraphs
    assert authoring.strip_markdown(f"{region}\n\nB\n\n\nC", "w") == "B\n\n\nC"  # blank lines away from a region stay
    assert authoring.strip_markdown(f"A\n\n{region}\n", "w") == "A"
    assert authoring.strip_markdown(f"A\n{region}\nB\n\n", "w") == "A\nB\n"  # "\n".join of its lines, as before
    assert authoring.strip_markdown(region, "w") == ""
    assert authoring.strip_markdown("no\n\n\nregion\n", "w") == "no\n\n\nregion"
    for source, message in (("<!-- BEGIN SOLUTION -->\nx", "w: <!-- BEGIN SOLUTION --> is never closed."),
                            ("x\n<!-- END SOLUTION -->", "w: <!-- END SOLUTION --> without a BEGIN above it."),
                            ("<!-- BEGIN SOLUTION -->\n<!-- BEGIN SOLUTION -->", "w: nested <!-- BEGIN SOLUTION --> in markdown.")):
        with pytest.raises(authoring.AuthoringError) as info:
            authoring.strip_markdown(source, "w")
        assert str(info.value) == message


@pytest.mark.parametrize("source, marked", [("# BEGIN SOLUTION", True), ("# END SOLUTION", True), ("x = 1  # SOLUTION", True),
                                            ("<!-- BEGIN SOLUTION -->", True), ("a solution", False), ("# YOUR CODE HERE", False)])
def test_has_solution(source, marked):
    assert authoring.has_solution(code(source)) is marked


def test_python_parses():
    assert authoring.python_parses("!pip install x\n%time f()\nx = 1") is None
    assert authoring.python_parses("x = (\n") == "line 1: '(' was never closed"
    assert authoring.python_parses("x = 1\ny = = 2") == "line 2: invalid syntax"


def test_setup_and_hand_in_cells_name_the_notebook():
    setup = authoring.setup_source("04_sampling")
    assert f'REPO_URL = "{REPO_URL}"' in setup and setup.endswith('answers = AnswerSheet("04_sampling")')
    assert setup.startswith("# Setup: in Colab, fetch the course code") and "print(backend.describe())" in setup
    text, cell = authoring.submission_cells("04_sampling")
    assert (text.cell_type, text.id, cell.cell_type, cell.id) == ("markdown", "submit-text", "code", "submit-code")
    assert text.source.startswith("## Hand in\n") and cell.source.endswith('handin.submit("04_sampling", student_id=STUDENT_ID)')
    assert 'STUDENT_ID = ""' in cell.source


def test_clean_metadata_keeps_only_the_colab_runtime_and_kernel():
    nb = nbformat.v4.new_notebook(metadata={"widgets": {"x": 1}, "kernelspec": {"name": "other", "display_name": "Other"}})
    authoring.clean_metadata(nb)
    assert nb.metadata == {"accelerator": "GPU", "colab": {"gpuType": "T4", "provenance": [], "toc_visible": True},
                           "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                           "language_info": {"name": "python"}}


def test_exercise_numbers():
    nb = nbformat.v4.new_notebook(cells=[code("# setup"), md("### Exercise 4.2 — a"), code("x = 1  # SOLUTION"),
                                         code("y = 2  # SOLUTION"), md("text"), code("# BEGIN SOLUTION\n# END SOLUTION"),
                                         code("plain")])
    assert authoring.exercise_numbers(nb, "04_x") == ["4.2"]
    bare = nbformat.v4.new_notebook(cells=[code("x = 1  # SOLUTION"), code("y = 1  # SOLUTION")])
    assert authoring.exercise_numbers(bare, "04_x") == ["4.1", "4.2"]
    assert authoring.exercise_numbers(bare, "00_x") == ["0.1", "0.2"]
    assert authoring.exercise_numbers(bare, "Bad-Name") == ["0.1", "0.2"]
    assert authoring.exercise_numbers(bare, "12_x") == ["12.1", "12.2"]


@pytest.mark.parametrize("name", ["4_x", "04-x", "04_X", "x_04", "04_x.ipynb", ""])
def test_make_student_refuses_a_bad_name(name):
    with pytest.raises(authoring.AuthoringError) as info:
        authoring.make_student(toy_notebook(), name)
    assert str(info.value) == f"notebook name {name!r} must look like '04_sampling' (two digits, underscore, lowercase)."


def test_make_student_cell_metadata_ids_and_locks():
    nb = toy_notebook()
    nb.cells[2].metadata.update({"editable": True, "deletable": True, "collapsed": True, "jupyter": {"source_hidden": True}})
    nb.cells.append(code("form = 1", metadata={"tags": ["free"]}))
    for cell in nb.cells:
        cell.pop("id", None)
    student = authoring.make_student(nb, "01_toy")
    assert student.nbformat == 4 and student.nbformat_minor == 5
    assert student.cells[0].id == "open-in-colab" and student.cells[0].source == badge_markdown("notebooks/exercises/01_toy.ipynb")
    cells = student.cells[1:]
    assert [c.id for c in cells[:3]] == ["cell-1", "cell-2", "cell-3"]
    assert cells[1].metadata == {"deletable": False, "editable": False, "tags": ["setup", "context"]}
    assert cells[2].metadata == {"deletable": False, "editable": False, "jupyter": {"source_hidden": True}, "tags": ["context"]}
    exercise = next(c for c in cells if "def double" in c.source)
    assert exercise.metadata == {} and exercise.outputs == [] and exercise.execution_count is None
    free = next(c for c in cells if c.source == "form = 1")
    assert free.metadata == {"tags": ["free"]}
    assert [c.id for c in cells[-2:]] == ["submit-text", "submit-code"]
    assert all(c.metadata.get("editable") is not False for c in cells[-2:])


def test_make_student_keeps_an_existing_hand_in_cell_and_markdown_without_solutions():
    nb = toy_notebook()
    nb.cells.append(code('handin.submit("01_toy")'))
    student = authoring.make_student(nb, "01_toy")
    assert student.cells[-1].source == 'handin.submit("01_toy")' and student.cells[-1].id != "submit-code"
    assert student.cells[1].source == "# 01 · Toy\nA notebook for the tests."


def test_make_student_drops_a_markdown_cell_that_only_held_solutions_and_keeps_the_rest():
    nb = toy_notebook()
    only_solution = nbformat.v4.new_markdown_cell("<!-- BEGIN SOLUTION -->\n*What to see here:* the key.\n<!-- END SOLUTION -->\n")
    partly = nbformat.v4.new_markdown_cell("## Discussion\n\n<!-- BEGIN SOLUTION -->\nWhat you saw.\n<!-- END SOLUTION -->")
    nb.cells[2:2] = [only_solution, partly]
    before = [c.source for c in authoring.make_student(toy_notebook(), "01_toy").cells]
    after = [c.source for c in authoring.make_student(nb, "01_toy").cells]
    assert after == before[:3] + ["## Discussion"] + before[3:]  # the toy's cells 1-2 follow the badge
    assert not any("key" in s or "What you saw" in s for s in after)


def test_make_student_answers_can_stay_and_solutions_can_stay():
    kept = authoring.make_student(toy_notebook(), "01_toy", only=set(), stub_answers=False)
    text = "\n".join(c.source for c in kept.cells)
    assert 'answers.choose("p1.q1", "B")  # SOLUTION' in text and "return v * k" in text
    stubbed_answers_only = authoring.make_student(toy_notebook(), "01_toy", only=set())
    text = "\n".join(c.source for c in stubbed_answers_only.cells)
    assert 'answers.choose("p1.q1", ...)  # YOUR CODE HERE' in text and "return v * k" in text


def test_a_stub_that_breaks_python_is_refused_but_broken_instructor_code_is_not_checked():
    bad = nbformat.v4.new_notebook(cells=[code("# setup"), code("if x:\n    y = 1  # SOLUTION\n    # BEGIN SOLUTION\n    z = 2\n    # END SOLUTION")])
    assert "raise NotImplementedError" in authoring.render(authoring.make_student(bad, "01_ok"))
    broken = nbformat.v4.new_notebook(cells=[code("# setup"), code("x = (  # SOLUTION")])
    student = authoring.make_student(broken, "01_x")  # the instructor cell does not parse either: no new error
    assert student.cells[2].source == "x = ...  # YOUR CODE HERE"


def test_render_ends_with_a_newline():
    text = authoring.render(authoring.make_student(toy_notebook(), "01_toy"))
    assert text.endswith("}\n") and not text.endswith("\n\n")


def test_instructor_notebooks_and_is_generated(tmp_path):
    for name in ("02_b.ipynb", "01_a.ipynb", "1_c.ipynb", "03_D.ipynb", "notes.ipynb"):
        nbformat.write(toy_notebook(), tmp_path / name)
    assert [p.name for p in authoring.instructor_notebooks(tmp_path)] == ["01_a.ipynb", "02_b.ipynb"]
    assert authoring.is_generated(tmp_path / "01_a.ipynb") is False
    (tmp_path / "04_s.ipynb").write_text(authoring.render(authoring.make_student(toy_notebook(), "04_s")))
    assert authoring.is_generated(tmp_path / "04_s.ipynb") is True
    (tmp_path / "05_broken.ipynb").write_text("{")
    assert authoring.is_generated(tmp_path / "05_broken.ipynb") is False
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "06_empty.ipynb")
    assert authoring.is_generated(tmp_path / "06_empty.ipynb") is False


def test_generate_keeps_a_hand_written_orphan_and_writes_through_a_temporary_file(tmp_path):
    source, out = tmp_path / "src", tmp_path / "out"
    source.mkdir()
    nbformat.write(toy_notebook(), source / "01_toy.ipynb")
    out.mkdir()
    nbformat.write(toy_notebook(), out / "07_mine.ipynb")  # not generated: reported, never deleted
    assert authoring.generate(source, out, readme=None) == ["01_toy.ipynb", "07_mine.ipynb (its instructor notebook is gone)"]
    assert sorted(p.name for p in out.iterdir()) == ["01_toy.ipynb", "07_mine.ipynb"]
    assert (out / "01_toy.ipynb").read_text() == authoring.student_text(source / "01_toy.ipynb")
    assert authoring.generate(source, out, readme=tmp_path / "no-readme.md") == ["07_mine.ipynb (its instructor notebook is gone)"]


def test_generate_check_writes_nothing(tmp_path):
    source, out = tmp_path / "src", tmp_path / "out"
    source.mkdir()
    nbformat.write(toy_notebook(), source / "01_toy.ipynb")
    readme = tmp_path / "README.md"
    readme.write_text("<!-- BADGES START -->\n<!-- BADGES END -->\n")
    assert authoring.generate(source, out, check=True, readme=readme) == ["01_toy.ipynb", "README.md (badge table)"]
    assert not out.exists() and readme.read_text() == "<!-- BADGES START -->\n<!-- BADGES END -->\n"


def test_command_line(tmp_path, capsys):
    source, out = tmp_path / "src", tmp_path / "out"
    source.mkdir()
    nbformat.write(toy_notebook(), source / "01_toy.ipynb")
    readme = tmp_path / "R.md"
    readme.write_text("<!-- BADGES START -->\n<!-- BADGES END -->\n")
    assert authoring.main(["--source", str(source), "--out", str(out), "--readme", str(readme)]) == 0
    assert capsys.readouterr().out == "updated 01_toy.ipynb\nupdated R.md (badge table)\n"
    assert authoring.main(["--source", str(source), "--out", str(out), "--readme", str(readme), "--check"]) == 0
    assert capsys.readouterr().out == ""
    nbformat.write(nbformat.v4.new_notebook(cells=[code("# setup"), code("# BEGIN SOLUTION")]), source / "02_bad.ipynb")
    assert authoring.main(["--source", str(source), "--out", str(out), "--readme", str(readme), "--check"]) == 2
    assert capsys.readouterr().err == "error: 02_bad.ipynb cell 2: '# BEGIN SOLUTION' is never closed: add '# END SOLUTION'.\n"
    (source / "02_bad.ipynb").unlink()
    (out / "01_toy.ipynb").write_text("{}")
    assert authoring.main(["--source", str(source), "--out", str(out), "--readme", str(readme), "--check"]) == 1
    assert capsys.readouterr().err == "stale student notebooks (run `make exercises`): 01_toy.ipynb\n"


REENTERED = ("# Exercise 1.1 from notebook 01: paste your `prompt_ids` here\n"
             "def prompt_ids(tokenizer, question, use_template):\n"
             "    # BEGIN SOLUTION\n    return tokenizer(question)\n    # END SOLUTION\n\n\nIDS = prompt_ids(tok, 'q', True)")


def reentered_cell(tags=("free", "reenter"), source=REENTERED):
    cell = code(source)
    cell.metadata["tags"] = list(tags)
    return cell


def test_a_reentered_exercise_is_stubbed_editable_and_not_an_exercise_of_this_notebook():
    nb = nbformat.v4.new_notebook(cells=[code("# setup"), reentered_cell(), md("### Exercise 4.1 — `f`"),
                                         code("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION")])
    assert authoring.exercise_numbers(nb, "04_x") == ["4.1"]
    student = authoring.make_student(nb, "04_x")
    cell = next(c for c in student.cells if "prompt_ids" in c.source)
    assert 'raise NotImplementedError("exercise 1.1: paste your `prompt_ids` here (notebook 01)")' in cell.source
    assert "return tokenizer(question)" not in cell.source and "IDS = prompt_ids(tok, 'q', True)" in cell.source
    assert "editable" not in cell.metadata  # students paste into it
    assert '"exercise 4.1: f"' in next(c for c in student.cells if "def f" in c.source).source  # numbering unchanged
    solved = authoring.make_student(nb, "04_x", only=set(), stub_answers=False)
    assert "return tokenizer(question)" in next(c for c in solved.cells if "prompt_ids" in c.source).source


@pytest.mark.parametrize("tags, source", [(("reenter",), REENTERED),
                                          (("free", "reenter"), REENTERED.replace("from notebook 01:", "of notebook 01"))])
def test_a_reentered_cell_needs_the_free_tag_and_its_first_line(tags, source):
    nb = nbformat.v4.new_notebook(cells=[code("# setup"), reentered_cell(tags, source)])
    with pytest.raises(authoring.AuthoringError, match="tagged 'reenter' is also tagged 'free'"):
        authoring.make_student(nb, "04_x")
