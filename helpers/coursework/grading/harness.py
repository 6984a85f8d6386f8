"""Runs inside the grading sandbox: a notebook's context cells, the student's exercise cells, the hidden tests.

    python harness.py JOB FD        (JOB: a torch.save'd dict written by the grader; FD: the results pipe)

For each notebook of the job it runs, in one fresh namespace, the release's context cells
(imports, model loading), then the student's exercise cells, then calls each exercise function
on the hidden inputs. Every result is written at once as one JSON line to the file descriptor FD
(a pipe read by the grader outside the sandbox); outputs are plain JSON (``to_plain``), never
pickles, so nothing the student returns is executed by the grader. The student's own prints go
to a small capped buffer, not to the grader.

This file and ``makers.py`` are the only grading code inside the sandbox: no spec, no keys,
no expected outputs, no instructor solutions. Neither can be imported by the student's code:
``makers`` is loaded from its file (not through ``sys.path``) before the first student line, and
``sys.path`` then holds the course and the virtual environment only (``clean_path``), never this
folder.
"""
from __future__ import annotations

import copy
import dataclasses
import gc
import importlib.util
import io
import json
import math
import os
import signal
import sys
import time
import traceback

MAX_ELEMENTS = 2_000_000
MAX_STRING = 100_000
MAX_LINE = 8 * 2**20


class Deadline(BaseException):
    """Raised by the alarm when a cell or a case runs past its time (not an ``Exception``: student code can't swallow it by accident)."""


def _alarm(signum, frame):
    raise Deadline()


def timed_out(seconds: float) -> str:
    """``timed out after 60 s`` / ``after 0.5 s``: the time that was allowed, to a tenth of a second."""
    return f"timed out after {round(seconds, 1):g} s"


def to_plain(value, depth: int = 0):
    """JSON-safe copy of a function's output: tensors/arrays as {"__array__", "dtype", "shape"}, tuples as lists."""
    if depth > 20:
        raise ValueError("output is nested too deeply")
    if value is None or isinstance(value, (bool, int, str)):
        if isinstance(value, str) and len(value) > MAX_STRING:
            raise ValueError(f"output string of {len(value)} characters is too long")
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor
        tensor = value.detach().cpu()
        if tensor.numel() > MAX_ELEMENTS:
            raise ValueError(f"output tensor of shape {tuple(tensor.shape)} is too large")
        dtype = str(tensor.dtype).replace("torch.", "")
        if tensor.is_floating_point():
            tensor = tensor.double()
        data = tensor.tolist()
        return {"__array__": _finite(data), "dtype": dtype, "shape": list(value.shape)}
    if hasattr(value, "tolist") and hasattr(value, "dtype") and hasattr(value, "shape"):  # numpy
        if getattr(value, "size", 0) > MAX_ELEMENTS:
            raise ValueError(f"output array of shape {tuple(value.shape)} is too large")
        if value.shape == ():
            return to_plain(value.item(), depth + 1)
        return {"__array__": _finite(value.tolist()), "dtype": str(value.dtype), "shape": list(value.shape)}
    if hasattr(value, "item") and callable(value.item) and type(value).__module__ == "numpy":
        return to_plain(value.item(), depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_ELEMENTS:
            raise ValueError("output list is too long")
        return [to_plain(v, depth + 1) for v in value]
    raise TypeError(f"the function returned a {type(value).__name__}, which the grader cannot read")


def _finite(data):
    """Nested lists with non-finite floats encoded (JSON has no NaN)."""
    if isinstance(data, list):
        return [_finite(v) for v in data]
    if isinstance(data, float) and not math.isfinite(data):
        return {"__float__": repr(data)}
    return data


class LibraryRuleError(RuntimeError):
    """Raised by a library callable that an exercise must implement itself, while that exercise is graded."""


class LibraryGuard:
    """Replaces library callables (``"module:attr.path"``) by stubs that raise ``LibraryRuleError``, and puts them back.

    The notebook's forbidden callables are replaced while its exercise cells run too, so a name bound in a cell
    (``from torch.nn.functional import scaled_dot_product_attention``) is the stub; a case's own are replaced while
    the student's function runs on it. A name that this environment lacks is skipped.
    """

    def __init__(self) -> None:
        self.saved: list[tuple[object, str, object, bool]] = []
        self.active: set[str] = set()

    @staticmethod
    def _stub(label: str):
        def not_allowed(*args, **kwargs):
            raise LibraryRuleError(f"{label} is not allowed in this exercise: it is what you implement")
        not_allowed.__name__ = not_allowed.__qualname__ = label.rsplit(".", 1)[-1]
        return not_allowed

    def forbid(self, names) -> None:
        import importlib

        for name in names:
            if name in self.active:
                continue
            module, _, path = name.partition(":")
            try:
                owner = importlib.import_module(module)
                *parents, attr = path.split(".")
                for part in parents:
                    owner = getattr(owner, part)
                original = getattr(owner, attr)
            except (ImportError, AttributeError):
                continue
            label = [p for p in path.split(".") if not p.startswith("__") and p != "forward"][-1]  # the class
            own = attr in getattr(owner, "__dict__", {})
            try:
                setattr(owner, attr, self._stub(label))
            except (AttributeError, TypeError):
                continue
            self.saved.append((owner, attr, original, own))
            self.active.add(name)

    def allow_all(self) -> None:
        self.active.clear()
        while self.saved:
            owner, attr, original, own = self.saved.pop()
            if own:
                setattr(owner, attr, original)
            else:
                delattr(owner, attr)


class Harness:
    def __init__(self, job: dict, results, makers: dict | None = None) -> None:
        self.job = job
        self.results = results
        self.shell = None
        self.objects: dict = {}
        self.makers = makers if makers is not None else {}
        self.guard = LibraryGuard()

    def emit(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False, allow_nan=False)
        if len(line) > MAX_LINE:
            record = {k: v for k, v in record.items() if k != "out"} | {"ok": False, "error": "output too large"}
            line = json.dumps(record, allow_nan=False)
        self.results.write(line + "\n")
        self.results.flush()

    def resolve(self, value):
        """Replace Ref/Make placeholders (plain dicts after transport) by real objects."""
        if isinstance(value, dict) and value.get("__ref__"):
            return self.reference_object(value["__ref__"])
        if isinstance(value, dict) and value.get("__make__"):
            return self.makers[value["__make__"]](*[self.resolve(a) for a in value["args"]],
                                              **{k: self.resolve(v) for k, v in value["kwargs"].items()})
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.resolve(v) for v in value)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    def reference_object(self, name: str):
        if name not in self.objects:
            from helpers import backend
            if name in ("model", "tokenizer"):
                self.objects["model"], self.objects["tokenizer"] = backend.load_lm()
            elif name == "cross_encoder":
                self.objects[name] = backend.load_cross_encoder()
            elif name == "sae":
                self.objects[name] = backend.load_sae()
        return self.objects[name]

    def run_cell(self, source: str, seconds: float):
        """Run one cell with ``seconds`` to finish (at least half a second); its error line, or None."""
        allowed = max(seconds, 0.5)  # a cell reached with the notebook's time used up still gets a moment
        signal.setitimer(signal.ITIMER_REAL, allowed)
        try:
            result = self.shell.run_cell(source, store_history=False, silent=False)
        except Deadline:
            return timed_out(allowed)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        err = result.error_before_exec or result.error_in_exec
        if err is not None:
            if isinstance(err, Deadline):
                return timed_out(allowed)
            return f"{type(err).__name__}: {str(err)[:300]}"
        return None

    def run_notebook(self, nb: dict) -> None:
        name = nb["name"]
        start = time.monotonic()
        deadline = start + nb["timeout_s"]
        os.makedirs(nb["name"], exist_ok=True)
        os.chdir(nb["name"])
        self.shell.reset(new_session=False)
        # The reset collects before it clears the namespace: collect what the last notebook left, then freeze what
        # survives (modules, the cached model). Later collections, the next reset's and the automatic ones, skip
        # the frozen objects and look only at what this notebook makes (0.2 s a reset otherwise, on this heap).
        gc.collect()
        gc.freeze()
        forbidden = sorted({n for test in nb["tests"] for n in test.get("forbid", ())})
        for kind, cells in (("context", nb["context"]), ("exercise", nb["cells"])):
            if kind == "exercise":
                self.guard.forbid(forbidden)
            try:
                for index, source in enumerate(cells):
                    error = self.run_cell(source, deadline - time.monotonic())
                    if error:
                        self.emit({"nb": name, "cell": f"{kind} {index + 1}", "error": error})
            finally:
                self.guard.allow_all()
        namespace = self.shell.user_ns
        for test in nb["tests"]:
            record = {"nb": name, "fn": test["function"], "case": test["case"]}
            fn = namespace.get(test["function"])
            if not callable(fn):
                self.emit(record | {"ok": False, "error": f"`{test['function']}` is not defined by the notebook"})
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.emit(record | {"ok": False, "error": "the notebook ran out of time before this test"})
                continue
            signal.setitimer(signal.ITIMER_REAL, min(test["timeout_s"], remaining))
            try:
                args = self.resolve(copy.deepcopy(test["args"]))
                kwargs = self.resolve(copy.deepcopy(test["kwargs"]))
                self.guard.forbid(test.get("forbid", ()))
                try:
                    out = to_plain(fn(*args, **kwargs))
                finally:
                    self.guard.allow_all()
                signal.setitimer(signal.ITIMER_REAL, 0)
                self.emit(record | {"ok": True, "out": out})
            except Deadline:
                self.emit(record | {"ok": False, "error": timed_out(min(test["timeout_s"], remaining))})
            except Exception as err:  # the student's error is the test's result
                signal.setitimer(signal.ITIMER_REAL, 0)
                self.emit(record | {"ok": False, "error": f"{type(err).__name__}: {str(err)[:300]}"})
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        os.chdir("..")
        self.emit({"nb": name, "done": True, "seconds": round(time.monotonic() - start, 2)})


class CappedBuffer(io.TextIOBase):
    """Keeps the first ``limit`` characters written to it and drops the rest."""

    def __init__(self, limit: int = 20_000) -> None:
        self.limit, self.parts, self.size = limit, [], 0

    def write(self, text: str) -> int:
        if self.size < self.limit:
            self.parts.append(text[: self.limit - self.size])
            self.size += len(self.parts[-1])
        return len(text)

    def writable(self) -> bool:
        return True


GRADER_FOLDER = os.path.dirname(os.path.abspath(__file__))


def load_makers(folder: str = GRADER_FOLDER) -> dict:
    """``MAKERS`` of ``makers.py`` next to this file, loaded from the file: not importable by name afterwards."""
    spec = importlib.util.spec_from_file_location("_grading_makers", os.path.join(folder, "makers.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.MAKERS)


def clean_path(path: list[str], course_root: str, grader_folder: str = GRADER_FOLDER) -> list[str]:
    """``sys.path`` for the student's code: the course root first, then ``path`` without the grader's folder,
    the working folder (``""``, ``"."``) or the course root again, so no grading module can be imported."""
    def same(a: str, b: str) -> bool:
        return os.path.realpath(a) == os.path.realpath(b)

    kept = [p for p in path if p not in ("", ".") and not same(p, grader_folder) and not same(p, course_root)]
    return [course_root, *kept]


def main(argv: list[str]) -> int:
    import torch
    from IPython.core.interactiveshell import InteractiveShell

    job = torch.load(argv[1], weights_only=False)
    results = os.fdopen(int(argv[2]), "w", encoding="utf-8")
    makers = load_makers()
    sys.path[:] = clean_path(sys.path, os.environ.get("LAB_COURSE_ROOT", "/course"))
    for name in [m for m in sys.modules if m in ("makers", "harness", "_grading_makers")]:
        del sys.modules[name]
    signal.signal(signal.SIGALRM, _alarm)
    harness = Harness(job, results, makers)
    sys.stdout = sys.stderr = CappedBuffer()
    harness.shell = InteractiveShell.instance()
    harness.shell.showtraceback = lambda *a, **k: None  # errors are reported as results, not printed
    gc.freeze()  # torch and IPython, loaded above, live as long as the job
    harness.emit({"ready": True})  # the grader counts the job's time from this line (start-up is not the student's)
    root = os.getcwd()
    for nb in job["notebooks"]:
        os.chdir(root)
        try:
            harness.run_notebook(nb)
        except Deadline:
            harness.emit({"nb": nb["name"], "error": "timed out", "done": True})
        except Exception:  # a broken notebook must not stop the next one
            harness.emit({"nb": nb["name"], "error": traceback.format_exc(limit=3)[-500:], "done": True})
    harness.emit({"finished": True})
    results.close()  # the grader's reader sees the end of the pipe now, not when the process is gone
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
