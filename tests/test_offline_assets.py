"""The committed offline lab assets: intact, loadable with plain from_pretrained, Gemma-shaped, and trained."""
import math

import pytest
import torch
from sentence_transformers import CrossEncoder
from transformers import AutoTokenizer, Gemma2ForCausalLM

from helpers import assets, backend
from helpers.offline import corpus

LM_DIR = assets.DEFAULT_OFFLINE_DIR / "lm"
SAE_LAYER = 20
TIME_TRAVEL_FEATURE = 10004


def test_every_asset_file_matches_the_manifest():
    assets.verify(assets.DEFAULT_OFFLINE_DIR)


def test_total_size_is_well_under_50_mb():
    files = assets.manifest_files(assets.load_manifest(assets.DEFAULT_OFFLINE_DIR))
    assert sum(entry.get("size", entry.get("bytes")) for entry in files.values()) < 50e6


def test_missing_or_corrupt_asset_names_the_file_and_the_fix(tmp_path, monkeypatch):
    import shutil

    copy = tmp_path / "offline"
    shutil.copytree(assets.DEFAULT_OFFLINE_DIR, copy)
    monkeypatch.setenv("LAB_OFFLINE_DIR", str(copy))
    monkeypatch.setattr(backend, "_CACHE", {})
    (copy / "lm" / "config.json").unlink()
    with pytest.raises(backend.BackendError, match=r"lm/config\.json is missing.*make offline-assets"):
        backend.load_lm("offline")
    (copy / "sae" / "params.npz").write_bytes(b"not an npz")
    with pytest.raises(backend.BackendError, match=r"sae/params\.npz is corrupt.*make offline-assets"):
        backend.load_sae("offline")


def test_plain_from_pretrained_loads_a_gemma2_with_the_homework_layout():
    model = Gemma2ForCausalLM.from_pretrained(LM_DIR, dtype=torch.float32, attn_implementation="eager")
    tokenizer = AutoTokenizer.from_pretrained(LM_DIR)
    config = model.config
    assert type(model).__name__ == "Gemma2ForCausalLM" and type(tokenizer).__name__ == "GemmaTokenizer"
    assert (config.num_hidden_layers, config.num_attention_heads, config.num_key_value_heads) == (26, 8, 4)
    assert config.final_logit_softcapping == 30.0 and config.attn_logit_softcapping == 50.0
    assert config.vocab_size == len(tokenizer)


def test_special_token_ids_are_gemmas(lm):
    _, tokenizer = lm
    expected = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<start_of_turn>": 106, "<end_of_turn>": 107}
    assert {tok: tokenizer.convert_tokens_to_ids(tok) for tok in expected} == expected
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id) == (0, 1, 2)
    ids = tokenizer("<start_of_turn>user\nhi<end_of_turn>")["input_ids"]
    assert ids[0] == 2 and ids[1] == 106 and ids[-1] == 107  # BOS by default, turn markers are single tokens


def test_tokenizer_uses_gemmas_space_marker_and_round_trips_any_text(lm):
    _, tokenizer = lm
    assert tokenizer.tokenize("I love taking")[:2] == ["I", "▁love"]
    for text in ["Hung-yi Lee, What about you?", "héllo 🌈 naïve — ok", "  two  spaces\nnew line"]:
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_chat_template_is_gemmas_for_a_three_turn_conversation(lm):
    _, tokenizer = lm
    messages = [
        {"role": "user", "content": "Name a color. "},
        {"role": "assistant", "content": "Red."},
        {"role": "user", "content": "Another one?"},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<bos><start_of_turn>user\nName a color.<end_of_turn>\n"
        "<start_of_turn>model\nRed.<end_of_turn>\n"
        "<start_of_turn>user\nAnother one?<end_of_turn>\n"
        "<start_of_turn>model\n"
    )
    with pytest.raises(Exception, match="System role not supported"):
        tokenizer.apply_chat_template([{"role": "system", "content": "x"}] + messages, tokenize=False)


def test_generation_stops_at_end_of_turn(lm):
    model, tokenizer = lm
    assert set(model.generation_config.eos_token_id) == {1, 107}
    messages = [{"role": "user", "content": corpus.SUPERVISED_QUESTION}]
    enc = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**enc, do_sample=False, max_new_tokens=300)
    new = out[0, enc["input_ids"].shape[1]:].tolist()
    assert 107 in new, "the answer never reached <end_of_turn>"
    assert new.index(107) == len(new) - 1, "generation went on after <end_of_turn>"
    assert len(new) > 10, f"the answer is suspiciously short: {tokenizer.decode(new)!r}"


def _chat_or_text(doc, tokenizer):
    if doc["kind"] == "chat":
        return tokenizer.apply_chat_template(doc["messages"], tokenize=False)
    return tokenizer.bos_token + doc["text"]


def test_lm_is_trained_heldout_loss_far_below_uniform(lm):
    model, tokenizer = lm
    docs = [d for d in corpus.lm_documents("heldout") if d["kind"] == "chat"][:120]  # the course's templated chats
    assert len(docs) >= 60
    total, count = 0.0, 0
    with torch.no_grad():
        for doc in docs:
            ids = tokenizer(_chat_or_text(doc, tokenizer), add_special_tokens=False, return_tensors="pt")["input_ids"]
            loss = model(input_ids=ids, labels=ids).loss
            total += loss.item() * (ids.shape[1] - 1)
            count += ids.shape[1] - 1
    heldout = total / count
    uniform = math.log(model.config.vocab_size)
    assert heldout < 0.3 * uniform, f"held-out loss {heldout:.3f} vs ln(vocab) {uniform:.3f}"


def test_cross_encoder_ranks_on_topic_answers_first_on_heldout_pairs(cross_encoder):
    assert isinstance(cross_encoder, CrossEncoder)
    pairs = corpus.cross_encoder_pairs("heldout")
    positives = [(q, a) for q, a, label in pairs if label == 1.0]
    negatives = [(q, a) for q, a, label in pairs if label == 0.0]
    assert len(positives) >= 20 and len(negatives) >= 20
    pos = cross_encoder.predict(positives, show_progress_bar=False)
    neg = cross_encoder.predict(negatives, show_progress_bar=False)
    # raw logits, not probabilities: the offline scorer spreads them like ms-marco's
    assert pos.min() < 0 or neg.min() < 0 or pos.max() > 1
    by_question = {}
    for (q, _), score in zip(positives, pos):
        by_question.setdefault(q, {"pos": [], "neg": []})["pos"].append(score)
    for (q, _), score in zip(negatives, neg):
        by_question.setdefault(q, {"pos": [], "neg": []})["neg"].append(score)
    # pairwise: an on-topic answer against an off-topic answer to the SAME question
    wins = [p > n for v in by_question.values() for p in v["pos"] for n in v["neg"]]
    assert len(wins) >= 100
    accuracy = sum(wins) / len(wins)
    assert accuracy >= 0.85, f"on-topic answer ranked above an off-topic one in only {accuracy:.0%} of held-out pairs"
    assert pos.mean() > neg.mean() + 3, "on-topic and off-topic logits are not separated"


def _resid_post_layer20(model, tokenizer, text):
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        hidden = model(input_ids=ids, output_hidden_states=True).hidden_states
    assert len(hidden) == model.config.num_hidden_layers + 1
    return hidden[SAE_LAYER + 1][0, 1:]  # drop BOS


def _jumprelu(sae, x):
    """The SAE's activations (the JumpReLU encoder is exercise 7.2, so the module has no encode)."""
    pre = x @ sae.W_enc + sae.b_enc
    return torch.where(pre > sae.threshold, pre, torch.zeros_like(pre))


def test_sae_has_gemma_scopes_layout_and_reconstructs_heldout_activations(lm, sae):
    model, tokenizer = lm
    assert sae.W_enc.shape == (model.config.hidden_size, 16384) and sae.W_dec.shape == (16384, model.config.hidden_size)
    texts = corpus.unrelated_sentences("heldout")[:20] + corpus.time_travel_sentences("heldout")[:20]
    x = torch.cat([_resid_post_layer20(model, tokenizer, t) for t in texts])
    recon = sae.decode(_jumprelu(sae, x))
    explained = 1 - ((x - recon) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    assert explained > 0.6, f"explained variance {explained:.3f}"
    l0 = (_jumprelu(sae, x) > 0).float().sum(-1).mean()
    assert 1 <= l0 < 200, f"mean L0 {l0:.1f}"


def test_feature_10004_fires_on_time_travel(lm, sae):
    model, tokenizer = lm

    def feature(text):
        return _jumprelu(sae, _resid_post_layer20(model, tokenizer, text))[:, TIME_TRAVEL_FEATURE]

    travel = torch.cat([feature(t) for t in corpus.time_travel_sentences("heldout")[:20]])
    other = torch.cat([feature(t) for t in corpus.unrelated_sentences("heldout")[:20]])
    assert travel.mean() > 5 * other.mean() and travel.max() > 0
    a, b = feature(corpus.TIME_TRAVEL_PROMPT_A).max(), feature(corpus.TIME_TRAVEL_PROMPT_B).max()
    assert 0 < b < a, (a, b)  # like Gemma's 58.04 vs 31.76 in the original run: smaller, but not zero


def _sentence_loss(model, tokenizer, sentences, batch_size=64):
    """Mean nats per predicted token, from the model's own loss (an oracle apart from the build's mean_loss).

    Sentences go in batches padded on the right (a causal model's logits for the real tokens do not see the padding,
    and positions stay 0..n-1), padding left out of the loss by label -100: the same mean as one sentence at a time.
    """
    total, count = 0.0, 0
    ordered = sorted(sentences, key=len)
    with torch.no_grad():
        for start in range(0, len(ordered), batch_size):
            batch = tokenizer(ordered[start:start + batch_size], return_tensors="pt", padding=True,
                              padding_side="right")  # <bos> + each sentence
            labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
            predicted = int((labels[:, 1:] != -100).sum())
            loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss
            total += loss.item() * predicted
            count += predicted
    return total / count


def test_batched_sentence_loss_equals_one_sentence_at_a_time(lm):
    model, tokenizer = lm
    sentences = [*corpus.GENERAL_PROBES[:5], "A much longer sentence than the others, so the batch has padding in it."]
    total, count = 0.0, 0
    with torch.no_grad():
        for text in sentences:
            ids = tokenizer(text, return_tensors="pt")["input_ids"]
            total += model(input_ids=ids, labels=ids).loss.item() * (ids.shape[1] - 1)
            count += ids.shape[1] - 1
    assert _sentence_loss(model, tokenizer, sentences, batch_size=4) == pytest.approx(total / count, rel=1e-5)
    assert tokenizer.padding_side == "left"  # the shared tokenizer is left as the helpers set it


@pytest.mark.parametrize("which", ["heldout WordNet sentences", "the course's own probe sentences"])
def test_lm_speaks_simple_english_it_has_not_seen(lm, which):
    """A prompt a student invents gets English back: loss well below uniform guessing (ln V) on unseen sentences."""
    model, tokenizer = lm
    sentences = corpus.general_sentences("heldout") if which.startswith("heldout") else corpus.GENERAL_PROBES
    loss, uniform = _sentence_loss(model, tokenizer, sentences), math.log(model.config.vocab_size)
    assert loss <= 0.6 * uniform, f"{which}: {loss:.3f} nats/token vs ln(vocab) {uniform:.3f}"
