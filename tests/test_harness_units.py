"""The grading harness (helpers/coursework/grading/harness.py) run in this process, on small jobs.

In a real grading run the harness is a subprocess inside bubblewrap (tests/test_grading.py), where coverage
does not see it. Here the same functions run in-process: ``to_plain`` on every kind of output, ``emit``,
``resolve``/``reference_object`` with stand-in loaders, ``run_cell``/``run_notebook`` with a real IPython shell
(cell errors, time limits, undefined functions, outputs the grader cannot read) and ``main`` end to end
through a pipe. Expected records are written out by hand.
"""
import dataclasses
import fcntl
import gc
import json
import math
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.coursework.grading import harness

GRADING_DIR = Path(harness.__file__).resolve().parent


# ----------------------------------------------------------------------------- to_plain


def nested(depth: int):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


@dataclasses.dataclass
class Point:
    x: int
    label: str
    weights: tuple


class FakeNumpyScalar:
    """Has ``item`` and says it comes from numpy, but no dtype/shape (the last numpy branch)."""

    __module__ = "numpy"

    def item(self):
        return 7


@pytest.mark.parametrize("value, plain", [
    (None, None), (True, True), (0, 0), (-3, -3), ("é", "é"), (2.5, 2.5),
    (math.inf, {"__float__": "inf"}), (-math.inf, {"__float__": "-inf"}), (math.nan, {"__float__": "nan"}),
    ((1, (2, 3)), [1, [2, 3]]),
    ({1: "a", "b": (None,)}, {"1": "a", "b": [None]}),
    (Point(1, "p", (0.5,)), {"x": 1, "label": "p", "weights": [0.5]}),
    (torch.tensor([0.5, -1.0]), {"__array__": [0.5, -1.0], "dtype": "float32", "shape": [2]}),
    (torch.tensor([[1, 2]]), {"__array__": [[1, 2]], "dtype": "int64", "shape": [1, 2]}),
    (torch.tensor([0.25], dtype=torch.float16), {"__array__": [0.25], "dtype": "float16", "shape": [1]}),
    (torch.tensor([True, False]), {"__array__": [True, False], "dtype": "bool", "shape": [2]}),
    (torch.tensor([[math.inf], [math.nan]]),
     {"__array__": [[{"__float__": "inf"}], [{"__float__": "nan"}]], "dtype": "float32", "shape": [2, 1]}),
    (torch.ones(2, requires_grad=True) * 3, {"__array__": [3.0, 3.0], "dtype": "float32", "shape": [2]}),
    (np.array([[1.5, -math.inf]]), {"__array__": [[1.5, {"__float__": "-inf"}]], "dtype": "float64", "shape": [1, 2]}),
    (np.array([1, 2], dtype=np.int32), {"__array__": [1, 2], "dtype": "int32", "shape": [2]}),
    (np.array(4.0), 4.0), (np.float32(0.5), 0.5), (np.int64(3), 3), (np.bool_(True), True),
    (FakeNumpyScalar(), 7),
    (nested(20), nested(20)),
])
def test_outputs_become_plain_json(value, plain):
    got = harness.to_plain(value)
    assert got == plain or (got != got and plain != plain)
    json.dumps(got, allow_nan=False)  # every plain value is strict JSON
    assert type(got) is type(plain)


def test_float_tensors_are_sent_in_double_precision():
    got = harness.to_plain(torch.tensor([0.1]))
    assert got["__array__"] == [0.10000000149011612]  # float32's 0.1, exactly, not rounded to a short repr


@pytest.mark.parametrize("value, error, words", [
    (nested(21), ValueError, "nested too deeply"),
    ("x" * 100_001, ValueError, "output string of 100001 characters is too long"),
    (object(), TypeError, "the function returned a object, which the grader cannot read"),
    (Point, TypeError, "the function returned a type, which the grader cannot read"),
    ({1, 2}, TypeError, "the function returned a set"),
    (b"bytes", TypeError, "the function returned a bytes"),
])
def test_outputs_the_grader_cannot_read_are_refused(value, error, words):
    with pytest.raises(error) as info:
        harness.to_plain(value)
    assert words in str(info.value)


def test_the_longest_allowed_string_passes():
    assert harness.to_plain("y" * 100_000) == "y" * 100_000


@pytest.mark.parametrize("make, words", [
    (lambda n: torch.zeros(n), "output tensor of shape (5,) is too large"),
    (lambda n: np.zeros(n), "output array of shape (5,) is too large"),
    (lambda n: [0] * n, "output list is too long"),
    (lambda n: tuple(range(n)), "output list is too long"),
])
def test_size_limits_at_the_boundary(monkeypatch, make, words):
    monkeypatch.setattr(harness, "MAX_ELEMENTS", 4)
    assert harness.to_plain(make(4)) is not None
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        harness.to_plain(make(5))


def test_non_finite_floats_are_encoded_at_any_depth():
    assert harness._finite([1.0, [math.inf, [math.nan, 2]], "x"]) == [
        1.0, [{"__float__": "inf"}, [{"__float__": "nan"}, 2]], "x"]
    assert harness._finite(-math.inf) == {"__float__": "-inf"} and harness._finite(3) == 3


# ----------------------------------------------------------------------------- emit


class Sink:
    def __init__(self):
        self.text, self.flushes = "", 0

    def write(self, text):
        self.text += text

    def flush(self):
        self.flushes += 1


def test_emit_writes_one_json_line_and_flushes_it():
    sink = Sink()
    h = harness.Harness({}, sink)
    h.emit({"nb": "01", "out": "é"})
    h.emit({"done": True})
    assert sink.text == '{"nb": "01", "out": "é"}\n{"done": true}\n' and sink.flushes == 2


def test_a_line_over_the_limit_is_sent_without_its_output(monkeypatch):
    at_limit = {"nb": "01", "fn": "f", "ok": True, "out": "z" * 38}
    monkeypatch.setattr(harness, "MAX_LINE", len('{"nb": "01", "fn": "f", "ok": true, "out": "' + "z" * 38 + '"}'))
    sink = Sink()
    h = harness.Harness({}, sink)
    h.emit(at_limit | {"out": "z" * 39})  # one character over
    h.emit(at_limit)  # at the limit: sent as it is
    first, second = sink.text.splitlines()
    assert json.loads(first) == {"nb": "01", "fn": "f", "ok": False, "error": "output too large"}
    assert json.loads(second) == at_limit


def test_emit_refuses_nan_rather_than_writing_invalid_json():
    with pytest.raises(ValueError):
        harness.Harness({}, Sink()).emit({"out": math.nan})


# ----------------------------------------------------------------------------- resolve and reference objects


class FakeTokenizer:
    def __init__(self):
        self.vocab = {" cat": [5], " dog": [7]}

    def __call__(self, text, add_special_tokens=True, return_tensors=None):
        return {"input_ids": self.vocab[text]}


@pytest.fixture
def with_makers():
    """The makers as ``main`` loads them: from the file next to the harness."""
    return harness.load_makers()


def test_resolve_builds_refs_and_makes_inside_lists_tuples_and_dicts(with_makers):
    h = harness.Harness({}, Sink(), with_makers)
    tokenizer = FakeTokenizer()
    h.objects = {"model": "the model", "tokenizer": tokenizer}
    value = [{"__ref__": "model"}, ({"__ref__": "tokenizer"}, 3), {"k": {"__ref__": "model"}, "n": [1.5]},
             {"__make__": "uniform_words_filter", "args": [{"__ref__": "tokenizer"}], "kwargs": {"words": ["dog", 1]}}]
    got = h.resolve(value)
    assert got[0] == "the model" and got[1] == (tokenizer, 3) and isinstance(got[1], tuple)
    assert got[2] == {"k": "the model", "n": [1.5]}
    inf = -math.inf
    assert got[3](torch.zeros(1, 8)).tolist() == [[inf, 0.0, inf, inf, inf, inf, inf, 0.0]]


def test_resolve_leaves_plain_values_and_empty_markers_alone(with_makers):
    h = harness.Harness({}, Sink(), with_makers)
    assert h.resolve({"__ref__": "", "__make__": None, "x": (1, "a")}) == {"__ref__": "", "__make__": None, "x": (1, "a")}
    assert h.resolve("model") == "model" and h.resolve(None) is None


def test_reference_objects_are_loaded_once_each(monkeypatch):
    from helpers import backend

    calls = []
    monkeypatch.setattr(backend, "load_lm", lambda: calls.append("lm") or ("M", "T"))
    monkeypatch.setattr(backend, "load_cross_encoder", lambda: calls.append("ce") or "CE")
    monkeypatch.setattr(backend, "load_sae", lambda: calls.append("sae") or "SAE")
    h = harness.Harness({}, Sink())
    assert [h.reference_object(n) for n in ("tokenizer", "model", "sae", "cross_encoder", "sae", "model")] == [
        "T", "M", "SAE", "CE", "SAE", "M"]
    assert calls == ["lm", "sae", "ce"]
    with pytest.raises(KeyError):
        h.reference_object("optimizer")


# ----------------------------------------------------------------------------- cells and notebooks in IPython


@pytest.fixture(scope="module")
def shell(tmp_path_factory):
    """One IPython shell for the module (no history file); __main__ and the singleton are restored after."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    main_module = sys.modules["__main__"]
    old_handler = signal.signal(signal.SIGALRM, harness._alarm)
    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.ipython_dir = str(tmp_path_factory.mktemp("ipython"))
    instance = InteractiveShell.instance(config=config)
    instance.showtraceback = lambda *a, **k: None
    # The harness freezes what outlives each notebook's reset (gc.freeze) and so does this module, once: every
    # reset here then collects only what its test made, not the whole worker's heap (0.2 s each otherwise).
    gc.collect()
    gc.freeze()
    yield instance
    gc.unfreeze()
    InteractiveShell.clear_instance()
    sys.modules["__main__"] = main_module
    signal.signal(signal.SIGALRM, old_handler)


@pytest.fixture
def h(shell, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    h = harness.Harness({}, Sink())
    h.shell = shell
    shell.reset(new_session=False)
    return h


def records(h):
    return [json.loads(line) for line in h.results.text.splitlines()]


def timer_is_off():
    return signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.parametrize("source, error", [
    ("x = 1", None),
    ("raise ValueError('boom')", "ValueError: boom"),
    ("raise KeyError('k')", "KeyError: 'k'"),
    ("def f(:\n    pass", "SyntaxError: "),
    ("raise RuntimeError('" + "m" * 400 + "')", "RuntimeError: " + "m" * 300),
    ("undefined_name", "NameError: name 'undefined_name' is not defined"),
])
def test_run_cell_returns_the_error_line_or_none(h, source, error):
    got = h.run_cell(source, 5.0)
    assert (got is None) if error is None else got.startswith(error)
    if error and error.startswith("RuntimeError"):
        assert got == error
    assert timer_is_off()


def test_a_cell_past_its_time_is_stopped(h):
    assert h.run_cell("while True:\n    pass", 1.0) == "timed out after 1 s"
    assert timer_is_off()
    assert h.run_cell("y = 2", 5.0) is None and h.shell.user_ns["y"] == 2  # the shell still works


def test_a_cell_gets_at_least_half_a_second_even_with_no_time_left(h):
    assert h.run_cell("import time\ntime.sleep(0.2)\nz = 3", -10.0) is None and h.shell.user_ns["z"] == 3
    assert h.run_cell("import time\ntime.sleep(5)", -10.0) == "timed out after 0.5 s"  # not "-10 s"


def test_a_deadline_outside_the_cell_code_is_a_time_out(h):
    class Stuck:
        def run_cell(self, *args, **kwargs):
            raise harness.Deadline()

    h.shell = Stuck()
    assert h.run_cell("x = 1", 2.44) == "timed out after 2.4 s" and timer_is_off()


DOUBLE = "def double(x, k=2):\n    print('student output')\n    return k * x\n"
TOOLS = '''
import time
def loop(x):
    while True:
        pass
def crash(x):
    raise ZeroDivisionError("no " + str(x))
def opaque(x):
    return object()
def push(items):
    items.append(99)
    return len(items)
not_a_function = 3
'''


def job(name="01_toy", timeout_s=30.0, context=("import math",), cells=(DOUBLE,), tests=()):
    return {"name": name, "timeout_s": timeout_s, "context": list(context), "cells": list(cells), "tests": list(tests)}


def case_of(function, case, *args, timeout_s=5.0, **kwargs):
    return {"exercise": "1.1", "function": function, "case": case, "args": list(args), "kwargs": kwargs,
            "timeout_s": timeout_s}


def test_run_notebook_reports_every_case_in_order(h, tmp_path):
    nb = job(cells=[DOUBLE, TOOLS], tests=[
        case_of("double", "four", 4), case_of("double", "kw", 4, k=3), case_of("crash", "div", 5), case_of("opaque", "obj", 1),
        case_of("missing", "none", 1), case_of("not_a_function", "three", 1), case_of("push", "first", [1]),
        case_of("push", "again", [1])])
    h.run_notebook(nb)
    got = records(h)
    done = got.pop()
    assert got == [
        {"nb": "01_toy", "fn": "double", "case": "four", "ok": True, "out": 8},
        {"nb": "01_toy", "fn": "double", "case": "kw", "ok": True, "out": 12},
        {"nb": "01_toy", "fn": "crash", "case": "div", "ok": False, "error": "ZeroDivisionError: no 5"},
        {"nb": "01_toy", "fn": "opaque", "case": "obj", "ok": False,
         "error": "TypeError: the function returned a object, which the grader cannot read"},
        {"nb": "01_toy", "fn": "missing", "case": "none", "ok": False, "error": "`missing` is not defined by the notebook"},
        {"nb": "01_toy", "fn": "not_a_function", "case": "three", "ok": False,
         "error": "`not_a_function` is not defined by the notebook"},
        {"nb": "01_toy", "fn": "push", "case": "first", "ok": True, "out": 2},
        {"nb": "01_toy", "fn": "push", "case": "again", "ok": True, "out": 2},  # the job's args are copied per case
    ]
    assert set(done) == {"nb", "done", "seconds"} and done["nb"] == "01_toy" and done["done"] is True
    assert 0 <= done["seconds"] < 10
    assert nb["tests"][6]["args"] == [[1]]
    assert Path.cwd() == tmp_path and (tmp_path / "01_toy").is_dir()  # ran in its own folder, came back
    assert timer_is_off()


def test_cell_errors_are_reported_by_kind_and_number_and_the_rest_still_runs(h):
    nb = job(context=["import math", "raise ImportError('no module')"], cells=["1/0", DOUBLE],
             tests=[case_of("double", "two", 2)])
    h.run_notebook(nb)
    got = records(h)[:-1]
    assert got == [{"nb": "01_toy", "cell": "context 2", "error": "ImportError: no module"},
                   {"nb": "01_toy", "cell": "exercise 1", "error": "ZeroDivisionError: division by zero"},
                   {"nb": "01_toy", "fn": "double", "case": "two", "ok": True, "out": 4}]


def test_a_case_past_its_time_is_stopped_and_the_next_case_runs(h):
    nb = job(cells=[DOUBLE, TOOLS], tests=[case_of("loop", "forever", 1, timeout_s=1.0), case_of("double", "after", 5)])
    h.run_notebook(nb)
    assert records(h)[:-1] == [{"nb": "01_toy", "fn": "loop", "case": "forever", "ok": False, "error": "timed out after 1 s"},
                               {"nb": "01_toy", "fn": "double", "case": "after", "ok": True, "out": 10}]
    assert timer_is_off()


def test_a_notebook_out_of_time_skips_its_remaining_cases(h):
    nb = job(timeout_s=0.6, cells=["import time\ntime.sleep(0.7)", DOUBLE], tests=[case_of("double", "late", 1)])
    h.run_notebook(nb)
    got = records(h)
    assert got[0]["cell"] == "exercise 1" and got[0]["error"] in ("timed out after 0.5 s", "timed out after 0.6 s")
    assert got[-2] == {"nb": "01_toy", "fn": "double", "case": "late", "ok": False,
                       "error": "the notebook ran out of time before this test"}


class FrozenClock:
    """``time`` for the harness alone: ``monotonic()`` reads 100 s once (the notebook's start), then ``100 + later``.

    What a case is left then follows from the clock, not from how fast the machine ran the cells before it.
    """

    def __init__(self, later: float):
        self.readings, self.later = [], later

    def monotonic(self) -> float:
        self.readings.append(100.0 + (self.later if self.readings else 0.0))
        return self.readings[-1]


def test_a_case_gets_the_notebooks_remaining_time_when_that_is_shorter(h, monkeypatch):
    clock = FrozenClock(later=0.3)
    monkeypatch.setattr(harness, "time", clock)  # the harness module's own reference; the real clock elsewhere
    nb = job(timeout_s=1.5, cells=[DOUBLE, TOOLS], tests=[case_of("loop", "forever", 1, timeout_s=60.0)])
    h.run_notebook(nb)
    [case] = [r for r in records(h) if r.get("fn")]
    assert len(clock.readings) >= 3  # the start, then before the cells and the case
    assert case["error"] == "timed out after 1.2 s"  # what was left of the notebook's 1.5 s, not the case's 60


def test_each_notebook_starts_from_a_fresh_namespace(h):
    h.run_notebook(job(name="01_a", tests=[case_of("double", "one", 1)]))
    h.run_notebook(job(name="02_b", cells=["y = 1"], tests=[case_of("double", "one", 1)]))
    cases = [r for r in records(h) if r.get("fn")]
    assert cases == [{"nb": "01_a", "fn": "double", "case": "one", "ok": True, "out": 2},
                     {"nb": "02_b", "fn": "double", "case": "one", "ok": False, "error": "`double` is not defined by the notebook"}]


def test_what_a_notebook_leaves_is_collected_when_the_next_one_starts(h):
    # Each reset freezes what survives it (gc.freeze) so later collections skip the libraries' objects: a cycle a
    # notebook made after that must still go at the next notebook's reset, not stay frozen for the whole job.
    h.run_notebook(job(name="01_a", cells=["import weakref\nclass Node: pass\nnode = Node()\nnode.me = node\n"
                                           "probe = weakref.ref(node)\ndel Node"]))
    probe = h.shell.user_ns["probe"]
    assert probe() is not None
    h.run_notebook(job(name="02_b", cells=["y = 1"]))
    assert probe() is None


def test_student_output_goes_to_a_capped_buffer():
    buffer = harness.CappedBuffer(limit=5)
    assert buffer.writable() is True
    assert buffer.write("abc") == 3 and buffer.write("defgh") == 5 and buffer.write("ij") == 2
    assert "".join(buffer.parts) == "abcde" and buffer.size == 5
    assert harness.CappedBuffer().limit == 20_000


# ----------------------------------------------------------------------------- main, end to end through a pipe


def run_main(tmp_path, monkeypatch, notebooks, course_root="/nowhere"):
    """``harness.main`` on a job file, as the sandbox starts it; returns (exit code, result records, sys.path seen)."""
    job_file = tmp_path / "job.pt"
    torch.save({"notebooks": notebooks}, job_file)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("LAB_COURSE_ROOT", course_root)
    read_fd, write_fd = os.pipe()
    fcntl.fcntl(read_fd, fcntl.F_SETFL, os.O_NONBLOCK)
    try:
        code = harness.main(["harness.py", str(job_file), str(write_fd)])
        seen_path = list(sys.path)  # main closed its end of the pipe (write_fd) when it finished
        data = b""
        while True:
            try:
                block = os.read(read_fd, 65536)
            except BlockingIOError:
                break
            if not block:
                break
            data += block
    finally:
        os.close(read_fd)
    return code, [json.loads(line) for line in data.decode().splitlines()], seen_path, work


def test_main_runs_every_notebook_between_ready_and_finished(shell, tmp_path, monkeypatch):
    old = signal.getsignal(signal.SIGALRM)
    code, got, path, work = run_main(tmp_path, monkeypatch, [
        job(name="01_a", tests=[case_of("double", "three", 3)]),
        job(name="02_b", cells=["def double(x):\n    return x + x + 1"], tests=[case_of("double", "three", 3)])])
    assert code == 0
    assert [r for r in got if "seconds" not in r] == [
        {"ready": True},
        {"nb": "01_a", "fn": "double", "case": "three", "ok": True, "out": 6},
        {"nb": "02_b", "fn": "double", "case": "three", "ok": True, "out": 7},
        {"finished": True}]
    assert [r["nb"] for r in got if "seconds" in r] == ["01_a", "02_b"]
    assert path[0] == "/nowhere"  # the course first; the grader's folder is not on the path
    assert not any(os.path.realpath(p) == os.path.realpath(GRADING_DIR) for p in path) and "" not in path
    assert sorted(p.name for p in work.iterdir()) == ["01_a", "02_b"]  # each notebook in its folder under the start
    assert signal.getsignal(signal.SIGALRM) is harness._alarm
    assert isinstance(sys.stdout, harness.CappedBuffer) and "student output" in "".join(sys.stdout.parts)
    signal.signal(signal.SIGALRM, old)


def test_main_reports_a_broken_notebook_and_goes_on(shell, tmp_path, monkeypatch):
    old = signal.getsignal(signal.SIGALRM)
    broken = job(name="01_broken")
    del broken["tests"]
    code, got, _, _ = run_main(tmp_path, monkeypatch, [broken, job(name="02_ok", tests=[case_of("double", "one", 1)])])
    assert code == 0 and got[0] == {"ready": True} and got[-1] == {"finished": True}
    error = next(r for r in got if r.get("nb") == "01_broken")
    assert set(error) == {"nb", "error", "done"} and error["done"] is True
    assert "KeyError: 'tests'" in error["error"] and len(error["error"]) <= 500
    assert {"nb": "02_ok", "fn": "double", "case": "one", "ok": True, "out": 2} in got
    signal.signal(signal.SIGALRM, old)


def test_main_reports_a_notebook_whose_time_ran_out_outside_a_cell(shell, tmp_path, monkeypatch):
    old = signal.getsignal(signal.SIGALRM)
    real = harness.Harness.run_notebook

    def run_notebook(self, nb):
        if nb["name"] == "01_slow":
            raise harness.Deadline()
        return real(self, nb)

    monkeypatch.setattr(harness.Harness, "run_notebook", run_notebook)
    code, got, _, _ = run_main(tmp_path, monkeypatch, [job(name="01_slow"), job(name="02_ok", tests=[case_of("double", "one", 1)])])
    assert got[1] == {"nb": "01_slow", "error": "timed out", "done": True}
    assert got[2] == {"nb": "02_ok", "fn": "double", "case": "one", "ok": True, "out": 2}
    signal.signal(signal.SIGALRM, old)


def test_the_course_root_defaults_to_the_sandbox_mount(shell, tmp_path, monkeypatch):
    old = signal.getsignal(signal.SIGALRM)
    monkeypatch.delenv("LAB_COURSE_ROOT", raising=False)
    job_file = tmp_path / "job.pt"
    torch.save({"notebooks": []}, job_file)
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    read_fd, write_fd = os.pipe()
    try:
        assert harness.main(["harness.py", str(job_file), str(write_fd)]) == 0
        assert sys.path[0] == "/course"
        assert os.read(read_fd, 1000) == b'{"ready": true}\n{"finished": true}\n'
    finally:
        os.close(read_fd)
    signal.signal(signal.SIGALRM, old)


def test_student_code_cannot_import_the_makers_or_the_harness(shell, tmp_path, monkeypatch):
    """The grader's folder is on sys.path when the harness starts (as a script, or in the unsafe mode); the
    student's first line already finds neither ``makers`` nor ``harness`` nor the grading package next to them."""
    old = signal.getsignal(signal.SIGALRM)
    monkeypatch.syspath_prepend(str(GRADING_DIR))
    probe = ("import importlib.util\n"
             "FOUND = [m for m in ('makers', 'harness', 'grader', 'compare', 'spec', 'cases') if importlib.util.find_spec(m)]\n"
             "def found():\n    return FOUND")
    code, got, path, _ = run_main(tmp_path, monkeypatch, [job(name="01_a", cells=[probe], tests=[case_of("found", "probe")])])
    assert code == 0
    assert {"nb": "01_a", "fn": "found", "case": "probe", "ok": True, "out": []} in got
    signal.signal(signal.SIGALRM, old)


def test_clean_path_keeps_the_course_first_and_drops_the_grader_folder(tmp_path):
    grader_dir = tmp_path / "grader"
    grader_dir.mkdir()
    (tmp_path / "link").symlink_to(grader_dir)
    got = harness.clean_path(["", str(tmp_path / "link"), "/venv/site", ".", "/course", str(grader_dir)], "/course",
                             str(grader_dir))
    assert got == ["/course", "/venv/site"]


def test_the_harness_and_makers_import_no_grading_code():
    """Only harness.py and makers.py are mounted in the sandbox: neither may import the spec, grader or cases."""
    import ast

    for name in ("harness.py", "makers.py"):
        tree = ast.parse((GRADING_DIR / name).read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {m for m in imported if m.startswith("helpers.coursework")}, name


@pytest.mark.parametrize("seconds, text", [(60.0, "60"), (1.0, "1"), (0.5, "0.5"), (1.44, "1.4"), (59.96, "60")])
def test_time_out_messages_name_the_allowed_time(seconds, text):
    assert harness.timed_out(seconds) == f"timed out after {text} s"


# ----------------------------------------------------------------------------- the library rule

LIBRARY = '''
def attention(q):
    return "library attention"


class Base:
    def __init__(self):
        self.ready = True


class Warper(Base):
    def __call__(self, x):
        return "library warper"

    def forward(self, x):
        return "library forward"
'''


@pytest.fixture
def fake_library(tmp_path, monkeypatch):
    """A module ``fakelib_<n>`` with a function, a class with its own ``__call__`` and an inherited ``__init__``."""
    name = f"fakelib_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(LIBRARY)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__(name)
    yield module
    sys.modules.pop(name, None)


def test_the_guard_replaces_functions_and_methods_and_puts_them_back(fake_library):
    lib, guard = fake_library, harness.LibraryGuard()
    attention, call = lib.attention, lib.Warper.__call__
    guard.forbid([f"{lib.__name__}:attention", f"{lib.__name__}:Warper.__call__", f"{lib.__name__}:Warper.__init__",
                  f"{lib.__name__}:Warper.forward",
                  f"{lib.__name__}:missing", "no_such_module_anywhere:f", f"{lib.__name__}:attention"])
    with pytest.raises(harness.LibraryRuleError, match="^attention is not allowed in this exercise"):
        lib.attention(1)
    with pytest.raises(harness.LibraryRuleError, match="^Warper is not allowed"):
        lib.Warper()  # the inherited __init__ is shadowed on the class itself
    assert len(guard.saved) == 4  # missing names are skipped, a repeated name is replaced once
    with pytest.raises(harness.LibraryRuleError, match="^Warper is not allowed"):  # a method is named by its class
        lib.Warper.forward(None, 1)
    guard.allow_all()
    assert lib.attention is attention and lib.Warper.__call__ is call and "__init__" not in vars(lib.Warper)
    assert lib.Warper()(0) == "library warper" and lib.Warper().ready and guard.saved == []


def test_a_forbidden_call_fails_only_its_own_cases_even_when_bound_in_a_cell(h, fake_library):
    lib = fake_library.__name__
    cells = [f"from {lib} import attention as early\nimport {lib}\n"
             "def mine(q):\n    return early(q)\n"
             f"def late(q):\n    return {lib}.attention(q)\n"
             f"def free(q):\n    return {lib}.attention(q)\n"]
    forbid = [f"{lib}:attention"]
    nb = job(cells=cells, tests=[dict(case_of("mine", "a", 1), forbid=forbid), dict(case_of("late", "b", 1), forbid=forbid),
                                 case_of("free", "c", 1)])
    h.run_notebook(nb)
    got = [r for r in records(h) if r.get("fn")]
    rule = "LibraryRuleError: attention is not allowed in this exercise: it is what you implement"
    assert got == [{"nb": "01_toy", "fn": "mine", "case": "a", "ok": False, "error": rule},
                   {"nb": "01_toy", "fn": "late", "case": "b", "ok": False, "error": rule},
                   {"nb": "01_toy", "fn": "free", "case": "c", "ok": True, "out": "library attention"}]
    assert fake_library.attention(0) == "library attention"  # restored after the notebook
