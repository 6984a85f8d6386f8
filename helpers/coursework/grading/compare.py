"""Comparisons of a student's output with the instructor solution's, on plain values.

Outputs leave the sandbox as JSON (see ``harness.to_plain``): arrays and tensors become
``{"__array__": nested lists, "dtype": ..., "shape": [...]}``, non-finite floats
``{"__float__": "nan" | "inf" | "-inf"}``, tuples lists, dataclasses dicts. Each comparison
returns ``(passed, message)``; the message names the first difference.
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

MAX_ELEMENTS = 5_000_000


def _floats(data: Any) -> Any:
    """Nested lists with ``{"__float__": "-inf"}`` turned back into floats."""
    if isinstance(data, list):
        return [_floats(v) for v in data]
    if isinstance(data, dict) and "__float__" in data:
        return float(data["__float__"])
    return data


def decode(value: Any) -> Any:
    """Plain JSON value -> numpy arrays and floats where the harness encoded them."""
    if isinstance(value, dict):
        if "__array__" in value:
            shape = tuple(int(s) for s in value.get("shape", ()))
            if math.prod(shape) > MAX_ELEMENTS:
                raise ValueError(f"array of shape {shape} is too large")
            floating = str(value.get("dtype", "")).startswith(("float", "bfloat"))
            array = np.asarray(_floats(value["__array__"]), dtype=np.float64 if floating else None)
            if array.size != math.prod(shape):
                raise ValueError(f"array data does not fill its shape {shape}")
            return array.reshape(shape)
        if "__float__" in value:
            return float(value["__float__"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def _describe(value: Any) -> str:
    """What kind of value a student returned (type and shape), never the value itself: it may echo a hidden input."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {tuple(value.shape)}"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    if value is None:
        return "None"
    return _a(type(value).__name__)


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _how_far(difference: float, allowed: float) -> str:
    """How far off, in kind: just outside the tolerance (precision, dtype) or clearly wrong; never by how much exactly."""
    if not math.isfinite(difference):
        return "clearly wrong (an infinity or NaN where the instructor's value is finite, or the reverse)"
    if difference <= 100 * allowed:
        return "close, but outside the tolerance (precision: a dtype, float64 vs float32, an order of operations?)"
    return "clearly wrong (far outside the tolerance)"


def _text_difference(got: str, expected: str, where: str) -> str:
    if got.strip() == expected.strip():
        return f"{where}: the text differs only in surrounding whitespace (strip it?)"
    if got.casefold() == expected.casefold():
        return f"{where}: the text differs only in upper/lower case"
    first = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
    return f"{where}: the text differs from the instructor's from character {first} on"


def _close(got: Any, expected: Any, atol: float, rtol: float, where: str) -> tuple[bool, str]:
    if isinstance(expected, np.ndarray):
        if not isinstance(got, np.ndarray):
            try:
                got = np.asarray(got, dtype=np.float64)
            except (TypeError, ValueError):
                return False, f"{where}: expected an array of shape {expected.shape}, got {_describe(got)}"
        if got.shape != expected.shape:
            return False, f"{where}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
        if expected.dtype.kind in "biu" and got.dtype.kind not in "biu":
            return False, f"{where}: expected integers (dtype {expected.dtype}), got dtype {got.dtype}"
        if got.dtype.kind not in "biuf":
            return False, f"{where}: expected numbers, got dtype {got.dtype}"
        got_f, exp_f = got.astype(np.float64), expected.astype(np.float64)
        same = np.isclose(got_f, exp_f, atol=atol, rtol=rtol, equal_nan=True) | (got_f == exp_f)
        if not same.all():
            wrong = np.argwhere(~same)
            index = tuple(int(i) for i in wrong[0])
            with np.errstate(invalid="ignore"):
                gap = np.abs(got_f - exp_f)[~same]
            worst = float(gap.max()) if np.isfinite(gap).all() else math.inf
            scale = float(np.abs(exp_f[np.isfinite(exp_f)]).max()) if np.isfinite(exp_f).any() else 0.0
            rows = sorted({int(i[0]) for i in wrong}) if got_f.ndim > 1 else []
            where_rows = f"; rows {rows[:8]}{' …' if len(rows) > 8 else ''}" if rows else ""
            return False, (f"{where}: {int((~same).sum())} of {same.size} values differ (the first at index {index}"
                           f"{where_rows}); {_how_far(worst, atol + rtol * scale)}")
        return True, ""
    if isinstance(expected, bool) or isinstance(got, bool):
        if type(got) is not type(expected):
            return False, f"{where}: expected {_a(type(expected).__name__)}, got {_describe(got)}"
        return got is expected or got == expected, f"{where}: the truth value is wrong"
    if isinstance(expected, (int, float)):
        if isinstance(got, np.ndarray) and got.size == 1:
            got = got.item()
        if not isinstance(got, (int, float)):
            return False, f"{where}: expected a number, got {_describe(got)}"
        if math.isnan(expected) and math.isnan(got):
            return True, ""
        if got == expected or math.isclose(got, expected, rel_tol=rtol, abs_tol=atol):
            return True, ""
        if isinstance(expected, int) and atol == 0 and rtol == 0:
            return False, f"{where}: the number is wrong"
        return False, f"{where}: the number is {_how_far(abs(got - expected), atol + rtol * abs(expected))}"
    if isinstance(expected, list):
        if not isinstance(got, list):
            return False, f"{where}: expected a list of {len(expected)}, got {_describe(got)}"
        if len(got) != len(expected):
            return False, f"{where}: expected {len(expected)} items, got {len(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            ok, message = _close(g, e, atol, rtol, f"{where}[{i}]")
            if not ok:
                return ok, message
        return True, ""
    if isinstance(expected, dict):
        structural = all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,30}", str(k)) for k in expected)
        if not isinstance(got, dict) or set(got) != set(expected):
            keys = f"keys {sorted(expected)}" if structural else f"{len(expected)} keys"
            return False, f"{where}: expected a dict with {keys}, got {_describe(got)}" + (
                f" with {len(got)} keys" if isinstance(got, dict) else "")
        for n, key in enumerate(expected):
            ok, message = _close(got[key], expected[key], atol, rtol, f"{where}[{key!r}]" if structural else f"{where}[key {n}]")
            if not ok:
                return ok, message
        return True, ""
    if isinstance(expected, str):
        if not isinstance(got, str):
            return False, f"{where}: expected a string, got {_describe(got)}"
        return got == expected, _text_difference(got, expected, where)
    same = type(got) is type(expected) and got == expected
    if same is not True and type(got) is not type(expected):
        return False, f"{where}: expected {_describe(expected)}, got {_describe(got)}"
    return same is True, f"{where}: the value differs"


def allclose(atol: float = 1e-5, rtol: float = 1e-4):
    """Same structure; numbers and arrays equal within ``atol + rtol * |expected|``; the rest exactly."""
    def compare(got: Any, expected: Any) -> tuple[bool, str]:
        return _close(decode(got), decode(expected), atol, rtol, "output")
    compare.__name__ = f"allclose(atol={atol}, rtol={rtol})"
    return compare


def exact():
    """Same value exactly (strings, ids, lists, dicts; arrays element by element)."""
    return allclose(atol=0.0, rtol=0.0)


# ----------------------------------------------------------------------------- what a student may read

ERROR_LINE_CHARS = 80  # of the first line of an error the student's code raised
_KIND = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,39}")
_NUMBER_RUN = re.compile(r"(?:[-+]?\d[\d.eE+-]*\s*[,;]\s*){2,}[-+]?\d[\d.eE+-]*")
_DECIMAL = re.compile(r"[-+]?\d+\.\d+(?:[eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+|\d{3,}|[-+]?\b(?:inf|nan)\b")
_WORD = re.compile(r"\w{3,}")
# Words too common to redact: English function words and the vocabulary of Python and torch error messages.
_COMMON = frozenset("""
a about above after again against all also an and any are as at be because been before being below between both
but by can could did do does doing down during each either else even ever every few for from further get got had
has have having here how if in into is it its just least less like made make many may might more most much must
near neither never new no nor not now of off often old on once one only or other our out over own per same shall
she should since so some such than that the their them then there these they this those though through time times
to too two under until up upon us use used uses using very via was way we well were what when where whether which
while who whom whose why will with within without would yet you your
argument arguments attribute call called callable cannot dimension dimensions dtype element elements error
expected float found given index indices input inputs int integer invalid item items key keys list long match
missing module none number object output outputs positional range required return returned self shape shapes
should size sizes string tensor tensors true false tuple type types value values wrong
model models layer layers head heads token tokens text word words step steps row rows column columns""".split())


def secret_words(values: Any, out: set | None = None) -> set[str]:
    """Strings and words (3+ characters) in hidden inputs or expected outputs (plain values, as sent or received)."""
    out = set() if out is None else out
    if isinstance(value := values, dict):
        if "__ref__" in value or "__array__" in value:  # a model placeholder; an array has numbers only
            return out
        for key, v in value.items():
            if key not in ("__make__", "dtype", "shape"):
                secret_words(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            secret_words(v, out)
    elif isinstance(value, str):
        if len(value.strip()) >= 3:
            out.add(value.strip())
        out |= {w for w in _WORD.findall(value) if w.casefold() not in _COMMON}
    return out


def redact(text: str, secrets: set[str]) -> str:
    """``text`` with every secret (a hidden input's or an expected output's string or word of 3+ letters), every list
    of numbers, every decimal number, every number of 3+ digits (token ids, features) and inf/nan replaced by ``…``;
    small integers (a shape, a dimension) stay."""
    text = _NUMBER_RUN.sub("…", text)
    text = _DECIMAL.sub("…", text)
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 3 and secret.casefold() in text.casefold():
            text = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", "…", text, flags=re.IGNORECASE)
    return text


def student_error(text: Any, secrets: set[str] = frozenset()) -> str:
    """An error raised by the student's code as the student may read it: the exception type and the first line of
    its message, cut to ``ERROR_LINE_CHARS`` and redacted (``redact``). Its full text could carry hidden inputs out."""
    text = str(text or "error")
    kind, sep, rest = text.partition(": ")
    if not sep or not _KIND.fullmatch(kind):
        kind, rest = "", text
    lines = rest.strip().splitlines()
    first = redact(lines[0].strip() if lines else "", set(secrets))[:ERROR_LINE_CHARS]
    return f"{kind}: {first}" if kind else first

