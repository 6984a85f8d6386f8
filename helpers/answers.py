"""Graded answers: every notebook records its answers in one JSON file next to it.

    answers = AnswerSheet("01_chat_template")
    answers.record("p1.coherence.with_template", score)

The file is ``NN_topic.answers.json`` in the notebook's directory (the kernel's working
directory), written atomically on every ``record`` so nothing is lost if the kernel dies.
Graders re-run the notebook and compare the reproduced file with the submitted one.
"""
from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

KEY_RE = re.compile(r"^p\d+(\.[a-z0-9_]+)+$")


def to_jsonable(value: Any) -> Any:
    """Python scalars/lists/dicts from numpy or torch values (NaN/inf rejected)."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"answer {value!r} is not a finite number: check the computation before recording it.")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"answers must be numbers, strings, booleans or lists/dicts of them, not {type(value).__name__}.")


class AnswerSheet:
    """The graded answers of one notebook, kept as ``{key: value}`` in ``<notebook>.answers.json``."""

    def __init__(self, notebook: str, directory: str | Path | None = None):
        self.notebook = notebook
        self.path = Path(directory if directory is not None else Path.cwd()) / f"{notebook}.answers.json"
        self.answers: dict[str, Any] = {}
        if self.path.is_file():
            try:
                self.answers = dict(json.loads(self.path.read_text(encoding="utf-8")).get("answers", {}))
            except (json.JSONDecodeError, AttributeError):
                self.answers = {}

    def record(self, key: str, value: Any) -> Any:
        """Store one answer under ``key`` (like ``p4.self_bleu.k2``) and save the file; returns ``value``."""
        if not KEY_RE.match(key):
            raise ValueError(f"answer key {key!r} must look like 'p4.self_bleu.k2' (p<problem>.<lowercase parts>).")
        self.answers[key] = to_jsonable(value)
        self.save()
        return value

    def save(self) -> None:
        """Write the file atomically (temporary file, then rename)."""
        from helpers.backend import backend_name

        payload = {"notebook": self.notebook, "backend": backend_name(), "answers": dict(sorted(self.answers.items()))}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".answers-", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        os.replace(tmp, self.path)
