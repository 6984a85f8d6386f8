"""helpers.chat (message and tokenizer validation) and the facts about Gemma's chat template that notebooks 01–03 state."""
import copy

import pytest
import torch

from helpers import chat

QUESTION = "Name a color in a rainbow, please just answer in a word without any emoji."


def _render(tok, messages, add_generation_prompt=True):
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


# --- facts the notebooks state (library behaviour, checked on the offline tokenizer: Gemma-2's template verbatim) ---

def test_template_is_gemmas_layout(lm):
    _, tok = lm
    assert _render(tok, [{"role": "user", "content": "Hi there"}]) == "<bos><start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n"


def test_template_writes_assistant_as_model_and_prints_a_model_role_as_given(lm):
    _, tok = lm
    assistant = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Red"}, {"role": "user", "content": "More?"}]
    model_role = copy.deepcopy(assistant)
    model_role[1]["role"] = "model"
    text = _render(tok, assistant)
    assert "<start_of_turn>model\nRed<end_of_turn>\n<start_of_turn>user\nMore?" in text and "assistant" not in text
    assert _render(tok, model_role) == text  # the template only checks alternation: 'model' does not raise


def test_template_raises_only_for_system_role_and_broken_alternation(lm):
    _, tok = lm
    with pytest.raises(Exception, match="System role not supported"):
        _render(tok, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    with pytest.raises(Exception, match="must alternate"):
        _render(tok, [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Again"}])
    odd = _render(tok, [{"role": "user", "content": "Hi"}, {"role": "bot", "content": "Hello"}])
    assert "<start_of_turn>bot\nHello" in odd


def test_tokenizing_the_rendered_template_again_adds_a_second_bos(lm):
    _, tok = lm
    messages = [{"role": "user", "content": QUESTION}]
    once = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    twice = tok(_render(tok, messages), return_tensors="pt")["input_ids"]
    no_special = tok(_render(tok, messages), add_special_tokens=False, return_tensors="pt")["input_ids"]
    assert chat.count_token(once, tok.bos_token_id) == 1 and chat.count_token(twice, tok.bos_token_id) == 2
    assert torch.equal(no_special, once) and torch.equal(twice[:, 1:], once)


def test_turn_markers_are_single_special_tokens(lm):
    _, tok = lm
    ids = tok.apply_chat_template([{"role": "user", "content": QUESTION}], add_generation_prompt=True)["input_ids"]
    assert ids.count(106) == 2 and ids.count(107) == 1  # <start_of_turn> user / model, one <end_of_turn>
    assert tok.convert_ids_to_tokens([106, 107]) == ["<start_of_turn>", "<end_of_turn>"]


def test_lm_stops_on_eos_and_end_of_turn(lm):
    model, _ = lm
    assert set(model.generation_config.eos_token_id) == {1, 107}


# --- helpers.chat ------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["", "   \n"])
def test_empty_text_is_rejected(bad):
    with pytest.raises(ValueError, match="empty"):
        chat.check_text(bad)


def test_non_string_text_is_a_type_error():
    with pytest.raises(TypeError, match="must be a string"):
        chat.check_text(42, "question")


def test_tokenizer_without_chat_template_is_rejected(lm):
    _, tok = lm
    chat.require_chat_tokenizer(tok)
    plain = copy.deepcopy(tok)
    plain.chat_template = None
    with pytest.raises(TypeError, match="no chat template"):
        chat.require_chat_tokenizer(plain)
    with pytest.raises(TypeError, match="load_lm"):
        chat.require_chat_tokenizer(object())


@pytest.mark.parametrize(
    "messages, error, match",
    [
        ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], ValueError, "no system role"),
        ([{"role": "user", "content": "Hi"}, {"role": "model", "content": "Hello"}], ValueError, "'assistant'"),
        ([{"role": "user", "content": "Hi"}, {"role": "user", "content": "Again"}], ValueError, "alternate"),
        ([], ValueError, "empty"),
        ("Hi", TypeError, "list of"),
        ([{"role": "user"}], TypeError, "'role' and 'content'"),
        ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": None}], TypeError, "must be a string"),
    ],
)
def test_bad_conversations_name_the_fix(messages, error, match):
    with pytest.raises(error, match=match):
        chat.check_messages(messages)


def test_check_messages_returns_a_copy_and_keeps_an_empty_reply():
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}]
    checked = chat.check_messages(history)
    assert checked == history and checked is not history and checked[0] is not history[0]


def test_count_token_counts_in_any_shape():
    assert chat.count_token(torch.tensor([[2, 2, 106]]), 2) == 2
    assert chat.count_token([5, 6, 5], 5) == 2


def test_plot_top_tokens_labels_every_bar():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers import plots

    top = [("Red", 0.176), (" Blue", 0.17), ("\n", 0.1)]
    ax = plots.plot_top_tokens(top, "Round 1")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert ax.get_title() == "Round 1" and ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.patches) == 3 and labels[0] == "1. Red" and labels[2] == "3. '\\n'"
    plt.close("all")
