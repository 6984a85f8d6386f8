"""The visible checks of notebooks 01–03: a correct implementation passes, plausible wrong ones fail with their hint.

The correct implementations here are written independently of the notebooks' solutions.
"""
import pandas as pd
import pytest
import torch

from helpers import checks

STOPS = [1, 107]


# --- 1.1 prompt_ids ---------------------------------------------------------------------------

def prompt_ids_ok(tokenizer, question, use_template):
    if use_template:
        text = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
        return tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
    return tokenizer(question, return_tensors="pt").input_ids


def prompt_ids_double_bos(tokenizer, question, use_template):  # the original homework's way
    if use_template:
        text = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
        return tokenizer(text, return_tensors="pt").input_ids
    return prompt_ids_ok(tokenizer, question, use_template)


def prompt_ids_no_generation_prompt(tokenizer, question, use_template):
    if use_template:
        return tokenizer.apply_chat_template([{"role": "user", "content": question}], return_tensors="pt", return_dict=True)["input_ids"]
    return prompt_ids_ok(tokenizer, question, use_template)


def prompt_ids_whole_encoding(tokenizer, question, use_template):
    return tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True, return_tensors="pt")


def prompt_ids_plain_without_bos(tokenizer, question, use_template):
    if use_template:
        return prompt_ids_ok(tokenizer, question, use_template)
    return tokenizer(question, add_special_tokens=False, return_tensors="pt").input_ids


def prompt_ids_flat(tokenizer, question, use_template):
    return prompt_ids_ok(tokenizer, question, use_template)[0]


def prompt_ids_always_template(tokenizer, question, use_template):
    return prompt_ids_ok(tokenizer, question, True)


def test_check_prompt_ids_accepts_a_correct_function(lm, capsys):
    _, tok = lm
    checks.check_prompt_ids(prompt_ids_ok, tok)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (prompt_ids_double_bos, "2 × <bos>"),
    (prompt_ids_no_generation_prompt, "add_generation_prompt=True"),
    (prompt_ids_whole_encoding, "\\['input_ids'\\]"),
    (prompt_ids_plain_without_bos, "add_special_tokens=True"),
    (prompt_ids_flat, "batch dimension"),
    (prompt_ids_always_template, "use_template=False means the bare question"),
])
def test_check_prompt_ids_names_the_mistake(lm, wrong, hint):
    _, tok = lm
    with pytest.raises(AssertionError, match=hint):
        checks.check_prompt_ids(wrong, tok)


# --- 1.2 generate_answer ------------------------------------------------------------------------

def _generate(model, input_ids, max_new_tokens, **kwargs):
    with torch.no_grad():
        return model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=max_new_tokens,
                              do_sample=False, pad_token_id=0, **kwargs)


def generate_answer_ok(model, tokenizer, input_ids, max_new_tokens):
    out = _generate(model, input_ids, max_new_tokens, eos_token_id=STOPS)
    return tokenizer.decode(out[0, input_ids.shape[-1]:], skip_special_tokens=True).strip()


def generate_answer_with_prompt(model, tokenizer, input_ids, max_new_tokens):
    out = _generate(model, input_ids, max_new_tokens, eos_token_id=STOPS)
    return tokenizer.decode(out[0], skip_special_tokens=True).strip()


def generate_answer_eos_only(model, tokenizer, input_ids, max_new_tokens):
    out = _generate(model, input_ids, max_new_tokens, eos_token_id=tokenizer.eos_token_id)
    return tokenizer.decode(out[0, input_ids.shape[-1]:], skip_special_tokens=True).strip()


def generate_answer_special_tokens(model, tokenizer, input_ids, max_new_tokens):
    out = _generate(model, input_ids, max_new_tokens, eos_token_id=STOPS)
    return tokenizer.decode(out[0, input_ids.shape[-1]:]).strip()


def generate_answer_sampled(model, tokenizer, input_ids, max_new_tokens):
    torch.manual_seed(3)
    with torch.no_grad():
        out = model.generate(input_ids, max_new_tokens=max_new_tokens, do_sample=True, temperature=5.0, top_k=0, eos_token_id=STOPS)
    return tokenizer.decode(out[0, input_ids.shape[-1]:], skip_special_tokens=True).strip()


def generate_answer_ids(model, tokenizer, input_ids, max_new_tokens):
    return _generate(model, input_ids, max_new_tokens, eos_token_id=STOPS)[0, input_ids.shape[-1]:]


def test_check_generate_answer_accepts_a_correct_function(lm, capsys):
    model, tok = lm
    checks.check_generate_answer(generate_answer_ok, model, tok)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (generate_answer_with_prompt, "contains the prompt"),
    (generate_answer_eos_only, "<end_of_turn> \\(id 107\\)"),
    (generate_answer_special_tokens, "skip_special_tokens=True"),
    (generate_answer_sampled, "do_sample=False"),
    (generate_answer_ids, "as text"),
])
def test_check_generate_answer_names_the_mistake(lm, wrong, hint):
    model, tok = lm
    with pytest.raises(AssertionError, match=hint):
        checks.check_generate_answer(wrong, model, tok)


# --- 1.3 coherence -------------------------------------------------------------------------------

def coherence_ok(cross_encoder, question, answer):
    return float(cross_encoder.predict([(question, answer)], show_progress_bar=False)[0])


def coherence_sigmoid(cross_encoder, question, answer):
    return float(torch.sigmoid(torch.tensor(coherence_ok(cross_encoder, question, answer))))


def coherence_swapped(cross_encoder, question, answer):
    return coherence_ok(cross_encoder, answer, question)


def coherence_array(cross_encoder, question, answer):
    return cross_encoder.predict([(question, answer)], show_progress_bar=False)


def test_check_coherence_accepts_a_correct_function(cross_encoder, capsys):
    checks.check_coherence(coherence_ok, cross_encoder)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (coherence_sigmoid, "sigmoid"),
    (coherence_swapped, "swapped"),
    (coherence_array, "one Python float"),
])
def test_check_coherence_names_the_mistake(cross_encoder, wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_coherence(wrong, cross_encoder)


# --- 2.1 render_prompt ---------------------------------------------------------------------------

def render_prompt_ok(tokenizer, history):
    return tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=True)


def render_prompt_no_generation_prompt(tokenizer, history):
    return tokenizer.apply_chat_template(history, tokenize=False)


def render_prompt_by_hand(tokenizer, history):
    turns = "".join(f"<start_of_turn>{m['role']}\n{m['content']}<end_of_turn>\n" for m in history)
    return "<bos>" + turns + "<start_of_turn>model\n"


def render_prompt_last_only(tokenizer, history):
    return render_prompt_ok(tokenizer, history[-1:])


def render_prompt_ids(tokenizer, history):
    return tokenizer.apply_chat_template(history, add_generation_prompt=True)


def render_prompt_mutates(tokenizer, history):
    history.append({"role": "assistant", "content": ""})
    return render_prompt_ok(tokenizer, history[:-1])


def test_check_render_prompt_accepts_a_correct_function(lm, capsys):
    _, tok = lm
    checks.check_render_prompt(render_prompt_ok, tok)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (render_prompt_no_generation_prompt, "add_generation_prompt=True"),
    (render_prompt_by_hand, "writes the assistant's turns as 'model'"),
    (render_prompt_last_only, "render every message"),
    (render_prompt_ids, "tokenize=False"),
    (render_prompt_mutates, "history you were given changed"),
])
def test_check_render_prompt_names_the_mistake(lm, wrong, hint):
    _, tok = lm
    with pytest.raises(AssertionError, match=hint):
        checks.check_render_prompt(wrong, tok)


# --- 2.2 chat_round ------------------------------------------------------------------------------

def _reply(model, tokenizer, messages, max_new_tokens, stops=STOPS, whole=False):
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    out = _generate(model, ids, max_new_tokens, eos_token_id=stops)
    return tokenizer.decode(out[0] if whole else out[0, ids.shape[-1]:], skip_special_tokens=True).strip()


def chat_round_ok(model, tokenizer, history, user_text, max_new_tokens):
    messages = [*history, {"role": "user", "content": user_text}]
    return [*messages, {"role": "assistant", "content": _reply(model, tokenizer, messages, max_new_tokens)}]


def chat_round_appends(model, tokenizer, history, user_text, max_new_tokens):
    history.append({"role": "user", "content": user_text})
    history.append({"role": "assistant", "content": _reply(model, tokenizer, history, max_new_tokens)})
    return history


def chat_round_mutates_then_copies(model, tokenizer, history, user_text, max_new_tokens):
    return list(chat_round_appends(model, tokenizer, history, user_text, max_new_tokens))


def chat_round_model_role(model, tokenizer, history, user_text, max_new_tokens):
    messages = chat_round_ok(model, tokenizer, history, user_text, max_new_tokens)
    messages[-1] = {"role": "model", "content": messages[-1]["content"]}
    return messages


def chat_round_forgets(model, tokenizer, history, user_text, max_new_tokens):
    user = {"role": "user", "content": user_text}
    return [*history, user, {"role": "assistant", "content": _reply(model, tokenizer, [user], max_new_tokens)}]


def chat_round_whole_output(model, tokenizer, history, user_text, max_new_tokens):
    messages = [*history, {"role": "user", "content": user_text}]
    return [*messages, {"role": "assistant", "content": _reply(model, tokenizer, messages, max_new_tokens, whole=True)}]


def chat_round_eos_only(model, tokenizer, history, user_text, max_new_tokens):
    messages = [*history, {"role": "user", "content": user_text}]
    return [*messages, {"role": "assistant", "content": _reply(model, tokenizer, messages, max_new_tokens, stops=[1])}]


def test_check_chat_round_accepts_a_correct_function(lm, capsys):
    model, tok = lm
    checks.check_chat_round(chat_round_ok, model, tok)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (chat_round_appends, "NEW list"),
    (chat_round_mutates_then_copies, "did you .append to it"),
    (chat_round_model_role, "role 'assistant'"),
    (chat_round_forgets, "whole history"),
    (chat_round_whole_output, "contains the prompt"),
    (chat_round_eos_only, "<end_of_turn> \\(id 107\\)"),
])
def test_check_chat_round_names_the_mistake(lm, wrong, hint):
    model, tok = lm
    with pytest.raises(AssertionError, match=hint):
        checks.check_chat_round(wrong, model, tok)


# --- 2.3 top_next_tokens -------------------------------------------------------------------------

def _last_logits(model, input_ids, position=-1):
    with torch.no_grad():
        return model(input_ids=input_ids).logits[0, position]


def _templated(tokenizer, history, add_generation_prompt=True):
    return tokenizer.apply_chat_template(history, add_generation_prompt=add_generation_prompt, return_tensors="pt", return_dict=True)["input_ids"]


def top_next_tokens_ok(model, tokenizer, history, k):
    probs = torch.softmax(_last_logits(model, _templated(tokenizer, history)), dim=-1)
    values, ids = probs.topk(k)
    return [(tokenizer.decode([i]), float(p)) for p, i in zip(values.tolist(), ids.tolist())]


def top_next_tokens_logits(model, tokenizer, history, k):
    values, ids = _last_logits(model, _templated(tokenizer, history)).topk(k)
    return [(tokenizer.decode([i]), float(v)) for v, i in zip(values.tolist(), ids.tolist())]


def top_next_tokens_renormalised(model, tokenizer, history, k):
    values, ids = _last_logits(model, _templated(tokenizer, history)).topk(k)
    return [(tokenizer.decode([i]), float(p)) for p, i in zip(torch.softmax(values, -1).tolist(), ids.tolist())]


def top_next_tokens_pieces(model, tokenizer, history, k):
    probs = torch.softmax(_last_logits(model, _templated(tokenizer, history)), dim=-1)
    values, ids = probs.topk(k)
    return [(tokenizer.convert_ids_to_tokens(i), float(p)) for p, i in zip(values.tolist(), ids.tolist())]


def top_next_tokens_double_bos(model, tokenizer, history, k):
    text = tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=True)
    probs = torch.softmax(_last_logits(model, tokenizer(text, return_tensors="pt").input_ids), dim=-1)
    values, ids = probs.topk(k)
    return [(tokenizer.decode([i]), float(p)) for p, i in zip(values.tolist(), ids.tolist())]


def top_next_tokens_first_position(model, tokenizer, history, k):
    probs = torch.softmax(_last_logits(model, _templated(tokenizer, history), position=0), dim=-1)
    values, ids = probs.topk(k)
    return [(tokenizer.decode([i]), float(p)) for p, i in zip(values.tolist(), ids.tolist())]


def top_next_tokens_ascending(model, tokenizer, history, k):
    return top_next_tokens_ok(model, tokenizer, history, k)[::-1]


def top_next_tokens_no_generation_prompt(model, tokenizer, history, k):
    probs = torch.softmax(_last_logits(model, _templated(tokenizer, history, add_generation_prompt=False)), dim=-1)
    values, ids = probs.topk(k)
    return [(tokenizer.decode([i]), float(p)) for p, i in zip(values.tolist(), ids.tolist())]


def test_check_top_next_tokens_accepts_a_correct_function(lm, capsys):
    model, tok = lm
    checks.check_top_next_tokens(top_next_tokens_ok, model, tok)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (top_next_tokens_logits, "not probabilities"),
    (top_next_tokens_renormalised, "do not renormalise"),
    (top_next_tokens_pieces, "tokenizer.decode\\(\\[id\\]\\)"),
    (top_next_tokens_double_bos, "two <bos>"),
    (top_next_tokens_first_position, "LAST"),
    (top_next_tokens_ascending, "most likely token first"),
    (top_next_tokens_no_generation_prompt, "add_generation_prompt=True"),
])
def test_check_top_next_tokens_names_the_mistake(lm, wrong, hint):
    model, tok = lm
    with pytest.raises(AssertionError, match=hint):
        checks.check_top_next_tokens(wrong, model, tok)


# --- 3.1 token_table -----------------------------------------------------------------------------

def token_table_ok(tokenizer, text):
    encoding = tokenizer(text)
    return [(encoding.tokens()[i], token_id) for i, token_id in enumerate(encoding["input_ids"])]


def token_table_without_bos(tokenizer, text):  # the original homework's add_special_tokens=False
    ids = tokenizer.encode(text, add_special_tokens=False)
    return list(zip(tokenizer.convert_ids_to_tokens(ids), ids))


def token_table_decoded(tokenizer, text):
    ids = tokenizer(text)["input_ids"]
    return [(tokenizer.decode([i]), i) for i in ids]


def token_table_swapped(tokenizer, text):
    return [(i, p) for p, i in token_table_ok(tokenizer, text)]


def token_table_tensor_ids(tokenizer, text):
    ids = tokenizer(text, return_tensors="pt")["input_ids"][0]
    return list(zip(tokenizer.convert_ids_to_tokens(ids.tolist()), ids))


def token_table_dataframe(tokenizer, text):
    return pd.DataFrame(token_table_ok(tokenizer, text), columns=["piece", "id"])


def test_check_token_table_accepts_a_correct_function(lm, capsys):
    _, tok = lm
    checks.check_token_table(token_table_ok, tok)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (token_table_without_bos, "<bos> is missing"),
    (token_table_decoded, "convert_ids_to_tokens"),
    (token_table_swapped, "not \\(id, piece\\)"),
    (token_table_tensor_ids, "Python int"),
    (token_table_dataframe, "DataFrame"),
])
def test_check_token_table_names_the_mistake(lm, wrong, hint):
    _, tok = lm
    with pytest.raises(AssertionError, match=hint):
        checks.check_token_table(wrong, tok)
