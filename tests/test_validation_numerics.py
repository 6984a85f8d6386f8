"""helpers.validation and helpers.numerics: what each check accepts, and the exact words of what it refuses."""
import re

import pytest
import torch
from transformers import Gemma2Config, Gemma2ForCausalLM

from helpers import numerics, validation
from helpers.numerics import NumericsError, check_finite
from helpers.validation import OutOfRangeError


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = Gemma2Config(vocab_size=50, hidden_size=8, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
                          num_key_value_heads=1, head_dim=4, max_position_embeddings=6)
    return Gemma2ForCausalLM(config).eval()


# --------------------------------------------------------------------------- numerics

def test_non_float_values_pass_unchecked():
    values = [1.0, float("nan")]
    assert check_finite(values, "a list") is values  # not a tensor: returned as it is, never inspected
    ints = torch.tensor([1, 2])
    assert check_finite(ints, "ids") is ints
    fine = torch.tensor([0.5, -2.0])
    assert check_finite(fine, "logits") is fine


def test_the_message_counts_inf_and_nan_and_names_the_fix():
    tensor = torch.tensor([float("inf"), -float("inf"), float("nan"), 1.0, 2.0], dtype=torch.float16)
    with pytest.raises(NumericsError) as info:
        check_finite(tensor, "hidden_states[-1]")
    assert str(info.value) == (
        "inf/NaN in hidden_states[-1]: 2 inf and 1 NaN of 5 values (dtype float16). "
        "This is typical of float16 overflow: Gemma's activations can exceed float16's largest value, "
        "65504, and then turn into inf and NaN. Fix: set LAB_DTYPE=float32 and load the model again "
        "(import os; os.environ['LAB_DTYPE'] = 'float32'; then run the loading cell again): "
        "Gemma-2-2b-it in float32 needs about 10.5 GB, which fits a T4's 15 GB.")


def test_complex_values_are_checked_too():
    with pytest.raises(NumericsError, match=r"0 inf and 1 NaN of 2 values \(dtype complex64\)"):
        check_finite(torch.tensor([1 + 1j, complex(float("nan"), 0)], dtype=torch.complex64), "z")
    assert numerics.NumericsError.__mro__[1].__name__ == "BackendError"


# --------------------------------------------------------------------------- validation

def test_one_text_as_one_row():
    assert validation.as_one_text(torch.tensor([2, 5, 7])).tolist() == [[2, 5, 7]]
    row = torch.tensor([[2, 5]])
    assert validation.as_one_text(row) is row
    assert validation.as_one_text(torch.tensor([[4]])).tolist() == [[4]]  # one token is a text


@pytest.mark.parametrize("value, error, message", [
    ([2, 5], TypeError, "expected token ids as a torch tensor (tokenizer(text, return_tensors='pt').input_ids), got list."),
    (torch.zeros(2, 3, dtype=torch.long), ValueError,
     "expected the token ids of one text, shape [pos] or [1, pos]; got shape (2, 3)."),
    (torch.zeros(1, 2, 2, dtype=torch.long), ValueError,
     "expected the token ids of one text, shape [pos] or [1, pos]; got shape (1, 2, 2)."),
    (torch.zeros(1, 0, dtype=torch.long), ValueError, "the text has no tokens: pass at least one token id."),
    (torch.zeros(0, dtype=torch.long), ValueError, "the text has no tokens: pass at least one token id."),
])
def test_one_text_refusals(value, error, message):
    with pytest.raises(error) as info:
        validation.as_one_text(value)
    assert str(info.value) == message


def test_index_count_and_position_messages():
    assert validation.check_index(0, "head", 8, "this model has heads") == 0
    assert validation.check_index(7, "head", 8, "this model has heads") == 7
    with pytest.raises(OutOfRangeError) as info:
        validation.check_index(8, "head", 8, "this model has heads")
    assert str(info.value) == "head 8 is out of range: this model has heads 0..7."
    with pytest.raises(TypeError) as info:
        validation.check_index(1.0, "head", 8, "this model has heads")
    assert str(info.value) == "head must be an integer in 0..7 (this model has heads 0..7), got 1.0 (float)."
    with pytest.raises(TypeError, match=r"got True \(bool\)"):
        validation.check_index(True, "head", 8, "this model has heads")
    assert validation.check_count(3, "k", 1, 3) == 3 and validation.check_count(1, "k", 1, 3) == 1
    with pytest.raises(ValueError, match=r"^n=0 is out of range: use 1 or more\.$"):
        validation.check_count(0, "n")  # the default minimum is 1
    with pytest.raises(TypeError) as info:
        validation.check_count("2", "k", 1, 3)
    assert str(info.value) == "k must be a whole number 1..3, got '2' (str)."
    with pytest.raises(TypeError) as info:
        validation.check_count(2.5, "k", 0)
    assert str(info.value) == "k must be a whole number 0 or more, got 2.5 (float)."
    with pytest.raises(ValueError) as info:
        validation.check_count(4, "k", 1, 3, " (three words)")
    assert str(info.value) == "k=4 is out of range: use 1..3 (three words)."
    with pytest.raises(ValueError) as info:
        validation.check_count(-1, "k", 0)
    assert str(info.value) == "k=-1 is out of range: use 0 or more."
    assert validation.check_position(5, -1) == 4 and validation.check_position(5, -5) == 0
    assert validation.check_position(5, 4) == 4
    with pytest.raises(OutOfRangeError) as info:
        validation.check_position(5, -6)
    assert str(info.value) == "token position -6 is out of range: the text has 5 tokens (0..4, or -1..-5)."
    with pytest.raises(TypeError) as info:
        validation.check_position(5, "0")
    assert str(info.value) == "a token position must be an integer, got '0' (str)."


def test_feature_layer_window_and_ids_of_a_model(model):
    class SAE:
        d_sae = 16
    assert validation.check_feature(SAE(), 15) == 15
    with pytest.raises(OutOfRangeError) as info:
        validation.check_feature(SAE(), 16)
    assert str(info.value) == "feature 16 is out of range: this SAE has features 0..15."
    assert validation.check_layer(model, 1) == 1
    with pytest.raises(OutOfRangeError) as info:
        validation.check_layer(model, 2)
    assert str(info.value) == "layer 2 is out of range: this model has decoder layers 0..1."
    assert validation.num_layers(model) == 2 and validation.context_window(model) == 6 and validation.vocab_size(model) == 50
    assert validation.check_window(model, 6) == 6
    with pytest.raises(ValueError) as info:
        validation.check_window(model, 7)
    assert str(info.value) == ("7 tokens do not fit the model's context window of 6 tokens "
                               "(model.config.max_position_embeddings): shorten the text.")
    ids = torch.tensor([0, 49, 3])
    assert validation.check_ids(model, ids).tolist() == [[0, 49, 3]]
    with pytest.raises(OutOfRangeError) as info:
        validation.check_ids(model, torch.tensor([[0, 50]]))  # id 0 is valid: the one past the vocabulary is named
    assert str(info.value) == ("token id 50 is out of range: this model's vocabulary has ids 0..49; "
                               "use ids from this model's tokenizer.")
    with pytest.raises(OutOfRangeError, match=re.escape("token id -1 is out of range")):
        validation.check_ids(model, torch.tensor([[-1, 50]]))  # the low one is named first
    with pytest.raises(ValueError, match="context window of 6"):
        validation.check_ids(model, torch.zeros(1, 7, dtype=torch.long))
    for dtype in (torch.float32, torch.bool, torch.complex64):
        with pytest.raises(TypeError) as info:
            validation.check_ids(model, torch.zeros(1, 2, dtype=dtype))
        name = str(dtype).replace("torch.", "")
        assert str(info.value) == (f"token ids must be integers (torch.long), got dtype {name}: "
                                   "pass tokenizer(text, return_tensors='pt').input_ids, or ids.long().")
    with pytest.raises(TypeError) as info:
        validation.check_ids(model, [2, 3])
    assert str(info.value).endswith("got list.")
