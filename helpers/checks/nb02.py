"""Checks of notebook 02 (multi-turn chat): exercises 2.1 render_prompt, 2.2 chat_round, 2.3 top_next_tokens."""
from __future__ import annotations

from helpers.checks.common import (digest, is_float32, is_half, lm_logits, model_finite, model_key, ok, pinned, require,
                                   require_finite, tokenizer_key, unpinned_note)
from helpers.checks.nb01 import RAINBOW, check_reply_text

NOTEBOOK = "02"
HISTORIES = [
    [{"role": "user", "content": RAINBOW}],
    [{"role": "user", "content": RAINBOW}, {"role": "assistant", "content": "Red."}, {"role": "user", "content": "Another one?"}],
]
ROUNDS = [RAINBOW, "That's great! Now, could you tell me another color?"]
ROUND_TOKENS = 12
TOP_CASES = [(HISTORIES[0][:0] + [{"role": "user", "content": "Hi"}], 25), (HISTORIES[1], 5)]  # k = 25 reaches "▁" pieces


def check_render_prompt(render_prompt, tokenizer) -> None:
    """Exercise 2.1: ``render_prompt(tokenizer, history) -> str``, the whole conversation with the generation prompt."""
    import copy

    entry = pinned(NOTEBOOK, "check_render_prompt", tokenizer_key(tokenizer))
    for index, history in enumerate(HISTORIES):
        what = f"render_prompt on a history of {len(history)} message(s)"
        given = copy.deepcopy(history)
        got = render_prompt(tokenizer, given)
        require(given == history, f"{what}: the history you were given changed: render it, do not modify it.")
        require(isinstance(got, str), f"{what} returned a {type(got).__name__}: return the text "
                                      "(apply_chat_template(..., tokenize=False)).")
        bos = tokenizer.bos_token
        require(got.count(bos) == 1 and got.startswith(bos),
                f"{what}: {got.count(bos)} × {bos}: the template writes <bos> once, first; do not add another.")
        require("<start_of_turn>assistant" not in got, f"{what}: the prompt says '<start_of_turn>assistant': Gemma's template "
                                                       "writes the assistant's turns as 'model' — let apply_chat_template render the roles.")
        require(got.endswith("<start_of_turn>model\n"), f"{what}: the prompt must end by opening the model's turn, "
                                                        "'<start_of_turn>model\\n': pass add_generation_prompt=True.")
        turns = got.count("<start_of_turn>")
        require(turns == len(history) + 1, f"{what}: {turns} × <start_of_turn>, expected {len(history) + 1} (one per message "
                                           "plus the generation prompt): render every message of the history, not only the last one.")
        require(all(m["content"] in got for m in history), f"{what}: a message's text is missing: render every message.")
        if entry is not None:
            want = entry[str(index)]
            require(digest(got) == want["text"], f"{what}: not the expected text ({len(got)} characters): let the "
                                                 "tokenizer's chat template render the whole history as it is, as text, "
                                                 "with the generation prompt.")
    ok("render_prompt: every turn, assistant written as model, one <bos>, ends with '<start_of_turn>model\\n'"
       + unpinned_note(entry))


def _check_round(got, given, history, user_text: str, what: str) -> dict:
    """A new list: the history unchanged, the user turn, a reply dict with role 'assistant'; returns the reply."""
    require(got is not given, f"{what}: you returned the list you were given: build and return a NEW list "
                              "(history + [user turn, reply]).")
    require(given == history, f"{what}: the history you were given changed (did you .append to it?): leave it as it "
                              "is and return a new list.")
    require(isinstance(got, list), f"{what}: return a list of messages, not a {type(got).__name__}.")
    require(len(got) == len(history) + 2, f"{what}: expected {len(history) + 2} messages (the history, your user turn "
                                          f"and the model's reply), got {len(got)}.")
    require(got[:len(history)] == history, f"{what}: the earlier messages changed: keep the history as it was.")
    require(got[-2] == {"role": "user", "content": user_text},
            f"{what}: the second-to-last message should be {{'role': 'user', 'content': user_text}}, got {got[-2]!r}.")
    reply = got[-1]
    require(isinstance(reply, dict) and set(reply) == {"role", "content"},
            f"{what}: the reply should be a dict {{'role': 'assistant', 'content': text}}, got {reply!r}.")
    require(reply["role"] == "assistant", f"{what}: store the reply with role 'assistant', not {reply['role']!r} "
                                          "(the template prints it as 'model').")
    return reply


def check_chat_round(chat_round, model, tokenizer) -> None:
    """Exercise 2.2: ``chat_round(model, tokenizer, history, user_text, max_new_tokens)`` -> a NEW list + user turn + greedy reply."""
    import copy

    entry = pinned(NOTEBOOK, "check_chat_round", model_key(model)) if is_float32(model) else None
    history: list[dict] = []
    for round_number, user_text in enumerate(ROUNDS, start=1):
        what = f"chat_round, round {round_number}"
        model_finite(model, tokenizer(user_text, return_tensors="pt")["input_ids"])
        given = copy.deepcopy(history)
        got = chat_round(model, tokenizer, given, user_text, ROUND_TOKENS)
        reply = _check_round(got, given, history, user_text, what)
        want = None if entry is None else entry[str(round_number)]
        if want is not None and round_number > 1:
            require(digest(reply["content"]) != want["last_turn_only"] or want["last_turn_only"] == want["answer"],
                    f"{what}: the reply answers only the last user turn: the model must read the whole history.")
        prompt_text = "\n".join(m["content"] for m in got[:-1])  # the conversation's text: a reply must not repeat it
        check_reply_text(reply["content"], want, prompt_text, what)
        history = got
    ok("chat_round: a new list, the user turn, the greedy reply to the whole history as 'assistant'" + unpinned_note(entry))


def _require_pairs(got, k: int, what: str) -> tuple[list[str], list[float]]:
    """A list of k (text, float) pairs; returns the texts and the probabilities."""
    require(isinstance(got, list), f"{what} returned a {type(got).__name__}: return a list of (token text, probability) pairs.")
    require(len(got) == k, f"{what}: {len(got)} pairs, expected k = {k}.")
    for item in got:
        require(isinstance(item, (tuple, list)) and len(item) == 2, f"{what}: each item should be a pair (text, probability), got {item!r}.")
        text, prob = item
        require(not (isinstance(text, (int, float)) and isinstance(prob, str)), f"{what}: the pair is (text, probability), not (probability, text).")
        require(isinstance(text, str), f"{what}: the first element should be the decoded token text (tokenizer.decode([id])), "
                                       f"got {type(text).__name__} {text!r}.")
        require(isinstance(prob, float), f"{what}: the probability should be a Python float (float(p)), got {type(prob).__name__}.")
    return [t for t, _ in got], [p for _, p in got]


def _top_properties(texts, probs, what: str, k: int) -> None:
    require(all(0.0 <= p <= 1.0 for p in probs), f"{what}: values {[round(p, 3) for p in probs[:3]]} … are not probabilities "
                                                 "(logits?): apply torch.softmax over the vocabulary (dim=-1).")
    require(not all(abs(p - 1.0) < 1e-9 for p in probs), f"{what}: every probability is 1.0: the softmax ran over the wrong "
                                                          "dimension — use dim=-1 (the vocabulary).")
    require(probs == sorted(probs, reverse=True), f"{what}: list the most likely token first (torch.topk sorts descending).")
    require(sum(probs) <= 1.0 + 1e-3, f"{what}: your probabilities sum to {sum(probs):.3f} > 1.")
    require(not any("▁" in t for t in texts), f"{what}: these are vocabulary pieces ({texts[:4]} …); decode each "
                                              "id with tokenizer.decode([id]) to get the token's text.")


def _top_against_pinned(texts, probs, want: dict, model, what: str, k: int) -> None:
    """Compare with the pinned top k (near-ties may swap places) and name the mistake whose values they are."""
    import math

    rel, tol = (1e-2, 1e-2) if is_half(model) else (1e-3, 1e-4)  # a half model's logits carry ~1e-3 relative error
    close = lambda values: all(math.isclose(p, w, rel_tol=rel, abs_tol=tol) for p, w in zip(probs, values))  # noqa: E731
    near = dict(zip(want["wide_texts"][::-1], want["wide_probs"][::-1]))
    same = all(digest(t) == w or abs(near.get(digest(t), -1.0) - wp) <= tol
               for t, w, wp in zip(texts, want["wide_texts"], want["wide_probs"]))
    if same and close(want["wide_probs"][:k]):
        return
    require(not (math.isclose(sum(probs), 1.0, abs_tol=1e-3) and not math.isclose(sum(want["wide_probs"][:k]), 1.0, abs_tol=1e-3)),
            f"{what}: your {k} probabilities sum to 1: softmax over the whole vocabulary first, then take the top {k} "
            "(do not renormalise the top k).")
    require(not close(want["double_bos"]), f"{what}: your probabilities come from a prompt with two <bos>: tokenize the "
                                           "rendered prompt with add_special_tokens=False, or let apply_chat_template tokenize.")
    require(not close(want["no_generation_prompt"]), f"{what}: the prompt lacks the generation prompt: add_generation_prompt=True, "
                                                     "so the distribution is that of the reply's first token.")
    require(not close(want["first_position"]), f"{what}: you took the first position's logits: the next token follows the "
                                               "LAST position, logits[0, -1].")
    require(False, f"{what}: expected the probabilities {[round(p, 4) for p in want['wide_probs'][:k]]}, got "
                   f"{[round(p, 4) for p in probs]} (or other tokens): softmax of the last position's logits, top k, decoded.")


def check_top_next_tokens(top_next_tokens, model, tokenizer) -> None:
    """Exercise 2.3: ``top_next_tokens(model, tokenizer, history, k)`` -> ``[(token text, probability)]``, most likely first."""
    entry = pinned(NOTEBOOK, "check_top_next_tokens", model_key(model))
    for index, (history, k) in enumerate(TOP_CASES):
        what = f"top_next_tokens(…, history of {len(history)}, k={k})"
        ids = tokenizer(history[-1]["content"], return_tensors="pt")["input_ids"]
        model_finite(model, ids)
        texts, probs = _require_pairs(top_next_tokens(model, tokenizer, [dict(m) for m in history], k), k, what)
        require_finite(probs, f"{what}: the probabilities", lambda: lm_logits(model, ids), model)
        _top_properties(texts, probs, what, k)
        if entry is not None:
            _top_against_pinned(texts, probs, entry[str(index)], model, what, k)
    ok("top_next_tokens: softmax of the last position's logits, top k decoded, most likely first" + unpinned_note(entry))
