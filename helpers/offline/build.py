"""Build the offline lab assets: tokenizer + micro Gemma-2 LM, cross-encoder, JumpReLU SAE.

Run ``python -m helpers.offline.build --out data/offline`` (``make offline-assets``; its time on 2
cores is in the README, "How long things take"); ``--quick`` trains for a few steps only, into ``build/offline_quick`` by default,
for smoke tests. Every stage uses a fixed seed, 2 threads and deterministic algorithms,
so a rerun on the same machine writes byte-identical files (see ``manifest.json``).

Stages
1. Tokenizer: BPE with byte fallback trained with ``tokenizers`` on the corpus of
   ``helpers.offline.corpus``; Gemma's special ids (``<pad>`` 0, ``<eos>`` 1, ``<bos>`` 2,
   ``<unk>`` 3, ``<mask>`` 4, ``<unused*>`` fillers, ``<start_of_turn>`` 106,
   ``<end_of_turn>`` 107), then the 256 byte tokens, then the learned pieces; saved as a
   transformers ``GemmaTokenizer`` with Gemma-2-2b-it's chat template.
2. LM: ``Gemma2ForCausalLM`` with 26 layers, 8 query heads and 4 KV heads (the homework's
   indices stay valid), trained with AdamW on chat documents (rendered with the chat
   template) and plain-text documents, loss on every token.
3. Cross-encoder: a 2-layer BERT with its own lowercase WordPiece tokenizer, trained with
   BCE-with-logits on (question, answer) pairs; raw logits are the coherence score.
4. SAE: JumpReLU SAE with 16,384 features on the layer-20 residual stream output
   (``hidden_states[21]``), trained on every token position of the training corpus except
   BOS (position 0, whose norm is far larger than the rest). A ReLU SAE with an L1 penalty
   (scaled by decoder norms) is trained first, then per-feature JumpReLU thresholds are
   set. Afterwards the features are permuted so that the feature most selective for
   time-travel tokens sits at index 10004 (``TIME_TRAVEL_FEATURE``), as in the homework.
   Saved in Gemma Scope's ``params.npz`` layout, written deterministically.
5. Checks of the homework's findings (printed), ``manifest.json`` (sha256 + sizes of every
   file and the build parameters; no timings, dates or findings: it ships with the release) and
   the TA-only report ``data/grading/offline_build.json`` (metrics and the homework's findings on
   the offline model, which answer course questions; ``OUT-report.json`` for another ``--out``).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import io
import json
import math
import os
import random
import shutil
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

from helpers.offline import corpus, reference, wordnet

TIME_TRAVEL_FEATURE = 10004
SAE_LAYER = 20
D_SAE = 16384
SEED = 1234

CHAT_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
)

FULL = {
    "corpus_scale": 1.0,
    "vocab_size": 4096,
    "lm": {
        "hidden_size": 64,
        "intermediate_size": 256,
        "num_hidden_layers": 26,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 16,
        "sliding_window": 256,
        "max_position_embeddings": 1024,
        "initializer_range": 0.04,
    },
    "lm_train": {"steps": 1400, "lr": 5e-3, "warmup": 30, "max_tokens": 1024, "max_len": 256,
                 "weight_decay": 0.01, "betas": [0.9, 0.95], "grad_clip": 1.0, "min_lr_ratio": 0.1},
    "ce": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128,
           "max_position_embeddings": 512, "wordpiece_vocab": 3000},
    "ce_train": {"steps": 900, "lr": 1e-3, "batch_size": 32, "max_len": 160, "n_questions": 1200,
                 "pos_weight": 2.0, "warmup": 50},
    "sae_train": {"max_docs": 1500, "steps": 200, "batch_size": 1024, "lr": 2e-3, "l1": 4e-3,
                  "init_fire_rate": 0.01},
}
QUICK = json.loads(json.dumps(FULL))
QUICK["corpus_scale"] = 0.15
QUICK["lm_train"].update(steps=12, warmup=2)
QUICK["ce_train"].update(steps=10, n_questions=100)
QUICK["sae_train"].update(max_docs=100, steps=10)


def _log(msg: str) -> None:
    print(msg, flush=True)


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _setup_torch() -> None:
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# =========================================================================== tokenizer


def _tokenizer_training_texts(docs: list[dict]) -> list[str]:
    texts = []
    for d in docs:
        if d["kind"] == "text":
            texts.append(d["text"])
        else:
            for m in d["messages"]:
                texts.append(m["content"].strip())
    texts += ["user", "model"]
    return texts


def build_tokenizer(docs: list[dict], vocab_size: int, out_dir: Path):
    """Train BPE with byte fallback, lay out Gemma's ids, save a GemmaTokenizer."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import GemmaTokenizer

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    specials += [f"<unused{i}>" for i in range(106 - len(specials))]
    specials += ["<start_of_turn>", "<end_of_turn>"]
    assert len(specials) == 108
    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]
    n_learned = vocab_size - len(specials) - len(byte_tokens)

    raw = Tokenizer(models.BPE())
    raw.normalizer = normalizers.Replace(" ", "\u2581")
    # split before "▁" and isolate punctuation so merges stay inside words
    raw.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split("\u2581", behavior="merged_with_next"),
        pre_tokenizers.Split(Regex(r"[^\w\u2581]"), behavior="isolated"),
    ])
    trainer = trainers.BpeTrainer(vocab_size=n_learned, min_frequency=2, show_progress=False,
                                  special_tokens=[], initial_alphabet=[])
    raw.train_from_iterator(_tokenizer_training_texts(docs), trainer=trainer)
    model_json = json.loads(raw.to_str())["model"]
    learned = sorted(model_json["vocab"].items(), key=lambda kv: kv[1])
    vocab: dict[str, int] = {}
    for tok in specials + byte_tokens:
        vocab[tok] = len(vocab)
    for tok, _ in learned:
        if tok not in vocab:
            vocab[tok] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model_json["merges"]]

    tok = GemmaTokenizer(vocab=vocab, merges=merges, add_bos_token=True, add_eos_token=False,
                         extra_special_tokens=["<start_of_turn>", "<end_of_turn>"])
    tok.chat_template = CHAT_TEMPLATE
    tok.model_max_length = 8192
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(out_dir))
    return tok, raw, vocab


def check_tokenizer(lm_dir: Path, raw, docs: list[dict]) -> dict:
    """Reload with AutoTokenizer and compare with the raw tokenizers pipeline."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(lm_dir))
    assert type(tok).__name__ == "GemmaTokenizer", type(tok)
    sample = _tokenizer_training_texts(docs[:300]) + [corpus.HUNG_YI_SENTENCE, corpus.TIME_TRAVEL_PROMPT_A]
    mismatches = 0
    vocab = tok.get_vocab()
    for s in sample:
        a = tok(s, add_special_tokens=False)["input_ids"]
        b = [vocab[t] for t in raw.encode(s).tokens]
        mismatches += a != b
    assert mismatches == 0, f"{mismatches} encodings differ from the raw BPE"
    for s in ["héllo 🌈", corpus.HUNG_YI_SENTENCE, "Ünïcödé ✓ 漢字", "  two  spaces\nnewline"]:
        ids = tok.encode(s)
        assert ids[0] == tok.bos_token_id
        assert tok.decode(ids, skip_special_tokens=True) == s, (s, tok.decode(ids, skip_special_tokens=True))
    ids = tok("<start_of_turn>user\nhi<end_of_turn>", add_special_tokens=False)["input_ids"]
    assert ids[0] == 106 and ids[-1] == 107, ids
    assert tok.convert_tokens_to_ids(["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>",
                                      "<end_of_turn>", "<0x00>"]) == [0, 1, 2, 3, 4, 106, 107, 108]
    pieces = tok.tokenize(corpus.HUNG_YI_SENTENCE)
    _log(f"  tokenizer: {type(tok).__name__}, len={len(tok)}; Hung-yi pieces: {pieces}")
    _log(f"  'I love taking' -> {tok.tokenize('I love taking')}; 'héllo 🌈' -> {tok.tokenize('héllo 🌈')}")
    return {"hung_yi_pieces": pieces, "len": len(tok)}


# =========================================================================== LM


def encode_documents(tok, docs: list[dict], max_len: int) -> list[list[int]]:
    out = []
    for d in docs:
        if d["kind"] == "chat":
            text = tok.apply_chat_template(d["messages"], tokenize=False)
            ids = tok(text, add_special_tokens=False)["input_ids"]
        else:
            ids = [tok.bos_token_id] + tok(d["text"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        out.append(ids[:max_len])
    return out


def make_batches(seqs: list[list[int]], max_tokens: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches of indices (padded length x rows <= max_tokens), shuffled."""
    order = list(range(len(seqs)))
    rng.shuffle(order)
    batches = []
    for c in range(0, len(order), 512):
        chunk = sorted(order[c:c + 512], key=lambda i: (len(seqs[i]), i))
        cur: list[int] = []
        for i in chunk:
            L = max([len(seqs[j]) for j in cur] + [len(seqs[i])])
            if cur and L * (len(cur) + 1) > max_tokens:
                batches.append(cur)
                cur = []
            cur.append(i)
        if cur:
            batches.append(cur)
    rng.shuffle(batches)
    return batches


def collate(seqs: list[list[int]], idx: list[int], pad_id: int = 0):
    L = max(len(seqs[i]) for i in idx)
    ids = torch.full((len(idx), L), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), L), dtype=torch.long)
    for r, i in enumerate(idx):
        s = seqs[i]
        ids[r, :len(s)] = torch.tensor(s)
        mask[r, :len(s)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    return ids, mask, labels


def lm_config(p: dict, vocab_size: int):
    from transformers import Gemma2Config

    return Gemma2Config(
        vocab_size=vocab_size,
        hidden_size=p["hidden_size"],
        intermediate_size=p["intermediate_size"],
        num_hidden_layers=p["num_hidden_layers"],
        num_attention_heads=p["num_attention_heads"],
        num_key_value_heads=p["num_key_value_heads"],
        head_dim=p["head_dim"],
        query_pre_attn_scalar=p["head_dim"],
        sliding_window=p["sliding_window"],
        max_position_embeddings=p["max_position_embeddings"],
        final_logit_softcapping=30.0,
        attn_logit_softcapping=50.0,
        hidden_activation="gelu_pytorch_tanh",
        rms_norm_eps=1e-6,
        initializer_range=p.get("initializer_range", 0.02),
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
        use_cache=True,
    )


def train_lm(tok, train_docs, p: dict, t: dict):
    from transformers import Gemma2ForCausalLM

    _seed_all(SEED)
    seqs = encode_documents(tok, train_docs, t["max_len"])
    n_tokens = sum(len(s) for s in seqs)
    model = Gemma2ForCausalLM(lm_config(p, len(tok)))
    model.train()
    decay = [p_ for n, p_ in model.named_parameters() if p_.ndim >= 2]
    no_decay = [p_ for n, p_ in model.named_parameters() if p_.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": t["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=t["lr"], betas=tuple(t["betas"]), eps=1e-8)
    steps, warm = t["steps"], t["warmup"]

    def lr_at(s):
        if s < warm:
            return t["lr"] * (s + 1) / warm
        prog = (s - warm) / max(1, steps - warm)
        return t["lr"] * (t["min_lr_ratio"] + (1 - t["min_lr_ratio"]) * 0.5 * (1 + math.cos(math.pi * prog)))

    rng = random.Random(SEED)
    batches: list[list[int]] = []
    losses = []
    tokens_seen = 0
    t0 = time.time()
    for step in range(steps):
        if not batches:
            batches = make_batches(seqs, t["max_tokens"], rng)
        idx = batches.pop()
        ids, mask, labels = collate(seqs, idx)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(out.loss.item())
        tokens_seen += int(mask.sum())
        if step % 50 == 0 or step == steps - 1:
            _log(f"  step {step:5d} loss {np.mean(losses[-50:]):.4f} lr {lr_at(step):.2e} "
                 f"tokens {tokens_seen} ({time.time() - t0:.0f}s)")
    model.eval()
    info = {"train_tokens_per_epoch": n_tokens, "train_documents": len(seqs),
            "tokens_seen": tokens_seen, "epochs": tokens_seen / n_tokens,
            "final_train_loss": float(np.mean(losses[-50:]))}
    return model, info


def general_english_loss(model, tok) -> dict:
    """Loss (nats per token) on simple English the model has not seen, next to ln(vocabulary)."""
    def encode(texts) -> list[list[int]]:
        return [[tok.bos_token_id] + tok(text, add_special_tokens=False)["input_ids"] for text in texts]

    heldout, probes = encode(corpus.general_sentences("heldout")), encode(corpus.GENERAL_PROBES)
    ln_v = math.log(len(tok))
    out = {"heldout_wordnet_loss": mean_loss(model, heldout), "heldout_wordnet_sentences": len(heldout),
           "course_probe_loss": mean_loss(model, probes), "course_probe_sentences": len(probes), "ln_vocab": ln_v}
    out["heldout_wordnet_over_ln_vocab"] = out["heldout_wordnet_loss"] / ln_v
    out["course_probe_over_ln_vocab"] = out["course_probe_loss"] / ln_v
    return out


@torch.no_grad()
def mean_loss(model, seqs: list[list[int]], max_tokens: int = 4096) -> float:
    tot, n = 0.0, 0
    for idx in make_batches(seqs, max_tokens, random.Random(0)):
        ids, mask, labels = collate(seqs, idx)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        tgt = labels[:, 1:]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1),
                                                 ignore_index=-100, reduction="sum")
        tot += loss.item()
        n += int((tgt != -100).sum())
    return tot / n


def save_lm(model, lm_dir: Path) -> None:
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(bos_token_id=2, eos_token_id=[1, 107], pad_token_id=0)
    model.save_pretrained(str(lm_dir), safe_serialization=True)


def load_lm(lm_dir: Path):
    from transformers import AutoTokenizer, Gemma2ForCausalLM

    model = Gemma2ForCausalLM.from_pretrained(str(lm_dir), dtype=torch.float32, attn_implementation="eager")
    model.eval()
    return AutoTokenizer.from_pretrained(str(lm_dir)), model


# =========================================================================== cross-encoder


def wordpiece_vocab(texts: list[str], size: int, min_count: int = 2) -> dict[str, int]:
    """A deterministic WordPiece vocabulary: specials, every character and its ``##`` form, then whole
    words seen at least ``min_count`` times, most frequent first (ties by spelling), up to ``size``.

    (The ``tokenizers`` WordPiece trainer gives a different vocabulary on every run, which would make
    the cross-encoder, and so the manifest, differ between two builds.)
    """
    from collections import Counter

    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    splitter = pre_tokenizers.BertPreTokenizer()
    counts: Counter = Counter()
    for text in texts:
        counts.update(word for word, _ in splitter.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({ch for word in counts for ch in word})
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + ch for ch in chars]
    seen = set(tokens)
    for word, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(tokens) >= size or count < min_count:
            break
        if word not in seen:
            tokens.append(word)
            seen.add(word)
    return {token: index for index, token in enumerate(tokens)}


def build_cross_encoder(out_dir: Path, c: dict, t: dict):
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    _seed_all(SEED + 1)
    train_pairs = corpus.cross_encoder_pairs("train", n_questions=t["n_questions"])
    texts = []
    for q, a, _ in train_pairs:
        texts += [q, a]
    texts += [s for s in corpus.unrelated_sentences("train")] + [s for s, _ in corpus.fruit_company_sentences("train")]
    vocab = wordpiece_vocab(texts, c["wordpiece_vocab"])
    tok = BertTokenizer(vocab=vocab, do_lower_case=True)
    tok.model_max_length = c["max_position_embeddings"]
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=c["hidden_size"], num_hidden_layers=c["num_hidden_layers"],
                     num_attention_heads=c["num_attention_heads"], intermediate_size=c["intermediate_size"],
                     max_position_embeddings=c["max_position_embeddings"], num_labels=1, pad_token_id=0,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertForSequenceClassification(cfg)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=t["lr"], weight_decay=0.01)
    rng = random.Random(SEED + 1)
    order: list[int] = []
    bce = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(t.get("pos_weight", 1.0)))
    losses = []
    for step in range(t["steps"]):
        if len(order) < t["batch_size"]:
            order = list(range(len(train_pairs)))
            rng.shuffle(order)
        idx, order = order[:t["batch_size"]], order[t["batch_size"]:]
        qs = [train_pairs[i][0] for i in idx]
        ans = [train_pairs[i][1] for i in idx]
        y = torch.tensor([train_pairs[i][2] for i in idx])
        enc = tok(qs, ans, padding=True, truncation=True, max_length=t["max_len"], return_tensors="pt")
        lr = t["lr"] * min(1.0, (step + 1) / t.get("warmup", 30)) * (1 - 0.9 * step / t["steps"])
        for g in opt.param_groups:
            g["lr"] = lr
        logits = model(**enc).logits.squeeze(-1)
        loss = bce(logits, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 100 == 0 or step == t["steps"] - 1:
            _log(f"  ce step {step:4d} loss {np.mean(losses[-50:]):.4f}")
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tok.save_pretrained(str(out_dir))
    return {"train_pairs": len(train_pairs), "final_train_loss": float(np.mean(losses[-50:])),
            "vocab_size": len(vocab)}


def evaluate_cross_encoder(ce_dir: Path) -> tuple[object, dict]:
    from sentence_transformers import CrossEncoder

    ce = CrossEncoder(str(ce_dir), activation_fn=torch.nn.Identity(), device="cpu")
    pairs = corpus.cross_encoder_pairs("heldout")
    by_q: dict[str, list[tuple[str, float]]] = {}
    for q, a, y in pairs:
        by_q.setdefault(q, []).append((a, y))
    scores = ce.predict([(q, a) for q, a, _ in pairs], batch_size=64, show_progress_bar=False)
    it = iter(scores.tolist())
    pos_scores, neg_scores = [], []
    top1, pairwise, npair = 0, 0, 0
    s_by = {}
    for q, a, y in pairs:
        s = next(it)
        s_by.setdefault(q, []).append((s, y))
        (pos_scores if y > 0.5 else neg_scores).append(s)
    n_q = 0
    for q, lst in s_by.items():
        pos = [s for s, y in lst if y > 0.5]
        neg = [s for s, y in lst if y < 0.5]
        if not pos or not neg:
            continue
        n_q += 1
        top1 += min(pos) > max(neg)
        for p_ in pos:
            for n_ in neg:
                pairwise += p_ > n_
                npair += 1
    res = {"heldout_pairs": len(pairs), "heldout_questions": n_q, "top1_accuracy": top1 / n_q,
           "pairwise_accuracy": pairwise / npair, "mean_logit_on_topic": float(np.mean(pos_scores)),
           "mean_logit_off_topic": float(np.mean(neg_scores))}
    _log(f"  cross-encoder held-out: {res}")
    return ce, res


# =========================================================================== SAE


@torch.no_grad()
def collect_activations(model, seqs: list[list[int]], layer: int, skip_bos: bool = True) -> torch.Tensor:
    acts = []
    for idx in make_batches(seqs, 8192, random.Random(1)):
        idx = sorted(idx)
        ids, mask, _ = collate(seqs, idx)
        hs = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[layer + 1]
        m = mask.bool()
        if skip_bos:
            m[:, 0] = False
        acts.append(hs[m].float())
    return torch.cat(acts)


class ReluSAE(torch.nn.Module):
    def __init__(self, d_model: int, d_sae: int, init_dirs: torch.Tensor, b_dec: torch.Tensor,
                 b_enc: torch.Tensor):
        super().__init__()
        w = init_dirs / init_dirs.norm(dim=1, keepdim=True)
        self.W_dec = torch.nn.Parameter(w.clone())
        self.W_enc = torch.nn.Parameter(0.1 * w.t().clone())
        self.b_enc = torch.nn.Parameter(0.1 * b_enc.clone())
        self.b_dec = torch.nn.Parameter(b_dec.clone())

    def forward(self, x):
        f = torch.relu((x - self.b_dec) @ self.W_enc + self.b_enc)
        return f, f @ self.W_dec + self.b_dec


def train_sae(train_acts: torch.Tensor, t: dict):
    """ReLU SAE with an L1 penalty weighted by decoder norms, then JumpReLU thresholds."""
    g = torch.Generator().manual_seed(SEED + 2)
    n, d = train_acts.shape
    mean = train_acts.mean(0)
    scale = float((train_acts - mean).pow(2).sum(1).mean().sqrt())  # normalise inputs for training
    x_all = (train_acts - mean) / scale
    init_idx = torch.randint(0, n, (D_SAE,), generator=g)
    dirs = x_all[init_idx] + 0.01 * torch.randn(D_SAE, d, generator=g)
    # data-initialised directions; biases so that each feature fires on ~init_fire_rate of tokens
    sample = x_all[torch.randint(0, n, (min(n, 4096),), generator=g)]
    pre0 = sample @ (dirs / dirs.norm(dim=1, keepdim=True)).t()
    k = max(1, int(round((1 - t["init_fire_rate"]) * sample.shape[0])))
    b_enc0 = -torch.kthvalue(pre0, k, dim=0).values
    sae = ReluSAE(d, D_SAE, dirs, torch.zeros(d), b_enc0)
    opt = torch.optim.Adam(sae.parameters(), lr=t["lr"], betas=(0.9, 0.999))
    losses = []
    for step in range(t["steps"]):
        idx = torch.randint(0, n, (t["batch_size"],), generator=g)
        x = x_all[idx]
        lr = t["lr"] * min(1.0, (step + 1) / 20) * (1 - 0.8 * step / t["steps"])
        for gr in opt.param_groups:
            gr["lr"] = lr
        l1_coef = t["l1"] * min(1.0, (step + 1) / (0.3 * t["steps"]))
        f, xh = sae(x)
        mse = (xh - x).pow(2).sum(1).mean()
        l1 = (f * sae.W_dec.norm(dim=1)).sum(1).mean()
        loss = mse + l1_coef * l1
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append((mse.item(), (f > 0).float().sum(1).mean().item()))
        if step % 50 == 0 or step == t["steps"] - 1:
            _log(f"  sae step {step:4d} mse {losses[-1][0]:.4f} L0 {losses[-1][1]:.1f}")
    # fold the input normalisation into Gemma-Scope-style parameters:
    # pre = x @ W_enc + b_enc with x raw; decode = acts @ W_dec + b_dec
    with torch.no_grad():
        W_enc = sae.W_enc / scale  # (x - mean)/scale - b_dec_n
        b_enc = sae.b_enc - ((mean / scale + sae.b_dec) @ sae.W_enc)
        W_dec = sae.W_dec * scale
        b_dec = sae.b_dec * scale + mean
        # rescale so every live decoder row has unit norm (features in "residual units")
        norms = W_dec.norm(dim=1).clamp_min(1e-8)
        W_enc = W_enc * norms[None, :]
        b_enc = b_enc * norms
        W_dec = W_dec / norms[:, None]
        pre = train_acts[: min(n, 20000)] @ W_enc + b_enc
        pos = pre.clamp_min(0)
        fires = (pos > 0).float().sum(0)
        mean_pos = pos.sum(0) / fires.clamp_min(1)
        # JumpReLU threshold: drop the weakest activations (below 10% of the feature's mean firing value);
        # features that never fire get a threshold above their largest pre-activation
        threshold = 0.1 * mean_pos
        dead = fires == 0
        threshold[dead] = pre.max(0).values[dead].clamp_min(0) + 1.0
    params = {"W_enc": W_enc.contiguous(), "W_dec": W_dec.contiguous(), "b_enc": b_enc.contiguous(),
              "b_dec": b_dec.contiguous(), "threshold": threshold.contiguous()}
    return params, {"final_mse_normalised": losses[-1][0], "dead_features_on_20k": int(dead.sum())}


def sae_encode(params: dict, x: torch.Tensor) -> torch.Tensor:
    return reference.jumprelu(x, params["W_enc"], params["b_enc"], params["threshold"])  # thresholds are > 0


def sae_metrics(params: dict, acts: torch.Tensor) -> dict:
    f = sae_encode(params, acts)
    xh = f @ params["W_dec"] + params["b_dec"]
    mse = (xh - acts).pow(2).sum(1).mean()
    var = (acts - acts.mean(0)).pow(2).sum(1).mean()
    return {"explained_variance": float(1 - mse / var), "mean_l0": float((f > 0).float().sum(1).mean())}


def token_acts_for_sentences(model, tok, sentences: list[str]) -> torch.Tensor:
    seqs = [tok(s)["input_ids"] for s in sentences]
    return collect_activations(model, seqs, SAE_LAYER, skip_bos=True)


@torch.no_grad()
def prompt_max_activation(model, tok, params, prompt: str, feature: int) -> tuple[float, float]:
    ids = tok(prompt, return_tensors="pt")["input_ids"]
    hs = model(input_ids=ids, output_hidden_states=True).hidden_states[SAE_LAYER + 1][0]
    f = sae_encode(params, hs.float())[:, feature]
    return float(f.max()), float(f[1:].max())


def choose_time_travel_feature(model, tok, params, candidates: int = 40) -> tuple[int, dict]:
    """The feature that fires on time-travel tokens and not elsewhere (train sentences only decide the ranking).

    Among the ``candidates`` best-ranked features that fire on at least 90% of the train time-travel
    sentences, most often on a content word, the first one that gives the homework's prompt b
    (decisions and the future, no time travel) a small non-zero maximum below 0.7 x prompt a's is
    taken, as Gemma's feature 10004 does in the original run (31.76 vs 58.04 there); if none does,
    the best-ranked one.
    """
    tt = token_acts_for_sentences(model, tok, corpus.time_travel_sentences("train"))
    neg = token_acts_for_sentences(model, tok, corpus.unrelated_sentences("train")
                                   + corpus.decision_sentences("train")
                                   + [s for s, _ in corpus.fruit_company_sentences("train")][:100])
    bos = model(input_ids=torch.tensor([[tok.bos_token_id]]), output_hidden_states=True).hidden_states[SAE_LAYER + 1][0]
    f_tt, f_neg = sae_encode(params, tt), sae_encode(params, neg)
    f_bos = sae_encode(params, bos.float())[0]
    m_tt, m_neg = f_tt.mean(0), f_neg.mean(0)
    frac_neg = (f_neg > 0).float().mean(0)
    score = m_tt - 4 * m_neg - 100.0 * (f_bos > 0).float() - 10 * frac_neg * m_tt
    ranked = [int(i) for i in score.argsort(descending=True)[:candidates]]
    # fraction of the train time-travel sentences on which a feature fires at all: a time-travel
    # feature should fire on nearly every one, not on a few memorised ones
    sentences = corpus.time_travel_sentences("train")
    acts = [sae_encode(params, token_acts_for_sentences(model, tok, [s]))[:, ranked] for s in sentences]
    pieces = [tok.convert_ids_to_tokens(tok(s)["input_ids"])[1:] for s in sentences]  # <bos> skipped, like acts
    covers = (torch.stack([a.amax(0) for a in acts]) > 0).float().mean(0)

    def top_piece(r: int) -> str:
        """The piece on which candidate ``r`` fires most, most often over the train time-travel sentences."""
        counts = collections.Counter(p[int(a[:, r].argmax())] for p, a in zip(pieces, acts) if a[:, r].max() > 0)
        return counts.most_common(1)[0][0].lstrip("\u2581") if counts else ""

    best, rank = ranked[0], 0
    for r, feature in enumerate(ranked):
        # fires on nearly every time-travel sentence, and most on a content word ("time", "travel"),
        # not on punctuation or a function word that only carries the sentence's context
        word = top_piece(r)
        if covers[r] < 0.9 or not (word.isalpha() and len(word) >= 4):
            continue
        a = prompt_max_activation(model, tok, params, corpus.TIME_TRAVEL_PROMPT_A, feature)[0]
        b = prompt_max_activation(model, tok, params, corpus.TIME_TRAVEL_PROMPT_B, feature)[0]
        if 0 < b < 0.7 * a:
            best, rank = feature, r
            break
    return best, {"train_mean_tt": float(m_tt[best]), "train_mean_other": float(m_neg[best]), "rank": rank,
                  "train_time_travel_sentences_covered": float(covers[rank]), "top_piece": top_piece(rank)}


def permute_features(params: dict, src: int, dst: int) -> dict:
    perm = torch.arange(D_SAE)
    perm[src], perm[dst] = dst, src
    return {"W_enc": params["W_enc"][:, perm].contiguous(), "W_dec": params["W_dec"][perm].contiguous(),
            "b_enc": params["b_enc"][perm].contiguous(), "b_dec": params["b_dec"],
            "threshold": params["threshold"][perm].contiguous()}


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez-compatible, but with fixed zip timestamps so the bytes are reproducible."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key], dtype=np.float32), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=6)


# =========================================================================== findings


@torch.no_grad()
def greedy(model, tok, ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                         max_new_tokens=max_new_tokens)
    return out[0, ids.shape[1]:]


def chat_ids(tok, messages, add_generation_prompt=True) -> torch.Tensor:
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    return tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]


def self_bleu(texts: list[str]) -> float:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    sm = SmoothingFunction().method1
    toks = [t.split() for t in texts]
    scores = []
    for i, h in enumerate(toks):
        refs = [r for j, r in enumerate(toks) if j != i]
        scores.append(sentence_bleu(refs, h, smoothing_function=sm))
    return float(np.mean(scores))


@torch.no_grad()
def sample_answers(model, tok, prompt: str, n: int, seed: int, **kw) -> list[str]:
    ids = chat_ids(tok, [{"role": "user", "content": prompt}])
    torch.manual_seed(seed)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
                         num_return_sequences=n, max_new_tokens=40, **kw)
    return [tok.decode(o[ids.shape[1]:], skip_special_tokens=True).strip() for o in out]


@torch.no_grad()
def findings(model, tok, ce, params, quick: bool) -> dict:
    res: dict = {}
    # a. template vs no template
    q = corpus.SUPERVISED_QUESTION
    with_t = tok.decode(greedy(model, tok, chat_ids(tok, [{"role": "user", "content": q}]), 200))
    raw_ids = tok(q, return_tensors="pt")["input_ids"]
    without_t = tok.decode(greedy(model, tok, raw_ids, 200))
    a_clean = with_t.replace("<end_of_turn>", "").replace("<eos>", "").strip()
    b_clean = without_t.replace("<end_of_turn>", "").replace("<eos>", "").strip()
    s = ce.predict([(q, a_clean), (q, b_clean)], show_progress_bar=False).tolist()
    _log(f"[a] WITH template: {with_t!r}\n    CE score {s[0]:.4f}")
    _log(f"[a] WITHOUT template: {without_t!r}\n    CE score {s[1]:.4f}")
    res["a"] = {"with_template": with_t, "without_template": without_t, "ce_with": s[0], "ce_without": s[1],
                "with_ends_with_end_of_turn": with_t.rstrip().endswith("<end_of_turn>"),
                "with_n_words": len(a_clean.split())}
    # b. rainbow
    msgs: list[dict] = []
    answers = []
    top10 = None
    for i, user in enumerate(corpus.rainbow_conversation_prompts()):
        msgs.append({"role": "user", "content": user})
        ids = chat_ids(tok, msgs)
        if i == 0:
            probs = torch.softmax(model(input_ids=ids).logits[0, -1].float(), -1)
            pv, pi = probs.topk(10)
            top10 = [(tok.convert_ids_to_tokens(int(j)), round(float(v), 4)) for v, j in zip(pv, pi)]
        ans = tok.decode(greedy(model, tok, ids, 10), skip_special_tokens=True).strip()
        answers.append(ans)
        msgs.append({"role": "assistant", "content": ans})
    _log(f"[b] rainbow rounds: {answers}\n    top-10 after round 1: {top10}")
    colors_in_top10 = sum(any(c.lower() in t.lower() for c in corpus.RAINBOW_COLORS) for t, _ in top10)
    res["b"] = {"answers": answers, "top10_round1": top10, "colour_tokens_in_top10": colors_in_top10,
                "distinct": len({a.lower() for a in answers}) == 3}
    # c. paraphrase diversity
    p = corpus.PARAPHRASE_PROMPT
    k2 = sample_answers(model, tok, p, 20, 0, top_k=2)
    k200 = sample_answers(model, tok, p, 20, 0, top_k=200)
    p06 = sample_answers(model, tok, p, 20, 0, top_k=0, top_p=0.6)
    p999 = sample_answers(model, tok, p, 20, 0, top_k=0, top_p=0.999)
    sb = {"top_k=2": self_bleu(k2), "top_k=200": self_bleu(k200), "top_p=0.6": self_bleu(p06),
          "top_p=0.999": self_bleu(p999)}
    _log(f"[c] self-BLEU {sb}\n    k=2 samples: {k2[:4]}\n    k=200 samples: {k200[:4]}")
    res["c"] = {"self_bleu": sb, "samples_top_k_2": k2[:5], "samples_top_k_200": k200[:5],
                "distinct_top_k_2": len(set(k2)), "distinct_top_k_200": len(set(k200))}
    # d. fruit vs company: contextual embeddings of the ambiguous words
    res["d"] = fruit_company_check(model, tok)
    # e. Google
    g = tok.decode(greedy(model, tok, tok("Google", return_tensors="pt")["input_ids"], 20))
    _log(f"[e] 'Google' -> {g!r}")
    res["e"] = {"continuation": g}
    # f. SAE feature on prompts a/b
    fa = prompt_max_activation(model, tok, params, corpus.TIME_TRAVEL_PROMPT_A, TIME_TRAVEL_FEATURE)
    fb = prompt_max_activation(model, tok, params, corpus.TIME_TRAVEL_PROMPT_B, TIME_TRAVEL_FEATURE)
    fr = prompt_max_activation(model, tok, params, corpus.TIME_TRAVEL_REALITY, TIME_TRAVEL_FEATURE)
    _log(f"[f] feature {TIME_TRAVEL_FEATURE} max activation: prompt a {fa[0]:.4f}, prompt b {fb[0]:.4f}, "
         f"'{corpus.TIME_TRAVEL_REALITY}' {fr[0]:.4f} (excluding BOS: {fa[1]:.4f} / {fb[1]:.4f})")
    res["f"] = {"prompt_a_max": fa[0], "prompt_b_max": fb[0], "reality_max": fr[0]}
    return res


@torch.no_grad()
def fruit_company_check(model, tok) -> dict:
    """Cosine similarity of last-layer vectors of apple/orange tokens: same sense vs other sense."""
    vecs, senses = [], []
    sents = list(corpus.PROBE_FRUIT_COMPANY) + [s for s, _ in corpus.fruit_company_sentences("heldout")]
    labels = ["fruit", "company", "fruit", "company", "company", "fruit"] + [
        lab for _, lab in corpus.fruit_company_sentences("heldout")]
    words = ("apple", "orange", "banana", "microsoft", "google", "amazon", "pear", "mango")
    for s, lab in zip(sents, labels):
        ids = tok(s)["input_ids"]
        pieces = tok.convert_ids_to_tokens(ids)
        pos = [i for i, pc in enumerate(pieces) if pc.strip("\u2581").lower() in words]
        if not pos:
            continue
        hs = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0]
        vecs.append(hs[pos[0]])
        senses.append(lab)
    v = torch.nn.functional.normalize(torch.stack(vecs), dim=1)
    sim = v @ v.t()
    same, diff = [], []
    for i in range(len(senses)):
        for j in range(i + 1, len(senses)):
            (same if senses[i] == senses[j] else diff).append(float(sim[i, j]))
    # nearest-centroid accuracy (leave-one-out) of the sense
    correct = 0
    lab_t = np.array(senses)
    for i in range(len(senses)):
        others = [j for j in range(len(senses)) if j != i]
        cents = {}
        for lab in ("fruit", "company"):
            js = [j for j in others if lab_t[j] == lab]
            cents[lab] = v[js].mean(0)
        pred = max(cents, key=lambda k: float(v[i] @ cents[k]))
        correct += pred == senses[i]
    r = {"n": len(senses), "mean_cos_same_sense": float(np.mean(same)), "mean_cos_other_sense": float(np.mean(diff)),
         "nearest_centroid_accuracy": correct / len(senses)}
    _log(f"[d] fruit vs company (last layer): {r}")
    return r


# =========================================================================== manifest


def _round(x):
    if isinstance(x, float):
        return round(x, 6)
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_round(v) for v in x]
    return x


def write_manifest(out: Path, params: dict) -> None:
    """``out/manifest.json``: what the helpers need to load and check the assets (files, sha256, build parameters).

    It ships with the student release, so it holds no finding of the build: those go to the TA's report
    (:func:`write_report`)."""
    import sentence_transformers
    import tokenizers
    import transformers

    files = []
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            data = p.read_bytes()
            files.append({"path": p.relative_to(out).as_posix(), "bytes": len(data),
                          "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {
        "description": "Offline lab assets for the course, built by `python -m helpers.offline.build`.",
        "time_travel_feature": TIME_TRAVEL_FEATURE,
        "sae_layer": SAE_LAYER,
        "seed": SEED,
        "params": params,
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                     "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                     "sentence_transformers": sentence_transformers.__version__, "numpy": np.__version__},
        "files": files,
        "total_bytes": sum(f["bytes"] for f in files),
    }
    (out / "manifest.json").write_text(json.dumps(_round(manifest), indent=2, sort_keys=True,
                                                  ensure_ascii=False) + "\n", encoding="utf-8")


_REPO = Path(__file__).resolve().parents[2]
REPORT = _REPO / "data" / "grading" / "offline_build.json"


def report_path(out: Path) -> Path:
    """Where the build's findings go: ``data/grading/offline_build.json`` (TA only, never in the release) for the
    committed assets, ``OUT-report.json`` next to any other output folder (``make verify-assets``)."""
    out = Path(out)
    if out.resolve() == (_REPO / "data" / "offline").resolve():
        return REPORT
    return out.parent / f"{out.name}-report.json"


def write_report(path: Path, results: dict) -> None:
    """The build's findings (losses, the homework's observations on the offline model, the SAE's hook) for TAs."""
    report = {
        "description": "Findings of the offline asset build (TA only: they answer course questions, so they never "
                       "ship with the assets).",
        "sae_hook": f"hidden_states[{SAE_LAYER + 1}] (output of decoder layer {SAE_LAYER})",
        "results": results,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_round(report), indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


# =========================================================================== main


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="output folder (default data/offline, or build/offline_quick)")
    ap.add_argument("--quick", action="store_true", help="few training steps, small corpus (smoke test)")
    args = ap.parse_args(argv)
    if os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        # OpenMP threads that spin while waiting make a shared 2-core machine crawl; the policy is
        # read when the OpenMP runtime loads, so restart the interpreter with it set
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
        cmd = [sys.executable, "-m", "helpers.offline.build"] + (sys.argv[1:] if argv is None else list(argv))
        os.execve(sys.executable, cmd, env)
    P = QUICK if args.quick else FULL
    out = Path(args.out or ("build/offline_quick" if args.quick else "data/offline"))
    _setup_torch()
    for sub in ("lm", "cross_encoder", "sae"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    out.mkdir(parents=True, exist_ok=True)
    timings = {}
    results: dict = {}
    T0 = time.time()

    t = time.time()
    train_docs = corpus.lm_documents("train", scale=P["corpus_scale"])
    held_docs = corpus.lm_documents("heldout", scale=P["corpus_scale"])
    _log(f"corpus: {len(train_docs)} train docs, {len(held_docs)} held-out docs")
    tok, raw, _ = build_tokenizer(train_docs, P["vocab_size"], out / "lm")
    results["tokenizer"] = check_tokenizer(out / "lm", raw, train_docs)
    timings["tokenizer"] = time.time() - t
    _log(f"== tokenizer {timings['tokenizer']:.1f}s")

    t = time.time()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(out / "lm"))
    model, info = train_lm(tok, train_docs, P["lm"], P["lm_train"])
    save_lm(model, out / "lm")
    tok2, model2 = load_lm(out / "lm")
    probe = torch.tensor([tok2(corpus.HUNG_YI_SENTENCE)["input_ids"]])
    with torch.no_grad():
        diff = (model(input_ids=probe).logits - model2(input_ids=probe).logits).abs().max().item()
    assert diff < 1e-5, diff
    model = model2
    held = encode_documents(tok, held_docs, P["lm_train"]["max_len"])
    info["heldout_loss"] = mean_loss(model, held)
    info["heldout_tokens"] = sum(len(s) for s in held)
    info["ln_vocab"] = math.log(len(tok))
    info["reload_max_logit_diff"] = diff
    info["general_english"] = general_english_loss(model, tok)
    results["lm"] = info
    timings["lm"] = time.time() - t
    _log(f"== lm {timings['lm']:.1f}s: final train loss {info['final_train_loss']:.4f}, held-out loss "
         f"{info['heldout_loss']:.4f} vs ln(vocab) {info['ln_vocab']:.4f}; reload diff {diff:.2e}; "
         f"general English {json.dumps(_round(info['general_english']))}")

    t = time.time()
    results["cross_encoder"] = build_cross_encoder(out / "cross_encoder", P["ce"], P["ce_train"])
    ce, ce_res = evaluate_cross_encoder(out / "cross_encoder")
    results["cross_encoder"].update(ce_res)
    timings["cross_encoder"] = time.time() - t
    _log(f"== cross-encoder {timings['cross_encoder']:.1f}s")

    t = time.time()
    _seed_all(SEED + 2)
    st = P["sae_train"]
    sae_seqs = encode_documents(tok, train_docs[: st["max_docs"]], P["lm_train"]["max_len"])
    train_acts = collect_activations(model, sae_seqs, SAE_LAYER)
    held_acts = collect_activations(model, held, SAE_LAYER)
    _log(f"  SAE activations: train {tuple(train_acts.shape)}, held-out {tuple(held_acts.shape)} "
         f"({time.time() - t:.0f}s)")
    params, sae_info = train_sae(train_acts, st)
    best, sel_train = choose_time_travel_feature(model, tok, params)
    params = permute_features(params, best, TIME_TRAVEL_FEATURE)
    sae_info.update(sae_metrics(params, held_acts))
    sae_info["train_metrics"] = sae_metrics(params, train_acts[:20000])
    sae_info["train_activations"] = int(train_acts.shape[0])
    sae_info["heldout_activations"] = int(held_acts.shape[0])
    sae_info["time_travel_feature_original_index"] = best
    sae_info["selection_train"] = sel_train
    tt = sae_encode(params, token_acts_for_sentences(model, tok, corpus.time_travel_sentences("heldout")))
    un = sae_encode(params, token_acts_for_sentences(model, tok, corpus.unrelated_sentences("heldout")))
    de = sae_encode(params, token_acts_for_sentences(model, tok, corpus.decision_sentences("heldout")))
    sae_info["feature_10004_heldout"] = {
        "mean_act_time_travel_tokens": float(tt[:, TIME_TRAVEL_FEATURE].mean()),
        "mean_act_unrelated_tokens": float(un[:, TIME_TRAVEL_FEATURE].mean()),
        "mean_act_decision_tokens": float(de[:, TIME_TRAVEL_FEATURE].mean()),
        "max_act_unrelated_tokens": float(un[:, TIME_TRAVEL_FEATURE].max()),
    }
    write_npz(out / "sae" / "params.npz", {k: v.numpy() for k, v in params.items()})
    loaded = np.load(out / "sae" / "params.npz")
    assert sorted(loaded.files) == ["W_dec", "W_enc", "b_dec", "b_enc", "threshold"]
    assert loaded["W_enc"].shape == (P["lm"]["hidden_size"], D_SAE) and loaded["W_enc"].dtype == np.float32
    results["sae"] = sae_info
    timings["sae"] = time.time() - t
    _log(f"== sae {timings['sae']:.1f}s: {json.dumps(_round(sae_info))}")

    t = time.time()
    results["findings"] = findings(model, tok, ce, params, args.quick)
    fa, fb = results["findings"]["f"]["prompt_a_max"], results["findings"]["f"]["prompt_b_max"]
    results["sae"]["prompt_a_max_act"] = fa
    results["sae"]["prompt_b_max_act"] = fb
    timings["findings"] = time.time() - t
    _log(f"== findings {timings['findings']:.1f}s")

    params_out = {k: v for k, v in P.items()}
    params_out["corpus"] = {"train_documents": len(train_docs), "heldout_documents": len(held_docs),
                            "heldout_percent": corpus.HELDOUT_PERCENT,
                            "general_english": {
                                "source": "WordNet 3.0 glosses (Debian wordnet-base 1:3.0-37): example sentences "
                                          "and noun definitions with simple words, selected by helpers/offline/wordnet.py",
                                "licence": "WordNet 3.0 licence (Princeton University), data/corpus/LICENSE.wordnet",
                                "file": "data/corpus/wordnet_simple.txt", "sha256": wordnet.sha256(),
                                "sentences": len(wordnet.load())}}
    params_out["quick"] = bool(args.quick)
    params_out["sae"] = {"d_sae": D_SAE, "layer": SAE_LAYER, "skip_bos": True}
    for path in out.rglob("*"):  # safetensors writes 0600: the grading sandbox reads the assets as another user
        path.chmod(0o755 if path.is_dir() else 0o644)
    write_manifest(out, params_out)
    write_report(report_path(out), results)
    _log("== timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
         + f", total {time.time() - T0:.1f}s")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    _log(f"== wrote {out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
