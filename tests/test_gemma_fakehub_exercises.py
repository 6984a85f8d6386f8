"""Every notebook's instructor solutions on the gemma code path (fake hub cache), in float32, float16 and bfloat16.

``LAB_BACKEND=gemma``, ``HF_HUB_OFFLINE=1`` and a fake token, as in ``tests/test_gemma_fakehub.py``;
``LAB_DTYPE`` picks float32 (a CPU, or any GPU with ``LAB_DTYPE=float32``), float16 (what a T4
gets) or bfloat16 (A100, L4, H100). Each exercise function is called on the inputs of its hidden
cases (``grading/cases``), with ``ref("model")`` etc. resolved to the gemma-path objects. Every
dtype must run every case without an error or a NaN; float16 must agree with float32 within a
tolerance that fits half precision (``1e-2`` on probabilities and attention weights, relative
``2e-2`` on hidden states and SAE activations), bfloat16 (3 significant bits fewer) within 8 times
that; generated text and ids must be the same on most cases (half precision may flip a near-tie of
a greedy step, and then the rest of the text). The fake token never appears in any output.

``python -m tests.test_gemma_fakehub_exercises`` prints the per-notebook table.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pytest

from helpers import backend, colab, hub
from helpers.coursework.grading import grader
from helpers.coursework.grading.compare import decode
from helpers.coursework.grading.harness import to_plain
from tests.fakehub import build_fake_hub, fake_hf_token
from tests.hidden_inputs import resolve, solution_namespace

DTYPES = ("float32", "float16", "bfloat16")
HALF = {"float16": 1.0, "bfloat16": 8.0}  # half dtype -> its tolerance in units of float16's
# float16 keeps ~3 significant digits; over 26 layers the error of a hidden state grows to ~1e-2 relative.
# A float16 number agrees with float32 when |half - full| <= ABS_TOL + REL_TOL * |full|.
ABS_TOL = 1e-2  # probabilities, attention weights, scores of order 1
REL_TOL = 2e-2  # hidden states, SAE activations (values up to ~60)
MIN_SAME_TEXT = 0.75  # share of outputs with text or ids that must agree in float16 and float32


@dataclass
class Run:
    out: object  # harness.to_plain of the output, None on error
    error: str | None
    seconds: float


@dataclass
class CourseRuns:
    runs: dict  # (dtype, notebook, function, case) -> Run
    printed: str  # everything written to stdout/stderr, logs and warnings while loading and running
    token: str
    seconds: dict  # dtype -> seconds (loading + every case)


def _gemma_env(mp: pytest.MonkeyPatch, home, token: str) -> None:
    """The gemma backend over the fake hub cache: offline hub, a fresh model cache, ``token`` in ``HF_TOKEN``."""
    from huggingface_hub import constants

    for name, value in (("LAB_BACKEND", "gemma"), ("HF_HUB_OFFLINE", "1"), ("HF_HOME", str(home)),
                        ("HF_HUB_CACHE", str(home / "hub")), ("HF_TOKEN", token)):
        mp.setenv(name, value)
    mp.setattr(constants, "HF_HOME", str(home))
    mp.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    mp.setattr(constants, "HF_HUB_OFFLINE", True)
    mp.setattr(colab, "in_colab", lambda: False)
    mp.setattr(backend, "_CACHE", {})

    def no_network(*args, **kwargs):
        raise AssertionError("HF_HUB_OFFLINE=1: the backend must not probe the hub")

    mp.setattr(hub, "probe_hub", no_network)


def run_course(home, course: grader.Course) -> CourseRuns:
    """Load the gemma-path models in each dtype and call every exercise on its hidden cases' inputs."""
    import torch

    token = fake_hf_token()
    runs: dict = {}
    seconds: dict = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the offline backend: tiny models, and 2 cores shared with other jobs
    printed = io.StringIO()
    handler = logging.StreamHandler(printed)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings(record=True) as caught, \
                contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            warnings.simplefilter("always")
            _gemma_env(mp, home, token)
            namespaces = {name: solution_namespace(course, name) for name in course.specs}
            for dtype in DTYPES:
                start = time.perf_counter()
                mp.setenv("LAB_DTYPE", dtype)
                model, tokenizer = backend.load_lm()
                assert str(model.dtype) == f"torch.{dtype}", model.dtype
                objects = {"model": model, "tokenizer": tokenizer, "cross_encoder": backend.load_cross_encoder(),
                           "sae": backend.load_sae()}
                for name in course.specs:
                    for test in course.tests[name]:
                        fn = namespaces[name][test.function]
                        began = time.perf_counter()
                        try:
                            out, error = to_plain(fn(*resolve(test.case.args, objects),
                                                     **resolve(test.case.kwargs, objects))), None
                        except Exception as err:  # reported by the tests below
                            out, error = None, f"{type(err).__name__}: {str(err)[:300]}"
                        runs[(dtype, name, test.function, test.case.name)] = Run(out, error, time.perf_counter() - began)
                seconds[dtype] = time.perf_counter() - start
                backend.free_memory()
            printed.write("\n".join(str(w.message) for w in caught))
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        torch.set_num_threads(threads)
    return CourseRuns(runs, printed.getvalue(), token, seconds)


def _has_nan(value) -> bool:
    value = decode(value)
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "f" and bool(np.isnan(value).any())
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, (list, tuple)):
        return any(_has_nan(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    return False


def _floats_only(value) -> bool:
    """True when the output holds no strings and no integer arrays (numbers a tolerance applies to)."""
    value = decode(value)
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "f"
    if isinstance(value, str):
        return False
    if isinstance(value, (list, tuple)):
        return all(_floats_only(v) for v in value)
    if isinstance(value, dict):
        return all(_floats_only(v) for v in value.values())
    return isinstance(value, float)


def _max_error(half, full) -> float:
    """Largest |half - full| / (ABS_TOL + REL_TOL * |full|) over the numbers of two outputs of the same structure:
    at most 1 where float16 agrees with float32 (8 for bfloat16); inf where a string, an id or the structure differs."""
    half, full = decode(half), decode(full)
    if isinstance(full, np.ndarray) or isinstance(half, np.ndarray):
        try:
            a, b = np.asarray(half, dtype=np.float64), np.asarray(full, dtype=np.float64)
        except (TypeError, ValueError):
            return math.inf
        if a.shape != b.shape:
            return math.inf
        both = np.isfinite(a) & np.isfinite(b)
        if (np.isfinite(a) != np.isfinite(b)).any() or (a[~both] != b[~both]).any():
            return math.inf  # removed logits (-inf) must be the same ones
        if b.dtype.kind in "iub" or np.asarray(full).dtype.kind in "iub":
            return 0.0 if np.array_equal(a, b) else math.inf  # ids: exactly
        return float((np.abs(a[both] - b[both]) / (ABS_TOL + REL_TOL * np.abs(b[both]))).max(initial=0.0))
    if isinstance(full, (list, tuple)):
        if not isinstance(half, (list, tuple)) or len(half) != len(full):
            return math.inf
        return max((_max_error(h, f) for h, f in zip(half, full)), default=0.0)
    if isinstance(full, dict):
        if not isinstance(half, dict) or set(half) != set(full):
            return math.inf
        return max((_max_error(half[k], full[k]) for k in full), default=0.0)
    if isinstance(full, float) and isinstance(half, (int, float)) and not isinstance(half, bool):
        if math.isinf(full) or math.isinf(half):
            return 0.0 if half == full else math.inf
        return abs(half - full) / (ABS_TOL + REL_TOL * abs(full))
    return 0.0 if half == full else math.inf


def agreement(course: grader.Course, runs: CourseRuns, name: str, dtype: str = "float16") -> dict:
    """``dtype`` (float16 or bfloat16) against float32 for one notebook: per case the error in units of the
    dtype's tolerance, whether it agrees, whether the grader's own comparison passes."""
    rows = []
    for test in course.tests[name]:
        key = (name, test.function, test.case.name)
        full, half = runs.runs[("float32",) + key], runs.runs[(dtype,) + key]
        if full.error or half.error:
            rows.append({"case": key, "error": full.error or half.error})
            continue
        compare = test.case.compare
        if compare is None:
            from helpers.coursework.grading.compare import allclose

            compare = allclose()
        grader_ok = bool(compare(half.out, full.out)[0])
        error = _max_error(half.out, full.out) / HALF[dtype]
        rows.append({"case": key, "numeric": _floats_only(full.out), "error": error, "grader_ok": grader_ok,
                     "agree": error <= 1.0, "seconds": full.seconds + half.seconds})
    return {"rows": rows}


def table(course: grader.Course, runs: CourseRuns) -> str:
    """One line per notebook: cases; float16 agreeing with float32 (outputs with text/ids; numeric outputs and their
    largest error in units of the tolerance); cases the grader's own comparison accepts; seconds (both dtypes)."""
    lines = [f"{'dtype':8} {'notebook':26} {'cases':>5} {'text/ids agree':>14} {'numbers agree':>13} {'err/tol':>7} "
             f"{'grader cmp':>10} {'s':>5}"]
    for dtype, name in [(d, n) for d in HALF for n in course.specs]:
        rows = agreement(course, runs, name, dtype)["rows"]
        errors = [r for r in rows if isinstance(r["error"], str)]
        ok = [r for r in rows if r not in errors]
        texts = [r for r in ok if not r["numeric"]]
        numbers = [r for r in ok if r["numeric"]]
        lines.append(f"{dtype:8} {name:26} {len(rows):5d} {sum(r['agree'] for r in texts):7d} of {len(texts):3d} "
                     f"{sum(r['agree'] for r in numbers):6d} of {len(numbers):3d} "
                     f"{max((r['error'] for r in numbers), default=0.0):7.3f} "
                     f"{sum(r['grader_ok'] for r in ok):3d} of {len(ok):3d} {sum(r['seconds'] for r in ok):5.1f}"
                     + (f"  ERRORS: {len(errors)}" if errors else ""))
    lines.append("load + run seconds: " + ", ".join(f"{d} {s:.1f}" for d, s in runs.seconds.items()))
    return "\n".join(lines)


@pytest.fixture(scope="module")
def course():
    return grader.load_course()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, course):
    home = tmp_path_factory.mktemp("hf_home_exercises")
    build_fake_hub(home)
    return run_course(home, course)


NOTEBOOKS = sorted(grader.load_spec())


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_solution_runs_without_error_or_nan_in_both_dtypes(course, runs, name):
    for test in course.tests[name]:
        for dtype in DTYPES:
            run = runs.runs[(dtype, name, test.function, test.case.name)]
            assert run.error is None, f"{dtype} {test.function} / {test.case.name}: {run.error}"
            assert not _has_nan(run.out), f"{dtype} {test.function} / {test.case.name}: NaN in the output"


@pytest.mark.parametrize("name", NOTEBOOKS)
@pytest.mark.parametrize("dtype", list(HALF))
def test_half_precision_agrees_with_float32(course, runs, name, dtype):
    rows = agreement(course, runs, name, dtype)["rows"]
    assert not [r for r in rows if isinstance(r["error"], str)], "errors: see the test above"
    for row in rows:
        if row["numeric"]:
            assert row["agree"], (f"{row['case']}: {dtype} differs from float32 by {row['error']:.3g} × the tolerance "
                                  f"({HALF[dtype]:g} × ({ABS_TOL} + {REL_TOL} × |value|))")
    texts = [r for r in rows if not r["numeric"]]
    if texts:
        agree = sum(r["agree"] for r in texts)
        assert agree >= MIN_SAME_TEXT * len(texts), (
            f"{name}: only {agree} of {len(texts)} outputs with text or ids agree in {dtype} and float32: "
            + ", ".join(str(r["case"][1:]) for r in texts if not r["agree"]))


def test_the_fake_token_never_appears(runs):
    dumped = json.dumps({"|".join(k): r.out for k, r in runs.runs.items()}, default=str)
    assert runs.token not in dumped, "the HF token appears in an exercise's output"
    assert runs.token not in runs.printed, "the HF token appears in printed output, a log or a warning"


if __name__ == "__main__":  # python -m tests.test_gemma_fakehub_exercises: the table, without pytest
    import tempfile
    from pathlib import Path

    loaded = grader.load_course()
    with tempfile.TemporaryDirectory() as tmp:
        build_fake_hub(Path(tmp))
        print(table(loaded, run_course(Path(tmp), loaded)))
