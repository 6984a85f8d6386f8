"""Comparisons of outputs that came out of the sandbox (plain JSON), and the harness's encoding of them."""
import math

import numpy as np
import pytest
import torch

from helpers.coursework.grading import compare
from helpers.coursework.grading.harness import to_plain


def plain(value):
    return to_plain(value)


def test_tensors_with_inf_and_nan_round_trip():
    t = torch.tensor([[1.0, float("-inf")], [float("nan"), 2.5]])
    back = compare.decode(plain(t))
    assert back.shape == (2, 2) and back[0, 1] == -math.inf and math.isnan(back[1, 0]) and back[1, 1] == 2.5
    assert compare.allclose()(plain(t), plain(t.clone()))[0]


@pytest.mark.parametrize("got, expected, ok, words", [
    (torch.ones(3), torch.ones(3), True, ""),
    (torch.ones(3) + 1e-7, torch.ones(3), True, ""),
    (torch.ones(3) + 1e-2, torch.ones(3), False, "3 of 3 values differ"),
    (torch.ones(2, 3), torch.ones(3, 2), False, "expected shape (3, 2), got (2, 3)"),
    (torch.tensor([1.0, float("-inf")]), torch.tensor([1.0, 0.0]), False, "1 of 2 values differ"),
    (torch.tensor([1, 2]), torch.tensor([1, 2]), True, ""),
    (torch.tensor([1.0, 2.0]), torch.tensor([1, 2]), False, "expected integers"),
    ([("a", 0.5), ("b", 0.25)], [("a", 0.5), ("b", 0.25)], True, ""),
    ([("a", 0.5)], [("a", 0.5), ("b", 0.25)], False, "expected 2 items, got 1"),
    ("Red.", "Red", False, "the text differs from the instructor's from character 3 on"),
    (0.30001, 0.3, True, ""),
    (True, 1, False, ""),
    ({"x": 1}, {"y": 1}, False, "expected a dict with keys ['y']"),
])
def test_allclose_names_the_difference(got, expected, ok, words):
    passed, message = compare.allclose()(plain(got), plain(expected))
    assert passed is ok and words in message


def test_exact_has_no_tolerance():
    assert not compare.exact()(plain(1.0 + 1e-12), plain(1.0))[0]
    assert compare.exact()(plain([1, "a"]), plain((1, "a")))[0]


def test_unreadable_outputs_are_refused():
    with pytest.raises(TypeError, match="cannot read"):
        to_plain(object())
    with pytest.raises(ValueError, match="too large"):
        to_plain(torch.zeros(2_000_001))
    with pytest.raises(ValueError, match="does not fill"):
        compare.decode({"__array__": [1, 2], "dtype": "int64", "shape": [3]})
    assert to_plain(np.float32(0.5)) == 0.5 and to_plain(np.int64(3)) == 3
