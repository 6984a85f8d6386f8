"""compare.allclose / exact / decode on hand-made plain values: tolerance edges, types, shapes, messages."""
import numpy as np
import pytest

from helpers.coursework.grading import compare


def arr(data, dtype="float32", shape=None):
    return {"__array__": data, "dtype": dtype, "shape": shape if shape is not None else list(np.shape(data))}


# ----------------------------------------------------------------------------- decode

def test_decode_arrays_floats_and_containers():
    got = compare.decode({"a": arr([[1, 2], [3, 4]], "int64"), "b": [arr([1.5, {"__float__": "-inf"}]), {"__float__": "nan"}],
                          "c": "text", "d": 3})
    assert got["a"].dtype.kind == "i" and got["a"].tolist() == [[1, 2], [3, 4]] and got["a"].shape == (2, 2)
    assert got["b"][0].dtype == np.float64 and got["b"][0][0] == 1.5 and got["b"][0][1] == -np.inf
    assert np.isnan(got["b"][1]) and got["c"] == "text" and got["d"] == 3


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "bfloat16"])
def test_decode_floating_arrays_are_float64(dtype):
    assert compare.decode(arr([1, 2], dtype)).dtype == np.float64


def test_decode_keeps_integers_and_booleans():
    assert compare.decode(arr([1, 2], "int32")).dtype.kind == "i"
    assert compare.decode(arr([True, False], "bool")).dtype == np.bool_
    assert compare.decode({"__array__": [7], "shape": []}).shape == ()  # a scalar tensor


def test_decode_size_limit(monkeypatch):
    monkeypatch.setattr(compare, "MAX_ELEMENTS", 4)
    assert compare.decode(arr([[1, 2], [3, 4]])).shape == (2, 2)
    with pytest.raises(ValueError) as info:
        compare.decode(arr([1, 2, 3, 4, 5]))
    assert str(info.value) == "array of shape (5,) is too large"


def test_decode_refuses_data_that_does_not_fill_its_shape():
    with pytest.raises(ValueError) as info:
        compare.decode(arr([1, 2], "int64", [3]))
    assert str(info.value) == "array data does not fill its shape (3,)"


def test_floats_only_turns_float_markers_into_floats():
    assert compare._floats([1, [{"__float__": "inf"}], {"other": 1}]) == [1, [float("inf")], {"other": 1}]


def test_describe():
    assert compare._describe(np.zeros((2, 3))) == "array of shape (2, 3)"
    assert compare._describe("x" * 78) == repr("x" * 78)  # 80 characters: kept
    long = compare._describe("y" * 79)
    assert long == repr("y" * 79)[:77] + "..." and len(long) == 80


# ----------------------------------------------------------------------------- tolerances

def check(got, expected, **tol):
    return compare.allclose(**tol)(got, expected)


@pytest.mark.parametrize("got, ok", [(9e-6, True), (1.1e-5, False)])
def test_default_absolute_tolerance_is_1e_5(got, ok):
    assert check(got, 0.0)[0] is ok
    assert check(arr([got]), arr([0.0]))[0] is ok


@pytest.mark.parametrize("got, ok", [(1000.1, True), (1000.2, False)])
def test_default_relative_tolerance_is_1e_4(got, ok):
    assert check(got, 1000.0)[0] is ok
    assert check(arr([got]), arr([1000.0]))[0] is ok


def test_absolute_and_relative_tolerance_are_not_swapped():
    assert check(1.5, 1.0, atol=0.5, rtol=0.0)[0] and not check(1.5000001, 1.0, atol=0.5, rtol=0.0)[0]
    assert check(3.0, 2.0, atol=0.0, rtol=0.5)[0] and not check(3.0, 2.0, atol=0.5, rtol=0.0)[0]
    assert check(arr([1.5]), arr([1.0]), atol=0.5, rtol=0.0)[0]
    assert not check(arr([1.5000001]), arr([1.0]), atol=0.5, rtol=0.0)[0]
    assert check(arr([3.0]), arr([2.0]), atol=0.0, rtol=0.5)[0] and not check(arr([3.0]), arr([2.0]), atol=0.5, rtol=0.0)[0]


def test_array_tolerance_is_relative_to_the_expected_value():
    assert check(arr([2.0]), arr([3.0]), atol=0.0, rtol=0.4)[0]      # |1| <= 0.4 * 3
    assert not check(arr([3.0]), arr([2.0]), atol=0.0, rtol=0.4)[0]  # |1| >  0.4 * 2


def test_exact_has_no_tolerance_but_equal_values_pass():
    assert compare.exact()(arr([1.0, 2.0]), arr([1.0, 2.0])) == (True, "")
    assert not compare.exact()(arr([1.0, 2.0 + 2**-40]), arr([1.0, 2.0]))[0]
    assert compare.exact()(7, 7) == (True, "") and not compare.exact()(7.000000001, 7)[0]


def test_comparison_names():
    assert compare.allclose().__name__ == "allclose(atol=1e-05, rtol=0.0001)"
    assert compare.allclose(atol=0.5, rtol=0.25).__name__ == "allclose(atol=0.5, rtol=0.25)"
    assert compare.exact().__name__ == "allclose(atol=0.0, rtol=0.0)"


# ----------------------------------------------------------------------------- arrays

def test_non_finite_values_compare_as_equal_only_to_themselves():
    same = arr([{"__float__": "nan"}, {"__float__": "inf"}, {"__float__": "-inf"}])
    assert compare.exact()(same, same) == (True, "")
    assert not check(arr([{"__float__": "inf"}]), arr([{"__float__": "-inf"}]))[0]
    assert not check(arr([{"__float__": "nan"}]), arr([1.0]))[0]


def test_array_difference_message_names_count_index_and_values():
    ok, message = check(arr([[1.0, 2.0], [3.0, 4.0]]), arr([[1.0, 2.5], [3.0, 4.5]]))
    assert not ok and message == "output: 2 of 4 values differ; at index (0, 1) got 2, expected 2.5"
    ok, message = check(arr([1.2345678]), arr([1.0]))
    assert message == "output: 1 of 1 values differ; at index (0,) got 1.23457, expected 1"


def test_array_shape_dtype_and_type_mismatches():
    assert check(arr([1.0, 2.0]), arr([[1.0, 2.0]])) == (False, "output: expected shape (1, 2), got (2,)")
    assert check(arr([1.0, 2.0], "float32"), arr([1, 2], "int64")) == (
        False, "output: expected integers (dtype int64), got dtype float64")
    assert check(arr([1, 2], "int32"), arr([1.0, 2.0]))[0]  # integers where floats are expected are fine
    assert check(arr([True, False], "bool"), arr([1, 0], "int64"))[0]
    assert check([1.0, 2.0], arr([1.0, 2.0]))[0]  # a plain list is read as an array
    assert check(["a", "b"], arr([1.0, 2.0])) == (False, "output: expected an array of shape (2,), got ['a', 'b']")
    assert compare._close(np.array(["a"], dtype=object), np.array([1.0]), 0, 0, "out") == (
        False, "out: expected numbers, got dtype object")
    assert compare._close(np.array(["a"]), np.array([1.0]), 0, 0, "out") == (False, "out: expected numbers, got dtype <U1")


# ----------------------------------------------------------------------------- numbers, booleans, containers

def test_numbers():
    assert check(3, 3.0) == (True, "")
    assert check(arr([2.5], shape=[1]), 2.5) == (True, "")  # a one-element array counts as its number
    assert check(arr([2.5, 1.0]), 2.5) == (False, "output: expected a number, got array of shape (2,)")
    assert check("2.5", 2.5) == (False, "output: expected a number, got '2.5'")
    assert check(None, 2.5) == (False, "output: expected a number, got None")
    assert check({"__float__": "nan"}, {"__float__": "nan"}) == (True, "")
    assert check({"__float__": "nan"}, 1.0) == (False, "output: expected 1, got nan")
    assert check(1.0, {"__float__": "nan"}) == (False, "output: expected nan, got 1")
    assert check(2.0, 1.0) == (False, "output: expected 1, got 2")


def test_booleans_are_not_numbers():
    assert check(True, True)[0] is True and check(False, False)[0] is True  # (a passing case's message is unused)
    assert check(True, False) == (False, "output: expected False, got True")
    assert check(1, True) == (False, "output: expected True, got 1")
    assert check(True, 1) == (False, "output: expected 1, got True")
    assert check(0, False)[0] is False


def test_lists_item_by_item_with_the_path():
    assert check([1, [2, "a"]], [1, [2, "a"]]) == (True, "")
    assert check([1, [2, 3]], [1, [2, 4]]) == (False, "output[1][1]: expected 4, got 3")
    assert check([1, 2], [1, 2, 3]) == (False, "output: expected 3 items, got 2")
    assert check("12", [1, 2]) == (False, "output: expected a list of 2, got '12'")
    assert check([], []) == (True, "")


def test_dicts_key_by_key_with_the_path():
    assert check({"a": 1, "b": [1.0]}, {"b": [1.0], "a": 1}) == (True, "")
    assert check({"a": 1}, {"a": 1, "b": 2}) == (False, "output: expected keys ['a', 'b'], got {'a': 1}")
    assert check([1], {"a": 1}) == (False, "output: expected keys ['a'], got [1]")
    assert check({"a": {"x": 2}}, {"a": {"x": 3}}) == (False, "output['a']['x']: expected 3, got 2")


def test_anything_else_is_compared_exactly():
    assert check("Red", "Red")[0] is True
    assert check("Red.", "Red") == (False, "output: expected 'Red', got 'Red.'")
    assert check(None, None)[0] is True and check(None, 0)[0] is False
