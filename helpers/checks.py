"""Self-checks for the exercises: a wrong answer raises ``AssertionError`` with a specific hint
(so nbval fails on it); a right one prints a short ✓ line.

Exercise checks are grouped by notebook below the shared primitives.
"""
from __future__ import annotations


def ok(message: str) -> None:
    """Print the success line of a check."""
    print(f"✓ {message}")


def require(condition: bool, hint: str) -> None:
    """Raise ``AssertionError(hint)`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(hint)


def _is_half(model) -> bool:
    """True for a float16/bfloat16 model (a GPU's): checks then compare with tolerances that fit half precision."""
    import torch

    return next(model.parameters()).dtype in (torch.float16, torch.bfloat16)


def _lm_logits(model, input_ids):
    """The model's logits on ``input_ids [1, T]``."""
    import torch

    with torch.no_grad():
        return model(input_ids=input_ids.to(model.device)).logits


def _require_finite(got, what: str, model_values, model) -> None:
    """inf/NaN in a result computed with ``model``. If the model's own output on the same input has them too
    (``model_values()``, computed only then), it overflowed: helpers.backend.check_finite's ``NumericsError``,
    which names the fix (LAB_DTYPE=float32). Otherwise the function made them: a hint."""
    import torch

    from helpers.backend import check_finite

    try:
        values = got.detach() if torch.is_tensor(got) else torch.as_tensor(got, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return  # not numbers: the check's other requirements say what is wrong
    if not values.is_floating_point() or bool(torch.isfinite(values).all()):
        return
    reference = model_values()
    if not bool(torch.isfinite(reference).all()):
        check_finite(values, what)  # raises NumericsError
    bad = int((~torch.isfinite(values)).sum())
    require(False, f"{what} holds inf/NaN ({bad} of {values.numel()} values) although the model's own output on this "
                   "input is finite, so your code made them: " +
                   ("float16 overflows above 65504 and bfloat16 rounds coarsely — compute in float32 (x.float()) "
                    "before softmax, sums or matrix products." if _is_half(model) else
                    "look for a division by zero, log(0) or a mean over no positions."))


# --- 01 chat template ---------------------------------------------------------------------

_SPECIAL_TEXT = ("<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>", "<pad>")


def _stop_ids(tokenizer) -> list[int]:
    """``<eos>`` and ``<end_of_turn>``: the two tokens Gemma ends a reply with."""
    return [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<end_of_turn>")]


def _greedy_new_ids(model, tokenizer, input_ids, max_new_tokens: int, stop_ids) -> list[int]:
    """transformers' greedy ``generate`` on ``input_ids [1, T]``: the new token ids only."""
    import torch

    from transformers import LogitsProcessorList

    from helpers.generation import FiniteLogits

    input_ids = input_ids.to(model.device)
    with torch.no_grad():  # FiniteLogits: a NumericsError naming LAB_DTYPE=float32 if the model overflows
        out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=max_new_tokens,
                             do_sample=False, eos_token_id=stop_ids, pad_token_id=tokenizer.pad_token_id,
                             logits_processor=LogitsProcessorList([FiniteLogits()]))
    return out[0, input_ids.shape[1]:].tolist()


def _check_reply_text(got: object, want: str, prompt_text: str, eos_only, what: str) -> None:
    """Name the usual mistakes of a decoded greedy reply (shared by 1.2 and 2.2)."""
    require(isinstance(got, str), f"{what}: expected the answer as text (str), got {type(got).__name__}: "
                                  "decode the new ids with tokenizer.decode(..., skip_special_tokens=True).")
    if got == want:
        return
    lines = [line.strip() for line in prompt_text.splitlines() if line.strip()]
    tail = max(lines, key=len) if lines else ""  # the longest line of the prompt: the question
    require(not (tail and tail in got), f"{what}: the answer contains the prompt ({tail[:40]!r}…): decode only the "
                                        "new tokens, output[0, input_ids.shape[1]:], not the whole output.")
    require(not any(s in got for s in _SPECIAL_TEXT),
            f"{what}: the answer contains special tokens ({[s for s in _SPECIAL_TEXT if s in got]}): decode with skip_special_tokens=True.")
    require(got.strip() != want, f"{what}: strip the whitespace around the decoded answer (.strip()).")
    if got.startswith(want) or got == eos_only():
        require(False, f"{what}: the answer runs on past the end of the model's turn ({got[len(want):][:40]!r}…). Stop on both "
                       "<eos> (id 1) and <end_of_turn> (id 107): eos_token_id=[1, 107] (eos_token_id=tokenizer.eos_token_id "
                       "keeps only <eos>).")
    require(not (want.startswith(got) and got), f"{what}: the answer stops too early ({got!r} is only the start of {want!r}): "
                                                "pass max_new_tokens to generate.")
    require(False, f"{what}: expected the greedy answer {want!r}, got {got!r}: use do_sample=False (greedy decoding).")


def check_prompt_ids(prompt_ids, tokenizer) -> None:
    """Exercise 1.1: ``prompt_ids(tokenizer, question, use_template) -> ids [1, T]`` (long) with exactly one ``<bos>``."""
    import torch

    bos = tokenizer.bos_token_id
    start_of_turn = tokenizer.convert_tokens_to_ids("<start_of_turn>")
    questions = ["Name a color in a rainbow.", "What does a chat template do? Answer in one sentence."]
    for question in questions:
        messages = [{"role": "user", "content": question}]
        for use_template in (True, False):
            what = f"prompt_ids(tokenizer, {question!r}, use_template={use_template})"
            got = prompt_ids(tokenizer, question, use_template)
            require(not isinstance(got, str), f"{what} returned text: tokenize it and return the token ids as a tensor.")
            require(not hasattr(got, "keys"), f"{what} returned the whole encoding ({type(got).__name__} with "
                                              "input_ids and attention_mask): return only its ['input_ids'].")
            require(isinstance(got, torch.Tensor), f"{what} returned a {type(got).__name__}: return a torch tensor of shape "
                                                   "[1, T] (pass return_tensors='pt').")
            require(got.dim() != 1, f"{what} has shape {tuple(got.shape)}: add the batch dimension, [1, T] "
                                    "(return_tensors='pt', or ids.unsqueeze(0)).")
            require(got.dim() == 2 and got.shape[0] == 1, f"{what} has shape {tuple(got.shape)}, expected [1, T].")
            require(got.dtype == torch.long, f"{what} has dtype {got.dtype}: token ids are torch.long (int64).")
            row = got[0].cpu().tolist()
            n_bos = row.count(bos)
            require(n_bos < 2, f"{what} holds {n_bos} × <bos> ({tokenizer.convert_ids_to_tokens(row[:3])} …): the rendered "
                               "template already starts with <bos> and tokenizer(text) adds another — the original homework's "
                               "bug. Tokenize the rendered string with add_special_tokens=False, or let apply_chat_template tokenize.")
            require(n_bos == 1 and row[0] == bos, f"{what} does not start with <bos> (id {bos}): "
                                                  + ("apply_chat_template adds it; do not strip it." if use_template else
                                                     "plain tokenization keeps the tokenizer's <bos> (the default add_special_tokens=True)."))
            if use_template:
                want = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
                require(start_of_turn in row, f"{what} has no <start_of_turn> (id {start_of_turn}): use_template=True must "
                                              "apply the chat template.")
                no_prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=False, return_tensors="pt", return_dict=True)["input_ids"]
                require(row != no_prompt[0].tolist(), f"{what} ends after the user's <end_of_turn>: pass add_generation_prompt=True "
                                                      "so the prompt opens the model's turn (<start_of_turn>model\\n).")
            else:
                want = tokenizer(question, return_tensors="pt")["input_ids"]
                require(start_of_turn not in row, f"{what} contains <start_of_turn>: use_template=False means the bare question, "
                                                  "tokenized as plain text.")
            want_row = want[0].tolist()
            if row != want_row:
                other = [q for q in questions if q != question][0]
                require(other not in tokenizer.decode(row), f"{what} encodes another question: use the `question` argument, not a global.")
                diff = next((i for i, (a, b) in enumerate(zip(row, want_row)) if a != b), min(len(row), len(want_row)))
                require(False, f"{what}: {len(row)} ids, expected {len(want_row)}; first difference at position {diff}: "
                               f"got {tokenizer.convert_ids_to_tokens(row[diff:diff + 3])}, expected "
                               f"{tokenizer.convert_ids_to_tokens(want_row[diff:diff + 3])}.")
    ok("prompt_ids: [1, T] long ids, one <bos>; the template ends with the generation prompt; plain text = tokenizer(question)")


def check_generate_answer(generate_answer, model, tokenizer) -> None:
    """Exercise 1.2: greedy answer to ``input_ids``, new tokens only, stopped at ``<eos>`` or ``<end_of_turn>``, stripped."""
    question = "Name a color in a rainbow, please just answer in a word without any emoji."
    templated = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                              return_tensors="pt", return_dict=True)["input_ids"]
    plain = tokenizer("Machine learning is", return_tensors="pt")["input_ids"]
    stops = _stop_ids(tokenizer)
    for input_ids, max_new_tokens, name in [(templated, 20, "the templated rainbow question"), (plain, 6, "'Machine learning is'")]:
        what = f"generate_answer on {name} (max_new_tokens={max_new_tokens})"
        before = input_ids.clone()
        got = generate_answer(model, tokenizer, input_ids.clone(), max_new_tokens)
        want = tokenizer.decode(_greedy_new_ids(model, tokenizer, input_ids, max_new_tokens, stops), skip_special_tokens=True).strip()
        prompt_text = tokenizer.decode(input_ids[0], skip_special_tokens=True)

        def eos_only(input_ids=input_ids, max_new_tokens=max_new_tokens):
            ids = _greedy_new_ids(model, tokenizer, input_ids, max_new_tokens, [tokenizer.eos_token_id])
            return tokenizer.decode(ids, skip_special_tokens=True).strip()

        require(input_ids.equal(before), f"{what}: the input ids changed.")
        _check_reply_text(got, want, prompt_text, eos_only, what)
    ok("generate_answer: greedy, new tokens only, stops at <end_of_turn>, special tokens skipped")


def check_coherence(coherence, cross_encoder) -> None:
    """Exercise 1.3: ``coherence(cross_encoder, question, answer)`` = the cross-encoder's raw logit (no sigmoid)."""
    import math

    import torch

    scorer, scorer_tokenizer = cross_encoder.model, cross_encoder.tokenizer
    scorer.eval()
    question = "What is the difference between supervised and unsupervised learning?"
    pairs = [(question, "Supervised learning uses labeled examples; unsupervised learning finds structure without labels."),
             (question, "Name a color in a rainbow."),
             ("Name a color in a rainbow.", "Red.")]

    def logit(first: str, second: str) -> float:  # the homework's AutoModelForSequenceClassification logit
        features = scorer_tokenizer([first], [second], padding=True, truncation=True, return_tensors="pt").to(scorer.device)
        with torch.no_grad():
            return float(scorer(**features).logits.squeeze())

    for q, a in pairs:
        what = f"coherence(cross_encoder, {q[:30]!r}…, {a[:30]!r}…)"
        got = coherence(cross_encoder, q, a)
        require(isinstance(got, float), f"{what} returned a {type(got).__name__}: return one Python float "
                                        "(e.g. float(scores[0]) or logits.item()).")
        _require_finite(got, what, lambda: torch.tensor(logit(q, a)), scorer)
        want = logit(q, a)
        if math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-4):
            continue
        require(not math.isclose(got, 1 / (1 + math.exp(-want)), abs_tol=1e-4),
                f"{what} = {got:.4f} is sigmoid(logit), a probability in (0, 1); the homework's score is the raw logit "
                f"{want:.4f} (CrossEncoder.predict with the Identity activation that load_cross_encoder sets, or the model's logits).")
        require(not math.isclose(got, logit(a, q), rel_tol=1e-4, abs_tol=1e-4),
                f"{what}: question and answer are swapped: score the pair (question, answer), question first.")
        require(False, f"{what} = {got:.4f}, expected the cross-encoder's raw logit {want:.4f}.")
    ok(f"coherence: the cross-encoder's raw logit on {len(pairs)} pairs")


# --- 02 multi-turn chat -------------------------------------------------------------------

_RAINBOW = "Name a color in a rainbow, please just answer in a word without any emoji."


def check_render_prompt(render_prompt, tokenizer) -> None:
    """Exercise 2.1: ``render_prompt(tokenizer, history) -> str``, the whole conversation with the generation prompt."""
    import copy

    histories = [
        [{"role": "user", "content": _RAINBOW}],
        [{"role": "user", "content": _RAINBOW}, {"role": "assistant", "content": "Red."},
         {"role": "user", "content": "Another one?"}],
    ]
    for history in histories:
        what = f"render_prompt on a history of {len(history)} message(s)"
        given = copy.deepcopy(history)
        got = render_prompt(tokenizer, given)
        require(given == history, f"{what}: the history you were given changed: render it, do not modify it.")
        require(isinstance(got, str), f"{what} returned a {type(got).__name__}: return the text "
                                      "(apply_chat_template(..., tokenize=False)).")
        want = tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=True)
        if got == want:
            continue
        bos = tokenizer.bos_token
        require(got.count(bos) < 2, f"{what}: {got.count(bos)} × {bos}: the template writes <bos> once; do not add another.")
        require("<start_of_turn>assistant" not in got, f"{what}: the prompt says '<start_of_turn>assistant': Gemma's template "
                                                       "writes the assistant's turns as 'model' — let apply_chat_template render the roles.")
        require(got.endswith("<start_of_turn>model\n"), f"{what}: the prompt must end by opening the model's turn, "
                                                        "'<start_of_turn>model\\n': pass add_generation_prompt=True.")
        turns, want_turns = got.count("<start_of_turn>"), want.count("<start_of_turn>")
        require(turns == want_turns, f"{what}: {turns} × <start_of_turn>, expected {want_turns} (one per message plus the "
                                     "generation prompt): render every message of the history, not only the last one.")
        diff = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        require(False, f"{what}: differs from apply_chat_template at character {diff}: got {got[diff:diff + 30]!r}, "
                       f"expected {want[diff:diff + 30]!r}.")
    ok("render_prompt: every turn, assistant written as model, one <bos>, ends with '<start_of_turn>model\\n'")


def check_chat_round(chat_round, model, tokenizer) -> None:
    """Exercise 2.2: ``chat_round(model, tokenizer, history, user_text, max_new_tokens)`` -> a NEW list + user turn + greedy reply."""
    import copy

    stops = _stop_ids(tokenizer)

    def reply_to(messages, max_new_tokens, stop_ids=stops):
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
        return tokenizer.decode(_greedy_new_ids(model, tokenizer, ids, max_new_tokens, stop_ids), skip_special_tokens=True).strip()

    history: list[dict] = []
    for round_number, user_text in enumerate([_RAINBOW, "That's great! Now, could you tell me another color?"], start=1):
        what = f"chat_round, round {round_number}"
        given = copy.deepcopy(history)
        got = chat_round(model, tokenizer, given, user_text, 12)
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
        messages = got[:-1]
        want = reply_to(messages, 12)
        if reply["content"] != want and round_number > 1:
            require(reply["content"] != reply_to(messages[-1:], 12),
                    f"{what}: the reply answers only the last user turn: the model must read the whole history.")
        prompt_text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        _check_reply_text(reply["content"], want, prompt_text.replace("<start_of_turn>", "").replace("<end_of_turn>", ""),
                          lambda: reply_to(messages, 12, [tokenizer.eos_token_id]), what)
        history = got
    ok("chat_round: a new list, the user turn, the greedy reply to the whole history as 'assistant'")


def check_top_next_tokens(top_next_tokens, model, tokenizer) -> None:
    """Exercise 2.3: ``top_next_tokens(model, tokenizer, history, k)`` -> ``[(token text, probability)]``, most likely first."""
    import math

    import torch

    from helpers.backend import check_finite

    # probabilities: float32 tight; a float16/bfloat16 model's logits carry ~1e-3 relative error
    rel, tol = (1e-2, 1e-2) if _is_half(model) else (1e-3, 1e-4)

    def probs_of(input_ids):
        with torch.no_grad():
            logits = check_finite(model(input_ids=input_ids.to(model.device)).logits[0], "logits")
            return torch.softmax(logits.float(), dim=-1).cpu()

    cases = [([{"role": "user", "content": "Hi"}], 25),  # k = 25 reaches pieces with a "▁" (decode differs)
             ([{"role": "user", "content": _RAINBOW}, {"role": "assistant", "content": "Red."},
               {"role": "user", "content": "Another one?"}], 5)]
    for history, k in cases:
        what = f"top_next_tokens(…, history of {len(history)}, k={k})"
        got = top_next_tokens(model, tokenizer, [dict(m) for m in history], k)
        require(isinstance(got, list), f"{what} returned a {type(got).__name__}: return a list of (token text, probability) pairs.")
        require(len(got) == k, f"{what}: {len(got)} pairs, expected k = {k}.")
        for item in got:
            require(isinstance(item, (tuple, list)) and len(item) == 2, f"{what}: each item should be a pair (text, probability), got {item!r}.")
            text, prob = item
            require(not (isinstance(text, (int, float)) and isinstance(prob, str)), f"{what}: the pair is (text, probability), not (probability, text).")
            require(isinstance(text, str), f"{what}: the first element should be the decoded token text (tokenizer.decode([id])), "
                                           f"got {type(text).__name__} {text!r}.")
            require(isinstance(prob, float), f"{what}: the probability should be a Python float (float(p)), got {type(prob).__name__}.")
        texts, probs = [t for t, _ in got], [p for _, p in got]
        _require_finite(probs, f"{what}: the probabilities", lambda: _lm_logits(model, tokenizer.apply_chat_template(
            history, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]), model)
        require(all(0.0 <= p <= 1.0 for p in probs), f"{what}: values {[round(p, 3) for p in probs[:3]]} … are not probabilities "
                                                     "(logits?): apply torch.softmax over the vocabulary (dim=-1).")
        require(not all(math.isclose(p, 1.0) for p in probs), f"{what}: every probability is 1.0: the softmax ran over the wrong "
                                                               "dimension — use dim=-1 (the vocabulary).")
        require(probs == sorted(probs, reverse=True), f"{what}: list the most likely token first (torch.topk sorts descending).")
        ids = tokenizer.apply_chat_template(history, add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
        all_probs = probs_of(ids)
        top = torch.topk(all_probs[-1], k)
        want_texts = [tokenizer.decode([i]) for i in top.indices.tolist()]
        want_probs = top.values.tolist()
        wide = torch.topk(all_probs[-1], min(k + 5, all_probs.shape[-1]))  # near-ties may swap places, even past rank k
        near = dict(zip([tokenizer.decode([i]) for i in wide.indices.tolist()][::-1], wide.values.tolist()[::-1]))
        same = all(t == w or abs(near.get(t, -1.0) - wp) <= tol for t, w, wp in zip(texts, want_texts, want_probs))
        if same and all(math.isclose(p, w, rel_tol=rel, abs_tol=tol) for p, w in zip(probs, want_probs)):
            continue
        pieces = tokenizer.convert_ids_to_tokens(top.indices.tolist())
        require(not (texts == pieces and pieces != want_texts), f"{what}: these are vocabulary pieces ({pieces[:4]} …); decode each "
                                                                "id with tokenizer.decode([id]) to get the token's text.")
        require(not math.isclose(sum(probs), 1.0, abs_tol=1e-3) or math.isclose(sum(want_probs), 1.0, abs_tol=1e-3),
                f"{what}: your {k} probabilities sum to 1: softmax over the whole vocabulary first, then take the top {k} "
                "(do not renormalise the top k).")

        def matches(p_row) -> bool:
            values = torch.topk(p_row, k).values.tolist()
            return all(math.isclose(p, w, rel_tol=rel, abs_tol=tol) for p, w in zip(probs, values))

        rendered = tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=True)
        require(not matches(probs_of(tokenizer(rendered, return_tensors="pt")["input_ids"])[-1]),
                f"{what}: your probabilities come from a prompt with two <bos>: tokenize the rendered prompt with "
                "add_special_tokens=False, or let apply_chat_template tokenize.")
        no_gen = tokenizer.apply_chat_template(history, add_generation_prompt=False, return_tensors="pt", return_dict=True)["input_ids"]
        require(not matches(probs_of(no_gen)[-1]), f"{what}: the prompt lacks the generation prompt: add_generation_prompt=True, so "
                                                   "the distribution is that of the reply's first token.")
        require(not matches(all_probs[0]), f"{what}: you took the first position's logits: the next token follows the LAST "
                                           "position, logits[0, -1].")
        require(False, f"{what}: expected {list(zip(want_texts, [round(p, 4) for p in want_probs]))}, got "
                       f"{list(zip(texts, [round(p, 4) for p in probs]))}.")
    ok("top_next_tokens: softmax of the last position's logits, top k decoded, most likely first")


# --- 03 tokenization ----------------------------------------------------------------------

def check_token_table(token_table, tokenizer) -> None:
    """Exercise 3.1: ``token_table(tokenizer, text) -> [(piece, id)]`` for every token of ``tokenizer(text)``, ``<bos>`` first."""
    for text in ["I love taking a Machine Learning course by Professor Hung-yi Lee, What about you?", "naïve café 😀 3.14"]:
        what = f"token_table(tokenizer, {text[:30]!r}…)"
        got = token_table(tokenizer, text)
        require(not hasattr(got, "columns"), f"{what} returned a DataFrame: return a list of (piece, id) tuples.")
        require(isinstance(got, list), f"{what} returned a {type(got).__name__}: return a list of (piece, id) tuples.")
        want_ids = tokenizer(text)["input_ids"]
        want = list(zip(tokenizer.convert_ids_to_tokens(want_ids), want_ids))
        for item in got:
            require(isinstance(item, (tuple, list)) and len(item) == 2, f"{what}: each row should be a pair (piece, id), got {item!r}.")
            require(not (isinstance(item[0], int) and isinstance(item[1], str)), f"{what}: each row is (piece, id), not (id, piece).")
            require(isinstance(item[0], str), f"{what}: the piece should be a string, got {type(item[0]).__name__}.")
            require(isinstance(item[1], int) and not isinstance(item[1], bool),
                    f"{what}: the id should be a Python int, got {type(item[1]).__name__} (use .tolist() or int(...)).")
        got = [tuple(item) for item in got]
        if got == want:
            continue
        require(not (got and got[0][1] != tokenizer.bos_token_id and got == want[1:]),
                f"{what}: <bos> is missing: the model reads tokenizer(text) with its default add_special_tokens=True "
                "(the original homework passed add_special_tokens=False and so listed one token less).")
        require(len(got) == len(want), f"{what}: {len(got)} rows, but tokenizer(text) makes {len(want)} tokens.")
        decoded = [tokenizer.decode([i]) for _, i in want]
        require([p for p, _ in got] != decoded, f"{what}: these pieces are decoded text (' love'); use "
                                                "tokenizer.convert_ids_to_tokens, which keeps the '▁' space marker ('▁love').")
        for row, (g, w) in enumerate(zip(got, want)):
            require(g == w, f"{what}: row {row} is {g!r}, expected {w!r}.")
    ok("token_table: (piece, id) for every token of tokenizer(text), <bos> first, pieces with '▁'")


# --- 04 sampling --------------------------------------------------------------------------

def _random_logits(seed: int, batch: int = 4, vocab: int = 50):
    """Reproducible random logits ``[batch, vocab]`` (float64) for the filter checks."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, vocab, generator=generator, dtype=torch.float64) * 2.0


# Rows with tied logits: the filters must break ties towards the lower token id, as argmax does.
_TIED_LOGITS = [[1.0, 3.0, 3.0, 3.0, 0.5, 3.0],
                [2.0, 2.0, 2.0, 2.0, 2.0, 2.0],
                [0.0, 5.0, 1.0, 5.0, 5.0, -1.0]]


# The ids each row keeps for k = 1, 2, 3 under that rule (p = 0 keeps the k = 1 id).
_TIED_KEEP = {1: [[1], [0], [1]], 2: [[1, 2], [0, 1], [1, 3]], 3: [[1, 2, 3], [0, 1, 2], [1, 3, 4]]}


def _check_filter_output(out, logits, name: str) -> None:
    """Shape, dtype and -inf conventions shared by the top-k and top-p checks."""
    import torch

    require(isinstance(out, torch.Tensor), f"{name} must return a tensor, got {type(out).__name__}.")
    require(out.shape == logits.shape, f"{name} changed the shape: {tuple(logits.shape)} in, {tuple(out.shape)} out.")
    require(out.dtype == logits.dtype, f"{name} returned dtype {out.dtype} for {logits.dtype} logits: keep the input's dtype "
                                       "(masked_fill keeps it).")
    changed = (out != logits) & ~torch.isneginf(out)
    require(not bool((changed & (out == 0)).any()), f"{name} should set removed logits to -inf (float('-inf')), not 0: exp(0) = 1 is still a weight.")
    require(not bool(changed.any()), f"{name} changed the logits it kept (or wrote NaN): only set the removed ones to -inf.")
    kept = torch.isfinite(out)
    require(bool(kept.any(dim=-1).all()), f"{name} removed every token of a row: always keep at least the most likely one.")


def _call_filter(fn, logits, arg, name: str):
    """``fn(logits, arg)`` with a check that the input was not modified."""
    import torch

    original = logits.clone()
    out = fn(logits, arg)
    require(torch.equal(logits, original), f"{name} modified its input in place: work on a copy (masked_fill, not masked_fill_).")
    return out


def check_top_k_filter(top_k_filter) -> None:
    """Exercise 4.1: compare with transformers' ``TopKLogitsWarper`` on random logits; exactly k on ties."""
    import torch
    from transformers import TopKLogitsWarper

    for seed, k in [(0, 1), (1, 2), (2, 5), (3, 20), (4, 50)]:
        logits = _random_logits(seed)
        out = _call_filter(top_k_filter, logits, k, "top_k_filter")
        _check_filter_output(out, logits, "top_k_filter")
        require(not (k < logits.shape[-1] and torch.equal(out, logits)),
                f"top_k_filter(logits, {k}) returned its input unchanged: set every logit outside the k largest to -inf.")
        expected = TopKLogitsWarper(top_k=k)(None, logits.clone())
        got_kept, want_kept = torch.isfinite(out), torch.isfinite(expected)
        for row in range(logits.shape[0]):
            require(torch.equal(got_kept[row], want_kept[row]),
                    f"k={k}, row {row}: you kept {int(got_kept[row].sum())} tokens, expected {int(want_kept[row].sum())} "
                    f"(the {k} largest logits of the row).")
    tied = torch.tensor(_TIED_LOGITS)
    for k in (1, 2, 3):
        out = _call_filter(top_k_filter, tied, k, "top_k_filter")
        _check_filter_output(out, tied, "top_k_filter")
        for row in range(tied.shape[0]):
            kept, want = torch.isfinite(out[row]), _TIED_KEEP[k][row]
            require(int(kept.sum()) == k,
                    f"k={k}, row {row} = {_TIED_LOGITS[row]}: you kept {int(kept.sum())} tokens, expected exactly {k}. "
                    "A threshold (logits < k-th largest) also keeps every token tied with the k-th one: choose k positions instead.")
            require(kept.nonzero().flatten().tolist() == want,
                    f"k={k}, row {row} = {_TIED_LOGITS[row]}: you kept ids {kept.nonzero().flatten().tolist()}, expected "
                    f"{want}. Among tied logits keep the lower token ids, as argmax does, so "
                    "that k = 1 is exactly greedy decoding (torch.topk does not promise which tied index it returns; "
                    "torch.sort(..., stable=True) does).")
    half = _random_logits(5).to(torch.bfloat16)
    out = _call_filter(top_k_filter, half, 3, "top_k_filter")
    _check_filter_output(out, half, "top_k_filter")
    require(bool((torch.isfinite(out).sum(-1) == 3).all()), "bfloat16 logits: keep exactly k = 3 tokens per row.")
    out = _call_filter(top_k_filter, _random_logits(6, vocab=8), 8, "top_k_filter")
    require(bool(torch.isfinite(out).all()), "k equal to the vocabulary size must keep every token.")
    ok("top_k_filter agrees with transformers' TopKLogitsWarper on 5 random cases and keeps exactly k on ties")


def check_top_p_filter(top_p_filter) -> None:
    """Exercise 4.2: compare with transformers' ``TopPLogitsWarper`` on random logits (p = 0 included); ties."""
    import torch
    from transformers import TopPLogitsWarper

    for seed, p in [(10, 0.0), (11, 0.1), (12, 0.5), (13, 0.6), (14, 0.9), (15, 0.999), (16, 1.0)]:
        logits = _random_logits(seed)
        out = _call_filter(top_p_filter, logits, p, "top_p_filter")
        _check_filter_output(out, logits, "top_p_filter")
        expected = TopPLogitsWarper(top_p=p)(None, logits.clone())
        got_kept, want_kept = torch.isfinite(out), torch.isfinite(expected)
        require(not (torch.equal(out, logits) and not torch.equal(got_kept, want_kept)),
                f"top_p_filter(logits, {p}) returned its input unchanged: set the logits outside the nucleus to -inf.")
        probs = torch.softmax(logits, dim=-1)
        for row in range(logits.shape[0]):
            if torch.equal(got_kept[row], want_kept[row]):
                continue
            # Tolerate a disagreement only where the cumulative mass sits on p up to float32 rounding.
            order = torch.argsort(probs[row], descending=True)
            mass_before = torch.cumsum(probs[row][order], 0) - probs[row][order]
            differing = (got_kept[row] != want_kept[row])[order]
            if bool(torch.all((mass_before[differing] - p).abs() < 1e-6)):
                continue
            n_got, n_want = int(got_kept[row].sum()), int(want_kept[row].sum())
            if not bool(got_kept[row][probs[row].argmax()]):
                hint = "you removed the most likely token: sort the probabilities in descending order (descending=True)."
            elif n_got == n_want - 1 and p > 0:
                hint = ("you dropped the token that crosses p: the token that crosses p stays "
                        "(remove a token only when the mass *before* it already reaches p).")
            elif n_got > n_want:
                hint = "you kept tokens beyond the nucleus: remove every token once the mass before it reaches p."
            else:
                hint = ("keep the most likely tokens until their total probability reaches p (the token that crosses p stays), "
                        "and always keep the top token.")
            require(False, f"p={p}, row {row}: you kept {n_got} tokens, expected {n_want}; {hint}")
    tied = torch.tensor(_TIED_LOGITS)
    out = _call_filter(top_p_filter, tied, 0.0, "top_p_filter")
    _check_filter_output(out, tied, "top_p_filter")
    for row in range(tied.shape[0]):
        kept, want = torch.isfinite(out[row]), _TIED_KEEP[1][row]
        require(int(kept.sum()) == 1, f"p=0, row {row} = {_TIED_LOGITS[row]}: you kept {int(kept.sum())} tokens; p = 0 keeps exactly one.")
        require(kept.nonzero().flatten().tolist() == want,
                f"p=0, row {row} = {_TIED_LOGITS[row]}: you kept id {int(kept.nonzero())}, expected {want[0]}. "
                "Among tied probabilities keep the lower token id, as argmax does, so that p = 0 is exactly greedy "
                "(torch.sort(..., stable=True)).")
    half = _random_logits(17).to(torch.bfloat16)
    out = _call_filter(top_p_filter, half, 0.0, "top_p_filter")
    _check_filter_output(out, half, "top_p_filter")
    require(bool((torch.isfinite(out).sum(-1) == 1).all()), "bfloat16 logits, p = 0: keep exactly one token per row.")
    ok("top_p_filter agrees with transformers' TopPLogitsWarper on 7 random cases (p = 0 … 1) and keeps one token at p = 0")


def _single_token_words(tokenizer, count: int = 3) -> dict[int, str]:
    """``{id: word}`` of a few common words that are one token each (with their leading space)."""
    found: dict[int, str] = {}
    for word in ("green", "apple", "cat", "tree", "model", "blue", "red", "house", "water", "light"):
        ids = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
        if len(ids) == 1 and ids[0] != tokenizer.unk_token_id:
            found[ids[0]] = word
        if len(found) == count:
            return found
    raise AssertionError("the tokenizer has too few one-token words for this check")


def _uniform_filter(ids):
    """A filter that gives every id in ``ids`` the same logit 0 and removes all others."""
    import torch

    keep = torch.tensor(sorted(ids))

    def filter_fn(scores):
        out = torch.full_like(scores, float("-inf"))
        out[..., keep.to(scores.device)] = 0.0
        return out
    return filter_fn


def _script_filter(steps):
    """A filter that keeps only ``steps[i]`` at the i-th call (the last entry afterwards)."""
    calls = []

    def filter_fn(scores):
        step = steps[min(len(calls), len(steps) - 1)]
        calls.append(tuple(scores.shape))
        return _uniform_filter([step])(scores)
    return filter_fn


def check_sample_with_filter(sample_with_filter, model, tokenizer) -> None:
    """Exercise 4.3: one batched ``generate`` that samples through ``filter_fn``, seeded, new tokens only."""
    import torch

    question = "Name a color in a rainbow."
    input_ids = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                              return_tensors="pt", return_dict=True)["input_ids"]
    n, new = 3, 6
    from helpers.backend import check_finite

    check_finite(_lm_logits(model, input_ids)[0, -1], "logits")  # NumericsError if the model overflows on the prompt
    calls, seen = [], []
    had_own = "generate" in vars(model)
    original = model.generate

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    def identity(scores):
        seen.append((tuple(scores.shape), scores.dtype))
        return scores

    model.generate = spy
    try:
        texts = sample_with_filter(model, tokenizer, input_ids.clone(), identity, n, new, 0)
    finally:
        if had_own:
            model.generate = original
        else:
            del model.generate
    require(isinstance(texts, list) and all(isinstance(t, str) for t in texts),
            f"Return a list of strings (tokenizer.batch_decode(...)), got {type(texts).__name__}.")
    require(len(texts) == n, f"Asked for n={n} samples, got {len(texts)}: pass num_return_sequences=n.")
    require(len(calls) > 0, "sample_with_filter never called model.generate.")
    require(len(calls) == 1, f"You called generate {len(calls)} times: draw all n samples in ONE call with num_return_sequences=n.")
    kwargs = calls[0]
    require(kwargs.get("num_return_sequences") == n, "Pass num_return_sequences=n so that one generate call returns all n samples.")
    require(kwargs.get("do_sample") is True, "Pass do_sample=True: without it generate decodes greedily and never samples.")
    require(kwargs.get("top_k") == 0, "Pass top_k=0: otherwise generate adds its default top_k=50 behind your filter.")
    require(kwargs.get("top_p", 1.0) == 1.0, "Pass top_p=1.0 so that generate adds no nucleus filter of its own.")
    require(kwargs.get("temperature", 1.0) == 1.0, "Leave temperature at 1.0: the filter alone shapes the distribution.")
    require(len(seen) > 0, "filter_fn was never called: wrap it in a LogitsProcessor whose __call__(input_ids, scores) "
                           "returns filter_fn(scores.float()), and pass logits_processor=LogitsProcessorList([...]).")
    require(all(shape[0] == n for shape, _ in seen), f"filter_fn saw scores of shape {seen[0][0]}: expected [n, vocab] = [{n}, vocab].")
    require(all(dtype == torch.float32 for _, dtype in seen),
            f"filter_fn received {seen[0][1]} scores: cast them to float32 (scores.float()) so ties are decided the same way in any dtype.")
    require(not any(question in t for t in texts),
            "Your texts contain the prompt: decode only the new tokens, output[:, input_ids.shape[1]:].")
    require(not any("<end_of_turn>" in t or "<pad>" in t or "<eos>" in t for t in texts),
            "Your texts contain special tokens: decode with skip_special_tokens=True.")

    with torch.no_grad():
        ids = input_ids.to(model.device)
        greedy_ids = original(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=new)
    greedy = tokenizer.decode(greedy_ids[0, ids.shape[1]:], skip_special_tokens=True).strip()

    def argmax_filter(scores):
        out = torch.full_like(scores, float("-inf"))
        index = scores.argmax(dim=-1, keepdim=True)
        return out.scatter(-1, index, scores.gather(-1, index))

    texts = sample_with_filter(model, tokenizer, input_ids.clone(), argmax_filter, n, new, 0)
    require([t.strip() for t in texts] == [greedy] * n,
            f"With a filter that keeps only the most likely token every sample must be the greedy answer {greedy!r}; "
            f"got {texts}. Is filter_fn applied to the scores at every step?")

    words = _single_token_words(tokenizer)
    texts = sample_with_filter(model, tokenizer, input_ids.clone(), _uniform_filter(list(words)), n, new, 0)
    for text in texts:
        got = text.split()
        require(set(got) <= set(words.values()),
                f"With a filter that keeps only the words {sorted(words.values())} you returned {text!r}: "
                "return filter_fn's result from the logits processor.")
        require(len(got) == new, f"Expected {new} new tokens per sample (max_new_tokens={new}), got {len(got)} in {text!r}.")
    require(len(set(texts)) > 1, "All samples are identical although the filter keeps three equally likely words: pass do_sample=True.")

    first, second = list(words)[:2]
    for stop in (107, 1):
        texts = sample_with_filter(model, tokenizer, input_ids.clone(), _script_filter([first, stop, second]), n, new, 0)
        require([t.strip() for t in texts] == [words[first]] * n,
                f"A sample must end at token {stop} ({tokenizer.convert_ids_to_tokens(stop)}); got {texts}. "
                "Pass eos_token_id=[1, 107]: Gemma ends a chat turn with <end_of_turn> (107), the text with <eos> (1).")

    a = sample_with_filter(model, tokenizer, input_ids.clone(), lambda s: s, n, new, 5)
    b = sample_with_filter(model, tokenizer, input_ids.clone(), lambda s: s, n, new, 5)
    require(a == b, "The same seed gave different samples: call torch.manual_seed(seed) right before generate.")
    ok(f"sample_with_filter draws {n} samples in one generate call, through filter_fn, seeded, new tokens only")


# nltk 3.10.4 sentence_bleu values of sample sets the notebook never shows: the homework's
# self-BLEU ("correct") and the values of common mistakes, to name the mistake.
_SELF_BLEU_CASES = [
    ("paraphrases",
     ["Professor Lee is a great machine learning teacher", "Professor Lee is one of the best machine learning teachers",
      "Lee teaches machine learning very well", "Professor Lee is one of the best teachers of machine learning"],
     {"correct": 0.108775412484, "itself": 0.331581559363, "multi": 0.326326237453, "smoothed": 0.177078755145,
      "characters": 0.604447734126, "total": 0.435101649937, "over_n": 0.0815815593632}),
    ("two sentences", ["the cat sat on the mat today", "the cat sat on the red mat"],
     {"correct": 0.643458884161, "itself": 0.82172944208, "characters": 0.759309510257, "total": 1.28691776832,
      "over_n": 0.32172944208}),
    ("with an empty sample", ["a b c d e f", "a b c d e g", "x a b c d e", ""],
     {"correct": 0.379917842826, "itself": 0.472438382119, "multi": 0.569876764239, "skip_empty": 0.759835685652,
      "characters": 0.417877572799, "total": 1.5196713713, "over_n": 0.284938382119}),
    ("repeated words", ["the the the the the the", "the cat sat on the mat", "the the cat cat sat sat on the mat"],
     {"correct": 0.127141751569, "itself": 0.418094501046, "multi": 0.349063798237, "smoothed": 0.162336936951,
      "characters": 0.4014586888, "total": 0.381425254706, "over_n": 0.0847611677125}),
    ("case and punctuation", ["The cat sat on the mat .", "the cat sat on the mat.", "The cat sat on the mat ."],
     {"correct": 0.613752900677, "itself": 0.742501933785, "multi": 0.810041695044, "characters": 0.918244462104,
      "lowercase": 0.752658391592, "total": 1.84125870203, "over_n": 0.409168600452}),
    ("identical", ["the cat sat on the mat"] * 3, {"correct": 1.0}),
]

_SELF_BLEU_HINTS = {
    "itself": "you scored each sentence against itself too (BLEU 1): use every OTHER sentence, j != i.",
    "multi": "you scored each sentence against all the others at once (one sentence_bleu call with several references); "
             "the homework averages one BLEU per pair: sentence_bleu([ref.split()], hyp.split()) for each other sentence.",
    "smoothed": "you smoothed BLEU: the homework uses sentence_bleu's defaults (no smoothing_function).",
    "characters": "you compared characters: split each sentence into words with .split().",
    "lowercase": "you lower-cased the sentences: the homework compares the words exactly as generated.",
    "skip_empty": "you dropped the empty sample: keep it (it scores 0 against everything, as in the homework).",
    "total": "you summed over the sentences: average the per-sentence scores (divide by the number of sentences).",
    "over_n": "you divided each sentence's sum by n: it is compared with n - 1 other sentences.",
}


def check_self_bleu(self_bleu) -> None:
    """Exercise 4.4: the homework's self-BLEU on sets the notebook does not show (values from nltk 3.10.4)."""
    import math

    for name, sentences, values in _SELF_BLEU_CASES:
        got = self_bleu(list(sentences))
        require(isinstance(got, (int, float)) or hasattr(got, "__float__"), f"Return a number (a float), got {type(got).__name__}.")
        got = float(got)
        want = values["correct"]
        if math.isclose(got, want, rel_tol=1e-7, abs_tol=1e-9):
            continue
        mistake = next((m for m, v in values.items() if m != "correct" and math.isclose(got, v, rel_tol=1e-7, abs_tol=1e-9)), None)
        hint = _SELF_BLEU_HINTS[mistake] if mistake else (
            "average, over the sentences, the mean nltk sentence_bleu of the sentence (hypothesis) against each other "
            "sentence (a single reference), all split on whitespace.")
        require(False, f"Set {name!r} ({len(sentences)} sentences): self-BLEU {got:.6g}, expected {want:.6g}; {hint}")
    ok(f"self_bleu matches nltk on {len(_SELF_BLEU_CASES)} sample sets (empty samples, ties in case and punctuation, repeats)")


# --- 05 contextual embeddings -------------------------------------------------------------

def check_mean_pool(mean_pool) -> None:
    """Exercise 5.1: ``mean_pool(hidden[batch, pos, d], attention_mask[batch, pos]) -> [batch, d]`` ignores padding."""
    import torch

    gen = torch.Generator().manual_seed(5)
    hidden = torch.randn(3, 6, 4, generator=gen)
    right = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0]])
    for side, mask in (("right", right), ("left", right.flip(-1)), ("inner", torch.tensor([[1, 0, 1, 1, 0, 1]] * 3))):
        original = hidden.clone()
        got = mean_pool(hidden, mask)
        require(torch.equal(hidden, original), "mean_pool modified hidden in place: multiply into a new tensor.")
        require(isinstance(got, torch.Tensor), f"Return a tensor, got {type(got).__name__}.")
        require(tuple(got.shape) == (3, 4),
                f"Expected shape [batch, d_model] = (3, 4), got {tuple(got.shape)}: average over dim=1 (positions) only.")
        require(not torch.isnan(got).any(), "The result has NaN: divide by the number of real tokens of each row.")
        require(not (bool((mask == 0).any()) and torch.allclose(got, hidden.mean(dim=1))),
                "You averaged over padding positions too (the homework's bug): multiply by the mask and divide by mask.sum(dim=1).")
        require(not torch.allclose(got, (hidden * mask.unsqueeze(-1)).sum(dim=1)),
                "That is the masked sum: divide it by the number of real tokens of each row.")
        require(not torch.allclose(got, (hidden * mask.unsqueeze(-1)).sum(dim=1) / mask.shape[1]),
                "You divided by the padded length: divide by the number of REAL tokens of each row, mask.sum(dim=1).")
        for row in range(3):
            real = hidden[row][mask[row].bool()]
            require(torch.allclose(got[row], real.mean(dim=0), atol=1e-5),
                    f"Row {row} ({side} padding, mask {mask[row].tolist()}) differs from the mean of its "
                    f"{int(mask[row].sum())} real tokens.")
        scrambled = hidden.masked_fill(~mask.bool().unsqueeze(-1), 1e3)
        require(torch.allclose(mean_pool(scrambled, mask), got, atol=1e-4),
                "Changing the hidden states at padding positions changed your result: padding must not count.")
    double = mean_pool(hidden.double(), right)
    require(double.dtype == torch.float64, f"float64 input gave {double.dtype}: keep the input's dtype (mask.to(hidden.dtype)).")
    try:
        mean_pool(hidden, torch.tensor([[1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0]]))
    except ValueError:
        pass
    else:
        require(False, "A row without any real token must raise a ValueError with a clear message (a 0/0 mean is NaN).")
    ok("mean_pool averages each row over its real tokens only (right, left and inner padding)")


def check_word_vector(word_vector, model, tokenizer) -> None:
    """Exercise 5.2: ``word_vector(model, tokenizer, sentence, word) -> [d_model]``, the word's last hidden state in context."""
    import torch

    from helpers.backend import check_finite
    from helpers.embeddings import word_token_positions

    atol, rtol = (2e-2, 1e-2) if _is_half(model) else (1e-4, 1e-3)  # half precision: ~1e-3 relative per layer
    cases = [("I ate a fresh apple.", "apple"), ("Apple released the new iPhone.", "Apple"),
             ("The Orange network has great coverage.", "coverage")]
    vectors = []
    for sentence, word in cases:
        got = word_vector(model, tokenizer, sentence, word)
        require(isinstance(got, torch.Tensor), f"Return a tensor, got {type(got).__name__}.")
        d_model = model.config.hidden_size
        require(tuple(got.shape) == (d_model,), f"Expected one vector of shape [d_model] = ({d_model},), got {tuple(got.shape)}.")
        got = got.detach().float().cpu()
        with torch.no_grad():
            enc = tokenizer(sentence, return_tensors="pt").to(model.device)
            states = model(**enc, output_hidden_states=True).hidden_states
        _require_finite(got, f"word_vector(…, {sentence!r}, {word!r})", lambda: states[-1], model)
        last = check_finite(states[-1][0], "hidden_states[-1]").float().cpu()
        positions = word_token_positions(tokenizer, sentence, word)
        want = last[positions].mean(dim=0)
        if not torch.allclose(got, want, atol=atol, rtol=rtol):
            close = lambda v: torch.allclose(got, v.float().cpu(), atol=atol, rtol=rtol)  # noqa: E731
            if close(states[0][0][positions].mean(0)):
                hint = "that is the input embedding (hidden_states[0]), the same in every sentence: use hidden_states[-1]."
            elif close(states[-2][0][positions].mean(0)):
                hint = "that is hidden_states[-2]: the last hidden state (after the final norm) is hidden_states[-1]."
            elif close(last.mean(0)):
                hint = "that is the mean over the whole sentence: average only the positions of the word's tokens."
            elif positions[-1] + 1 < last.shape[0] and close(last[[p + 1 for p in positions]].mean(0)):
                hint = "you took the token after the word: <bos> is position 0, so the word's tokens sit where its offsets say."
            elif close(last[[p - 1 for p in positions]].mean(0)):
                hint = "you took the token before the word: keep <bos> (tokenizer(sentence), add_special_tokens=True) and index the word's positions."
            elif len(positions) > 1 and (close(last[positions[0]]) or close(last[positions[-1]])):
                hint = f"{word!r} is {len(positions)} tokens here: average the last hidden state over all of them."
            else:
                hint = ("tokenize the sentence with <bos> (tokenizer(sentence)), run the model with output_hidden_states=True, "
                        "and average hidden_states[-1][0] over the positions of the word's tokens.")
            require(False, f"{word!r} in {sentence!r}: wrong vector; {hint}")
        vectors.append(got)
    other = word_vector(model, tokenizer, "My favourite fruit is the apple.", "apple")
    require(not torch.allclose(other.detach().float().cpu(), vectors[0], atol=atol),
            "'apple' got the same vector after two different left contexts: take it from the model's last layer, hidden_states[-1].")
    ok(f"word_vector matches the last hidden state of the word's tokens in {len(cases)} sentences (one with a 3-token word)")


# --- 06 attention maps --------------------------------------------------------------------

CHECK_TEXT_06 = "The cat sat on the warm mat because the sun was shining"


def _float_atol(model) -> float:
    """Tolerance that fits the model's dtype: float16 rounds attention weights to ~1e-3, bfloat16 (8 bits of
    mantissa) to ~4e-3 and more after a softmax over rounded logits."""
    import torch

    dtype = next(model.parameters()).dtype
    return {torch.float16: 1e-2, torch.bfloat16: 3e-2}.get(dtype, 1e-4)


def _half_logit_atol(q, k, config, dtype) -> float:
    """Tolerance for a half-precision model's attention weights: its logits are rounded to the dtype's epsilon
    relative to their size, and a weight moves by up to about that much (w(1-w) <= 1/4, q and k rounded too).

    |logit| <= max|q| * max|k| * scale (RoPE keeps norms), and never above the soft-cap.
    """
    import torch

    scale = config.query_pre_attn_scalar ** -0.5
    bound = float(q.float().norm(dim=-1).max() * k.float().norm(dim=-1).max()) * scale
    cap = config.attn_logit_softcapping or bound
    return 0.5 * torch.finfo(dtype).eps * min(bound, cap)


def _kv_cache_rows(model, ids, prompt_len: int):
    """``rows[layer, head, i, key]`` from a KV-cache loop: the prompt once, then one token per step.

    Row ``i`` is the query at position ``prompt_len - 1 + i`` (it predicted generated token ``i``),
    over keys ``0 .. T-2``; keys after the query are 0. An independent route (no full forward).
    """
    import torch
    from transformers import DynamicCache

    from helpers.backend import check_finite

    n_keys = ids.shape[1] - 1
    cache = DynamicCache(config=model.config)
    rows = []
    with torch.no_grad():
        steps = [ids[:, :prompt_len]] + [ids[:, pos : pos + 1] for pos in range(prompt_len, n_keys)]
        fed = 0
        for step in steps:
            out = model(step.to(model.device), cache=cache, use_cache=True, output_attentions=True)
            fed += step.shape[1]
            check_finite(out.logits, "logits")  # NumericsError (LAB_DTYPE=float32) if the model overflows
            last = torch.stack([a[0, :, -1, :] for a in out.attentions]).float().cpu()  # [layer, head, keys kept]
            full = last.new_zeros(*last.shape[:2], n_keys)
            full[..., fed - last.shape[-1] : fed] = last
            rows.append(full)
    return torch.stack(rows, dim=2)


def check_generation_attention(generation_attention, model, tokenizer) -> None:
    """Exercise 6.1: ``generation_attention(model, ids, prompt_len, layer) -> rows[head, G, T-1]``, against a KV-cache loop."""
    import torch

    from helpers.attention import check_eager

    check_eager(model)
    ids = tokenizer(CHECK_TEXT_06, return_tensors="pt").input_ids
    n_layers, n_heads, T = model.config.num_hidden_layers, model.config.num_attention_heads, ids.shape[1]
    atol = _float_atol(model)
    for prompt_len, layer in ((3, min(10, n_layers - 1)), (1, 0), (6, n_layers - 1)):
        G = T - prompt_len
        want_all = _kv_cache_rows(model, ids, prompt_len)  # [layer, head, G, T-1]
        original = ids.clone()
        got = generation_attention(model, ids, prompt_len, layer)
        where = f"(prompt_len={prompt_len}, layer={layer}, T={T})"
        require(torch.equal(ids, original), "generation_attention changed `ids` in place: slice it, do not modify it.")
        _require_finite(got, f"generation_attention {where}", lambda: want_all[layer], model)
        require(isinstance(got, torch.Tensor), f"Return a tensor, got {type(got).__name__}.")
        got = got.detach().float().cpu()
        require(got.dim() != 4, f"Shape {tuple(got.shape)} still has the batch dimension: take [0] of output.attentions[layer].")
        require(got.dim() != 2, f"Shape {tuple(got.shape)} is one head: return every head of the layer, [head, G, T-1].")
        require(got.dim() == 3 and got.shape[0] == n_heads, f"Expected [head, G, T-1] = {(n_heads, G, T - 1)}, got {tuple(got.shape)} {where}.")
        require(got.shape[2] != T,
                f"{T} keys {where}: the last generated token was never fed to the model (nothing was generated after it), "
                "so it is not a key. Run the forward pass over ids[:, :-1]: T-1 keys.")
        require(got.shape[2] == T - 1, f"Expected T-1 = {T - 1} keys (positions 0..T-2), got {got.shape[2]} {where}.")
        require(got.shape[1] != T - 1 or G == T - 1,
                f"{T - 1} rows {where}: that is every query. Keep the G = {G} rows of the queries that produced a generated "
                "token: positions prompt_len-1 .. T-2.")
        require(got.shape[1] == G,
                f"Expected G = {G} rows (one per generated token), got {got.shape[1]} {where}. Row i is the query at "
                "position prompt_len-1+i: slice [prompt_len-1:] of the query axis.")
        want = want_all[layer]
        if G > 1 and torch.allclose(got[:, :-1], want[:, 1:], atol=atol):
            require(False, f"Your rows are one position late {where}: row i must be the query at position prompt_len-1+i "
                           "(the token fed when generated token i was predicted), not generated token i's own row.")
        sums = got.sum(dim=-1)
        require(torch.allclose(sums, torch.ones_like(sums), atol=atol),
                f"Row sums range from {float(sums.min()):.3f} to {float(sums.max()):.3f}, not 1 {where}: each row is a softmax "
                "over the keys (the last axis). Did you swap query and key, or apply another softmax/normalisation?")
        future = torch.arange(T - 1)[None, :] > (torch.arange(G) + prompt_len - 1)[:, None]
        require(float(got[:, future].abs().max()) <= atol if bool(future.any()) else True,
                f"Some rows put weight on keys after their query {where}: the causal mask makes those 0. "
                "Are query and key swapped (transposed)?")
        for other in (layer - 1, layer + 1):
            if 0 <= other < n_layers and not torch.allclose(want_all[other], want, atol=atol) and torch.allclose(got, want_all[other], atol=atol):
                require(False, f"These are the rows of layer {other}, not {layer}: output.attentions[layer] is already layer `layer`.")
        diff = float((got - want).abs().max())
        require(diff <= atol, f"Values differ from the KV-cache rows by up to {diff:.3g} {where}: take "
                              "output.attentions[layer][0, :, prompt_len-1:, :] of ONE forward over ids[:, :-1].")
    ok(f"rows match a KV-cache loop (prompt once, then one token per step) on 3 cases; each row sums to 1 (±{atol:g})")


def check_attention_labels(attention_labels, tokenizer) -> None:
    """Exercise 6.2: ``attention_labels(tokenizer, ids, prompt_len) -> (row labels [G], column labels [T-1])``."""
    import torch

    texts = [(CHECK_TEXT_06, 3), ("Google is a search engine", 2)]
    eos = tokenizer.eos_token_id
    for text, prompt_len in texts:
        ids = tokenizer(text, return_tensors="pt").input_ids
        if text.startswith("Google") and eos is not None:  # a generated <eos> in the middle, as a loop that never stops makes
            ids = torch.cat([ids[:, :4], torch.tensor([[eos]]), ids[:, 4:]], dim=1)
        T, G = ids.shape[1], ids.shape[1] - prompt_len
        pieces = tokenizer.convert_ids_to_tokens(ids[0].tolist())
        where = f"(text {text!r}, prompt_len={prompt_len}, T={T})"
        result = attention_labels(tokenizer, ids.clone(), prompt_len)
        require(isinstance(result, tuple) and len(result) == 2, "Return a pair: (row_labels, column_labels).")
        rows, cols = result
        require(isinstance(rows, list) and isinstance(cols, list) and all(isinstance(t, str) for t in rows + cols),
                "Both label lists must be lists of strings (token pieces).")
        require(len(cols) != T, f"{T} column labels {where}: the last generated token is never fed to the model, so it is "
                                "not a key. There are T-1 columns.")
        require(len(cols) == T - 1, f"Expected T-1 = {T - 1} column labels {where}, got {len(cols)}.")
        require(cols[0] == tokenizer.bos_token,
                f"Column 0 is {cols[0]!r} {where}, but position 0 is {tokenizer.bos_token}. tokenizer.tokenize(text) drops "
                "<bos> and includes the never-fed last token, so every column label is one token late — the homework's bug. "
                "Label the ids themselves: tokenizer.convert_ids_to_tokens(ids[0, :-1]).")
        if [c.replace("▁", " ").strip() for c in cols] == [p.replace("▁", " ").strip() for p in pieces[:-1]] and cols != pieces[:-1]:
            require(False, "Your labels lost the '▁' space marker (decode() drops it): use tokenizer.convert_ids_to_tokens.")
        require(tokenizer.convert_tokens_to_ids(cols) == ids[0, :-1].tolist(),
                f"Column labels {where} are not the tokens at positions 0..T-2: label the ids with tokenizer.convert_ids_to_tokens.")
        require(len(rows) == G, f"Expected G = {G} row labels (one per generated token) {where}, got {len(rows)}.")
        require(rows != pieces[prompt_len:] or pieces[prompt_len - 1 : -1] == pieces[prompt_len:],
                f"Row i is the query at position prompt_len-1+i — the token that was fed when generated token i was "
                "predicted. You labelled it with generated token i itself: the y axis is then one token late, as in the homework.")
        require(tokenizer.convert_tokens_to_ids(rows) == ids[0, prompt_len - 1 : -1].tolist(),
                f"Row labels {where} are not the query tokens at positions prompt_len-1 .. T-2.")
    ok("labels name the token at each position: columns <bos> .. T-2, rows = the query tokens prompt_len-1 .. T-2")


# --- 07 SAE activations -------------------------------------------------------------------

CHECK_TEXT_07 = "If time travel were possible, I would visit the past and the future."


def _layer_outputs(model, input_ids):
    """``[layer, pos, d_model]``: the output of every decoder layer (resid_post), caught by forward hooks.

    The ground truth for "the output of layer L". ``hidden_states`` cannot give the last one: its last
    entry has the model's final norm applied.
    """
    import torch

    caught = {}

    def hook(index):
        def record(module, args, output):
            caught[index] = (output[0] if isinstance(output, tuple) else output).detach()
        return record

    from helpers.backend import check_finite

    layers = model.model.layers
    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    try:
        with torch.no_grad():
            model(input_ids.to(model.device))
    finally:
        for handle in handles:
            handle.remove()
    # NumericsError (LAB_DTYPE=float32) if the model overflows: the checks compare with these
    return check_finite(torch.stack([caught[i][0] for i in range(len(layers))]), "the decoder layers' outputs")


def _jumprelu(x, sae, feature=None):
    """JumpReLU activations of ``x`` (one feature, or all), in the SAE's dtype."""
    import torch

    x = x.to(device=sae.W_enc.device, dtype=sae.W_enc.dtype)
    W, b, theta = (sae.W_enc, sae.b_enc, sae.threshold) if feature is None else \
        (sae.W_enc[:, feature], sae.b_enc[feature], sae.threshold[feature])
    pre = x @ W + b
    return torch.where(pre > theta, pre, torch.zeros_like(pre))


def check_hidden_index(hidden_index, model, tokenizer) -> None:
    """Exercise 7.1: ``hidden_index(layer, num_layers)`` -> the ``hidden_states`` entry that is decoder layer ``layer``'s output."""
    import torch

    n = model.config.num_hidden_layers
    ids = tokenizer(CHECK_TEXT_07, return_tensors="pt").input_ids
    with torch.no_grad():
        hidden = model(ids.to(model.device), output_hidden_states=True).hidden_states
    outputs = _layer_outputs(model, ids)
    for layer in range(n - 1):
        index = hidden_index(layer, n)
        require(isinstance(index, int) and not isinstance(index, bool), f"Return an int index, got {type(index).__name__}.")
        require(0 <= index < len(hidden), f"hidden_index({layer}, {n}) = {index} is not an index of hidden_states (0..{len(hidden) - 1}).")
        if index == layer:
            require(False, f"hidden_states[{layer}] is the INPUT of layer {layer} "
                           f"({'the embeddings' if layer == 0 else f'the output of layer {layer - 1}'}): hidden_states[0] is "
                           "the embedding output, so every layer's output sits one entry later.")
        require(torch.equal(hidden[index][0], outputs[layer]),
                f"hidden_states[{index}] is not the output of decoder layer {layer} (compared with a forward hook on "
                f"model.model.layers[{layer}]).")
    last = n - 1
    try:
        index = hidden_index(last, n)
    except ValueError:
        index = None
    require(index is None, f"hidden_index({last}, {n}) returned {index}, but no entry holds the last layer's raw output: "
                           f"hidden_states[{n}] has the model's final norm applied (it feeds the LM head). Raise ValueError.")
    for bad in (-1, n, n + 3):
        try:
            hidden_index(bad, n)
        except ValueError as err:
            require(str(n - 2) in str(err) or str(n - 1) in str(err),
                    f"The ValueError for layer {bad} should name the valid range (0..{n - 2}); its message was {str(err)!r}.")
        else:
            require(False, f"hidden_index({bad}, {n}) should raise ValueError: there is no decoder layer {bad}.")
    small = []
    for layer in range(3):
        try:
            small.append(hidden_index(layer, 3))
        except ValueError:
            small.append("ValueError")
    require(small == [1, 2, "ValueError"], "Use the num_layers argument, not a constant: for a 3-layer model, layers 0 and 1 "
                                           f"are hidden_states[1] and [2], and layer 2 has no entry; got {small}.")
    ok(f"hidden_index matches forward hooks on layers 0..{n - 2}; layer {n - 1} and out-of-range layers raise ValueError")


def check_jumprelu_encode(jumprelu_encode) -> None:
    """Exercise 7.2: ``jumprelu_encode(x, W_enc, b_enc, threshold)`` = ``pre * (pre > threshold)``, ``pre = x @ W_enc + b_enc``."""
    import torch

    gen = torch.Generator().manual_seed(7)
    d_model, d_sae = 6, 10
    W_enc = torch.randn(d_model, d_sae, generator=gen)
    b_enc = torch.randn(d_sae, generator=gen) * 0.5
    threshold = torch.rand(d_sae, generator=gen) + 0.25
    x = torch.randn(4, 3, d_model, generator=gen) * 2
    pre = x @ W_enc + b_enc
    got = jumprelu_encode(x.clone(), W_enc, b_enc, threshold)
    require(isinstance(got, torch.Tensor), f"Return a tensor, got {type(got).__name__}.")
    require(tuple(got.shape) == (4, 3, d_sae), f"Expected shape [..., d_sae] = (4, 3, {d_sae}), got {tuple(got.shape)}: "
                                                 "multiply x @ W_enc (W_enc is [d_model, d_sae]).")
    got = got.float()
    between = (pre > 0) & (pre <= threshold)
    require(not torch.allclose(got, torch.relu(pre), atol=1e-5),
            "That is a plain ReLU: JumpReLU also zeroes every pre-activation at or below the feature's threshold.")
    require(not torch.allclose(got, pre, atol=1e-5), "You returned the pre-activations: apply the JumpReLU.")
    no_bias = x @ W_enc
    require(not torch.allclose(got, no_bias * (no_bias > threshold), atol=1e-5), "You forgot the encoder bias b_enc.")
    require(not torch.allclose(got, pre * (pre > threshold) - threshold * (pre > threshold), atol=1e-5),
            "Subtracting the threshold is a shifted ReLU, not a JumpReLU: keep the whole value pre where pre > threshold.")
    require(bool(between.any()) and float(got[between].abs().max()) == 0.0,
            "Pre-activations between 0 and the threshold must give 0: compare pre with `threshold`, not with 0.")
    require(torch.allclose(got, torch.where(pre > threshold, pre, torch.zeros_like(pre)), atol=1e-5),
            f"Activations differ (max difference {float((got - pre * (pre > threshold)).abs().max()):.3g}): "
            "acts = pre where pre > threshold, else 0, with pre = x @ W_enc + b_enc.")
    # exactly at the threshold: JumpReLU is strict (pre > threshold)
    W_eye = torch.eye(3)
    theta = torch.tensor([0.5, 1.0, 2.0])
    at = torch.tensor([[0.5, 1.0, 2.0], [0.75, 0.999, 2.5]])
    got = jumprelu_encode(at, W_eye, torch.zeros(3), theta).float()
    require(float(got[0].abs().max()) == 0.0,
            "A pre-activation exactly equal to the threshold must give 0: use a strict `pre > threshold`, not `>=`.")
    require(torch.allclose(got[1], torch.tensor([0.75, 0.0, 2.5])), f"Expected [0.75, 0, 2.5] for that row, got {got[1].tolist()}.")
    # half-precision inputs (a GPU model's hidden states) with a float32 SAE
    try:
        got = jumprelu_encode(x.half(), W_enc, b_enc, threshold)
    except RuntimeError as err:
        require(False, f"float16 input failed ({str(err)[:80]}): cast x to W_enc's dtype first (x.to(W_enc.dtype)); "
                       "a GPU model's hidden states are float16/bfloat16, the SAE is float32.")
    require(got.dtype == W_enc.dtype, f"For float16 input the result should be in the SAE's dtype (float32), got {got.dtype}.")
    ok("jumprelu_encode: 0 at or below the threshold, pre above it; bias, strict '>' and dtype handled")


def _check_feature_values(got, want, atol: float, hint: str) -> None:
    """Require ``got`` close to ``want`` (activations of one feature), else raise ``hint``."""
    diff = float((got - want).abs().max()) if got.shape == want.shape else float("inf")
    require(diff <= atol + 1e-3 * float(want.abs().max()), f"{hint} (max difference {diff:.3g}).")


def _top_feature(acts) -> int:
    """The feature with the largest total activation (``acts[..., d_sae]``), to make a check discriminating."""
    return int(acts.reshape(-1, acts.shape[-1]).sum(dim=0).argmax())


def _sae_check_inputs(model, tokenizer):
    """``(num_layers, ids, T, layer outputs [layer, T, d], atol)`` of the 07 checks' text."""
    ids = tokenizer(CHECK_TEXT_07, return_tensors="pt").input_ids
    return model.config.num_hidden_layers, ids, ids.shape[1], _layer_outputs(model, ids), 10 * _float_atol(model)


def check_feature_activations(feature_activations, model, tokenizer, sae) -> None:
    """Exercise 7.3: ``feature_activations(model, tokenizer, sae, text, layer, feature) -> [T]`` on layer ``layer``'s output."""
    import torch

    n, ids, T, outputs, atol = _sae_check_inputs(model, tokenizer)
    for layer in sorted({min(20, n - 1), n // 3, n - 1}):
        feature = _top_feature(_jumprelu(outputs[layer][1:], sae))
        want = _jumprelu(outputs[layer], sae, feature).float().cpu()
        where = f"(layer {layer}, feature {feature})"
        got = feature_activations(model, tokenizer, sae, CHECK_TEXT_07, layer, feature)
        _require_finite(got, f"feature_activations {where}", lambda: want, model)
        require(isinstance(got, torch.Tensor), f"Return a tensor, got {type(got).__name__}.")
        got = got.detach().float().cpu()
        require(got.dim() != 0, "You returned one number: return the activation on every token, [T]; the notebook takes the max.")
        require(tuple(got.shape) != (T, sae.d_sae), f"Shape {tuple(got.shape)} holds every feature: return only column `feature`, [T].")
        got = got.squeeze(0) if got.dim() == 2 and got.shape[0] == 1 else got
        require(got.shape[0] != T - 1, f"{T - 1} values for {T} tokens: keep <bos> (position 0); the notebook drops it when it takes the max.")
        require(tuple(got.shape) == (T,), f"Expected one activation per token, shape ({T},), got {tuple(got.shape)}.")
        before = _jumprelu(outputs[layer - 1], sae, feature).float().cpu() if layer > 0 else want
        if not torch.allclose(want, before, atol=atol) and torch.allclose(got, before, atol=atol):
            require(False, f"These are the activations on layer {layer - 1}'s output {where}: hidden_states[layer] is the "
                           "input of layer `layer`. Use your hidden_index (exercise 7.1).")
        if layer == n - 1:
            normed = _jumprelu(model.model.norm(outputs[layer]), sae, feature).float().cpu()
            if not torch.allclose(normed, want, atol=atol) and torch.allclose(got, normed, atol=atol):
                require(False, f"For the last layer {where} you read hidden_states[-1], which has the final norm applied. "
                               "Catch the layer's output with a forward hook on model.model.layers[layer].")
        pre = outputs[layer].to(device=sae.W_enc.device, dtype=sae.W_enc.dtype) @ sae.W_enc[:, feature] + sae.b_enc[feature]
        relu = torch.relu(pre).float().cpu()
        if not torch.allclose(relu, want, atol=atol) and torch.allclose(got, relu, atol=atol):
            require(False, f"That is a plain ReLU {where}: apply the JumpReLU (zero at or below the feature's threshold).")
        _check_feature_values(got, want, atol, f"Activations {where} differ from the SAE feature on layer {layer}'s output "
                                               "(caught with a forward hook)")
    ok(f"feature_activations matches the SAE on forward-hooked layer outputs (layers {sorted({min(20, n - 1), n // 3, n - 1})})")


def check_activations_across_layers(activations_across_layers, model, tokenizer, sae) -> None:
    """Exercise 7.4: ``activations_across_layers(model, tokenizer, sae, text, feature) -> [num_layers, T]``."""
    import torch

    n, ids, T, outputs, atol = _sae_check_inputs(model, tokenizer)
    feature = _top_feature(_jumprelu(outputs[:, 1:], sae))
    want = _jumprelu(outputs, sae, feature).float().cpu()  # [layer, T]
    got = activations_across_layers(model, tokenizer, sae, CHECK_TEXT_07, feature)
    _require_finite(got, f"activations_across_layers (feature {feature})", lambda: want, model)
    require(isinstance(got, torch.Tensor), f"Return a tensor, got {type(got).__name__}.")
    got = got.detach().float().cpu()
    require(tuple(got.shape) != (n + 1, T), f"{n + 1} rows: you included hidden_states[0], the embeddings. Return one row per "
                                             f"decoder layer: [num_layers, T] = ({n}, {T}).")
    require(tuple(got.shape) != (T, n) or T == n, f"Shape {tuple(got.shape)} is [T, num_layers]: return [num_layers, T] (one row per layer).")
    require(tuple(got.shape) == (n, T), f"Expected [num_layers, T] = ({n}, {T}), got {tuple(got.shape)}.")
    with torch.no_grad():
        hidden = model(ids.to(model.device), output_hidden_states=True).hidden_states
    early = _jumprelu(torch.stack([h[0] for h in hidden[:n]]), sae, feature).float().cpu()
    if not torch.allclose(early, want, atol=atol) and torch.allclose(got, early, atol=atol):
        require(False, "Row L holds hidden_states[L], the INPUT of layer L: every row is one layer early. "
                       "Row L must be layer L's output (exercise 7.1).")
    if torch.allclose(got[:-1], want[:-1], atol=atol) and not torch.allclose(got[-1], want[-1], atol=atol):
        require(False, f"Rows 0..{n - 2} are right, the last is not: hidden_states[{n}] has the final norm applied. "
                       "Catch every layer's output with forward hooks on model.model.layers.")
    for layer in range(n):
        _check_feature_values(got[layer], want[layer], atol, f"Row {layer} differs from the SAE feature on layer {layer}'s "
                                                             "output (caught with a forward hook)")
    ok(f"activations_across_layers matches forward-hooked outputs of all {n} layers (feature {feature})")


def check_fraction_of_variance_unexplained(fraction_of_variance_unexplained) -> None:
    """Exercise 7.5: FVU = sum((x - x_hat)^2) / sum((x - mean_over_tokens(x))^2)."""
    import torch

    gen = torch.Generator().manual_seed(75)
    x = torch.randn(40, 8, generator=gen) * torch.linspace(0.5, 3, 8) + torch.linspace(-4, 6, 8)
    noise = torch.randn(40, 8, generator=gen) * 0.7
    x_hat = x + noise
    want = float((noise ** 2).sum() / (x.var(dim=0, unbiased=False).sum() * x.shape[0]))

    def call(a, b):
        value = fraction_of_variance_unexplained(a.clone(), b.clone())
        try:
            return float(value)
        except (TypeError, ValueError):
            require(False, f"Return one number (a float), got {type(value).__name__}.")

    got = call(x, x_hat)
    require(abs(got - (1 - want)) > 1e-6, "You returned the fraction of variance EXPLAINED (1 − FVU): return the unexplained part.")
    require(abs(call(x, x)) < 1e-9, "A perfect reconstruction (x_hat = x) must give 0.")
    mean_only = x.mean(dim=0, keepdim=True).expand_as(x)
    uncentred = float((noise ** 2).sum() / (x ** 2).sum())
    require(abs(got - uncentred) > 1e-6, "You divided by sum(x²): the variance is measured around the mean of x over tokens "
                                         "(per dimension), so subtract x.mean(dim=0) first.")
    one_mean = float((noise ** 2).sum() / ((x - x.mean()) ** 2).sum())
    require(abs(got - one_mean) > 1e-6, "You subtracted one mean of all numbers: take the mean over tokens for each dimension, x.mean(dim=0).")
    require(abs(call(x, mean_only) - 1.0) < 1e-5, "Predicting the mean of x for every token must give FVU = 1.")
    require(abs(got - want) < 1e-5 * max(1.0, want),
            f"Got {got:.6g}, expected {want:.6g}: sum the squared errors over tokens AND dimensions, then divide by the "
            "summed squared deviations from x.mean(dim=0).")
    scaled = call(3 * x, 3 * x_hat)
    require(abs(scaled - want) < 1e-5 * max(1.0, want), "FVU must not change when x and x_hat are scaled together.")
    ok(f"FVU = {want:.4f} on a random case; 0 for x_hat = x, 1 for the mean")


# --- 08 papers ----------------------------------------------------------------------------

CHECK_TEXT_08 = "Attention lets a model focus on the most relevant parts of its input, one token at a time."


def _attention_reference(q, k, config, layer: int, rope: str = "half", scaling: float | None = None,
                         softcap: str = "before", window: str = "config", gqa: str = "interleave"):
    """Gemma-2's attention weights ``[head, query, key]`` from transformers' own pieces (RoPE, repeat_kv, eager attention,
    mask functions); the keyword arguments switch on one usual mistake each, so a check can name it."""
    import copy
    import types

    import torch
    from transformers.masking_utils import causal_mask_function, sliding_window_causal_mask_function
    from transformers.models.gemma2.modeling_gemma2 import Gemma2RotaryEmbedding, apply_rotary_pos_emb, eager_attention_forward

    q, k = q.detach().float().cpu()[None], k.detach().float().cpu()[None]
    T, d = q.shape[-2], q.shape[-1]
    if rope != "none":
        perm = torch.cat([torch.arange(0, d, 2), torch.arange(1, d, 2)]) if rope == "interleaved" else torch.arange(d)
        rotary_config = copy.deepcopy(config)
        rotary_config.head_dim = d
        if rope == "theta_10000":
            rotary_config.rope_parameters = dict(config.rope_parameters, rope_theta=10000.0)
        cos, sin = Gemma2RotaryEmbedding(rotary_config)(q, torch.arange(T)[None])
        q, k = apply_rotary_pos_emb(q[..., perm], k[..., perm], cos, sin)
    groups = q.shape[1] // k.shape[1]
    if gqa == "tile":
        k, groups = k.repeat(1, groups, 1, 1), 1
    scale = config.query_pre_attn_scalar ** -0.5 if scaling is None else scaling
    cap = {"none": None, "cap_50": 50.0}.get(softcap, config.attn_logit_softcapping)
    slides = config.layer_types[layer] == "sliding_attention"
    w = config.sliding_window
    if window == "none":
        slides = False
    elif window == "everywhere":
        slides = True
    elif window == "plus_one":
        w = w + 1
    positions = torch.arange(T)
    rule = sliding_window_causal_mask_function(w) if slides else causal_mask_function
    allowed = rule(0, 0, positions[:, None], positions[None, :])
    if window == "no_causal":
        allowed = torch.ones(T, T, dtype=torch.bool)
    mask = torch.zeros(T, T).masked_fill(~allowed, torch.finfo(torch.float32).min)[None, None]
    module = types.SimpleNamespace(num_key_value_groups=groups, training=False, head_dim=d)
    if softcap == "unscaled":  # tanh cap on q·k before the scaling
        logits = (q @ k.repeat_interleave(groups, dim=1).transpose(-1, -2))
        logits = cap * torch.tanh(logits / cap) * scale + mask
        return logits.softmax(dim=-1)[0]
    _, weights = eager_attention_forward(module, q, k, k, mask, scaling=scale, softcap=cap)
    return weights[0]


def _attention_mistakes(head_dim: int) -> list[tuple[dict, str]]:
    """(reference keyword arguments, hint) for the usual mistakes of exercise 8.1, most specific first."""
    return [
        (dict(rope="none"), "Your weights equal attention WITHOUT rotary position embeddings: rotate q and k (RoPE) before "
                            "the dot product, with position p's angles p · θ^(-2i/d), θ = config.rope_parameters['rope_theta']."),
        (dict(rope="interleaved"), "You rotated neighbouring pairs (0,1), (2,3), …: Gemma's RoPE (transformers' rotate_half) "
                                   "pairs dimension i with i + d/2: rotate_half(x) = cat(-x[..., d/2:], x[..., :d/2])."),
        (dict(gqa="tile"), "Query head h must use key head h // (n_heads / n_kv_heads): repeat each key head in place, "
                           "k.repeat_interleave(groups, dim=0), not k.repeat(groups, 1, 1) (that tiles the whole stack)."),
        (dict(scaling=head_dim ** -0.5), "You scaled by 1/sqrt(head_dim): Gemma-2 scales q·k by "
                                         "config.query_pre_attn_scalar ** -0.5 (equal to head_dim on Gemma-2-2b, not on every model)."),
        (dict(softcap="none"), "Your weights equal attention without the soft-cap: Gemma-2 caps the scaled logits, "
                               "cap * tanh(logits / cap) with cap = config.attn_logit_softcapping, before the mask."),
        (dict(rope="theta_10000"), "Your RoPE uses θ = 10000: read θ from the config, config.rope_parameters['rope_theta'] "
                                   "(every setting comes from `config`)."),
        (dict(softcap="cap_50"), "Your soft-cap is 50: read it from the config, config.attn_logit_softcapping."),
        (dict(softcap="unscaled"), "You capped q·k before scaling it: scale first (× query_pre_attn_scalar ** -0.5), then "
                                   "cap * tanh(scaled / cap)."),
        (dict(window="none"), "This layer slides (config.layer_types[layer] == 'sliding_attention'), but your query sees keys "
                              "further back than config.sliding_window tokens: allow key j for query i only if i - j < window."),
        (dict(window="everywhere"), "You applied the sliding window on a full-attention layer: only layers with "
                                    "config.layer_types[layer] == 'sliding_attention' slide."),
        (dict(window="plus_one"), "Your window is one token too wide: a query sees itself and the window - 1 keys before it "
                                  "(i - j < window, as transformers' sliding_window_overlay)."),
        (dict(window="no_causal"), "Queries attend to later keys: mask key j > i (causal mask) before the softmax."),
    ]


def _diagnose_attention(got, q, k, config, layer: int, atol: float, where: str) -> None:
    """Raise with the hint of the first usual mistake that reproduces ``got``, or a generic message."""
    import torch

    want = _attention_reference(q, k, config, layer)
    diff = float((got - want).abs().max())
    if diff <= atol:
        return
    for kwargs, hint in _attention_mistakes(q.shape[-1]):
        variant = _attention_reference(q, k, config, layer, **kwargs)
        if float((variant - want).abs().max()) > 10 * atol and torch.allclose(got, variant, atol=atol, rtol=0):
            require(False, f"{hint} {where}")
    require(False, f"Your weights differ from Gemma-2's by up to {diff:.3g} {where}. The steps: RoPE on q and k, key heads "
                   "repeated for their query heads, × query_pre_attn_scalar ** -0.5, soft-cap, causal (and sliding-window) "
                   "mask, softmax over keys.")


def _call_attention(fn, q, k, config, layer: int, where: str):
    """Call the student's function on copies and check type, shape, rows and the causal zeros."""
    import torch

    q0, k0 = q.clone(), k.clone()
    got = fn(q, k, config, layer)
    require(torch.equal(q, q0) and torch.equal(k, k0), "attention_from_scratch changed q or k in place: compute on new tensors.")
    require(isinstance(got, torch.Tensor), f"Return a tensor attn[head, query, key], got {type(got).__name__}.")
    n_heads, T = q.shape[0], q.shape[1]
    require(got.dim() != 4 or got.shape[0] != 1, f"Shape {tuple(got.shape)}: drop the batch dimension, return [head, query, key].")
    require(tuple(got.shape) != (k.shape[0], T, T) or k.shape[0] == n_heads,
            f"{k.shape[0]} heads: that is one map per KEY head. Every one of the {n_heads} query heads has its own map; "
            "repeat each key head for the query heads that share it.")
    require(tuple(got.shape) == (n_heads, T, T), f"Expected attn[head, query, key] of shape {(n_heads, T, T)}, got {tuple(got.shape)} {where}.")
    got = got.detach().float().cpu()
    require(bool(torch.isfinite(got).all()), f"Your weights contain inf or NaN {where}: mask with -inf BEFORE the softmax, "
                                             "and softmax over the last axis (keys).")
    sums = got.sum(dim=-1)
    require(torch.allclose(sums, torch.ones_like(sums), atol=1e-4),
            f"Rows sum to {float(sums.min()):.3f} … {float(sums.max()):.3f}, not 1 {where}: softmax over the keys (last axis).")
    return got


def check_attention_from_scratch(attention_from_scratch, model, tokenizer) -> None:
    """Exercise 8.1: ``attention_from_scratch(q, k, config, layer) -> attn[head, query, key]`` equals Gemma-2's eager attention."""
    import contextlib
    import copy

    import torch

    from helpers import hooks

    ids = tokenizer(CHECK_TEXT_08, return_tensors="pt").input_ids
    config = model.config
    atol = 1e-5 if next(model.parameters()).dtype == torch.float32 else _float_atol(model)
    n_layers = config.num_hidden_layers
    sliding = hooks.sliding_layers(config)
    full = [i for i in range(n_layers) if i not in sliding]
    layers = sorted({sliding[0], full[0], full[len(full) // 2], n_layers - 1} if sliding and full else {0, n_layers - 1})
    window = max(2, ids.shape[1] // 3)
    worst = 0.0
    for shrink in (False, True):
        for layer in layers:
            if shrink and layer not in (sliding[:1] + full[:1]):
                continue
            with hooks.sliding_window(model, window) if shrink else contextlib.nullcontext():
                q, k = hooks.capture_qk(model, ids, layer)
                want = hooks.model_attention(model, ids, layer)
                where = (f"(layer {layer}, {config.layer_types[layer]}, T={ids.shape[1]}"
                         + (f", sliding window shrunk to {window}" if shrink else "") + ")")
                got = _call_attention(attention_from_scratch, q, k, config, layer, where)
                tol = atol if atol < 1e-4 else max(atol, _half_logit_atol(q, k, config, next(model.parameters()).dtype))
                _diagnose_attention(got, q, k, config, layer, tol, where)
            diff = float((got - want).abs().max())
            require(diff <= tol, f"Your weights differ from the model's output.attentions by {diff:.3g} {where}.")
            worst = max(worst, diff)
    # a configuration where every setting matters: query_pre_attn_scalar != head_dim, a low cap, a short window
    gen = torch.Generator().manual_seed(81)
    other = copy.deepcopy(config)
    other.query_pre_attn_scalar, other.attn_logit_softcapping, other.sliding_window = 9, 5.0, 4
    other.rope_parameters = dict(config.rope_parameters, rope_theta=100.0)
    head_dim = q.shape[-1]
    q = torch.randn(config.num_attention_heads, 12, head_dim, generator=gen) * 1.5
    k = torch.randn(config.num_key_value_heads, 12, head_dim, generator=gen) * 1.5
    for layer in (sliding[0] if sliding else 0, full[0] if full else 1):
        where = (f"(random q and k, config with query_pre_attn_scalar=9, attn_logit_softcapping=5, sliding_window=4, "
                 f"rope_theta=100; layer {layer}, {other.layer_types[layer]})")
        got = _call_attention(attention_from_scratch, q, k, other, layer, where)
        _diagnose_attention(got, q, k, other, layer, 1e-5, where)
    ok(f"matches the model's attention on layers {layers} and with a shrunk window (max error {worst:.1e}), and Gemma-2's "
       "recipe on a config where the scale, cap, window and θ all differ")


def _causal_weights(q, k, scale: float):
    """Causal softmax weights ``[..., T, T]`` from torch's own attention: SDPA with the identity matrix as values."""
    import torch
    import torch.nn.functional as F

    eye = torch.eye(k.shape[-2], dtype=q.dtype).expand(*k.shape[:-1], k.shape[-2])
    return F.scaled_dot_product_attention(q, k, eye, is_causal=True, scale=scale)


def check_differential_attention(differential_attention) -> None:
    """Exercise 8.2: ``differential_attention(q, k, lam) = softmax(q1·k1/√d) − λ·softmax(q2·k2/√d)``, causal."""
    import torch

    gen = torch.Generator().manual_seed(82)
    for shape, lam in (((2, 7, 8), 0.8), ((9, 12), 0.3), ((2, 3, 5, 4), 1.0)):
        q = torch.randn(*shape, generator=gen) * 2
        k = torch.randn(*shape, generator=gen) * 2
        d, T = shape[-1] // 2, shape[-2]
        where = f"(q, k of shape {shape}, λ={lam})"
        q0, k0 = q.clone(), k.clone()
        got = differential_attention(q, k, lam)
        require(torch.equal(q, q0) and torch.equal(k, k0), "differential_attention changed q or k in place.")
        require(isinstance(got, torch.Tensor), f"Return a tensor, got {type(got).__name__}.")
        require(tuple(got.shape) == (*shape[:-1], T), f"Expected shape {(*shape[:-1], T)} (one [T, T] map per leading index), "
                                                      f"got {tuple(got.shape)} {where}.")
        got = got.detach().float()
        a1 = _causal_weights(q[..., :d], k[..., :d], d ** -0.5)
        a2 = _causal_weights(q[..., d:], k[..., d:], d ** -0.5)
        want = a1 - lam * a2
        if torch.allclose(got, want, atol=1e-5):
            continue
        future = torch.ones(T, T, dtype=torch.bool).triu(1)
        s1 = q[..., :d] @ k[..., :d].transpose(-1, -2) / d ** 0.5
        s2 = q[..., d:] @ k[..., d:].transpose(-1, -2) / d ** 0.5
        mistakes = [
            (a1 + lam * a2, "You ADDED the second map: the differential map is softmax(A1) − λ·softmax(A2)."),
            (a2 - lam * a1, "The maps are swapped: the FIRST half of q and k (dims 0..d-1) gives the positive map A1, "
                            "the second half the subtracted one."),
            ((s1 - lam * s2).masked_fill(future, float("-inf")).softmax(-1),
             "You subtracted the logits and took one softmax: take two softmax maps first, then subtract them."),
            (_causal_weights(q[..., :d], k[..., :d], (2 * d) ** -0.5) - lam * _causal_weights(q[..., d:], k[..., d:], (2 * d) ** -0.5),
             "You scaled by 1/sqrt(2d): each map uses half of the dims, d = q.shape[-1] // 2, and is scaled by 1/sqrt(d)."),
            (s1.softmax(-1) - lam * s2.softmax(-1), "No causal mask: a query must not see later keys (mask j > i with -inf "
                                                    "before each softmax)."),
            (_causal_weights(q[..., 0::2], k[..., 0::2], d ** -0.5) - lam * _causal_weights(q[..., 1::2], k[..., 1::2], d ** -0.5),
             "You split the dims into even and odd ones: split into two halves, q[..., :d] and q[..., d:]."),
            (want / (1 - lam) if lam != 1 else want, "Return the raw difference: the paper's (1 − λ_init) factor and GroupNorm "
                                                     "act on the head's output, not on the map."),
        ]
        for variant, hint in mistakes:
            if torch.isfinite(variant).all() and torch.allclose(got, variant, atol=1e-5):
                require(False, f"{hint} {where}")
        diff = float((got - want).abs().max())
        require(False, f"Your map differs from softmax(q1·k1ᵀ/√d) − λ·softmax(q2·k2ᵀ/√d) by up to {diff:.3g} {where} "
                       "(causal mask, d = q.shape[-1] // 2).")
    ok("equals softmax(q1·k1ᵀ/√d) − λ·softmax(q2·k2ᵀ/√d) with a causal mask (torch's scaled_dot_product_attention) "
       "on 3 shapes and λ ∈ {0.8, 0.3, 1.0}")


def _expect_choice(fn, args, want: str, hint: str) -> None:
    got = fn(*args)
    require(isinstance(got, str), f"Return the chosen answer as a string, got {type(got).__name__}.")
    require(got == want, f"{hint} (got {got!r}, expected {want!r} for {', '.join(repr(a) for a in args)})")


def check_majority_vote(majority_vote) -> None:
    """Exercise 8.3: the most frequent non-empty answer; ties -> the one that appears first; none -> ``""``."""
    from collections import Counter

    def reference(answers):  # Counter keeps first-seen order among equal counts
        counts = Counter(a for a in answers if a)
        return counts.most_common(1)[0][0] if counts else ""

    cases = [
        (["paris", "lyon", "paris"], "The most frequent answer wins."),
        (["", "", "", "nice", "nice", "lyon"], "An empty answer (nothing was extracted) never wins: skip \"\"."),
        (["", ""], "When every answer is empty, return \"\"."),
        ([], "An empty list has no answer: return \"\"."),
        (["paris", "lyon", "lyon", "paris"], "Ties go to the answer that appears FIRST in the list (here 'paris', at index 0)."),
        (["nice", "lyon", "paris", "lyon", "nice", "paris"], "Ties go to the answer that appears FIRST in the list."),
        (["b", "a", "c", "a", "b"], "Ties go to the answer that appears first in the list, not the alphabetically first."),
        (["Paris", "Paris", "paris"], "Compare answers exactly as given (no lower-casing or stripping)."),
    ]
    for answers, hint in cases:
        _expect_choice(majority_vote, (list(answers),), reference(answers), hint)
    ok("most frequent non-empty answer; ties to the first to appear; \"\" when there is none (8 cases)")


def check_best_of_n(best_of_n) -> None:
    """Exercise 8.4: ``best_of_n(answers, scores, weighted=False)``; weighted sums the scores of equal answers."""
    cases = [
        ((["a", "b", "a", "c"], [0.4, 0.7, 0.5, 0.2]), "b",
         "Plain best-of-N returns the answer of the single highest-scoring sample (the HIGHEST score wins)."),
        ((["a", "a", "b"], [0.4, 0.4, 0.7], True), "a", "weighted=True SUMS the scores of equal answers (not their mean or max)."),
        ((["a", "b", "a", "c"], [0.4, 0.7, 0.5, 0.2], True), "a",
         "weighted=True sums the scores of samples with the same answer ('a': 0.4 + 0.5 = 0.9 beats 'b': 0.7)."),
        ((["a", "b"], [-2.0, -1.0]), "b", "Pick the HIGHEST score (-1 > -2), not the lowest."),
        ((["x", "y", "z"], [0.5, 0.5, 0.1]), "x", "Equal scores: the earliest sample wins (compare with >, not >=)."),
        ((["y", "x", "x", "y"], [0.2, 0.3, 0.1, 0.2], True), "y", "Equal totals: the answer that appears first wins."),
        ((["", "a"], [5.0, 1.0]), "a", "An empty answer never wins, whatever its score: skip \"\"."),
        ((["", "a", ""], [5.0, 1.0, 9.0], True), "a", "An empty answer never wins, whatever its score: skip \"\"."),
        ((["", ""], [1.0, 2.0]), "", "When every answer is empty, return \"\"."),
        (([], []), "", "No samples: return \"\"."),
    ]
    for args, want, hint in cases:
        _expect_choice(best_of_n, args, want, hint)
    ok("best-of-N and weighted best-of-N, with ties, negative scores and empty answers (10 cases)")
