"""Learning objectives: every numbered content section (`## 1.1 …`, `## 4.1–4.2 …`, `## 3 · …`) of an instructor
notebook says once, right under its heading, what a student can do after it, in one fixed form (AUTHORING.md,
"Skeleton of every notebook"); nothing else (no Careful box) repeats it; the student versions keep those lines."""
import re

import nbformat
import pytest

from helpers.coursework import authoring

INSTRUCTOR = authoring.instructor_notebooks()
PREFIX = "**Objectives.** After this section you can: "
# "## 1.1 Title", "## 4.1–4.2 Title", "## 8.3–8.4 Title", "## 3 · Title"; not "## Questions" or "## Three rounds"
NUMBERED = re.compile(r"^## \d+(?:\.\d+)?(?:[–-]\d+(?:\.\d+)?)?(?: ·)? (?P<title>\S.*)$")
NOT_CONTENT = ("key concepts", "questions", "discussion")


def _paragraph(lines, start):
    """The paragraph from lines[start] on (a blockquote's '> ' removed), as one string."""
    text = []
    for line in lines[start:]:
        line = line[2:] if line.startswith("> ") else line
        if not line.strip() or line.strip() == ">":
            break
        text.append(line.strip())
    return " ".join(text)


def _next_nonblank(lines, index, step):
    index += step
    while 0 <= index < len(lines) and not lines[index].strip():
        index += step
    return index if 0 <= index < len(lines) else None


def objective_problems(cells) -> list[str]:
    """What is missing, malformed or repeated ([] when every numbered section has its one objectives line).

    The line is the first paragraph under the section's heading; no other line in the notebook (a Careful box
    included) states objectives, so a section says once what a student can do after it.
    """
    problems = []
    for number, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        lines = cell["source"].split("\n")
        allowed = set()
        for index, line in enumerate(lines):
            heading = NUMBERED.match(line)
            if heading and not heading["title"].lower().startswith(NOT_CONTENT):
                below = _next_nonblank(lines, index, +1)
                paragraph = _paragraph(lines, below) if below is not None else ""
                problems += _malformed(paragraph, f"cell {number} {line!r}")
                if below is not None:
                    allowed.add(below)
        for index, line in enumerate(lines):
            if PREFIX.strip() in line and index not in allowed:
                where = "a Careful box" if line.startswith(">") else "text"
                problems.append(f"cell {number}: an objectives line in {where} ({line[:50]!r}): one per section, "
                                "right under its numbered heading")
    return problems


def _malformed(paragraph, where):
    if not paragraph.startswith(PREFIX):
        return [f"{where}: the first line under the heading must start with {PREFIX.strip()!r}"]
    clauses = paragraph[len(PREFIX):].split("; ")
    if not paragraph.endswith(".") or not 2 <= len(clauses) <= 3 or not all(c.strip() for c in clauses):
        return [f"{where}: write 2–3 clauses separated by '; ' and end with '.': {paragraph!r}"]
    return []


@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.stem)
def test_every_numbered_section_states_its_objectives_once(path):
    nb = nbformat.read(path, as_version=4)
    assert any(NUMBERED.match(line) for c in nb.cells if c.cell_type == "markdown" for line in c.source.split("\n"))
    problems = objective_problems(nb.cells)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.stem)
def test_student_version_keeps_the_objectives(path):
    instructor = nbformat.read(path, as_version=4)
    student = authoring.make_student(instructor, path.stem)
    wanted = [line for c in instructor.cells if c.cell_type == "markdown" for line in c.source.split("\n")
              if PREFIX in line]
    kept = {line for c in student.cells if c.cell_type == "markdown" for line in c.source.split("\n")}
    assert wanted and not [line for line in wanted if line not in kept]


def _md(text):
    return nbformat.v4.new_markdown_cell(text)


def test_the_check_names_a_missing_malformed_or_repeated_objectives_line():
    good = f"## 1.1 Title\n\n{PREFIX}do one thing; do another.\n\nText."
    box = "> **Careful — a trap.** Text\n> more text."
    assert objective_problems([_md(good), _md("## Questions\n\nNone."), _md("## Three rounds\n\nNone."),
                               _md(box), _md(f"## 6 · Box section\n\n{PREFIX}a; b.\n\n> **Careful — x.** y")]) == []
    assert "4.1–4.2" in objective_problems([_md("## 4.1–4.2 Filters\n\nText.")])[0]
    assert "3 · Words" in objective_problems([_md("## 3 · Words\n\nText.")])[0]
    assert "Careful box" in objective_problems([_md(f"Text.\n\n> **Careful — a trap.** Text.\n>\n> {PREFIX}a; b.")])[0]
    assert "in text" in objective_problems([_md(f"## 1.1 T\n\n{PREFIX}a; b.\n\nMore.\n\n{PREFIX}c; d.")])[0]
    assert len(objective_problems([_md(f"## 1.1 T\n\n{PREFIX}a; b.\n\nMore.\n\n{PREFIX}c; d.")])) == 1
    assert objective_problems([_md(f"Intro.\n\n{PREFIX}a; b.")])  # no heading above it
    assert "2–3 clauses" in objective_problems([_md(f"## 1.2 T\n\n{PREFIX}only one thing.")])[0]
    assert "2–3 clauses" in objective_problems([_md(f"## 1.2 T\n\n{PREFIX}a; b")])[0]
