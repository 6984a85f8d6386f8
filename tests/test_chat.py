"""helpers.chat: Gemma's chat template, the double-<bos> pitfall, token tables, next-token top-k."""
import copy

import pytest
import torch

from helpers import chat, checks

QUESTION = "Name a color in a rainbow, please just answer in a word without any emoji."


def test_render_is_gemmas_layout(lm):
    _, tok = lm
    assert chat.render(tok, "Hi there") == "<bos><start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n"


def test_render_without_generation_prompt_has_no_open_model_turn(lm):
    _, tok = lm
    assert not chat.render(tok, "Hi", add_generation_prompt=False).endswith("<start_of_turn>model\n")


def test_assistant_turn_is_rendered_as_model(lm):
    _, tok = lm
    history = chat.add_turn(chat.add_turn([], "user", "Hi"), "assistant", "Red")
    history = chat.add_turn(history, "user", "Another one?")
    text = chat.render(tok, history)
    assert "<start_of_turn>model\nRed<end_of_turn>\n<start_of_turn>user\nAnother one?" in text
    assert "assistant" not in text


def test_add_turn_returns_a_new_list():
    history = [chat.user_message("Hi")]
    longer = chat.add_turn(history, "assistant", "Hello")
    assert len(history) == 1 and len(longer) == 2 and longer[-1] == {"role": "assistant", "content": "Hello"}


def test_encode_messages_has_exactly_one_bos(lm):
    _, tok = lm
    ids = chat.encode_messages(tok, QUESTION)["input_ids"]
    assert ids.shape[0] == 1 and ids[0, 0].item() == tok.bos_token_id
    assert chat.count_token(ids, tok.bos_token_id) == 1


def test_tokenizing_the_templated_string_again_adds_a_second_bos(lm):
    _, tok = lm
    text = chat.render(tok, QUESTION)
    twice = chat.encode_text(tok, text)["input_ids"]
    once = chat.encode_text(tok, text, add_special_tokens=False)["input_ids"]
    assert twice[0, :2].tolist() == [tok.bos_token_id, tok.bos_token_id]
    assert torch.equal(once, chat.encode_messages(tok, QUESTION)["input_ids"])


def test_chat_turn_markers_are_single_tokens(lm):
    _, tok = lm
    ids = chat.encode_messages(tok, QUESTION)["input_ids"][0].tolist()
    assert ids.count(106) == 2 and ids.count(107) == 1  # <start_of_turn> user / model, one <end_of_turn>


@pytest.mark.parametrize("bad", ["", "   \n"])
def test_empty_prompt_is_rejected(lm, bad):
    _, tok = lm
    with pytest.raises(ValueError, match="empty"):
        chat.render(tok, bad)
    with pytest.raises(ValueError, match="empty"):
        chat.encode_text(tok, bad)


def test_non_string_prompt_is_a_type_error(lm):
    _, tok = lm
    with pytest.raises(TypeError, match="list of"):
        chat.render(tok, 42)


def test_tokenizer_without_chat_template_is_rejected(lm):
    _, tok = lm
    plain = copy.deepcopy(tok)
    plain.chat_template = None
    with pytest.raises(TypeError, match="no chat template"):
        chat.render(plain, "Hi")
    with pytest.raises(TypeError, match="load_lm"):
        chat.encode_messages(object(), "Hi")


@pytest.mark.parametrize(
    "messages, match",
    [
        ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], "no system role"),
        ([{"role": "user", "content": "Hi"}, {"role": "model", "content": "Hello"}], "'assistant'"),
        ([{"role": "user", "content": "Hi"}, {"role": "user", "content": "Again"}], "alternate"),
        ([], "empty"),
    ],
)
def test_bad_conversations_name_the_fix(lm, messages, match):
    _, tok = lm
    with pytest.raises(ValueError, match=match):
        chat.render(tok, messages)


def test_add_turn_rejects_unknown_role():
    with pytest.raises(ValueError, match="renders 'assistant' as 'model'"):
        chat.add_turn([], "model", "Hi")


def test_token_table_rows_match_the_tokenizer(lm):
    _, tok = lm
    text = "I love taking a Machine Learning course by Professor Hung-yi Lee, What about you?"
    table = chat.token_table(tok, text)
    assert list(table.columns) == ["position", "id", "piece", "text"]
    assert table["id"].tolist() == tok(text)["input_ids"]
    assert table["piece"].iloc[0] == "<bos>" and table["id"].iloc[0] == tok.bos_token_id
    assert "▁love" in table["piece"].tolist()
    assert tok.decode(table["id"].tolist(), skip_special_tokens=True) == text
    assert "".join(table["text"].iloc[1:]) == text


def test_top_next_tokens_are_sorted_softmax_of_the_last_logits(lm):
    model, tok = lm
    inputs = chat.encode_messages(tok, QUESTION)
    top = chat.top_next_tokens(model, tok, inputs, k=10)
    with torch.no_grad():
        probs = torch.softmax(model(**inputs).logits[0, -1], -1)
    assert top.ids.tolist() == torch.topk(probs, 10).indices.tolist()
    assert torch.allclose(top.probs, torch.topk(probs, 10).values, atol=1e-6)
    assert top.pieces == tok.convert_ids_to_tokens(top.ids.tolist())
    assert [r[0] for r in top.rows()] == list(range(1, 11))


@pytest.mark.parametrize("k", [0, -3, 2.5])
def test_top_next_tokens_rejects_bad_k(lm, k):
    model, tok = lm
    with pytest.raises(ValueError, match="positive integer"):
        chat.top_next_tokens(model, tok, chat.encode_messages(tok, "Hi"), k=k)


def test_next_token_probs_needs_one_prompt(lm):
    model, tok = lm
    inputs = chat.encode_messages(tok, "Hi")
    batch = {k: v.repeat(2, 1) for k, v in inputs.items()}
    with pytest.raises(ValueError, match=r"\[1, seq\]"):
        chat.next_token_probs(model, batch)


def test_check_chat_prompt_accepts_the_template_and_names_mistakes(lm, capsys):
    _, tok = lm
    checks.check_chat_prompt(tok.apply_chat_template([{"role": "user", "content": QUESTION}], tokenize=False, add_generation_prompt=True), tok, QUESTION)
    assert "✓" in capsys.readouterr().out
    no_gen = tok.apply_chat_template([{"role": "user", "content": QUESTION}], tokenize=False)
    with pytest.raises(AssertionError, match="add_generation_prompt=True"):
        checks.check_chat_prompt(no_gen, tok, QUESTION)
    with pytest.raises(AssertionError, match="tokenize=False"):
        checks.check_chat_prompt([2, 106], tok, QUESTION)


def test_check_history_names_the_model_role_mistake(lm, capsys):
    _, tok = lm
    turns = ["First?", "Second?"]
    good = [chat.user_message("First?"), {"role": "assistant", "content": "Red"}, chat.user_message("Second?")]
    checks.check_history(good, chat.render(tok, good), tok, turns)
    assert "✓" in capsys.readouterr().out
    bad = [dict(m) for m in good]
    bad[1]["role"] = "model"
    with pytest.raises(AssertionError, match="'assistant'"):
        checks.check_history(bad, chat.render(tok, good), tok, turns)
    with pytest.raises(AssertionError, match="append the model's reply"):
        checks.check_history([good[0], good[2]], chat.render(tok, good), tok, turns)


def test_check_token_table_catches_decoded_pieces(lm):
    _, tok = lm
    text = "Professor Hung-yi Lee"
    table = chat.token_table(tok, text)
    checks.check_token_table(table, tok, text)
    wrong = table.assign(piece=table["text"])
    with pytest.raises(AssertionError, match="convert_ids_to_tokens"):
        checks.check_token_table(wrong, tok, text)
    with pytest.raises(AssertionError, match="<bos>"):
        checks.check_token_table(table.iloc[1:], tok, text)


def test_check_next_prompt_accepts_a_correct_function_and_catches_a_forgetful_one(lm, capsys):
    _, tok = lm

    def good(history, user_text):
        history = [*history, {"role": "user", "content": user_text}]
        return history, tok.apply_chat_template(history, tokenize=False, add_generation_prompt=True)

    checks.check_next_prompt(good, tok)
    assert capsys.readouterr().out.count("✓") == 2

    def forgetful(history, user_text):
        return good([], user_text)

    with pytest.raises(AssertionError, match="lost the model's first reply"):
        checks.check_next_prompt(forgetful, tok)


def test_plot_top_tokens_labels_every_bar(lm):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers import plots

    model, tok = lm
    top = chat.top_next_tokens(model, tok, chat.encode_messages(tok, QUESTION), k=5)
    ax = plots.plot_top_tokens(top, "Round 1")
    assert ax.get_title() == "Round 1" and ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.patches) == 5 and [t.get_text() for t in ax.get_yticklabels()][0].startswith(plots.show_piece(top.pieces[0]))
    plt.close("all")


def test_an_empty_model_reply_is_kept_but_an_empty_user_turn_is_not(lm):
    _, tok = lm
    history = chat.add_turn([chat.user_message("Hi")], "assistant", "")
    assert chat.render(tok, chat.add_turn(history, "user", "Still there?")).count("<start_of_turn>model\n<end_of_turn>") == 1
    with pytest.raises(ValueError, match="empty"):
        chat.add_turn(history, "user", "")
