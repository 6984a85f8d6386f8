"""What a student sees must make them think: hints never show the solution's code, a notebook's prose is short, and
an exercise's points follow its effort.

Hints come in tiers (AUTHORING.md, "Hints"): tier 1 the idea, tier 2 the API — function and argument names and
shapes — never a line of the solution. The check compares every piece of code a student can read in a notebook's
markdown (inline code and code blocks) with the pieces of that notebook's solution code: a call with arguments, an
expression built from operators, a subscript, an assignment, a keyword argument with a computed value, a lambda or
a comprehension. A shown call also leaks when it names a solution call's function and every argument it shows is
one of that call's arguments (``generate(ids, max_new_tokens=...)`` against the solution's full call).
"""
import ast
import functools
import json
import re
import textwrap

import nbformat
import pytest

from helpers.coursework import authoring
from helpers.coursework.grading.course import GradingError, load_spec, points_for

INSTRUCTOR = authoring.instructor_notebooks()
MAX_WORDS = 2000


@functools.lru_cache(maxsize=None)
def _versions(path):
    """``(instructor, student)`` notebooks of ``path``, made once for the module's tests (they only read them)."""
    instructor = nbformat.read(path, as_version=4)
    return instructor, authoring.make_student(instructor, path.stem)
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
FENCED = re.compile(r"```[a-zA-Z]*\n(.*?)```", re.DOTALL)
PIECES = (ast.Call, ast.BinOp, ast.BoolOp, ast.Compare, ast.Subscript, ast.Assign, ast.AugAssign, ast.AnnAssign,
          ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.IfExp, ast.UnaryOp)


def _parse(code: str):
    """A syntax tree of ``code`` (an expression, statements or an indented function body), or None."""
    code = textwrap.dedent(code).strip()
    for attempt in (code, code.rstrip(":") + ": pass" if code.endswith(":") else None):
        if attempt is None:
            continue
        try:
            return ast.parse(attempt)
        except SyntaxError:
            continue
    return None


def _is_ellipsis(node) -> bool:
    return isinstance(node, ast.Constant) and node.value is Ellipsis


def _constant(node) -> bool:
    """A name, a literal or a negated literal (``dim=-1``, ``dtype=torch.bool``): an argument's value, not code."""
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    return isinstance(node, (ast.Constant, ast.Name, ast.Attribute))


def _trivial(node) -> bool:
    """A piece too small to be the solution: ``f()``, ``-1``, ``x[0]`` with a literal, a call of only ``...``."""
    if isinstance(node, ast.UnaryOp):
        return _constant(node)
    if isinstance(node, ast.Call):
        shown = [a for a in node.args if not _is_ellipsis(a)] + [k for k in node.keywords
                                                                 if not _is_ellipsis(k.value)]
        return not shown
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) or isinstance(node.slice, ast.Name)
    return False


def pieces(tree) -> set[str]:
    """The code pieces of ``tree`` as normalized source (``ast.unparse``), small ones left out."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, PIECES) and not _trivial(node):
            found.add(ast.unparse(node))
        elif isinstance(node, ast.keyword) and node.arg and not _constant(node.value):
            found.add(f"{node.arg}={ast.unparse(node.value)}")
    return found


def _calls(tree) -> dict[str, list[ast.Call]]:
    calls: dict[str, list[ast.Call]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            calls.setdefault(ast.unparse(node.func).split(".")[-1], []).append(node)
    return calls


def _shown_arguments(call: ast.Call) -> set[str]:
    return ({ast.unparse(a) for a in call.args if not _is_ellipsis(a)}
            | {f"{k.arg}={ast.unparse(k.value)}" for k in call.keywords if not _is_ellipsis(k.value)})


def leaks(shown_code: str, solution_trees: list) -> list[str]:
    """The pieces of ``shown_code`` that are pieces of the solution ([] when it shows only names and shapes)."""
    tree = _parse(shown_code)
    if tree is None:
        return []
    solution_pieces = set().union(*(pieces(t) for t in solution_trees)) if solution_trees else set()
    found = sorted(pieces(tree) & solution_pieces)
    solution_calls: dict[str, list[ast.Call]] = {}
    for t in solution_trees:
        for name, calls in _calls(t).items():
            solution_calls.setdefault(name, []).extend(calls)
    for name, calls in _calls(tree).items():
        for call in calls:
            shown = _shown_arguments(call)
            if shown and any(shown <= _shown_arguments(s) for s in solution_calls.get(name, [])):
                found.append(ast.unparse(call))
    return sorted(set(found))


def solution_code(nb) -> list[str]:
    """Every solution region of the notebook's code cells (``# BEGIN/END SOLUTION`` blocks, ``# SOLUTION`` lines)."""
    regions = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        block, inside = [], False
        for line in cell.source.splitlines():
            if authoring.BEGIN_RE.match(line):
                block, inside = [], True
            elif authoring.END_RE.match(line):
                regions.append("\n".join(block))
                inside = False
            elif inside:
                block.append(line)
            else:
                single = authoring.LINE_RE.match(line)
                if single:
                    regions.append(single.group("code").strip())
    return regions


def shown_code(nb) -> list[tuple[int, str]]:
    """``(cell index, code)`` for every inline code span and code block in the student version's markdown."""
    shown = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        text = cell.source
        shown += [(index, block) for block in FENCED.findall(text)]
        shown += [(index, span) for span in INLINE.findall(FENCED.sub("", text))]
    return shown


def hint_leaks(instructor_nb, name: str, student=None) -> list[str]:
    trees = [t for t in (_parse(code) for code in solution_code(instructor_nb)) if t is not None]
    student = student if student is not None else authoring.make_student(instructor_nb, name)
    return [f"cell {index}: `{code.strip()[:80]}` shows {', '.join(found)}"
            for index, code in shown_code(student) if (found := leaks(code, trees))]


def prose_words(nb) -> int:
    """Words of the student version's markdown, code blocks left out (inline code counts as words)."""
    return sum(len(FENCED.sub("", c.source).split()) for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.stem)
def test_no_student_visible_text_shows_a_piece_of_the_solution(path):
    instructor, student = _versions(path)
    problems = hint_leaks(instructor, path.stem, student)
    assert not problems, f"{path.name}: say the API (names, arguments, shapes), not the code:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.stem)
def test_student_prose_is_at_most_2000_words(path):
    student = _versions(path)[1]
    assert prose_words(student) <= MAX_WORDS, f"{path.name}: {prose_words(student)} words of markdown"


SOLUTION = textwrap.dedent("""
    def answer(model, tokenizer, input_ids, max_new_tokens):
        out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=max_new_tokens,
                             do_sample=False, eos_token_id=[1, 107])
        new = out[0, input_ids.shape[1]:]
        return tokenizer.decode(new, skip_special_tokens=True).strip()
""")


@pytest.mark.parametrize("shown", [
    "model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=max_new_tokens)",
    "generate(input_ids, do_sample=False)",                      # a part of the call's arguments
    "out[0, input_ids.shape[1]:]",                               # the slice
    "new = out[0, input_ids.shape[1]:]",                         # an assignment whose value is a piece
    "torch.ones_like(input_ids)",                                # a nested call
    "tokenizer.decode(new, skip_special_tokens=True)",
    "x = 1\nnew = out[0, input_ids.shape[1]:]\n",                # inside a code block
])
def test_a_shown_piece_of_the_solution_is_found(shown):
    assert leaks(shown, [ast.parse(SOLUTION)])


@pytest.mark.parametrize("shown", [
    "model.generate", "tokenizer.decode", "skip_special_tokens", "eos_token_id", "[1, T]", "[1, T + new]",
    "do_sample=False", "torch.long", "generate(..., max_new_tokens=...)", "model.generate(inputs, top_k=5)",
    "<end_of_turn>", "hidden_states[24]", "x ** 2", "input_ids.shape[1]",
])
def test_names_arguments_and_shapes_are_not_leaks(shown):
    assert leaks(shown, [ast.parse(SOLUTION)]) == []


def test_hint_leaks_reads_the_student_version_only():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("### Exercise 1.1 — implement `f`\n\nUse `torch.where(x > t, x, 0)`."),
        nbformat.v4.new_code_cell("def f(x, t):\n    # BEGIN SOLUTION\n    return torch.where(x > t, x, 0)\n"
                                  "    # END SOLUTION\n"),
        nbformat.v4.new_markdown_cell("<!-- BEGIN SOLUTION -->\n`x > t`\n<!-- END SOLUTION -->"),
    ]
    found = hint_leaks(nb, "01_toy")
    assert len(found) == 1 and "torch.where(x > t, x, 0)" in found[0] and "Use" not in found[0]
    nb.cells[0].source = "### Exercise 1.1 — implement `f`\n\n`torch.where` takes a condition and two values."
    assert hint_leaks(nb, "01_toy") == []


# ----------------------------------------------------------------------------- points follow effort

EFFORT = re.compile(r"^(?P<stars>[★☆]{3}) difficulty · (?P<dots>[●○]{3}) importance · about (?P<minutes>\d+) minutes$")


def _efforts(nb) -> list[tuple[str, int, int, int]]:
    """``(exercise, difficulty, importance, minutes)`` as the notebook's exercise headings show them."""
    found, number = [], None
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            heading = authoring.EXERCISE_RE.search(line) if line.startswith("#") else None
            if heading:
                number = heading.group(1)
            effort = EFFORT.match(line.strip())
            if effort and number:
                found.append((number, effort["stars"].count("★"), effort["dots"].count("●"), int(effort["minutes"])))
    return found


@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.stem)
def test_points_follow_the_effort_the_notebook_shows(path):
    spec = load_spec()[path.stem]["exercises"]
    shown = _efforts(_versions(path)[0])
    assert sorted(n for n, *_ in shown) == sorted(spec), f"{path.name}: one effort line under each exercise heading"
    for number, difficulty, importance, minutes in shown:
        ex = spec[number]
        assert (ex["difficulty"], ex["importance"], ex["minutes"]) == (difficulty, importance, minutes), number
        assert ex["points"] == points_for(difficulty, minutes), number


def test_points_grow_with_minutes_and_difficulty():
    grid = [(d, m) for d in (1, 2, 3) for m in range(5, 95, 5)]
    for d, m in grid:
        for d2, m2 in grid:
            if d2 >= d and m2 >= m:
                assert points_for(d2, m2) >= points_for(d, m)
    assert points_for(3, 40) > points_for(3, 20) > points_for(2, 20) > points_for(1, 10) >= 1


def _spec_dir(tmp_path, **exercise):
    spec = {"notebook": "01_toy", "timeout_s": 60, "questions": {},
            "exercises": {"1.1": {"function": "f", **exercise}}}
    (tmp_path / "01_toy.json").write_text(json.dumps(spec))
    return tmp_path


@pytest.mark.parametrize("exercise,message", [
    ({"points": 2, "difficulty": 1, "minutes": 10}, "give 1"),
    ({"points": 1, "difficulty": 3, "minutes": 40}, "give 5"),
    ({"points": 1, "difficulty": 4, "minutes": 10}, "use 1, 2 or 3"),
    ({"points": 1, "difficulty": True, "minutes": 10}, "use 1, 2 or 3"),
    ({"points": 1, "difficulty": 1}, "minutes None"),
    ({"points": 1, "minutes": 10}, "difficulty None"),
    ({"points": 1, "difficulty": 1, "minutes": 0}, "positive whole number"),
])
def test_the_spec_check_rejects_points_that_do_not_follow_effort(tmp_path, exercise, message):
    with pytest.raises(GradingError, match=re.escape(message)):
        load_spec(_spec_dir(tmp_path, **exercise))


def test_the_spec_check_accepts_points_that_follow_effort(tmp_path):
    for difficulty, minutes, points in ((1, 5, 1), (1, 19, 1), (1, 20, 2), (2, 15, 2), (3, 40, 5)):
        spec = load_spec(_spec_dir(tmp_path, points=points, difficulty=difficulty, minutes=minutes))
        assert spec["01_toy"]["exercises"]["1.1"]["points"] == points
