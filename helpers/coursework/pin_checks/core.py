"""Loading the instructor solutions and the models; building, comparing and writing the pinned data."""
from __future__ import annotations

import json
import math
from pathlib import Path

from helpers.checks.common import DATA_DIR

NOTEBOOKS = {"01": "01_chat_template", "02": "02_multi_turn_chat", "03": "03_tokenization",
             "04": "04_sampling_self_bleu", "05": "05_contextual_embeddings", "06": "06_attention_maps",
             "07": "07_sae_activations", "08": "08_papers"}
FLOAT_TOL = 1e-5  # pinned floats agree with a fresh build up to this (thread counts change the last digits)


def solution_namespace(course, name: str) -> dict:
    """The namespace of notebook ``name`` after its context imports and its instructor exercise cells."""
    from helpers.coursework.grading import grader

    namespace: dict = {"__name__": f"solutions_{name[:2]}"}
    for source in grader.context_sources(course.release[name]):
        exec(compile(_imports_only(source), f"{name} context", "exec"), namespace)
    for source in grader.exercise_sources(course.instructor[name], course.functions(name)):
        exec(compile(source, f"{name} solutions", "exec"), namespace)
    return namespace


def solutions(number: str) -> dict:
    """The exercise functions of instructor notebook ``number`` (its context imports, then its solution cells)."""
    from helpers.coursework.grading import grader

    name = NOTEBOOKS[number]
    return solution_namespace(grader.load_course(only=(name,)), name)


def _imports_only(source: str) -> str:
    """The top-level ``import`` / ``from … import`` statements of a cell (IPython magics dropped)."""
    import ast

    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    keep = [node for node in ast.parse("\n".join(lines)).body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return ast.unparse(ast.Module(body=keep, type_ignores=[]))


class Objects:
    """The backend's model, tokenizer, cross-encoder and SAE, loaded on first use."""

    def __init__(self, backend: str | None = None):
        self.backend, self._cache = backend, {}

    def _get(self, name: str, load):
        if name not in self._cache:
            self._cache[name] = load()
        return self._cache[name]

    @property
    def lm(self):
        from helpers.backend import load_lm

        return self._get("lm", lambda: load_lm(self.backend))

    @property
    def cross_encoder(self):
        from helpers.backend import load_cross_encoder

        return self._get("cross_encoder", lambda: load_cross_encoder(self.backend))

    @property
    def sae(self):
        from helpers.backend import load_sae

        return self._get("sae", lambda: load_sae(self.backend))


def build(number: str, objects: Objects) -> dict:
    """``{check name: {key: entry}}`` of notebook ``number`` for this backend's models."""
    import importlib

    import torch

    module = importlib.import_module(f"helpers.coursework.pin_checks.nb{number}")
    sol = solutions(number)
    torch.manual_seed(0)
    return {check: pin(sol, objects) for check, pin in module.PINNERS.items()}


def merged(stored: dict, fresh: dict) -> dict:
    """``stored`` with ``fresh``'s entries replacing those of the same check and key (other models kept)."""
    out = {check: dict(entries) for check, entries in stored.items() if check in fresh}
    for check, entries in fresh.items():
        out.setdefault(check, {}).update(entries)
    return {check: dict(sorted(out[check].items())) for check in sorted(out)}


def same(a, b, path: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ (floats up to ``FLOAT_TOL``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))[:4]}"]
        return [d for k in a for d in same(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in same(x, y, f"{path}[{i}]")][:3]
    if isinstance(a, float) or isinstance(b, float):
        ok = isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=FLOAT_TOL,
                                                                                           abs_tol=FLOAT_TOL)
        return [] if ok else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {str(a)[:30]!r} != {str(b)[:30]!r}"]


def path_of(number: str, data_dir: Path = DATA_DIR) -> Path:
    return Path(data_dir) / f"{number}.json"


def read(number: str, data_dir: Path = DATA_DIR) -> dict:
    path = path_of(number, data_dir)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def text_of(data: dict) -> str:
    """Indented JSON with each list of numbers or digests on one line."""
    import re

    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False)
    flat = re.compile(r'\[\s*((?:-?[0-9.e+-]+|"[0-9a-f]{64}"|true|false)(?:,\s*(?:-?[0-9.e+-]+|"[0-9a-f]{64}"|true|false))*)\s*\]')
    return flat.sub(lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text) + "\n"


def stale(numbers, objects: Objects, data_dir: Path = DATA_DIR) -> dict[str, list[str]]:
    """``{notebook: differences}`` between the stored data and a fresh build (this backend's entries only)."""
    found = {}
    for number in numbers:
        stored, fresh = read(number, data_dir), build(number, objects)
        diffs = same({c: {k: stored.get(c, {}).get(k) for k in e} for c, e in fresh.items()}, fresh)
        diffs += [f"/{c}: not built any more" for c in sorted(set(stored) - set(fresh))]
        if diffs:
            found[number] = diffs
    return found


def write(numbers, objects: Objects, data_dir: Path = DATA_DIR) -> list[Path]:
    """Rebuild and write ``data/checks/NN.json`` for ``numbers``; returns the files written."""
    written = []
    for number in numbers:
        path = path_of(number, data_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text_of(merged(read(number, data_dir), build(number, objects))), encoding="utf-8")
        written.append(path)
    return written
