"""Find Hugging Face tokens before they leave the machine: in repo files, notebooks and submissions.

A real token is ``hf_`` followed by 34 letters/digits. Two shapes are flagged: such a token, and
``login(token=...)`` (or ``login("...")``, ``--token ...``) with a literal that is not a placeholder.

The scan looks at *normalised* text, not only at the literal lines, so that a token is found when it is
* split over lines, or over adjacent string literals (``"hf_abc" "def"``, ``("hf_abc"\\n "def")``),
  or joined with ``+`` (``"hf_" + "abc..."``);
* escaped: JSON/Python escapes (``hf\\u005f...``), HTML entities (``hf&#95;...``), URL escapes
  (``hf%5F...``), or broken by HTML tags (``hf_<b></b>abc``) or invisible characters;
* base64-encoded in a notebook output, an attachment or the notebook metadata.

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
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|\\U([0-9a-fA-F]{8})|\\/")
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
    """JSON/Python ``\\uXXXX``/``\\xXX`` escapes, HTML entities, URL escapes, tags and invisible characters removed."""
    def one(m: re.Match) -> str:
        code = m.group(1) or m.group(2) or m.group(3)
        return chr(int(code, 16)) if code else "/"

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
    # A token wrapped over several lines: normalise each line, strip the indentation, join.
    norm = [normalise(line).strip() for line in lines]
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
    return "".join(value) if isinstance(value, list) else str(value)


def _output_has_secret(output: dict) -> bool:
    """Every part of one cell output: stream text, data of every MIME type (binary ones base64-decoded), traceback."""
    for key in ("text", "traceback", "evalue", "ename"):
        value = output.get(key)
        if value and text_has_secret(_joined(value) if key != "traceback" else "\n".join(value), decode_base64=True):
            return True
    for mime, value in (output.get("data") or {}).items():
        if _BINARY_MIME.match(mime) and isinstance(value, (str, list)):
            decoded = _b64decode(_joined(value))
            if decoded is not None and _decoded_has_secret(decoded):
                return True
            continue
        text = _joined(value) if isinstance(value, (str, list)) else json.dumps(value)
        if text_has_secret(text, decode_base64=True):
            return True
    return text_has_secret(json.dumps(output.get("metadata") or {}), decode_base64=True)


def _attachment_has_secret(bundle: dict) -> bool:
    for mime, value in (bundle or {}).items():
        text = _joined(value) if isinstance(value, (str, list)) else json.dumps(value)
        decoded = _b64decode(text)
        if decoded is not None and _decoded_has_secret(decoded):
            return True
        if text_has_secret(text, decode_base64=True):
            return True
    return False


def scan_notebook_json(nb: dict, name: str) -> list[str]:
    """``name: cell N source line L`` / ``... attachment A`` / ``... output`` / ``... metadata`` for every secret."""
    hits: list[str] = []
    for index, cell in enumerate(nb.get("cells", []), 1):
        for number in secret_lines(_joined(cell.get("source", ""))):
            hits.append(f"{name}: cell {index} source line {number}")
        for attachment, bundle in (cell.get("attachments") or {}).items():
            if _attachment_has_secret(bundle):
                hits.append(f"{name}: cell {index} attachment {attachment}")
        if any(_output_has_secret(output) for output in cell.get("outputs", []) or []):
            hits.append(f"{name}: cell {index} output")
        if cell.get("metadata") and text_has_secret(json.dumps(cell["metadata"]), decode_base64=True):
            hits.append(f"{name}: cell {index} metadata")
    rest = {key: value for key, value in nb.items() if key != "cells"}
    if text_has_secret(json.dumps(rest, indent=1), decode_base64=True):
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
