"""A notebook's instructor solutions with the notebook's imports, and hidden cases resolved to real objects.

``solution_namespace(course, name)`` runs, in a fresh namespace, the import statements of the
release notebook's context cells (only the imports: no model loading, no output) and then the
instructor notebook's exercise cells (``grader.exercise_sources``), so every exercise function of
``notebooks/NN_topic.ipynb`` can be called directly. ``resolve(value, objects)`` turns the hidden
cases' ``ref("model")`` / ``make(...)`` placeholders into the given objects and the grader's
makers, as the grading harness does inside its sandbox.
"""
from __future__ import annotations

import copy

from helpers.coursework.grading import grader
from helpers.coursework.grading.makers import MAKERS
from helpers.coursework.grading.spec import Make, Ref
from helpers.coursework.pin_checks.core import solution_namespace  # noqa: F401  (the tests import it from here)


def all_solutions() -> dict:
    """Exercise function name -> the instructor solution, for every notebook with a grading spec."""
    course = grader.load_course()
    found = {}
    for name in course.specs:
        namespace = solution_namespace(course, name)
        found.update({fn: namespace[fn] for fn in course.functions(name)})
    return found


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
