"""One base error for the course, built-in bases that say what went wrong, and no `assert` doing a runtime check."""
import ast
import importlib

import pytest

from helpers.errors import CourseError
from tests.conftest import REPO_ROOT

# (module, class, the built-in classes a caller may catch it as)
ERRORS = [
    ("helpers.errors", "BackendError", (RuntimeError,)),
    ("helpers.numerics", "NumericsError", (RuntimeError,)),
    ("helpers.assets", "AssetError", (RuntimeError,)),
    ("helpers.validation", "OutOfRangeError", (IndexError, ValueError)),
    ("helpers.handin", "SubmissionError", (RuntimeError,)),
    ("helpers.handin", "AnswerError", (ValueError,)),
    ("helpers.coursework.authoring", "AuthoringError", (ValueError,)),
    ("helpers.coursework.release", "ReleaseError", (RuntimeError,)),
    ("helpers.coursework.grading.course", "GradingError", (RuntimeError,)),
    ("helpers.coursework.grading.unpack", "UnsafeZipError", (ValueError,)),
    ("helpers.coursework.grading.sandbox", "SandboxError", (RuntimeError,)),
    ("helpers.coursework.grading.gradebook", "RosterError", (ValueError,)),
]


@pytest.mark.parametrize("module, name, builtins", ERRORS, ids=[e[1] for e in ERRORS])
def test_every_course_error_is_a_course_error_and_its_builtin(module, name, builtins):
    error = getattr(importlib.import_module(module), name)
    assert issubclass(error, CourseError)
    for builtin in builtins:
        assert issubclass(error, builtin), f"{name} should be caught by `except {builtin.__name__}`"
    with pytest.raises(CourseError, match="what to fix"):
        raise error("what to fix")


# Raised inside the sandbox only, into the student's code (an exercise calling the library it must implement):
# harness.py runs on the standard library alone until the course is importable, so it cannot derive CourseError.
SANDBOX_ONLY = {("helpers.coursework.grading.harness", "LibraryRuleError")}


def test_every_error_class_of_the_course_is_listed_here():
    """A new ``class XError(...)`` in helpers/ must derive from CourseError (and be added to ERRORS)."""
    listed = {(m, n) for m, n, _ in ERRORS} | SANDBOX_ONLY
    found = set()
    for path in sorted((REPO_ROOT / "helpers").rglob("*.py")):
        rel = path.relative_to(REPO_ROOT)
        if rel.parts[1] == "offline":  # the maintainer's asset builder: not student- or TA-facing
            continue
        module = ".".join(rel.with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error") and node.name != "CourseError":
                found.add((module, node.name))
    assert found == listed


def test_shipped_and_ta_code_uses_no_assert_for_runtime_checks():
    """`python -O` drops asserts: a check that must hold is an `if ...: raise`."""
    offenders = []
    for path in sorted((REPO_ROOT / "helpers").rglob("*.py")):
        rel = path.relative_to(REPO_ROOT)
        if rel.parts[1] == "offline":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assert):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []
