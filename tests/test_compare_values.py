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


def test_describe_names_the_kind_never_the_value():
    assert compare._describe(np.zeros((2, 3))) == "an array of shape (2, 3)"
    assert compare._describe("a hidden sentence") == "a string of 17 characters"
    assert compare._describe([1, 2]) == "a list of 2" and compare._describe(None) == "None"
    assert compare._describe(2.5) == "a float" and compare._describe({"k": 1}) == "a dict"


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
    assert not ok and message == ("output: 2 of 4 values differ (the first at index (0, 1); rows [0, 1]); "
                                  "clearly wrong (far outside the tolerance)")
    ok, message = check(arr([1.0002]), arr([1.0]))
    assert message == ("output: 1 of 1 values differ (the first at index (0,)); close, but outside the tolerance "
                       "(precision: a dtype, float64 vs float32, an order of operations?)")
    ok, message = check(arr([{"__float__": "-inf"}, 1.0]), arr([0.5, 1.0]))
    assert "an infinity or NaN" in message and "0.5" not in message


def test_array_shape_dtype_and_type_mismatches():
    assert check(arr([1.0, 2.0]), arr([[1.0, 2.0]])) == (False, "output: expected shape (1, 2), got (2,)")
    assert check(arr([1.0, 2.0], "float32"), arr([1, 2], "int64")) == (
        False, "output: expected integers (dtype int64), got dtype float64")
    assert check(arr([1, 2], "int32"), arr([1.0, 2.0]))[0]  # integers where floats are expected are fine
    assert check(arr([True, False], "bool"), arr([1, 0], "int64"))[0]
    assert check([1.0, 2.0], arr([1.0, 2.0]))[0]  # a plain list is read as an array
    assert check(["a", "b"], arr([1.0, 2.0])) == (False, "output: expected an array of shape (2,), got a list of 2")
    assert compare._close(np.array(["a"], dtype=object), np.array([1.0]), 0, 0, "out") == (
        False, "out: expected numbers, got dtype object")
    assert compare._close(np.array(["a"]), np.array([1.0]), 0, 0, "out") == (False, "out: expected numbers, got dtype <U1")


# ----------------------------------------------------------------------------- numbers, booleans, containers

def test_numbers():
    assert check(3, 3.0) == (True, "")
    assert check(arr([2.5], shape=[1]), 2.5) == (True, "")  # a one-element array counts as its number
    assert check(arr([2.5, 1.0]), 2.5) == (False, "output: expected a number, got an array of shape (2,)")
    assert check("2.5", 2.5) == (False, "output: expected a number, got a string of 3 characters")
    assert check(None, 2.5) == (False, "output: expected a number, got None")
    assert check({"__float__": "nan"}, {"__float__": "nan"}) == (True, "")
    wrong = "output: the number is clearly wrong (an infinity or NaN where the instructor's value is finite, or the reverse)"
    assert check({"__float__": "nan"}, 1.0) == (False, wrong) and check(1.0, {"__float__": "nan"}) == (False, wrong)
    assert check(2.0, 1.0) == (False, "output: the number is clearly wrong (far outside the tolerance)")
    assert check(1.0002, 1.0)[1].startswith("output: the number is close, but outside the tolerance")
    assert compare.exact()(3, 4) == (False, "output: the number is wrong")  # an int: no "how far" that gives it away


def test_booleans_are_not_numbers():
    assert check(True, True)[0] is True and check(False, False)[0] is True  # (a passing case's message is unused)
    assert check(True, False) == (False, "output: the truth value is wrong")
    assert check(1, True) == (False, "output: expected a bool, got an int")
    assert check(True, 1) == (False, "output: expected an int, got a bool")
    assert check(0, False)[0] is False


def test_lists_item_by_item_with_the_path():
    assert check([1, [2, "a"]], [1, [2, "a"]]) == (True, "")
    assert check([1, [2, 3]], [1, [2, 4]]) == (False, "output[1][1]: the number is clearly wrong (far outside the tolerance)")
    assert check([1, 2], [1, 2, 3]) == (False, "output: expected 3 items, got 2")
    assert check("12", [1, 2]) == (False, "output: expected a list of 2, got a string of 2 characters")
    assert check([], []) == (True, "")


def test_dicts_key_by_key_with_the_path():
    assert check({"a": 1, "b": [1.0]}, {"b": [1.0], "a": 1}) == (True, "")
    assert check({"a": 1}, {"a": 1, "b": 2}) == (False, "output: expected a dict with keys ['a', 'b'], got a dict with 1 keys")
    assert check([1], {"a": 1}) == (False, "output: expected a dict with keys ['a'], got a list of 1")
    assert check({"a": {"x": 2}}, {"a": {"x": 3}}) == (False, "output['a']['x']: the number is clearly wrong (far outside the tolerance)")
    # keys that are data (token texts) are not named
    assert check({"Hung": 1}, {"Lee san": 1}) == (False, "output: expected a dict with 1 keys, got a dict with 1 keys")


def test_anything_else_is_compared_exactly():
    assert check("Red", "Red")[0] is True
    assert check("Red.", "Red") == (False, "output: the text differs from the instructor's from character 3 on")
    assert check(" Red ", "Red") == (False, "output: the text differs only in surrounding whitespace (strip it?)")
    assert check("RED", "Red") == (False, "output: the text differs only in upper/lower case")
    assert check(["a"], "Red") == (False, "output: expected a string, got a list of 1")
    assert check(arr([1.0, 2.0]), "Red") == (False, "output: expected a string, got an array of shape (2,)")  # no crash
    assert check(arr([1.0]), None) == (False, "output: expected None, got an array of shape (1,)")
    assert check(None, None)[0] is True and check(None, 0)[0] is False


# ----------------------------------------------------------------------------- what a student may read of an error

def test_student_error_is_its_type_and_a_short_redacted_first_line():
    secrets = compare.secret_words([["Wie viele Farben hat ein Regenbogen?", "coverage"], {"__ref__": "tokenizer"},
                                    {"__array__": [[0.5]], "dtype": "float32", "shape": [1, 1]}])
    text = ("KeyError: 'coverage' not in [2, 106, 1021, 437] (Wie viele Farben hat ein Regenbogen?) 0.4187 inf "
            + "x" * 200 + "\nline two")
    got = compare.student_error(text, secrets)
    assert got.startswith("KeyError: '…' not in […] (…) … … x") and "line two" not in got
    assert len(got) == len("KeyError: ") + compare.ERROR_LINE_CHARS
    assert "float32" not in secrets and "tokenizer" not in secrets  # a dtype and a model placeholder are not secrets
    # small integers (shapes) stay; a made-up exception name is not a type
    assert compare.student_error("RuntimeError: size (5) must match (4)") == "RuntimeError: size (5) must match (4)"
    assert compare.student_error("not a type, just text: with a colon") == "not a type, just text: with a colon"
    assert compare.student_error("timed out after 60 s") == "timed out after 60 s"
    assert compare.student_error(None) == "error"


def test_redact_matches_whole_words_only():
    assert compare.redact("scaled_dot_product_attention failed on Attention", {"Attention"}) == (
        "scaled_dot_product_attention failed on …")
