"""Submissions that try to score without doing the exercise (issue 23), for tests/test_grading_shortcuts.py.

Each is the solved release with some exercise functions replaced; every exercise is scored on its own, so one
notebook can carry several attacks at once.
"""
from __future__ import annotations

import textwrap

# --------------------------------------------------------------------------- the library does the exercise

TOP_K_WARPER = '''def top_k_filter(logits, k):
    from transformers import TopKLogitsWarper
    return TopKLogitsWarper(top_k=k)(None, logits.clone())'''

TOP_P_WARPER = '''def top_p_filter(logits, p):
    from transformers import TopPLogitsWarper
    return TopPLogitsWarper(top_p=p, min_tokens_to_keep=1)(None, logits.clone())'''

# Passes the visible check in the notebook (the check's own reference), but is not the student's computation.
VIA_CHECK = '''def attention_from_scratch(q, k, config, layer):
    from helpers import checks
    return checks._attention_reference(q, k, config, layer)'''

# A warper bound when the cell runs, before any case: the guard must already be in place.
TOP_P_WARPER_EARLY = '''from transformers.generation.logits_process import TopPLogitsWarper as _Nucleus
_nucleus_call = _Nucleus.__call__


def top_p_filter(logits, p):
    warper = object.__new__(_Nucleus)
    warper.top_p, warper.filter_value, warper.min_tokens_to_keep = p, float("-inf"), 1
    return _nucleus_call(warper, None, logits.clone())'''

# 8.1 by the library: a throw-away Gemma-2 model whose q_proj / k_proj return the given q and k.
ATTENTION_BY_MODEL = '''def attention_from_scratch(q, k, config, layer):
    import copy
    import torch
    from transformers import Gemma2Model
    cfg = copy.deepcopy(config)
    cfg.num_hidden_layers = layer + 1
    cfg.layer_types = list(config.layer_types[: layer + 1])
    cfg._attn_implementation = "eager"
    heads, T, d = q.shape
    model = Gemma2Model(cfg).eval()
    attn = model.layers[layer].self_attn

    class Fixed(torch.nn.Module):
        def __init__(self, out):
            super().__init__()
            self.out = out

        def forward(self, x):
            return self.out

    attn.q_proj = Fixed(q.permute(1, 0, 2).reshape(1, T, heads * d))
    attn.k_proj = Fixed(k.permute(1, 0, 2).reshape(1, T, -1))
    with torch.no_grad():
        out = model(inputs_embeds=torch.zeros(1, T, cfg.hidden_size), output_attentions=True)
    return out.attentions[layer][0]'''

# 8.2 by torch: scaled_dot_product_attention with an identity value matrix returns the weights.
DIFF_BY_SDPA = '''from torch.nn.functional import scaled_dot_product_attention as _sdpa


def differential_attention(q, k, lam):
    import torch
    d, T = q.shape[-1] // 2, q.shape[-2]
    eye = torch.eye(T, dtype=q.dtype).expand(*q.shape[:-2], T, T)
    return _sdpa(q[..., :d], k[..., :d], eye, is_causal=True) - lam * _sdpa(q[..., d:], k[..., d:], eye, is_causal=True)'''

# 5.1 by sentence-transformers' own mean pooling.
MEAN_POOL_BY_LIBRARY = '''def mean_pool(hidden, attention_mask):
    from sentence_transformers.models import Pooling
    pooling = Pooling(hidden.shape[-1], pooling_mode="mean")
    return pooling({"token_embeddings": hidden, "attention_mask": attention_mask})["sentence_embedding"]'''

# --------------------------------------------------------------------------- properties instead of samples

# 4.3 without sampling: at each step ask filter_fn which tokens it keeps, then take the most likely of them.
SAMPLE_BY_PROBING = '''def sample_with_filter(model, tokenizer, input_ids, filter_fn, n, max_new_tokens, seed):
    import torch
    ids, words = input_ids.clone(), []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model(ids).logits[0, -1].float()
            nxt = int(filter_fn(logits[None])[0].argmax())
            if nxt in (1, 107):
                break
            words.append(nxt)
            ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
    return [tokenizer.decode(words, skip_special_tokens=True).strip()] * n'''

# 4.3 with n separate generate calls: right distribution, but the filter never sees the batched [n, vocab] scores.
SAMPLE_ONE_BY_ONE = '''def sample_with_filter(model, tokenizer, input_ids, filter_fn, n, max_new_tokens, seed):
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList

    class Apply(LogitsProcessor):
        def __call__(self, ids, scores):
            return filter_fn(scores.float())

    torch.manual_seed(seed)
    texts = []
    for _ in range(n):
        with torch.no_grad():
            out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), do_sample=True, top_k=0,
                                 top_p=1.0, max_new_tokens=max_new_tokens, eos_token_id=[1, 107],
                                 logits_processor=LogitsProcessorList([Apply()]))
        texts.append(tokenizer.decode(out[0, input_ids.shape[1]:], skip_special_tokens=True).strip())
    return texts'''

# --------------------------------------------------------------------------- knowing it is graded

# Right only outside a grading run: scores only if the grading run can be told apart by LAB_GRADING.
MAJORITY_IF_NOT_GRADED = '''def majority_vote(answers):
    import os
    if os.environ.get("LAB_GRADING"):
        return "graded"
    counts = {}
    for answer in answers:
        if answer:
            counts[answer] = counts.get(answer, 0) + 1
    best = ""
    for answer, count in counts.items():
        if not best or count > counts[best]:
            best = answer
    return best'''

# --------------------------------------------------------------------------- error text as a channel

LEAK_BY_ERROR = '''def {name}(*args, **kwargs):
    shown = [a for a in args if isinstance(a, (str, list, tuple, int, float)) or hasattr(a, "tolist")]
    raise ValueError("inputs: " + repr([a.tolist() if hasattr(a, "tolist") else a for a in shown]) + " | " + repr(kwargs))'''

# --------------------------------------------------------------------------- constant and identity stubs

FUNCTIONS = {
    "01_chat_template": ["prompt_ids", "generate_answer", "coherence"],
    "02_multi_turn_chat": ["render_prompt", "chat_round", "top_next_tokens"],
    "03_tokenization": ["token_table"],
    "04_sampling_self_bleu": ["top_k_filter", "top_p_filter", "sample_with_filter", "self_bleu"],
    "05_contextual_embeddings": ["mean_pool", "word_vector"],
    "06_attention_maps": ["generation_attention", "attention_labels"],
    "07_sae_activations": ["hidden_index", "jumprelu_encode", "feature_activations", "activations_across_layers",
                           "fraction_of_variance_unexplained"],
    "08_papers": ["attention_from_scratch", "differential_attention", "majority_vote", "best_of_n"],
}

GENERIC = {
    "identity": "return next((a for a in args if isinstance(a, (torch.Tensor, str, list, tuple, int, float))), None)",
    "one": "return 1.0",
    "empty_text": 'return ""',
    "empty_list": "return []",
}

# The natural constant of each output: zeros or a uniform map of the right shape, the first answer, "" or [].
SHAPED = {
    "prompt_ids": "return torch.tensor([[2]])",
    "generate_answer": 'return ""',
    "coherence": "return 0.0",
    "render_prompt": 'return "<bos>"',
    "chat_round": 'return [*args[2], {"role": "user", "content": args[3]}, {"role": "assistant", "content": ""}]',
    "top_next_tokens": "return [('', 0.0)] * args[3]",
    "token_table": "return [('<bos>', 2)]",
    "top_k_filter": "l = args[0]\n    i = l.argmax(-1, keepdim=True)\n    return torch.full_like(l, float('-inf')).scatter(-1, i, l.gather(-1, i))",
    "top_p_filter": "l = args[0]\n    i = l.argmax(-1, keepdim=True)\n    return torch.full_like(l, float('-inf')).scatter(-1, i, l.gather(-1, i))",
    "sample_with_filter": 'return [""] * args[4]',
    "self_bleu": "return 0.0",
    "mean_pool": "return args[0].mean(1)",
    "word_vector": "return torch.zeros(args[0].config.hidden_size)",
    "generation_attention": ("ids, p = args[1], args[2]\n    T = ids.shape[1]\n    G = T - p\n"
                             "    rows = torch.tril(torch.ones(T - 1, T - 1))[p - 1:]\n"
                             "    return (rows / rows.sum(-1, keepdim=True)).expand(args[0].config.num_attention_heads, G, T - 1).clone()"),
    "attention_labels": "return [], []",
    "hidden_index": "return 1",
    "jumprelu_encode": "return torch.zeros(*args[0].shape[:-1], args[1].shape[1])",
    "feature_activations": "return torch.zeros(len(args[1](args[3])['input_ids']))",
    "activations_across_layers": ("return torch.zeros(args[0].config.num_hidden_layers, "
                                  "len(args[1](args[3])['input_ids']))"),
    "fraction_of_variance_unexplained": "return 1.0",
    "attention_from_scratch": ("H, T, _ = args[0].shape\n    m = torch.tril(torch.ones(T, T))\n"
                               "    return (m / m.sum(-1, keepdim=True)).expand(H, T, T).clone()"),
    "differential_attention": "return torch.zeros(*args[0].shape[:-1], args[0].shape[-2])",
    "majority_vote": 'return args[0][0] if args[0] else ""',
    "best_of_n": 'return args[0][0] if args[0] else ""',
}


def stub(function: str, body: str) -> str:
    """``def function(*args, **kwargs): <body>`` (torch imported inside)."""
    return f"def {function}(*args, **kwargs):\n    import torch\n    {body}"


def stub_kinds() -> dict[str, dict[str, str]]:
    """``{kind: {function: source}}`` for every exercise function of the course."""
    kinds = {kind: {f: stub(f, body) for fs in FUNCTIONS.values() for f in fs} for kind, body in GENERIC.items()}
    kinds["shaped"] = {f: stub(f, SHAPED[f]) for fs in FUNCTIONS.values() for f in fs}
    return kinds


def leak(function: str) -> str:
    return textwrap.dedent(LEAK_BY_ERROR).format(name=function)
