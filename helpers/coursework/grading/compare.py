"""Comparisons of a student's output with the instructor solution's, on plain values.

Outputs leave the sandbox as JSON (see ``harness.to_plain``): arrays and tensors become
``{"__array__": nested lists, "dtype": ..., "shape": [...]}``, non-finite floats
``{"__float__": "nan" | "inf" | "-inf"}``, tuples lists, dataclasses dicts. Each comparison
returns ``(passed, message)``; the message names the first difference.
"""
from __future__ import annotations

import math
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
    if isinstance(value, np.ndarray):
        return f"array of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


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
            index = tuple(int(i) for i in np.argwhere(~same)[0])
            return False, (f"{where}: {int((~same).sum())} of {same.size} values differ; at index {index} "
                           f"got {got_f[index]:.6g}, expected {exp_f[index]:.6g}")
        return True, ""
    if isinstance(expected, bool) or isinstance(got, bool):
        return (got is expected or got == expected) and type(got) is type(expected), f"{where}: expected {expected!r}, got {_describe(got)}"
    if isinstance(expected, (int, float)):
        if isinstance(got, np.ndarray) and got.size == 1:
            got = got.item()
        if not isinstance(got, (int, float)):
            return False, f"{where}: expected a number, got {_describe(got)}"
        if math.isnan(expected) and math.isnan(got):
            return True, ""
        if got == expected or math.isclose(got, expected, rel_tol=rtol, abs_tol=atol):
            return True, ""
        return False, f"{where}: expected {expected:.6g}, got {got:.6g}"
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
        if not isinstance(got, dict) or set(got) != set(expected):
            return False, f"{where}: expected keys {sorted(expected)}, got {_describe(got)}"
        for key in expected:
            ok, message = _close(got[key], expected[key], atol, rtol, f"{where}[{key!r}]")
            if not ok:
                return ok, message
        return True, ""
    return got == expected, f"{where}: expected {_describe(expected)}, got {_describe(got)}"


def allclose(atol: float = 1e-5, rtol: float = 1e-4):
    """Same structure; numbers and arrays equal within ``atol + rtol * |expected|``; the rest exactly."""
    def compare(got: Any, expected: Any) -> tuple[bool, str]:
        return _close(decode(got), decode(expected), atol, rtol, "output")
    compare.__name__ = f"allclose(atol={atol}, rtol={rtol})"
    return compare


def exact():
    """Same value exactly (strings, ids, lists, dicts; arrays element by element)."""
    return allclose(atol=0.0, rtol=0.0)
