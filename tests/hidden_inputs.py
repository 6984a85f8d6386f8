"""A notebook's instructor solutions with the notebook's imports, and hidden cases resolved to real objects.

``solution_namespace(course, name)`` runs, in a fresh namespace, the import statements of the
release notebook's context cells (only the imports: no model loading, no output) and then the
instructor notebook's exercise cells (``grader.exercise_sources``), so every exercise function of
``notebooks/NN_topic.ipynb`` can be called directly. ``resolve(value, objects)`` turns the hidden
cases' ``ref("model")`` / ``make(...)`` placeholders into the given objects and the grader's
makers, as the grading harness does inside its sandbox.
"""
from __future__ import annotations

import ast
import copy

from helpers.coursework.grading import grader
from helpers.coursework.grading.makers import MAKERS
from helpers.coursework.grading.spec import Make, Ref


def _imports_only(source: str) -> str:
    """The top-level ``import`` / ``from … import`` statements of a cell (IPython magics dropped)."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    keep = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return ast.unparse(ast.Module(body=keep, type_ignores=[]))


def solution_namespace(course: grader.Course, name: str) -> dict:
    """The namespace of notebook ``name`` after its context imports and its instructor exercise cells."""
    namespace: dict = {"__name__": f"solutions_{name[:2]}"}
    for source in grader.context_sources(course.release[name]):
        exec(compile(_imports_only(source), f"{name} context", "exec"), namespace)
    for source in grader.exercise_sources(course.instructor[name], course.functions(name)):
        exec(compile(source, f"{name} solutions", "exec"), namespace)
    return namespace


def resolve(value, objects: dict):
    """``value`` (a hidden case's args) with ``Ref`` -> ``objects[name]`` and ``Make`` -> ``MAKERS[name](...)``, on a copy."""
    if isinstance(value, Ref):
        return objects[value.name]
    if isinstance(value, Make):
        return MAKERS[value.name](*[resolve(a, objects) for a in value.args],
                                  **{k: resolve(v, objects) for k, v in value.kwargs.items()})
    if isinstance(value, tuple):
        return tuple(resolve(v, objects) for v in value)
    if isinstance(value, list):
        return [resolve(v, objects) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, objects) for k, v in value.items()}
    return copy.deepcopy(value)
