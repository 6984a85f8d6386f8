"""What every notebook's checks share: the ✓ line, ``require``, dtype tolerances, and the pinned check data.

A check never computes an exercise's answer. It tests properties (shape, dtype, invariants) and compares
the student's output with values pinned when the course is built (``make check-data``): the instructor
solution's output on the check's visible inputs, and the outputs of the usual mistakes on the same inputs,
so a wrong answer still gets the hint that names its mistake. Exact values (ids, text, kept masks) are
pinned as sha256 digests; float tensors as rounded values, or, for the mistakes, as a short random sketch.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path, PurePath

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "checks"
ANY = "any"  # the pinned entry of a check that needs no model
SKETCH_SIZE = 16


def ok(message: str) -> None:
    """Print the success line of a check."""
    print(f"✓ {message}")


def require(condition: bool, hint: str) -> None:
    """Raise ``AssertionError(hint)`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(hint)


# ----------------------------------------------------------------------------- models and dtypes

def is_half(model) -> bool:
    """True for a float16/bfloat16 model (a GPU's): checks then compare with tolerances that fit half precision."""
    import torch

    return next(model.parameters()).dtype in (torch.float16, torch.bfloat16)


def is_float32(model) -> bool:
    """True for a float32 model: the dtype the pinned values were computed in (exact comparisons need it)."""
    import torch

    return next(model.parameters()).dtype == torch.float32


def float_atol(model) -> float:
    """Tolerance that fits the model's dtype: float16 rounds attention weights to ~1e-3, bfloat16 (8 bits of
    mantissa) to ~4e-3 and more after a softmax over rounded logits."""
    import torch

    dtype = next(model.parameters()).dtype
    return {torch.float16: 1e-2, torch.bfloat16: 3e-2}.get(dtype, 1e-4)


def lm_logits(model, input_ids):
    """The model's logits on ``input_ids [1, T]`` (plumbing: no exercise asks for a forward pass alone)."""
    import torch

    with torch.no_grad():
        return model(input_ids=input_ids.to(model.device)).logits


def _name(path) -> str:
    """``offline/lm`` for the offline assets wherever the repository lives; else the hub name."""
    parts = PurePath(str(path)).parts
    return f"offline/{parts[-1]}" if len(parts) >= 3 and parts[-3:-1] == ("data", "offline") else str(path)


def model_key(model) -> str:
    """The pinned data's key for a model: its name, the shape of its configuration and its dtype (float values
    pinned in float32 do not hold for a float16 copy, whose rounding moves them by more than any hint's margin)."""
    c = model.config
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    return f"{_name(c._name_or_path)}|{c.vocab_size}|{c.hidden_size}|{c.num_hidden_layers}|{dtype}"


def tokenizer_key(tokenizer) -> str:
    """The pinned data's key for a tokenizer: its name and vocabulary size."""
    return f"{_name(tokenizer.name_or_path)}|{len(tokenizer)}"


def require_finite(got, what: str, model_values, model) -> None:
    """inf/NaN in a result computed with ``model``. If the model's own output on the same input has them too
    (``model_values()``, computed only then), it overflowed: helpers.backend.check_finite's ``NumericsError``,
    which names the fix (LAB_DTYPE=float32). Otherwise the function made them: a hint."""
    import torch

    from helpers.backend import check_finite

    try:
        values = got.detach() if torch.is_tensor(got) else torch.as_tensor(got, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return  # not numbers: the check's other requirements say what is wrong
    if not values.is_floating_point() or bool(torch.isfinite(values).all()):
        return
    reference = model_values()
    if not bool(torch.isfinite(reference).all()):
        check_finite(values, what)  # raises NumericsError
    bad = int((~torch.isfinite(values)).sum())
    require(False, f"{what} holds inf/NaN ({bad} of {values.numel()} values) although the model's own output on this "
                   "input is finite, so your code made them: " +
                   ("float16 overflows above 65504 and bfloat16 rounds coarsely — compute in float32 (x.float()) "
                    "before softmax, sums or matrix products." if is_half(model) else
                    "look for a division by zero, log(0) or a mean over no positions."))


def model_finite(model, input_ids, what: str = "logits") -> None:
    """Raise helpers.backend's ``NumericsError`` (naming LAB_DTYPE=float32) if the model overflows on ``input_ids``."""
    from helpers.backend import check_finite

    check_finite(lm_logits(model, input_ids), what)


# ----------------------------------------------------------------------------- encoding pinned values

def _plain(value):
    """``value`` as JSON-able Python data (tensors as nested lists)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def digest(value) -> str:
    """sha256 of ``value``'s canonical JSON (ints, strings, bools, lists of them; floats as given)."""
    text = json.dumps(_plain(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def matches(value, pinned_digest) -> bool:
    """True if ``value`` has the pinned digest (False when nothing is pinned)."""
    try:
        return pinned_digest is not None and digest(value) == pinned_digest
    except (TypeError, ValueError):
        return False


def tensor_values(tensor, decimals: int = 6) -> dict:
    """``{"shape", "values"}`` of a float tensor, rounded (the expected output on a visible input)."""
    import torch

    t = torch.as_tensor(tensor).detach().double().cpu()
    return {"shape": list(t.shape), "values": [round(float(v), decimals) for v in t.flatten()]}


def _projection(n: int):
    """A fixed ``[SKETCH_SIZE, n]`` Gaussian matrix (seed 0), scaled by 1/sqrt(n)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    return torch.randn(SKETCH_SIZE, n, generator=generator, dtype=torch.float64) / n ** 0.5


def tensor_sketch(tensor, correct=None) -> dict:
    """``{"shape", "sketch"}``: a random projection of a float tensor (a mistake's output, too big to store), and
    ``"apart"``, its largest difference from the ``correct`` output (a mistake is named only where it differs)."""
    import torch

    t = torch.as_tensor(tensor).detach().double().cpu()
    out = tensor_values(t, 8) if t.numel() <= SKETCH_SIZE else \
        {"shape": list(t.shape), "sketch": [round(float(v), 8) for v in _projection(t.numel()) @ t.flatten()]}
    if correct is not None:
        c = torch.as_tensor(correct).detach().double().cpu()
        out["apart"] = round(float((t - c).abs().max()), 8) if c.shape == t.shape and t.numel() else float("inf")
    return out


def distinct(variant, atol: float) -> bool:
    """True if a pinned mistake's output differs from the correct one by more than ``atol`` somewhere."""
    return variant is not None and variant.get("apart", float("inf")) > atol


def as_tensor(pinned):
    """The pinned values as a float64 tensor of their shape."""
    import torch

    return torch.tensor(pinned["values"], dtype=torch.float64).reshape(pinned["shape"])


def close(got, pinned, atol: float, rtol: float = 0.0) -> bool:
    """``got`` agrees with pinned values (elementwise) or a pinned sketch (the bound elementwise closeness implies)."""
    import torch

    if pinned is None:
        return False
    got = as_tensor(got) if isinstance(got, dict) else torch.as_tensor(got).detach().double().cpu()
    if list(got.shape) != pinned["shape"] or not bool(torch.isfinite(got).all()):
        return False
    if "values" in pinned:
        return torch.allclose(got, as_tensor(pinned), atol=atol, rtol=rtol)
    P = _projection(got.numel())
    bound = P.abs() @ (atol + rtol * got.abs().flatten()) + 1e-7
    return bool(((P @ got.flatten() - torch.tensor(pinned["sketch"], dtype=torch.float64)).abs() <= bound).all())


def max_diff(got, pinned) -> float:
    """The largest elementwise difference from pinned values (inf for another shape)."""
    import torch

    got = (as_tensor(got) if isinstance(got, dict) else torch.as_tensor(got)).detach().double().cpu()
    if list(got.shape) != pinned["shape"]:
        return float("inf")
    return float((got - as_tensor(pinned)).abs().max()) if got.numel() else 0.0


# ----------------------------------------------------------------------------- reading pinned data

@lru_cache(maxsize=None)
def _notebook_data(notebook: str) -> dict:
    path = DATA_DIR / f"{notebook}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the checks' pinned data ships with the course "
                                "(a TA rebuilds it with `make check-data`).")
    return json.loads(path.read_text(encoding="utf-8"))


def pinned(notebook: str, check: str, key: str = ANY) -> dict | None:
    """The pinned data of ``check`` for the model/tokenizer ``key`` (None: nothing pinned for it, properties only)."""
    return _notebook_data(notebook).get(check, {}).get(key)


def pinned_ids(notebook: str, name: str, tokenizer):
    """A visible input that is itself an exercise's output (a templated prompt's ids, ``[1, T]``), pinned for
    this tokenizer; None if none is (the check then uses plain-text inputs only)."""
    import torch

    entry = pinned(notebook, "inputs", tokenizer_key(tokenizer))
    return None if entry is None or name not in entry else torch.tensor([entry[name]], dtype=torch.long)


def unpinned_note(entry) -> str:
    """What a ✓ line adds when no values were pinned for this model."""
    return "" if entry is not None else " (properties only: no expected values are pinned for this model)"
