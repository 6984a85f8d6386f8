"""The premise of a question's key: a small claim about values the notebook computes, checked where it runs.

A key that depends on an observation ("layer 20's output is the hidden state the SAE reconstructs best") is only right on a
model where the observation holds. Each such question has, in the instructor notebook and after its answer
cell, a cell tagged ``premise`` (dropped from the student version and the release)::

    from helpers.coursework.premises import premise
    premise("p7.q6", "hidden_states[21] has the smallest FVU of the candidates",
            observed=min(fvu, key=fvu.get), holds=min(fvu, key=fvu.get) == "[21]")

``premise`` prints one line. Where it runs decides what a failure does:

- in nbval (``make test``) and anywhere else: a failed premise raises :class:`PremiseFailed`, so the notebook
  run fails on the backend where the key is wrong;
- under ``make course-check`` (``COURSE_CHECK_REPORT`` names a file): the line is appended to that file as JSON
  and the run goes on, so one run reports every question (``helpers.coursework.course_check``).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from helpers.errors import CourseError

REPORT_ENV = "COURSE_CHECK_REPORT"
MAX_OBSERVED_CHARS = 120


class PremiseFailed(CourseError, AssertionError):
    """A question's key rests on an observation that does not hold on this backend."""


def describe(observed: Any) -> str:
    """A short, stable text of an observed value (floats to 4 significant digits, long texts cut)."""
    if isinstance(observed, float):
        text = "nan" if math.isnan(observed) else f"{observed:.4g}"
    elif isinstance(observed, dict):
        text = "{" + ", ".join(f"{k}: {describe(v)}" for k, v in observed.items()) + "}"
    elif isinstance(observed, (list, tuple)):
        text = "[" + ", ".join(describe(v) for v in observed) + "]"
    else:
        text = str(observed)
    return text if len(text) <= MAX_OBSERVED_CHARS else text[: MAX_OBSERVED_CHARS - 1] + "…"


def premise(qid: str, claim: str, observed: Any, holds: bool) -> bool:
    """Check and report one premise: ``claim`` about ``observed``; ``holds`` is the predicate's value."""
    if not isinstance(holds, bool):
        holds = bool(holds)  # a numpy/torch bool: take its truth value
    if not claim or not qid:
        raise ValueError("premise(qid, claim, observed, holds): name the question and state the claim in words.")
    line = f"premise {qid}: {claim} — observed {describe(observed)}: {'holds' if holds else 'FAILS'}"
    print(line)
    report = os.environ.get(REPORT_ENV)
    if report:
        record = {"qid": qid, "claim": claim, "observed": describe(observed), "holds": holds,
                  "backend": os.environ.get("LAB_BACKEND", "offline"), "dtype": os.environ.get("LAB_DTYPE", "")}
        with Path(report).open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return holds
    if not holds:
        raise PremiseFailed(f"{line}. The key of {qid} is wrong on this backend: rewrite the question so that "
                            "its answer does not depend on this, or change the key.")
    return holds
