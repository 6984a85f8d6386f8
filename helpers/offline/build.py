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
    for token in specials + byte_tokens:
        vocab[token] = len(vocab)
    for token, _ in learned:
        if token not in vocab:
            vocab[token] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model_json["merges"]]

    tokenizer = GemmaTokenizer(vocab=vocab, merges=merges, add_bos_token=True, add_eos_token=False,
                               extra_special_tokens=["<start_of_turn>", "<end_of_turn>"])
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = 8192
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out_dir))
    return tokenizer, raw, vocab


def check_tokenizer(lm_dir: Path, raw, docs: list[dict]) -> dict:
    """Reload with AutoTokenizer and compare with the raw tokenizers pipeline."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(lm_dir))
    assert type(tokenizer).__name__ == "GemmaTokenizer", type(tokenizer)
    sample = _tokenizer_training_texts(docs[:300]) + [corpus.HUNG_YI_SENTENCE, corpus.TIME_TRAVEL_PROMPT_A]
    mismatches = 0
    vocab = tokenizer.get_vocab()
    for text in sample:
        tokenizer_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        raw_ids = [vocab[t] for t in raw.encode(text).tokens]
        mismatches += tokenizer_ids != raw_ids
    assert mismatches == 0, f"{mismatches} encodings differ from the raw BPE"
    for text in ["héllo 🌈", corpus.HUNG_YI_SENTENCE, "Ünïcödé ✓ 漢字", "  two  spaces\nnewline"]:
        ids = tokenizer.encode(text)
        assert ids[0] == tokenizer.bos_token_id
        assert tokenizer.decode(ids, skip_special_tokens=True) == text, (
            text, tokenizer.decode(ids, skip_special_tokens=True))
    ids = tokenizer("<start_of_turn>user\nhi<end_of_turn>", add_special_tokens=False)["input_ids"]
    assert ids[0] == 106 and ids[-1] == 107, ids
    assert tokenizer.convert_tokens_to_ids(["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>",
                                            "<end_of_turn>", "<0x00>"]) == [0, 1, 2, 3, 4, 106, 107, 108]
    pieces = tokenizer.tokenize(corpus.HUNG_YI_SENTENCE)
    _log(f"  tokenizer: {type(tokenizer).__name__}, len={len(tokenizer)}; Hung-yi pieces: {pieces}")
    _log(f"  'I love taking' -> {tokenizer.tokenize('I love taking')}; "
         f"'héllo 🌈' -> {tokenizer.tokenize('héllo 🌈')}")
    return {"hung_yi_pieces": pieces, "len": len(tokenizer)}


# =========================================================================== LM


def encode_documents(tokenizer, docs: list[dict], max_len: int) -> list[list[int]]:
    out = []
    for doc in docs:
        if doc["kind"] == "chat":
            text = tokenizer.apply_chat_template(doc["messages"], tokenize=False)
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        else:
            ids = ([tokenizer.bos_token_id] + tokenizer(doc["text"], add_special_tokens=False)["input_ids"]
                   + [tokenizer.eos_token_id])
        out.append(ids[:max_len])
    return out


def make_batches(seqs: list[list[int]], max_tokens: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches of indices (padded length x rows <= max_tokens), shuffled."""
    order = list(range(len(seqs)))
    rng.shuffle(order)
    batches = []
    for start in range(0, len(order), 512):
        chunk = sorted(order[start:start + 512], key=lambda i: (len(seqs[i]), i))
        batch: list[int] = []
        for i in chunk:
            padded_len = max([len(seqs[j]) for j in batch] + [len(seqs[i])])
            if batch and padded_len * (len(batch) + 1) > max_tokens:
                batches.append(batch)
                batch = []
            batch.append(i)
        if batch:
            batches.append(batch)
    rng.shuffle(batches)
    return batches


def collate(seqs: list[list[int]], idx: list[int], pad_id: int = 0):
    padded_len = max(len(seqs[i]) for i in idx)
    ids = torch.full((len(idx), padded_len), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), padded_len), dtype=torch.long)
    for row, i in enumerate(idx):
        seq = seqs[i]
        ids[row, :len(seq)] = torch.tensor(seq)
        mask[row, :len(seq)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    return ids, mask, labels


def lm_config(lm_params: dict, vocab_size: int):
    from transformers import Gemma2Config

    return Gemma2Config(
        vocab_size=vocab_size,
        hidden_size=lm_params["hidden_size"],
        intermediate_size=lm_params["intermediate_size"],
        num_hidden_layers=lm_params["num_hidden_layers"],
        num_attention_heads=lm_params["num_attention_heads"],
        num_key_value_heads=lm_params["num_key_value_heads"],
        head_dim=lm_params["head_dim"],
        query_pre_attn_scalar=lm_params["head_dim"],
        sliding_window=lm_params["sliding_window"],
        max_position_embeddings=lm_params["max_position_embeddings"],
        final_logit_softcapping=30.0,
        attn_logit_softcapping=50.0,
        hidden_activation="gelu_pytorch_tanh",
        rms_norm_eps=1e-6,
        initializer_range=lm_params.get("initializer_range", 0.02),
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
        use_cache=True,
    )


def train_lm(tokenizer, train_docs, lm_params: dict, train_params: dict):
    from transformers import Gemma2ForCausalLM

    _seed_all(SEED)
    seqs = encode_documents(tokenizer, train_docs, train_params["max_len"])
    n_tokens = sum(len(s) for s in seqs)
    model = Gemma2ForCausalLM(lm_config(lm_params, len(tokenizer)))
    model.train()
    decay = [param for n, param in model.named_parameters() if param.ndim >= 2]
    no_decay = [param for n, param in model.named_parameters() if param.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": train_params["weight_decay"]},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=train_params["lr"], betas=tuple(train_params["betas"]), eps=1e-8)
    steps, warmup = train_params["steps"], train_params["warmup"]

    def lr_at(s):
        if s < warmup:
            return train_params["lr"] * (s + 1) / warmup
        prog = (s - warmup) / max(1, steps - warmup)
        return train_params["lr"] * (train_params["min_lr_ratio"]
                                     + (1 - train_params["min_lr_ratio"]) * 0.5 * (1 + math.cos(math.pi * prog)))

    rng = random.Random(SEED)
    batches: list[list[int]] = []
    losses = []
    tokens_seen = 0
    started = time.time()
    for step in range(steps):
        if not batches:
            batches = make_batches(seqs, train_params["max_tokens"], rng)
        idx = batches.pop()
        ids, mask, labels = collate(seqs, idx)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_params["grad_clip"])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(out.loss.item())
        tokens_seen += int(mask.sum())
        if step % 50 == 0 or step == steps - 1:
            _log(f"  step {step:5d} loss {np.mean(losses[-50:]):.4f} lr {lr_at(step):.2e} "
                 f"tokens {tokens_seen} ({time.time() - started:.0f}s)")
    model.eval()
    info = {"train_tokens_per_epoch": n_tokens, "train_documents": len(seqs),
            "tokens_seen": tokens_seen, "epochs": tokens_seen / n_tokens,
            "final_train_loss": float(np.mean(losses[-50:]))}
    return model, info


def general_english_loss(model, tokenizer) -> dict:
    """Loss (nats per token) on simple English the model has not seen, next to ln(vocabulary)."""
    def encode(texts) -> list[list[int]]:
        return [[tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]

    heldout, probes = encode(corpus.general_sentences("heldout")), encode(corpus.GENERAL_PROBES)
    ln_vocab = math.log(len(tokenizer))
    out = {"heldout_wordnet_loss": mean_loss(model, heldout), "heldout_wordnet_sentences": len(heldout),
           "course_probe_loss": mean_loss(model, probes), "course_probe_sentences": len(probes), "ln_vocab": ln_vocab}
    out["heldout_wordnet_over_ln_vocab"] = out["heldout_wordnet_loss"] / ln_vocab
    out["course_probe_over_ln_vocab"] = out["course_probe_loss"] / ln_vocab
    return out


@torch.no_grad()
def mean_loss(model, seqs: list[list[int]], max_tokens: int = 4096) -> float:
    total_loss, n_tokens = 0.0, 0
    for idx in make_batches(seqs, max_tokens, random.Random(0)):
        ids, mask, labels = collate(seqs, idx)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        targets = labels[:, 1:]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                                 ignore_index=-100, reduction="sum")
        total_loss += loss.item()
        n_tokens += int((targets != -100).sum())
    return total_loss / n_tokens


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


def build_cross_encoder(out_dir: Path, architecture: dict, train_params: dict):
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    _seed_all(SEED + 1)
    train_pairs = corpus.cross_encoder_pairs("train", n_questions=train_params["n_questions"])
    texts = []
    for question, answer, _ in train_pairs:
        texts += [question, answer]
    texts += [s for s in corpus.unrelated_sentences("train")] + [s for s, _ in corpus.fruit_company_sentences("train")]
    vocab = wordpiece_vocab(texts, architecture["wordpiece_vocab"])
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True)
    tokenizer.model_max_length = architecture["max_position_embeddings"]
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=architecture["hidden_size"],
                     num_hidden_layers=architecture["num_hidden_layers"],
                     num_attention_heads=architecture["num_attention_heads"],
                     intermediate_size=architecture["intermediate_size"],
                     max_position_embeddings=architecture["max_position_embeddings"], num_labels=1, pad_token_id=0,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertForSequenceClassification(cfg)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_params["lr"], weight_decay=0.01)
    rng = random.Random(SEED + 1)
    order: list[int] = []
    bce_loss = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(train_params.get("pos_weight", 1.0)))
    losses = []
    for step in range(train_params["steps"]):
        if len(order) < train_params["batch_size"]:
            order = list(range(len(train_pairs)))
            rng.shuffle(order)
        idx, order = order[:train_params["batch_size"]], order[train_params["batch_size"]:]
        questions = [train_pairs[i][0] for i in idx]
        answers = [train_pairs[i][1] for i in idx]
        labels = torch.tensor([train_pairs[i][2] for i in idx])
        encoded = tokenizer(questions, answers, padding=True, truncation=True, max_length=train_params["max_len"],
                            return_tensors="pt")
        lr = (train_params["lr"] * min(1.0, (step + 1) / train_params.get("warmup", 30))
              * (1 - 0.9 * step / train_params["steps"]))
        for group in optimizer.param_groups:
            group["lr"] = lr
        logits = model(**encoded).logits.squeeze(-1)
        loss = bce_loss(logits, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 100 == 0 or step == train_params["steps"] - 1:
            _log(f"  ce step {step:4d} loss {np.mean(losses[-50:]):.4f}")
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(out_dir))
    return {"train_pairs": len(train_pairs), "final_train_loss": float(np.mean(losses[-50:])),
            "vocab_size": len(vocab)}


def evaluate_cross_encoder(cross_encoder_dir: Path) -> tuple[object, dict]:
    from sentence_transformers import CrossEncoder

    cross_encoder = CrossEncoder(str(cross_encoder_dir), activation_fn=torch.nn.Identity(), device="cpu")
    pairs = corpus.cross_encoder_pairs("heldout")
    by_question: dict[str, list[tuple[str, float]]] = {}
    for question, answer, label in pairs:
        by_question.setdefault(question, []).append((answer, label))
    scores = cross_encoder.predict([(question, answer) for question, answer, _ in pairs], batch_size=64,
                                   show_progress_bar=False)
    score_iter = iter(scores.tolist())
    pos_scores, neg_scores = [], []
    top1, pairwise, n_pairs = 0, 0, 0
    scores_by_question = {}
    for question, answer, label in pairs:
        score = next(score_iter)
        scores_by_question.setdefault(question, []).append((score, label))
        (pos_scores if label > 0.5 else neg_scores).append(score)
    n_questions = 0
    for question, scored in scores_by_question.items():
        pos = [score for score, label in scored if label > 0.5]
        neg = [score for score, label in scored if label < 0.5]
        if not pos or not neg:
            continue
        n_questions += 1
        top1 += min(pos) > max(neg)
        for pos_score in pos:
            for neg_score in neg:
                pairwise += pos_score > neg_score
                n_pairs += 1
    results = {"heldout_pairs": len(pairs), "heldout_questions": n_questions, "top1_accuracy": top1 / n_questions,
           "pairwise_accuracy": pairwise / n_pairs, "mean_logit_on_topic": float(np.mean(pos_scores)),
           "mean_logit_off_topic": float(np.mean(neg_scores))}
    _log(f"  cross-encoder held-out: {results}")
    return cross_encoder, results


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


def train_sae(train_acts: torch.Tensor, train_params: dict):
    """ReLU SAE with an L1 penalty weighted by decoder norms, then JumpReLU thresholds."""
    generator = torch.Generator().manual_seed(SEED + 2)
    n, d = train_acts.shape
    mean = train_acts.mean(0)
    scale = float((train_acts - mean).pow(2).sum(1).mean().sqrt())  # normalise inputs for training
    x_all = (train_acts - mean) / scale
    init_idx = torch.randint(0, n, (D_SAE,), generator=generator)
    dirs = x_all[init_idx] + 0.01 * torch.randn(D_SAE, d, generator=generator)
    # data-initialised directions; biases so that each feature fires on ~init_fire_rate of tokens
    sample = x_all[torch.randint(0, n, (min(n, 4096),), generator=generator)]
    pre0 = sample @ (dirs / dirs.norm(dim=1, keepdim=True)).t()
    k = max(1, int(round((1 - train_params["init_fire_rate"]) * sample.shape[0])))
    b_enc0 = -torch.kthvalue(pre0, k, dim=0).values
    sae = ReluSAE(d, D_SAE, dirs, torch.zeros(d), b_enc0)
    optimizer = torch.optim.Adam(sae.parameters(), lr=train_params["lr"], betas=(0.9, 0.999))
    losses = []
    for step in range(train_params["steps"]):
        idx = torch.randint(0, n, (train_params["batch_size"],), generator=generator)
        x = x_all[idx]
        lr = train_params["lr"] * min(1.0, (step + 1) / 20) * (1 - 0.8 * step / train_params["steps"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        l1_coef = train_params["l1"] * min(1.0, (step + 1) / (0.3 * train_params["steps"]))
        f, xh = sae(x)
        mse = (xh - x).pow(2).sum(1).mean()
        l1 = (f * sae.W_dec.norm(dim=1)).sum(1).mean()
        loss = mse + l1_coef * l1
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append((mse.item(), (f > 0).float().sum(1).mean().item()))
        if step % 50 == 0 or step == train_params["steps"] - 1:
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


def token_acts_for_sentences(model, tokenizer, sentences: list[str]) -> torch.Tensor:
    seqs = [tokenizer(s)["input_ids"] for s in sentences]
    return collect_activations(model, seqs, SAE_LAYER, skip_bos=True)


@torch.no_grad()
def prompt_max_activation(model, tokenizer, params, prompt: str, feature: int) -> tuple[float, float]:
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    hs = model(input_ids=ids, output_hidden_states=True).hidden_states[SAE_LAYER + 1][0]
    f = sae_encode(params, hs.float())[:, feature]
    return float(f.max()), float(f[1:].max())


def choose_time_travel_feature(model, tokenizer, params, candidates: int = 40) -> tuple[int, dict]:
    """The feature that fires on time-travel tokens and not elsewhere (train sentences only decide the ranking).

    Among the ``candidates`` best-ranked features that fire on at least 90% of the train time-travel
    sentences, most often on a content word, the first one that gives the homework's prompt b
    (decisions and the future, no time travel) a small non-zero maximum below 0.7 x prompt a's is
    taken, as Gemma's feature 10004 does in the original run (31.76 vs 58.04 there); if none does,
    the best-ranked one.
    """
    tt = token_acts_for_sentences(model, tokenizer, corpus.time_travel_sentences("train"))
    neg = token_acts_for_sentences(model, tokenizer, corpus.unrelated_sentences("train")
                                   + corpus.decision_sentences("train")
                                   + [s for s, _ in corpus.fruit_company_sentences("train")][:100])
    bos = model(input_ids=torch.tensor([[tokenizer.bos_token_id]]),
                output_hidden_states=True).hidden_states[SAE_LAYER + 1][0]
    f_tt, f_neg = sae_encode(params, tt), sae_encode(params, neg)
    f_bos = sae_encode(params, bos.float())[0]
    m_tt, m_neg = f_tt.mean(0), f_neg.mean(0)
    frac_neg = (f_neg > 0).float().mean(0)
    score = m_tt - 4 * m_neg - 100.0 * (f_bos > 0).float() - 10 * frac_neg * m_tt
    ranked = [int(i) for i in score.argsort(descending=True)[:candidates]]
    # fraction of the train time-travel sentences on which a feature fires at all: a time-travel
    # feature should fire on nearly every one, not on a few memorised ones
    sentences = corpus.time_travel_sentences("train")
    acts = [sae_encode(params, token_acts_for_sentences(model, tokenizer, [s]))[:, ranked] for s in sentences]
    # <bos> skipped, like acts
    pieces = [tokenizer.convert_ids_to_tokens(tokenizer(s)["input_ids"])[1:] for s in sentences]
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
        a = prompt_max_activation(model, tokenizer, params, corpus.TIME_TRAVEL_PROMPT_A, feature)[0]
        b = prompt_max_activation(model, tokenizer, params, corpus.TIME_TRAVEL_PROMPT_B, feature)[0]
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
def greedy(model, tokenizer, ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                         max_new_tokens=max_new_tokens)
    return out[0, ids.shape[1]:]


def chat_ids(tokenizer, messages, add_generation_prompt=True) -> torch.Tensor:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    return tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]


def self_bleu(texts: list[str]) -> float:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    smoothing = SmoothingFunction().method1
    tokenized = [t.split() for t in texts]
    scores = []
    for i, hypothesis in enumerate(tokenized):
        references = [r for j, r in enumerate(tokenized) if j != i]
        scores.append(sentence_bleu(references, hypothesis, smoothing_function=smoothing))
    return float(np.mean(scores))


@torch.no_grad()
def sample_answers(model, tokenizer, prompt: str, n: int, seed: int, **kw) -> list[str]:
    ids = chat_ids(tokenizer, [{"role": "user", "content": prompt}])
    torch.manual_seed(seed)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
                         num_return_sequences=n, max_new_tokens=40, **kw)
    return [tokenizer.decode(o[ids.shape[1]:], skip_special_tokens=True).strip() for o in out]


@torch.no_grad()
def findings(model, tokenizer, cross_encoder, params, quick: bool) -> dict:
    results: dict = {}
    results["a"] = _template_finding(model, tokenizer, cross_encoder)
    results["b"] = _rainbow_finding(model, tokenizer)
    results["c"] = _paraphrase_finding(model, tokenizer)
    # d. fruit vs company: contextual embeddings of the ambiguous words
    results["d"] = fruit_company_check(model, tokenizer)
    # e. Google
    google_ids = tokenizer("Google", return_tensors="pt")["input_ids"]
    google_continuation = tokenizer.decode(greedy(model, tokenizer, google_ids, 20))
    _log(f"[e] 'Google' -> {google_continuation!r}")
    results["e"] = {"continuation": google_continuation}
    results["f"] = _time_travel_finding(model, tokenizer, params)
    return results


def _template_finding(model, tokenizer, cross_encoder) -> dict:
    """a. The supervised question answered with and without the chat template, and the cross-encoder's scores."""
    question = corpus.SUPERVISED_QUESTION
    with_t = tokenizer.decode(greedy(model, tokenizer, chat_ids(tokenizer, [{"role": "user", "content": question}]), 200))
    raw_ids = tokenizer(question, return_tensors="pt")["input_ids"]
    without_t = tokenizer.decode(greedy(model, tokenizer, raw_ids, 200))
    a_clean = with_t.replace("<end_of_turn>", "").replace("<eos>", "").strip()
    b_clean = without_t.replace("<end_of_turn>", "").replace("<eos>", "").strip()
    scores = cross_encoder.predict([(question, a_clean), (question, b_clean)], show_progress_bar=False).tolist()
    _log(f"[a] WITH template: {with_t!r}\n    CE score {scores[0]:.4f}")
    _log(f"[a] WITHOUT template: {without_t!r}\n    CE score {scores[1]:.4f}")
    return {"with_template": with_t, "without_template": without_t, "ce_with": scores[0], "ce_without": scores[1],
            "with_ends_with_end_of_turn": with_t.rstrip().endswith("<end_of_turn>"),
            "with_n_words": len(a_clean.split())}


def _rainbow_finding(model, tokenizer) -> dict:
    """b. The rainbow conversation, greedy, and the top-10 next tokens after its first round."""
    messages: list[dict] = []
    answers = []
    top10 = None
    for i, user in enumerate(corpus.rainbow_conversation_prompts()):
        messages.append({"role": "user", "content": user})
        ids = chat_ids(tokenizer, messages)
        if i == 0:
            probs = torch.softmax(model(input_ids=ids).logits[0, -1].float(), -1)
            top_probs, top_ids = probs.topk(10)
            top10 = [(tokenizer.convert_ids_to_tokens(int(j)), round(float(v), 4)) for v, j in zip(top_probs, top_ids)]
        answer = tokenizer.decode(greedy(model, tokenizer, ids, 10), skip_special_tokens=True).strip()
        answers.append(answer)
        messages.append({"role": "assistant", "content": answer})
    _log(f"[b] rainbow rounds: {answers}\n    top-10 after round 1: {top10}")
    colors_in_top10 = sum(any(c.lower() in t.lower() for c in corpus.RAINBOW_COLORS) for t, _ in top10)
    return {"answers": answers, "top10_round1": top10, "colour_tokens_in_top10": colors_in_top10,
            "distinct": len({a.lower() for a in answers}) == 3}


def _paraphrase_finding(model, tokenizer) -> dict:
    """c. Paraphrase diversity: self-BLEU of 20 samples each at top-k 2 and 200, top-p 0.6 and 0.999."""
    prompt = corpus.PARAPHRASE_PROMPT
    top_k_2 = sample_answers(model, tokenizer, prompt, 20, 0, top_k=2)
    top_k_200 = sample_answers(model, tokenizer, prompt, 20, 0, top_k=200)
    top_p_06 = sample_answers(model, tokenizer, prompt, 20, 0, top_k=0, top_p=0.6)
    top_p_0999 = sample_answers(model, tokenizer, prompt, 20, 0, top_k=0, top_p=0.999)
    self_bleus = {"top_k=2": self_bleu(top_k_2), "top_k=200": self_bleu(top_k_200), "top_p=0.6": self_bleu(top_p_06),
                  "top_p=0.999": self_bleu(top_p_0999)}
    _log(f"[c] self-BLEU {self_bleus}\n    k=2 samples: {top_k_2[:4]}\n    k=200 samples: {top_k_200[:4]}")
    return {"self_bleu": self_bleus, "samples_top_k_2": top_k_2[:5], "samples_top_k_200": top_k_200[:5],
            "distinct_top_k_2": len(set(top_k_2)), "distinct_top_k_200": len(set(top_k_200))}


def _time_travel_finding(model, tokenizer, params) -> dict:
    """f. The SAE feature's largest activation on the homework's prompts a and b, and on the reality sentence."""
    prompt_a_act = prompt_max_activation(model, tokenizer, params, corpus.TIME_TRAVEL_PROMPT_A, TIME_TRAVEL_FEATURE)
    prompt_b_act = prompt_max_activation(model, tokenizer, params, corpus.TIME_TRAVEL_PROMPT_B, TIME_TRAVEL_FEATURE)
    reality_act = prompt_max_activation(model, tokenizer, params, corpus.TIME_TRAVEL_REALITY, TIME_TRAVEL_FEATURE)
    _log(f"[f] feature {TIME_TRAVEL_FEATURE} max activation: prompt a {prompt_a_act[0]:.4f}, "
         f"prompt b {prompt_b_act[0]:.4f}, '{corpus.TIME_TRAVEL_REALITY}' {reality_act[0]:.4f} "
         f"(excluding BOS: {prompt_a_act[1]:.4f} / {prompt_b_act[1]:.4f})")
    return {"prompt_a_max": prompt_a_act[0], "prompt_b_max": prompt_b_act[0], "reality_max": reality_act[0]}


@torch.no_grad()
def fruit_company_check(model, tokenizer) -> dict:
    """Cosine similarity of last-layer vectors of apple/orange tokens: same sense vs other sense."""
    vecs, senses = [], []
    sents = list(corpus.PROBE_FRUIT_COMPANY) + [s for s, _ in corpus.fruit_company_sentences("heldout")]
    labels = ["fruit", "company", "fruit", "company", "company", "fruit"] + [
        lab for _, lab in corpus.fruit_company_sentences("heldout")]
    words = ("apple", "orange", "banana", "microsoft", "google", "amazon", "pear", "mango")
    for s, lab in zip(sents, labels):
        ids = tokenizer(s)["input_ids"]
        pieces = tokenizer.convert_ids_to_tokens(ids)
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
    args = _parse_args(argv)
    build_params = QUICK if args.quick else FULL
    out = Path(args.out or ("build/offline_quick" if args.quick else "data/offline"))
    _setup_torch()
    for sub in ("lm", "cross_encoder", "sae"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    out.mkdir(parents=True, exist_ok=True)
    timings = {}
    results: dict = {}
    build_start = time.time()
    # each stage logs its own "== stage" line and returns its findings and its seconds
    train_docs, held_docs, results["tokenizer"], timings["tokenizer"] = _tokenizer_stage(out, build_params)
    tokenizer, model, heldout_seqs, results["lm"], timings["lm"] = _lm_stage(out, build_params, train_docs, held_docs)
    cross_encoder, results["cross_encoder"], timings["cross_encoder"] = _cross_encoder_stage(out, build_params)
    params, results["sae"], timings["sae"] = _sae_stage(out, build_params, model, tokenizer, train_docs, heldout_seqs)
    results["findings"], timings["findings"] = _findings_stage(model, tokenizer, cross_encoder, params, args.quick,
                                                               results["sae"])
    params_out = _build_parameters(build_params, train_docs, held_docs, args.quick)
    for path in out.rglob("*"):  # safetensors writes 0600: the grading sandbox reads the assets as another user
        path.chmod(0o755 if path.is_dir() else 0o644)
    write_manifest(out, params_out)
    write_report(report_path(out), results)
    _log("== timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
         + f", total {time.time() - build_start:.1f}s")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    _log(f"== wrote {out} ({total / 1e6:.2f} MB)")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; restarts the interpreter with ``OMP_WAIT_POLICY=PASSIVE`` unless it is set."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="output folder (default data/offline, or build/offline_quick)")
    parser.add_argument("--quick", action="store_true", help="few training steps, small corpus (smoke test)")
    args = parser.parse_args(argv)
    if os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        # OpenMP threads that spin while waiting make a shared 2-core machine crawl; the policy is
        # read when the OpenMP runtime loads, so restart the interpreter with it set
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
        cmd = [sys.executable, "-m", "helpers.offline.build"] + (sys.argv[1:] if argv is None else list(argv))
        os.execve(sys.executable, cmd, env)
    return args


def _tokenizer_stage(out: Path, build_params: dict) -> tuple[list[dict], list[dict], dict, float]:
    """Stage 1: the corpus (train and held-out documents) and the tokenizer, saved in ``out/lm`` and checked."""
    stage_start = time.time()
    train_docs = corpus.lm_documents("train", scale=build_params["corpus_scale"])
    held_docs = corpus.lm_documents("heldout", scale=build_params["corpus_scale"])
    _log(f"corpus: {len(train_docs)} train docs, {len(held_docs)} held-out docs")
    _, raw, _ = build_tokenizer(train_docs, build_params["vocab_size"], out / "lm")
    tokenizer_info = check_tokenizer(out / "lm", raw, train_docs)
    seconds = time.time() - stage_start
    _log(f"== tokenizer {seconds:.1f}s")
    return train_docs, held_docs, tokenizer_info, seconds


def _lm_stage(out: Path, build_params: dict, train_docs: list[dict], held_docs: list[dict]):
    """Stage 2: the LM, trained, saved in ``out/lm`` and reloaded (the reloaded model is returned); its losses."""
    stage_start = time.time()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(out / "lm"))
    model, lm_info = train_lm(tokenizer, train_docs, build_params["lm"], build_params["lm_train"])
    save_lm(model, out / "lm")
    reloaded_tokenizer, reloaded_model = load_lm(out / "lm")
    probe = torch.tensor([reloaded_tokenizer(corpus.HUNG_YI_SENTENCE)["input_ids"]])
    with torch.no_grad():
        reload_diff = (model(input_ids=probe).logits - reloaded_model(input_ids=probe).logits).abs().max().item()
    assert reload_diff < 1e-5, reload_diff
    model = reloaded_model
    heldout_seqs = encode_documents(tokenizer, held_docs, build_params["lm_train"]["max_len"])
    lm_info["heldout_loss"] = mean_loss(model, heldout_seqs)
    lm_info["heldout_tokens"] = sum(len(s) for s in heldout_seqs)
    lm_info["ln_vocab"] = math.log(len(tokenizer))
    lm_info["reload_max_logit_diff"] = reload_diff
    lm_info["general_english"] = general_english_loss(model, tokenizer)
    seconds = time.time() - stage_start
    _log(f"== lm {seconds:.1f}s: final train loss {lm_info['final_train_loss']:.4f}, held-out loss "
         f"{lm_info['heldout_loss']:.4f} vs ln(vocab) {lm_info['ln_vocab']:.4f}; reload diff {reload_diff:.2e}; "
         f"general English {json.dumps(_round(lm_info['general_english']))}")
    return tokenizer, model, heldout_seqs, lm_info, seconds


def _cross_encoder_stage(out: Path, build_params: dict) -> tuple[object, dict, float]:
    """Stage 3: the cross-encoder, trained, saved in ``out/cross_encoder`` and evaluated on held-out pairs."""
    stage_start = time.time()
    cross_encoder_info = build_cross_encoder(out / "cross_encoder", build_params["ce"], build_params["ce_train"])
    cross_encoder, cross_encoder_results = evaluate_cross_encoder(out / "cross_encoder")
    cross_encoder_info.update(cross_encoder_results)
    seconds = time.time() - stage_start
    _log(f"== cross-encoder {seconds:.1f}s")
    return cross_encoder, cross_encoder_info, seconds


def _sae_stage(out: Path, build_params: dict, model, tokenizer, train_docs: list[dict],
               heldout_seqs: list[list[int]]) -> tuple[dict, dict, float]:
    """Stage 4: the SAE, trained on layer-20 activations, its time-travel feature moved to
    ``TIME_TRAVEL_FEATURE``, written to ``out/sae/params.npz`` and measured."""
    stage_start = time.time()
    _seed_all(SEED + 2)
    sae_train_params = build_params["sae_train"]
    sae_seqs = encode_documents(tokenizer, train_docs[: sae_train_params["max_docs"]], build_params["lm_train"]["max_len"])
    train_acts = collect_activations(model, sae_seqs, SAE_LAYER)
    held_acts = collect_activations(model, heldout_seqs, SAE_LAYER)
    _log(f"  SAE activations: train {tuple(train_acts.shape)}, held-out {tuple(held_acts.shape)} "
         f"({time.time() - stage_start:.0f}s)")
    params, sae_info = train_sae(train_acts, sae_train_params)
    best, selection_train = choose_time_travel_feature(model, tokenizer, params)
    params = permute_features(params, best, TIME_TRAVEL_FEATURE)
    sae_info.update(sae_metrics(params, held_acts))
    sae_info["train_metrics"] = sae_metrics(params, train_acts[:20000])
    sae_info["train_activations"] = int(train_acts.shape[0])
    sae_info["heldout_activations"] = int(held_acts.shape[0])
    sae_info["time_travel_feature_original_index"] = best
    sae_info["selection_train"] = selection_train
    sae_info["feature_10004_heldout"] = _time_travel_feature_heldout(model, tokenizer, params)
    write_npz(out / "sae" / "params.npz", {k: v.numpy() for k, v in params.items()})
    loaded = np.load(out / "sae" / "params.npz")
    assert sorted(loaded.files) == ["W_dec", "W_enc", "b_dec", "b_enc", "threshold"]
    assert loaded["W_enc"].shape == (build_params["lm"]["hidden_size"], D_SAE) and loaded["W_enc"].dtype == np.float32
    seconds = time.time() - stage_start
    _log(f"== sae {seconds:.1f}s: {json.dumps(_round(sae_info))}")
    return params, sae_info, seconds


def _time_travel_feature_heldout(model, tokenizer, params: dict) -> dict:
    """How ``TIME_TRAVEL_FEATURE`` fires on the tokens of held-out time-travel, unrelated and decision sentences."""
    def feature_acts(sentences: list[str]) -> torch.Tensor:
        return sae_encode(params, token_acts_for_sentences(model, tokenizer, sentences))[:, TIME_TRAVEL_FEATURE]

    time_travel_acts = feature_acts(corpus.time_travel_sentences("heldout"))
    unrelated_acts = feature_acts(corpus.unrelated_sentences("heldout"))
    decision_acts = feature_acts(corpus.decision_sentences("heldout"))
    return {
        "mean_act_time_travel_tokens": float(time_travel_acts.mean()),
        "mean_act_unrelated_tokens": float(unrelated_acts.mean()),
        "mean_act_decision_tokens": float(decision_acts.mean()),
        "max_act_unrelated_tokens": float(unrelated_acts.max()),
    }


def _findings_stage(model, tokenizer, cross_encoder, params: dict, quick: bool, sae_info: dict) -> tuple[dict, float]:
    """Stage 5: the homework's findings on the offline model; the SAE feature's maxima also go into ``sae_info``."""
    stage_start = time.time()
    findings_info = findings(model, tokenizer, cross_encoder, params, quick)
    sae_info["prompt_a_max_act"] = findings_info["f"]["prompt_a_max"]
    sae_info["prompt_b_max_act"] = findings_info["f"]["prompt_b_max"]
    seconds = time.time() - stage_start
    _log(f"== findings {seconds:.1f}s")
    return findings_info, seconds


def _build_parameters(build_params: dict, train_docs: list[dict], held_docs: list[dict], quick: bool) -> dict:
    """The build parameters recorded in the manifest: the stages' settings, the corpus, the SAE's shape."""
    params_out = {k: v for k, v in build_params.items()}
    params_out["corpus"] = {"train_documents": len(train_docs), "heldout_documents": len(held_docs),
                            "heldout_percent": corpus.HELDOUT_PERCENT,
                            "general_english": {
                                "source": "WordNet 3.0 glosses (Debian wordnet-base 1:3.0-37): example sentences "
                                          "and noun definitions with simple words, selected by helpers/offline/wordnet.py",
                                "licence": "WordNet 3.0 licence (Princeton University), data/corpus/LICENSE.wordnet",
                                "file": "data/corpus/wordnet_simple.txt", "sha256": wordnet.sha256(),
                                "sentences": len(wordnet.load())}}
    params_out["quick"] = bool(quick)
    params_out["sae"] = {"d_sae": D_SAE, "layer": SAE_LAYER, "skip_bos": True}
    return params_out


if __name__ == "__main__":
    main()
