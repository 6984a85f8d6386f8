"""Find Hugging Face tokens before they leave the machine: in repo files, notebooks and submissions.

Two shapes are flagged: ``hf_`` followed by 30 or more letters/digits, and ``login(token=...)``
with a literal string. Notebooks are scanned cell by cell (source and every output), so a
hit names the cell; other files line by line.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

# Built from parts so that this file itself does not match.
TOKEN_RE = re.compile("hf" + "_" + r"[A-Za-z0-9]{30,}")
LOGIN_LITERAL_RE = re.compile(r"login\(\s*token\s*=\s*[rbuRBU]?['\"]")


def line_has_secret(line: str) -> bool:
    """True if the line holds something shaped like an HF token or a literal token given to login()."""
    return bool(TOKEN_RE.search(line) or LOGIN_LITERAL_RE.search(line))


def scan_text(text: str, where: str) -> list[str]:
    """``where:line`` for every line of ``text`` that holds a secret."""
    return [f"{where}:{number}" for number, line in enumerate(text.splitlines(), 1) if line_has_secret(line)]


def _output_texts(output: dict) -> list[str]:
    """Every piece of text of one cell output (stream, data of any text-like MIME type, traceback)."""
    texts: list[str] = []
    for key in ("text", "traceback", "evalue", "ename"):
        value = output.get(key)
        if value:
            texts.append("".join(value) if isinstance(value, list) else str(value))
    for mime, value in (output.get("data") or {}).items():
        if mime.startswith("image/") and not mime.endswith("svg+xml"):
            continue  # base64 pixels, not text someone typed
        texts.append(json.dumps(value) if not isinstance(value, (str, list)) else "".join(value) if isinstance(value, list) else value)
    return texts


def scan_notebook_json(nb: dict, name: str) -> list[str]:
    """``name: cell N source line L`` / ``name: cell N output`` for every secret in a notebook."""
    hits: list[str] = []
    for index, cell in enumerate(nb.get("cells", []), 1):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        for number, line in enumerate(source.splitlines(), 1):
            if line_has_secret(line):
                hits.append(f"{name}: cell {index} source line {number}")
        for output in cell.get("outputs", []) or []:
            if any(line_has_secret(line) for text in _output_texts(output) for line in text.splitlines()):
                hits.append(f"{name}: cell {index} output")
                break
    rest = {key: value for key, value in nb.items() if key != "cells"}
    if any(line_has_secret(line) for line in json.dumps(rest).splitlines()):
        hits.append(f"{name}: notebook metadata")
    return hits


def scan_file(path: Path, name: str | None = None) -> list[str]:
    """Secrets in one file; notebooks cell by cell (plus a raw pass), anything else line by line."""
    name = name or str(path)
    raw = Path(path).read_bytes().decode("utf-8", errors="ignore")
    if str(path).endswith(".ipynb"):
        try:
            hits = scan_notebook_json(json.loads(raw), name)
        except (json.JSONDecodeError, AttributeError):
            return scan_text(raw, name)
        if not hits and TOKEN_RE.search(raw):
            hits.append(f"{name}: somewhere in the notebook file")
        return hits
    return scan_text(raw, name)
