"""Student notebooks are generated from the instructor notebooks: fresh, no solution left, nothing else lost."""
import re

import nbformat
import pytest

from helpers.coursework import authoring
from helpers.colab import REPO_URL, badge_markdown
from tests.conftest import REPO_ROOT
from tests.toycourse import toy_notebook

INSTRUCTOR = authoring.instructor_notebooks()
SOLUTION_WORDS = ("BEGIN SOLUTION", "END SOLUTION", "# SOLUTION")


def solution_lines(nb) -> set[str]:
    """Stripped lines inside solution regions, and lines ending in ``# SOLUTION`` (marker removed)."""
    found, inside = set(), False
    for cell in nb.cells:
        for line in cell.source.splitlines():
            if authoring.BEGIN_RE.match(line) or authoring.MD_BEGIN_RE.match(line):
                inside = True
            elif authoring.END_RE.match(line) or authoring.MD_END_RE.match(line):
                inside = False
            elif inside:
                found.add(line.strip())
            elif authoring.LINE_RE.match(line):
                found.add(authoring.LINE_RE.match(line).group("code").strip())
    return found


def assert_student_version_ok(instructor, student) -> None:
    """No marker and no distinctive solution line survives; every other cell is kept, in order."""
    text = "\n".join(c.source for c in student.cells)
    for word in SOLUTION_WORDS:
        assert word not in text, f"student version still contains {word!r}"
    kept = "\n".join(c.source for c in instructor.cells if not authoring.has_solution(c))
    student_lines = {line.strip() for line in text.splitlines()}
    leaked = {line for line in solution_lines(instructor) if len(line) > 12 and line not in kept and line in student_lines}
    assert not leaked, f"solution lines leaked into the student version: {sorted(leaked)}"
    student_sources = [(c.cell_type, c.source) for c in student.cells]
    position = 0
    setup = next(c for c in instructor.cells if c.cell_type == "code")  # replaced by the course's setup cell
    for cell in instructor.cells:
        if authoring.has_solution(cell) or cell is setup:
            continue
        if authoring.PREMISE_TAG in cell.metadata.get("tags", []):  # instructor only: dropped
            assert (cell.cell_type, cell.source) not in student_sources, f"premise cell {cell.get('id')} shipped"
            continue
        assert (cell.cell_type, cell.source) in student_sources[position:], f"cell {cell.get('id')} is missing or out of order"
        position = student_sources.index((cell.cell_type, cell.source), position) + 1
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_toy_student_version_stubs_every_solution():
    instructor = toy_notebook()
    student = authoring.make_student(instructor, "01_toy")
    assert_student_version_ok(instructor, student)
    sources = [c.source for c in student.cells]
    assert any('raise NotImplementedError("exercise 1.1: implement double")' in s and "    # YOUR CODE HERE" in s for s in sources)
    assert 'answers.choose("p1.q1", ...)  # YOUR CODE HERE\nanswers.fill("p1.q2", ...)  # YOUR CODE HERE' in sources
    assert "### Exercise 1.2 — implement `scale`" in sources and not any("Multiply" in s for s in sources)
    assert student.cells[0].source == badge_markdown("notebooks/exercises/01_toy.ipynb")
    assert 'handin.submit("01_toy", student_id=STUDENT_ID)' in sources[-1]
    assert student.metadata["accelerator"] == "GPU" and "widgets" not in student.metadata


def test_student_setup_cell_checks_exit_codes_and_locked_cells_are_marked():
    student = authoring.make_student(toy_notebook(), "01_toy")
    code = [c for c in student.cells if c.cell_type == "code"]
    setup = code[0]
    assert f'REPO_URL = "{REPO_URL}"' in setup.source and "returncode != 0" in setup.source
    assert 'AnswerSheet("01_toy")' in setup.source and setup.metadata["tags"] == ["setup", "context"]
    locked = {c.source.splitlines()[0]: c.metadata.get("editable", True) for c in code}
    assert locked["import torch"] is False and locked["print(scale(torch.ones(2), 3.0))"] is False
    assert locked["def double(x: int) -> int:"] is True and locked['answers.choose("p1.q1", ...)  # YOUR CODE HERE'] is True
    assert code[-1].metadata.get("editable", True) is True  # the hand-in cell takes the student id


def test_solved_version_keeps_solutions_and_answers():
    student = authoring.make_student(toy_notebook(), "01_toy", only=set(), stub_answers=False)
    text = "\n".join(c.source for c in student.cells)
    assert "result = 2 * x" in text and 'answers.choose("p1.q1", "B")' in text


def test_only_stubs_the_chosen_exercise():
    student = authoring.make_student(toy_notebook(), "01_toy", only={"1.2"})
    text = "\n".join(c.source for c in student.cells)
    assert "result = 2 * x" in text and 'raise NotImplementedError("exercise 1.2: implement scale")' in text


def test_rendering_is_deterministic():
    nb = toy_notebook()
    assert authoring.render(authoring.make_student(nb, "01_toy")) == authoring.render(authoring.make_student(nb, "01_toy"))


@pytest.mark.parametrize("line, stub", [
    ("x = compute(a, b)  # SOLUTION", "x = ...  # YOUR CODE HERE"),
    ("    probs: Tensor = logits.softmax(-1)  # SOLUTION", "    probs: Tensor = ...  # YOUR CODE HERE"),
    ("total += step  # SOLUTION", "total += ...  # YOUR CODE HERE"),
    ("    return a + b  # SOLUTION", "    return ...  # YOUR CODE HERE"),
    ('scores["k2"] = bleu(x)  # SOLUTION', 'scores["k2"] = ...  # YOUR CODE HERE'),
    ("plot(x)  # SOLUTION", "...  # YOUR CODE HERE"),
    ('answers.choose("p5.q1", ["A", "C"])  # SOLUTION', 'answers.choose("p5.q1", ...)  # YOUR CODE HERE'),
    ('answers.fill("p3.q1", 692)  # SOLUTION', 'answers.fill("p3.q1", ...)  # YOUR CODE HERE'),
])
def test_single_line_solution_stub(line, stub):
    assert authoring.stub_line(line) == stub


@pytest.mark.parametrize("source, message", [
    ("# BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n# END SOLUTION", "without a '# BEGIN SOLUTION'"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "inside another"),
    ("total = (first +  # SOLUTION\n         second)", "not valid Python"),
])
def test_bad_markers_name_the_cell(source, message):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# setup"), nbformat.v4.new_code_cell(source)])
    with pytest.raises(authoring.AuthoringError, match=message) as err:
        authoring.make_student(nb, "02_bad")
    assert "02_bad.ipynb cell 2" in str(err.value)


def test_generate_writes_then_reports_fresh_and_removes_orphans(tmp_path):
    source, out = tmp_path / "notebooks", tmp_path / "notebooks" / "exercises"
    source.mkdir()
    nbformat.write(toy_notebook(), source / "01_toy.ipynb")
    readme = tmp_path / "README.md"
    readme.write_text("# Course\n<!-- BADGES START: here -->\nold rows\n<!-- BADGES END -->\nrest\n")
    assert authoring.main(["--source", str(source), "--out", str(out), "--readme", str(readme), "--check"]) == 1
    assert not out.exists()
    assert authoring.generate(source, out, readme=readme) == ["01_toy.ipynb", "README.md (badge table)"]
    assert authoring.generate(source, out, check=True, readme=readme) == []
    assert badge_markdown("notebooks/exercises/01_toy.ipynb") in readme.read_text() and "old rows" not in readme.read_text()
    (source / "01_toy.ipynb").rename(source / "02_toy.ipynb")
    assert authoring.generate(source, out, readme=readme) == [
        "02_toy.ipynb", "README.md (badge table)", "01_toy.ipynb (its instructor notebook is gone)"]
    assert sorted(p.name for p in out.iterdir()) == ["02_toy.ipynb"]


# ----------------------------------------------------------------------------- the real notebooks

def test_the_instructor_notebooks_are_in_the_checkout():
    """They are committed: none found is a broken checkout, not a reason to skip the checks below."""
    assert [p.name[:2] for p in INSTRUCTOR] == [f"{i:02d}" for i in range(1, len(INSTRUCTOR) + 1)] and len(INSTRUCTOR) >= 7


def test_student_notebooks_are_fresh():
    stale = authoring.generate(check=True)
    assert not stale, f"notebooks/exercises/ is stale for {stale}: run `make exercises` and commit the result"


@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.stem)
def test_student_notebook_leaks_no_solution_and_keeps_the_rest(path):
    instructor = nbformat.read(path, as_version=4)
    assert_student_version_ok(instructor, authoring.make_student(instructor, path.stem))


@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.stem)
def test_notebook_follows_the_course_conventions(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    setup = code[0]
    assert "from helpers.handin import AnswerSheet" in setup.source
    assert f'AnswerSheet("{path.stem}")' in setup.source, f'the setup cell must create AnswerSheet("{path.stem}")'
    assert {"setup", "context"} <= set(setup.metadata.get("tags", [])), "tag the setup cell 'setup' and 'context'"
    for index, cell in enumerate(code):
        if authoring.has_solution(cell) and not authoring.ANSWER_CALL_RE.search(cell.source) and not authoring.is_reentered(cell):
            following = " ".join(c.source for c in code[index: index + 4])
            assert "checks." in following, f"exercise cell {cell.get('id')} has no helpers.checks call within the next cells"


def test_readme_has_a_colab_badge_per_student_notebook():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    for path in INSTRUCTOR:
        link = badge_markdown(f"notebooks/exercises/{path.name}")
        assert link in readme, f"README lacks the Open-in-Colab badge of {path.name}: add {link}"
    assert re.search(r"grad\w+ runs student code", readme, re.IGNORECASE), "README must warn that grading runs student code"
