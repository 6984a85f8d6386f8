"""Find Hugging Face tokens before they leave the machine: in repo files, notebooks and submissions.

A real token is ``hf_`` followed by 34 letters/digits. Two shapes are flagged: such a token, and
``login(token=...)`` (or ``login("...")``, ``--token ...``) with a literal that is not a placeholder.

The scan looks at *normalised* text, not only at the literal lines, so that a token is found when it is
* split over lines, or over adjacent string literals (``"hf_abc" "def"``, ``("hf_abc"\\n "def")``),
  or joined with ``+`` (``"hf_" + "abc..."``);
* escaped: JSON/Python escapes (``hf\\u005f...``, ``login(\\"...\\")``, a token broken by an escaped
  ``\\n``), HTML entities (``hf&#95;...``), URL escapes (``hf%5F...``), or broken by HTML tags
  (``hf_<b></b>abc``) or invisible characters;
* base64-encoded in a notebook output, an attachment or the notebook metadata;
* inside JSON in a notebook (metadata, ``application/json`` outputs, JSON attachments): every string is
  read as the text it holds, a list of lines joined; and over several stream outputs of one cell.

Placeholders are not secrets: ``login(token='YOUR_TOKEN')``, ``hf_xxxxxxxx…``, ``hf_...``, an
environment variable name, and identifiers such as ``hf_hub_download`` pass.

Notebooks are scanned cell by cell (source, attachments, metadata and every output), so a hit
names the cell; other files line by line.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import html
import json
import re
from bisect import bisect_right
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote

# Built from parts so that this file itself does not match.
TOKEN_RE = re.compile("hf" + "_" + r"[A-Za-z0-9]{34,}")
# A literal handed to login(): keyword or first positional argument, or a CLI --token value.
LOGIN_LITERAL_RE = re.compile(
    r"""\blogin\(\s*(?:token\s*=\s*)?[rbuRBUfF]{0,2}(?P<q>['"])(?P<value>.*?)(?P=q)"""
    r"""|--token(?:\s+|=)(?P<q2>['"]?)(?P<cli>[A-Za-z0-9_-]{16,})(?P=q2)(?![^\s;|&)])"""
)

_PLACEHOLDER_WORDS = re.compile(r"(?i)your|token|example|placeholder|redacted|dummy|insert|paste|changeme|secret")
_PLACEHOLDER_ONLY = re.compile(r"[xX*.…•_\-<>{}\[\]#\s]*")
_TEMPLATE = re.compile(r"<[^<>]*>|\{[^{}]*\}|\$\{?\w+\}?|%\w+%")
_ZERO_WIDTH = re.compile("[\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff]")
_TAG = re.compile(r"<[^<>]{0,400}>")
# \uXXXX, \xXX, \UXXXXXXXX; the escaped characters of a JSON or Python string (\" \' \\ \/); an escaped
# line break or tab (\n \r \t), read as a line break: JSON text holds a line-wrapped token as "hf_abc\ndef".
_ESCAPE = re.compile(r"""\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|\\U([0-9a-fA-F]{8})|\\(["'\\/])|\\[nrt]""")
_STRING = re.compile(
    r"""(?P<prefix>[rRbBuUfF]{0,2})(?P<lit>'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")""",
    re.S,
)
_JOIN_GAP = re.compile(r"[\s+\\()]*")  # what may stand between two literals that Python (or JS) joins
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{32,}={0,2}")
_BINARY_MIME = re.compile(r"^(image/(?!svg)|audio/|video/|application/(pdf|octet-stream|zip|x-))")


def is_placeholder(value: str) -> bool:
    """True for a stand-in rather than a credential: ``YOUR_TOKEN``, ``hf_xxx…``, ``hf_...``, ``$HF_TOKEN``, ``<token>``.

    Anything else given to ``login()`` as a literal counts as a secret, even ``'abc'``: a guard that
    must never let a token through errs on the side of refusing.
    """
    text = value.strip()
    core = text[3:] if text[:3].lower() == "hf_" else text
    if _PLACEHOLDER_ONLY.fullmatch(core) or _TEMPLATE.fullmatch(text):
        return True
    if re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+", text):  # an environment variable's name: HF_TOKEN, MY_HF_KEY
        return True
    if TOKEN_RE.fullmatch(text) and len(set(core.lower())) <= 5:  # 'hf_aaaa…', 'hf_abcabc…': no real token is that repetitive
        return True
    # A word like "your" or "token" in it, and no digit: 'hf_yourtokenhere…'. A random 34-character
    # token has no digit with probability 0.25 % and holds such a word with ~0.03 %: both, ~1e-6.
    return bool(_PLACEHOLDER_WORDS.search(core)) and not re.search(r"\d", core)


def _tokens_in(text: str) -> bool:
    return any(not is_placeholder(m.group()) for m in TOKEN_RE.finditer(text))


def _login_literal_in(text: str) -> bool:
    for m in LOGIN_LITERAL_RE.finditer(text):
        value = m.group("value") if m.group("q") else m.group("cli")
        if value is not None and not is_placeholder(value):
            return True
    return False


def _has_secret(text: str) -> bool:
    return _tokens_in(text) or _login_literal_in(text)


def _unescape(text: str) -> str:
    """JSON/Python escapes (``\\uXXXX``, ``\\xXX``, ``\\"``, ``\\n``...), HTML entities, URL escapes decoded; tags, invisible characters removed."""
    def one(m: re.Match) -> str:
        code = m.group(1) or m.group(2) or m.group(3)
        if code:
            number = int(code, 16)
            return chr(number) if number <= 0x10FFFF else m.group()  # \UFFFFFFFF is no character: kept
        return m.group(4) or "\n"

    text = _ESCAPE.sub(one, text)
    text = html.unescape(text)
    text = _TAG.sub("", text)
    text = _ZERO_WIDTH.sub("", text)
    if "%" in text:
        text = unquote(text)
    return text


def normalise(text: str) -> str:
    """``text`` with escapes decoded, tags and invisible characters removed (twice: ``&amp;#95;`` too)."""
    return _unescape(_unescape(text))


def _literal_value(prefix: str, literal: str) -> str:
    """The text of one string literal, escapes decoded unless it is raw."""
    quote = 3 if literal[:3] in ("'''", '"""') else 1
    body = literal[quote:-quote]
    if "r" in prefix.lower() or "\\" not in body:
        return body
    try:
        return codecs.decode(body.encode("latin-1", "backslashreplace"), "unicode_escape")
    except (UnicodeDecodeError, UnicodeEncodeError, ValueError):
        return body


def joined_literals(text: str) -> list[tuple[int, str]]:
    """``(offset, value)`` of every run of string literals that the language joins: adjacent or with ``+``."""
    runs: list[tuple[int, str]] = []
    start, parts, end = -1, [], -1
    for m in _STRING.finditer(text):
        value = _literal_value(m.group("prefix"), m.group("lit"))
        lit_start = m.start("lit")
        if parts and _JOIN_GAP.fullmatch(text, end, lit_start):
            parts.append(value)
        else:
            if parts:
                runs.append((start, "".join(parts)))
            start, parts = lit_start, [value]
        end = m.end()
    if parts:
        runs.append((start, "".join(parts)))
    return runs


def base64_texts(text: str) -> list[tuple[int, str]]:
    """``(offset, decoded text)`` for every base64 run in ``text`` that decodes (standard or URL-safe alphabet)."""
    found = []
    for m in _BASE64_RUN.finditer(text):
        decoded = _b64decode(m.group())
        if decoded is not None:
            found.append((m.start(), decoded))
    return found


def _b64decode(data: str) -> str | None:
    data = re.sub(r"\s+", "", data).rstrip("=")
    if len(data) % 4 == 1:
        data = data[:-1]
    data += "=" * (-len(data) % 4)
    try:
        raw = base64.urlsafe_b64decode(data) if ("-" in data or "_" in data) else base64.b64decode(data)
    except (binascii.Error, ValueError):
        return None
    return raw.decode("latin-1")  # every byte a character: ASCII text inside binary survives


def _decoded_has_secret(decoded: str) -> bool:
    return _has_secret(decoded) or _has_secret(normalise(decoded)) or any(
        _tokens_in(value) for _, value in joined_literals(decoded))


def line_has_secret(line: str) -> bool:
    """True if one line holds an HF token or a literal token given to login(), after normalising it."""
    if _has_secret(line):
        return True
    if _has_secret(normalise(line)):
        return True
    # Joined literals are searched for tokens only: a login() call is code, not the value of a literal
    # (and test code assembles "log" + "in(...)" on purpose).
    return any(_tokens_in(value) or _tokens_in(normalise(value)) for _, value in joined_literals(line))


def secret_lines(text: str, decode_base64: bool = False) -> list[int]:
    """1-based numbers of the lines where a secret starts (across lines, literals, escapes, base64)."""
    lines = text.splitlines()
    if "\x00" in text:  # binary: only the plain shape, line by line
        return [n for n, line in enumerate(lines, 1) if _tokens_in(line)]
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def line_of(offset: int) -> int:
        return max(1, bisect_right(starts, offset))

    found = {n for n, line in enumerate(lines, 1) if line_has_secret(line)}
    # A token wrapped over several lines: normalise each line, strip the indentation, join. A line break
    # that normalising makes (an escaped \n in JSON text, ``&#10;``) is one more line: stripped the same way.
    norm = ["".join(part.strip() for part in normalise(line).splitlines()) for line in lines]
    joined_starts, pos = [], 0
    for piece in norm:
        joined_starts.append(pos)
        pos += len(piece)
    joined = "".join(norm)
    for m in TOKEN_RE.finditer(joined):
        if not is_placeholder(m.group()):
            found.add(bisect_right(joined_starts, m.start()))
    for offset, value in joined_literals(text):
        if _tokens_in(value) or _tokens_in(normalise(value)):
            found.add(line_of(offset))
    if decode_base64:
        for offset, decoded in base64_texts(text):
            if _decoded_has_secret(decoded):
                found.add(line_of(offset))
    return sorted(found)


def text_has_secret(text: str, decode_base64: bool = False) -> bool:
    """True if :func:`secret_lines` finds anything."""
    return bool(secret_lines(text, decode_base64))


def scan_text(text: str, where: str, decode_base64: bool = False) -> list[str]:
    """``where:line`` for every line of ``text`` where a secret starts."""
    return [f"{where}:{number}" for number in secret_lines(text, decode_base64)]


def _joined(value) -> str:
    """The text of a notebook string: a list of lines joined; anything that is not text written as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(item if isinstance(item, str) else json.dumps(item, default=str) for item in value)
    return json.dumps(value, default=str)


def _json_strings(value) -> Iterator[str]:
    """Every string in a JSON value (keys too), and every list of strings joined (nbformat's multi-line text).

    Each is scanned as the text it holds, not as its JSON (``login(\\"...\\")``, ``hf_abc\\ndef``), and a
    token split over the lines of a list is found in the joined text.
    """
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _json_strings(item)
    elif isinstance(value, list):
        if len(value) > 1 and all(isinstance(item, str) for item in value):
            yield "".join(value)
        for item in value:
            yield from _json_strings(item)


def _json_has_secret(value) -> bool:
    """True if a string of a JSON value (metadata, an ``application/json`` output, ...) holds a secret."""
    return any(text_has_secret(text, decode_base64=True) for text in _json_strings(value))


_OUTPUT_TEXT_KEYS = ("text", "traceback", "evalue", "ename", "data")


def _output_has_secret(output) -> bool:
    """Every part of one cell output: stream text, data of every MIME type (binary ones base64-decoded),
    traceback, metadata and any other key."""
    if not isinstance(output, dict):
        return _json_has_secret(output)
    for key in ("text", "evalue", "ename"):
        value = output.get(key)
        if value and text_has_secret(_joined(value), decode_base64=True):
            return True
    traceback = output.get("traceback")
    if traceback:
        lines = [_joined(line) for line in traceback] if isinstance(traceback, list) else [_joined(traceback)]
        if text_has_secret("\n".join(lines), decode_base64=True):
            return True
    data = output.get("data") or {}
    for mime, value in (data.items() if isinstance(data, dict) else [("", data)]):
        if _BINARY_MIME.match(mime) and isinstance(value, (str, list)):
            decoded = _b64decode(_joined(value))
            if decoded is not None and _decoded_has_secret(decoded):
                return True
            continue
        if _json_has_secret(value):
            return True
    return _json_has_secret({key: value for key, value in output.items() if key not in _OUTPUT_TEXT_KEYS})


def _streams_have_secret(outputs: list) -> bool:
    """A token split over several stream outputs of one cell (written a piece at a time): their text joined."""
    streams = [output for output in outputs if isinstance(output, dict) and output.get("output_type") == "stream"]
    return len(streams) > 1 and text_has_secret("".join(_joined(o.get("text", "")) for o in streams), decode_base64=True)


def _attachment_has_secret(bundle) -> bool:
    if not isinstance(bundle, dict):
        return _json_has_secret(bundle)
    for value in bundle.values():
        decoded = _b64decode(_joined(value))
        if decoded is not None and _decoded_has_secret(decoded):
            return True
        if _json_has_secret(value):
            return True
    return False


def scan_notebook_json(nb: dict, name: str) -> list[str]:
    """``name: cell N source line L`` / ``... attachment A`` / ``... output`` / ``... metadata`` for every secret.

    Every string of the outputs, attachments and metadata is read as the text it holds (JSON escapes decoded,
    lists of lines joined); a cell that is not a JSON object is named ``name: cell N``.
    """
    hits: list[str] = []
    for index, cell in enumerate(nb.get("cells", []), 1):
        if not isinstance(cell, dict):
            if _json_has_secret(cell):
                hits.append(f"{name}: cell {index}")
            continue
        for number in secret_lines(_joined(cell.get("source", ""))):
            hits.append(f"{name}: cell {index} source line {number}")
        attachments = cell.get("attachments") or {}
        for attachment, bundle in (attachments.items() if isinstance(attachments, dict) else [("", attachments)]):
            if _attachment_has_secret(bundle):
                hits.append(f"{name}: cell {index} attachment {attachment}".rstrip())
        outputs = cell.get("outputs") or []
        outputs = outputs if isinstance(outputs, list) else [outputs]
        if any(_output_has_secret(output) for output in outputs) or _streams_have_secret(outputs):
            hits.append(f"{name}: cell {index} output")
        if cell.get("metadata") and _json_has_secret(cell["metadata"]):
            hits.append(f"{name}: cell {index} metadata")
    rest = {key: value for key, value in nb.items() if key != "cells"}
    if _json_has_secret(rest):
        hits.append(f"{name}: notebook metadata")
    return hits


def scan_file(path: Path, name: str | None = None) -> list[str]:
    """Secrets in one file; notebooks cell by cell (plus a raw pass), anything else line by line."""
    name = name or str(path)
    raw = Path(path).read_bytes().decode("utf-8", errors="ignore")
    if str(path).endswith(".ipynb"):
        try:
            nb = json.loads(raw)
        except json.JSONDecodeError:
            return scan_text(raw, name)
        if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
            return scan_text(raw, name)
        hits = scan_notebook_json(nb, name)
        if not hits and secret_lines(raw):
            hits.append(f"{name}: somewhere in the notebook file")
        return hits
    return scan_text(raw, name)
