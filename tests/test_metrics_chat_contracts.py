"""helpers.metrics and helpers.chat, value by value: hand-counted n-grams, exact messages, the edges of each check."""
import types

import pytest
import torch

from helpers import chat, metrics

# ----------------------------------------------------------------------------- metrics


def test_ngrams_by_hand():
    words = ["a", "b", "c", "d"]
    assert metrics.ngrams(words, 1) == [("a",), ("b",), ("c",), ("d",)]
    assert metrics.ngrams(words, 2) == [("a", "b"), ("b", "c"), ("c", "d")]
    assert metrics.ngrams(words, 4) == [("a", "b", "c", "d")]
    assert metrics.ngrams(words, 5) == []


@pytest.mark.parametrize("sentences, n, value", [
    (["the cat sat", "the cat ran"], 1, 4 / 6),          # the cat sat the cat ran: 4 different of 6
    (["the cat sat", "the cat ran"], 2, 3 / 4),          # the-cat twice, cat-sat, cat-ran
    (["the cat sat", "the cat ran"], 3, 2 / 2),
    (["The cat", "the cat"], 1, 3 / 4),                   # case matters: The, the, cat, cat
    (["a\tb\nc", "a b  c"], 2, 2 / 4),                     # any whitespace splits
    (["a b c"], 2, 1.0),                                   # one sentence is enough
    (["a a a a"], 1, 1 / 4),
    (["a b", "x"], 2, 1.0),                                # a one-word sample has no bigram, the set still counts
])
def test_distinct_n_by_hand(sentences, n, value):
    assert metrics.distinct_n(sentences, n) == pytest.approx(value, abs=1e-12)


def test_distinct_n_defaults_to_bigrams():
    assert metrics.distinct_n(["the cat sat", "the cat ran"]) == pytest.approx(3 / 4, abs=1e-12)


@pytest.mark.parametrize("n", [0, -2, 1.0, "2", True, False, None])
def test_distinct_n_refuses_a_bad_n(n):
    with pytest.raises(ValueError) as info:
        metrics.distinct_n(["a b c"], n)
    assert str(info.value) == f"n (the n-gram length) must be an integer ≥ 1, got {n!r}."


def test_distinct_n_without_any_n_gram():
    with pytest.raises(ValueError) as info:
        metrics.distinct_n(["a b", "c"], 3)
    assert str(info.value) == ("no sentence has 3 or more words, so distinct-3 is undefined: use a smaller n "
                               "or longer samples.")


def test_check_sentences_accepts_any_sequence_and_returns_a_new_list():
    samples = ("one", "two words")
    checked = metrics.check_sentences(samples)
    assert checked == ["one", "two words"] and isinstance(checked, list)
    original = ["a", "b"]
    assert metrics.check_sentences(original) is not original


@pytest.mark.parametrize("sentences, message", [
    ("a string", "sentences must be a list of strings (e.g. the output of sample_with_filter)."),
    (b"bytes", "sentences must be a list of strings (e.g. the output of sample_with_filter)."),
    ({"a", "b"}, "sentences must be a list of strings (e.g. the output of sample_with_filter)."),
    ((s for s in ["a", "b"]), "sentences must be a list of strings (e.g. the output of sample_with_filter)."),
    (["a", 3, 4.0], "every sentence must be a string, got int."),
    ([None, "a"], "every sentence must be a string, got NoneType."),
])
def test_check_sentences_type_errors(sentences, message):
    with pytest.raises(TypeError) as info:
        metrics.check_sentences(sentences)
    assert str(info.value) == message


def test_check_sentences_needs_two_by_default_and_counts_only_sentences_with_words():
    with pytest.raises(ValueError) as info:
        metrics.check_sentences(["only one"])
    assert str(info.value) == "give at least 2 sentences, got 1."
    assert metrics.check_sentences(["a", " ", "b"]) == ["a", " ", "b"]  # two with words: enough
    with pytest.raises(ValueError) as info:
        metrics.check_sentences(["a", " \n", ""])
    assert str(info.value) == ("only 1 of the 3 sentences contain words; at least 2 are needed (raise max_new_tokens "
                               "or check that generation did not stop at once).")
    assert metrics.check_sentences(["x"], minimum=1) == ["x"]
    with pytest.raises(ValueError, match=r"^give at least 3 sentences, got 2\.$"):
        metrics.check_sentences(["a", "b"], minimum=3)


# ----------------------------------------------------------------------------- chat


def test_check_text_returns_the_text_as_given():
    assert chat.check_text("  Hi there \n") == "  Hi there \n"


def test_check_text_messages_name_the_argument():
    with pytest.raises(TypeError) as info:
        chat.check_text(3)
    assert str(info.value) == "the prompt must be a string, not int."
    with pytest.raises(ValueError) as info:
        chat.check_text(" \t\n")
    assert str(info.value) == "the prompt is empty: give the model some text, e.g. 'Name a color in a rainbow.'"
    with pytest.raises(TypeError, match=r"^the question must be a string, not bytes\.$"):
        chat.check_text(b"hi", "question")


class ChatTokenizer:
    chat_template = "{{ messages }}"

    def apply_chat_template(self, messages, **kwargs):
        return ""


@pytest.mark.parametrize("tokenizer, message", [
    (object(), "expected a Hugging Face tokenizer (the second value of helpers.backend.load_lm()), got object."),
    (types.SimpleNamespace(apply_chat_template="not callable", chat_template="x"),
     "expected a Hugging Face tokenizer (the second value of helpers.backend.load_lm()), got SimpleNamespace."),
    (types.SimpleNamespace(apply_chat_template=lambda *a: "", chat_template=""),
     "SimpleNamespace has no chat template: use the instruction-tuned model's tokenizer (helpers.backend.load_lm() "
     "returns google/gemma-2-2b-it's, or the offline one with the same template)."),
    (types.SimpleNamespace(apply_chat_template=lambda *a: ""), "SimpleNamespace has no chat template"),
])
def test_require_chat_tokenizer_refuses(tokenizer, message):
    with pytest.raises(TypeError) as info:
        chat.require_chat_tokenizer(tokenizer)
    assert str(info.value).startswith(message)


def test_require_chat_tokenizer_accepts_a_tokenizer_with_a_template():
    assert chat.require_chat_tokenizer(ChatTokenizer()) is None


def test_check_messages_copies_only_role_and_content():
    history = ({"role": "user", "content": "Hi", "id": 7}, types.MappingProxyType({"role": "assistant", "content": ""}),
               {"role": "user", "content": "More?"})
    assert chat.check_messages(history) == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""},
                                            {"role": "user", "content": "More?"}]


@pytest.mark.parametrize("messages, error, message", [
    ("Hi", TypeError, "messages must be a list of {'role': ..., 'content': ...} dicts, e.g. [{'role': 'user', 'content': 'Hi'}]."),
    (b"Hi", TypeError, "messages must be a list of"),
    ({"role": "user", "content": "Hi"}, TypeError, "messages must be a list of"),
    ([], ValueError, "the conversation is empty: start it with a user message {'role': 'user', 'content': text}."),
    ((), ValueError, "the conversation is empty"),
    ([["user", "Hi"]], TypeError, "message 0 must be a dict with 'role' and 'content', got ['user', 'Hi']."),
    ([{"content": "Hi"}], TypeError, "message 0 must be a dict with 'role' and 'content', got {'content': 'Hi'}."),
    ([{"role": "user", "content": "Hi"}, {"role": "assistant"}], TypeError,
     "message 1 must be a dict with 'role' and 'content', got {'role': 'assistant'}."),
    ([{"role": "assistant", "content": "Hi"}], ValueError,
     "message 0 has role 'assistant', expected 'user': turns alternate user, assistant, user, ... starting with the user; "
     "store the model's replies as 'assistant'."),
    ([{"role": "system", "content": "Be brief."}], ValueError,
     "message 0 has role 'system', expected 'user': turns alternate user, assistant, user, ... starting with the user; "
     "store the model's replies as 'assistant' (Gemma's template has no system role: put instructions in the first user turn)."),
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Red"}, {"role": "assistant", "content": "Blue"}],
     ValueError, "message 2 has role 'assistant', expected 'user': "),
    ([{"role": "user", "content": " "}], ValueError, "the content of message 0 is empty"),
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Red"}, {"role": "user", "content": 5}],
     TypeError, "the content of message 2 must be a string, not int."),
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": None}], TypeError,
     "content of message 1 must be a string, not NoneType."),
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": 7}], TypeError,
     "content of message 1 must be a string, not int."),
])
def test_check_messages_refuses(messages, error, message):
    with pytest.raises(error) as info:
        chat.check_messages(messages)
    assert str(info.value).startswith(message)
    assert type(info.value) is error


def test_only_the_system_role_gets_the_system_hint():
    with pytest.raises(ValueError) as info:
        chat.check_messages([{"role": "user", "content": "Hi"}, {"role": "model", "content": "Red"}])
    assert "system role" not in str(info.value) and str(info.value).endswith("store the model's replies as 'assistant'.")


def test_count_token():
    assert chat.count_token(torch.tensor([[2, 5, 2], [2, 2, 9]]), 2) == 4
    assert chat.count_token([1, 2, 3], 7) == 0
    assert chat.count_token([[7, 7], [7, 1]], 7) == 3
    assert type(chat.count_token([7], 7)) is int
