"""Checks of notebook 01 (chat template): exercises 1.1 prompt_ids, 1.2 generate_answer, 1.3 coherence."""
from __future__ import annotations

from helpers.checks.common import (is_float32, matches, model_key, ok, pinned, pinned_ids, require, require_finite,
                                   tokenizer_key, unpinned_note)

NOTEBOOK = "01"
SPECIAL_TEXT = ("<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>", "<pad>")
PROMPT_QUESTIONS = ["Name a color in a rainbow.", "What does a chat template do? Answer in one sentence."]
RAINBOW = "Name a color in a rainbow, please just answer in a word without any emoji."
ANSWER_CASES = [(True, RAINBOW, 20, "the templated rainbow question"), (False, "Machine learning is", 6, "'Machine learning is'")]
QUESTION = "What is the difference between supervised and unsupervised learning?"
COHERENCE_PAIRS = [(QUESTION, "Supervised learning uses labeled examples; unsupervised learning finds structure without labels."),
                   (QUESTION, "Name a color in a rainbow."),
                   ("Name a color in a rainbow.", "Red.")]


def _require_id_tensor(got, what: str) -> list[int]:
    """``got`` is a ``[1, T]`` long tensor; returns its row."""
    import torch

    require(not isinstance(got, str), f"{what} returned text: tokenize it and return the token ids as a tensor.")
    require(not hasattr(got, "keys"), f"{what} returned the whole encoding ({type(got).__name__} with "
                                      "input_ids and attention_mask): return only its ['input_ids'].")
    require(isinstance(got, torch.Tensor), f"{what} returned a {type(got).__name__}: return a torch tensor of shape "
                                           "[1, T] (pass return_tensors='pt').")
    require(got.dim() != 1, f"{what} has shape {tuple(got.shape)}: add the batch dimension, [1, T] "
                            "(return_tensors='pt', or ids.unsqueeze(0)).")
    require(got.dim() == 2 and got.shape[0] == 1, f"{what} has shape {tuple(got.shape)}, expected [1, T].")
    require(got.dtype == torch.long, f"{what} has dtype {got.dtype}: token ids are torch.long (int64).")
    return got[0].cpu().tolist()


def _prompt_properties(row: list[int], tokenizer, question: str, use_template: bool, what: str) -> None:
    """One <bos> first; <start_of_turn> only with the template, which ends by opening the model's turn."""
    bos, start_of_turn = tokenizer.bos_token_id, tokenizer.convert_tokens_to_ids("<start_of_turn>")
    n_bos = row.count(bos)
    require(n_bos < 2, f"{what} holds {n_bos} × <bos> ({tokenizer.convert_ids_to_tokens(row[:3])} …), a prompt starts with "
                       "exactly one: tokenize a rendered string with add_special_tokens=False, or let apply_chat_template tokenize.")
    require(n_bos == 1 and row[0] == bos, f"{what} does not start with <bos> (id {bos}): "
                                          + ("apply_chat_template adds it; do not strip it." if use_template else
                                             "plain tokenization keeps the tokenizer's <bos> (the default add_special_tokens=True)."))
    other = [q for q in PROMPT_QUESTIONS if q != question][0]
    require(other not in tokenizer.decode(row), f"{what} encodes another question: use the `question` argument, not a global.")
    if use_template:
        require(start_of_turn in row, f"{what} has no <start_of_turn> (id {start_of_turn}): use_template=True must "
                                      "apply the chat template.")
        opening = tokenizer("<start_of_turn>model\n", add_special_tokens=False)["input_ids"]
        require(row[-len(opening):] == opening, f"{what} does not end by opening the model's turn: pass "
                                                "add_generation_prompt=True so the prompt ends with <start_of_turn>model\\n.")
    else:
        require(start_of_turn not in row, f"{what} contains <start_of_turn>: use_template=False means the bare question, "
                                          "tokenized as plain text.")


def check_prompt_ids(prompt_ids, tokenizer) -> None:
    """Exercise 1.1: ``prompt_ids(tokenizer, question, use_template) -> ids [1, T]`` (long) with exactly one ``<bos>``."""
    entry = pinned(NOTEBOOK, "check_prompt_ids", tokenizer_key(tokenizer))
    for question in PROMPT_QUESTIONS:
        for use_template in (True, False):
            what = f"prompt_ids(tokenizer, {question!r}, use_template={use_template})"
            row = _require_id_tensor(prompt_ids(tokenizer, question, use_template), what)
            _prompt_properties(row, tokenizer, question, use_template, what)
            if entry is not None:
                want = entry[f"{question}|{use_template}"]
                require(matches(row, want["ids"]), f"{what}: {len(row)} ids, but not the expected ones: " + ("tokenize the chat template of [{'role': 'user', 'content': "
                                                               "question}] with the generation prompt." if use_template
                                                               else "tokenize the question alone, tokenizer(question)."))
    ok("prompt_ids: [1, T] long ids, one <bos>; the template ends with the generation prompt; plain text = tokenizer(question)"
       + unpinned_note(entry))


def answer_input_ids(tokenizer, templated: bool, text: str):
    """The visible inputs of check 1.2: a templated question's pinned ids (None if none are pinned for this
    tokenizer), or plain text with <bos>."""
    if templated:
        return pinned_ids(NOTEBOOK, text, tokenizer)
    return tokenizer(text, return_tensors="pt")["input_ids"]


def check_reply_text(got: object, want: dict | None, prompt_text: str, what: str) -> None:
    """Name the usual mistakes of a decoded greedy reply (shared by 1.2 and 2.2); ``want`` holds pinned digests."""
    require(isinstance(got, str), f"{what}: expected the answer as text (str), got {type(got).__name__}: "
                                  "decode the new ids with tokenizer.decode(..., skip_special_tokens=True).")
    lines = [line.strip() for line in prompt_text.splitlines() if line.strip()]
    tail = max(lines, key=len) if lines else ""  # the longest line of the prompt: the question
    require(not (tail and tail in got), f"{what}: the answer contains the prompt ({tail[:40]!r}…): decode only the "
                                        "new tokens, output[0, input_ids.shape[1]:], not the whole output.")
    require(not any(s in got for s in SPECIAL_TEXT),
            f"{what}: the answer contains special tokens ({[s for s in SPECIAL_TEXT if s in got]}): decode with skip_special_tokens=True.")
    require(got == got.strip(), f"{what}: strip the whitespace around the decoded answer (.strip()).")
    if want is None or matches(got, want["answer"]):
        return
    require(not matches(got, want["eos_only"]), f"{what}: the answer runs on past the end of the model's turn. Stop on both "
                                                "<eos> (id 1) and <end_of_turn> (id 107): eos_token_id=[1, 107] "
                                                "(eos_token_id=tokenizer.eos_token_id keeps only <eos>).")
    require(False, f"{what}: {got!r} is not the greedy answer: use do_sample=False "
                   "(greedy decoding), the new tokens only, stopped at <eos> or <end_of_turn>.")


def check_generate_answer(generate_answer, model, tokenizer) -> None:
    """Exercise 1.2: greedy answer to ``input_ids``, new tokens only, stopped at ``<eos>`` or ``<end_of_turn>``, stripped."""
    from helpers.checks.common import model_finite

    entry = pinned(NOTEBOOK, "check_generate_answer", model_key(model)) if is_float32(model) else None
    for templated, text, max_new_tokens, name in ANSWER_CASES:
        what = f"generate_answer on {name} (max_new_tokens={max_new_tokens})"
        input_ids = answer_input_ids(tokenizer, templated, text)
        if input_ids is None:
            continue
        model_finite(model, input_ids)
        got = generate_answer(model, tokenizer, input_ids.clone(), max_new_tokens)
        require(input_ids.equal(answer_input_ids(tokenizer, templated, text)), f"{what}: the input ids changed.")
        prompt_text = tokenizer.decode(input_ids[0], skip_special_tokens=True)
        check_reply_text(got, None if entry is None else entry[name], prompt_text, what)
    ok("generate_answer: greedy, new tokens only, stops at <end_of_turn>, special tokens skipped" + unpinned_note(entry))


def check_coherence(coherence, cross_encoder) -> None:
    """Exercise 1.3: ``coherence(cross_encoder, question, answer)`` = the cross-encoder's raw logit (no sigmoid)."""
    import math

    import torch

    entry = pinned(NOTEBOOK, "check_coherence", model_key(cross_encoder.model))
    for q, a in COHERENCE_PAIRS:
        what = f"coherence(cross_encoder, {q[:30]!r}…, {a[:30]!r}…)"
        got = coherence(cross_encoder, q, a)
        require(isinstance(got, float), f"{what} returned a {type(got).__name__}: return one Python float "
                                        "(e.g. float(scores[0]) or logits.item()).")
        require_finite(got, what, lambda: torch.zeros(1), cross_encoder.model)
        if entry is None:
            continue
        want, swapped = entry[f"{q}|{a}"], entry[f"{a}|{q}"]
        if math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-4):
            continue
        require(not math.isclose(got, 1 / (1 + math.exp(-want)), abs_tol=1e-4),
                f"{what} = {got:.4f} is sigmoid(logit), a probability in (0, 1); the homework's score is the raw logit "
                f"{want:.4f} (CrossEncoder.predict with the Identity activation that load_cross_encoder sets, or the model's logits).")
        require(not math.isclose(got, swapped, rel_tol=1e-4, abs_tol=1e-4),
                f"{what}: question and answer are swapped: score the pair (question, answer), question first.")
        require(False, f"{what} = {got:.4f}, expected the cross-encoder's raw logit {want:.4f}.")
    ok(f"coherence: the cross-encoder's raw logit on {len(COHERENCE_PAIRS)} pairs" + unpinned_note(entry))
