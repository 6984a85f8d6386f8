"""The gemma code path of helpers.backend, run against a fake hub cache (tests/fakehub.py), no network.

``LAB_BACKEND=gemma``, ``HF_HUB_OFFLINE=1`` and a token of the real shape in ``HF_TOKEN``: the
loaders must take their gemma branch (real repo ids, hub cache layout, legacy configs, sharded
weights, the template inside ``tokenizer_config.json``), give the offline backend's numbers, run in
float16 when ``LAB_DTYPE`` says so, and never let the token reach any output or log.
"""
import logging
import warnings

import pytest
import torch

from helpers import backend, colab, hub
from tests.fakehub import build_fake_hub, fake_hf_token

PROMPT = [{"role": "user", "content": "What is machine learning?"}]
PAIRS = [("What is machine learning?", "Machine learning lets computers learn patterns from data."),
         ("What colours are in a rainbow?", "I like apples and bananas.")]


@pytest.fixture(scope="module")
def fake_hub_home(tmp_path_factory):
    """``HF_HOME`` holding the fake hub cache (built once per module, about 0.1 s)."""
    home = tmp_path_factory.mktemp("hf_home")
    build_fake_hub(home)
    return home


@pytest.fixture
def gemma_env(monkeypatch, fake_hub_home, caplog):
    """The gemma backend over the fake hub: offline hub, a fresh model cache, a runtime-made token in HF_TOKEN."""
    from huggingface_hub import constants

    token = fake_hf_token()
    monkeypatch.setenv("LAB_BACKEND", "gemma")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(fake_hub_home))
    monkeypatch.setenv("HF_HUB_CACHE", str(fake_hub_home / "hub"))
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.delenv("LAB_DTYPE", raising=False)
    # huggingface_hub reads these once at import; the test process imported it long ago.
    monkeypatch.setattr(constants, "HF_HOME", str(fake_hub_home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(fake_hub_home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(colab, "in_colab", lambda: False)
    monkeypatch.setattr(backend, "_CACHE", {})
    monkeypatch.setattr(hub, "probe_hub", _no_network)
    caplog.set_level(logging.DEBUG)
    return token


def _no_network(*args, **kwargs):
    raise AssertionError("HF_HUB_OFFLINE=1: the backend must not probe the hub")


def _load_gemma_lm():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, tokenizer = backend.load_lm()
    assert any(issubclass(w.category, backend.SlowDeviceWarning) for w in caught), "gemma on CPU must warn"
    return model, tokenizer, caught


def _assert_token_never_shown(token, capsys, caplog, caught, home):
    out, err = capsys.readouterr()
    texts = [out, err, caplog.text, *(str(w.message) for w in caught)]
    assert not any(token in text for text in texts), "the HF token leaked into output, a log or a warning"
    for path in home.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert token.encode() not in path.read_bytes(), f"the HF token was written to {path}"


def test_fake_hub_has_the_real_layout(fake_hub_home):
    hub = fake_hub_home / "hub"
    lm = hub / "models--google--gemma-2-2b-it"
    revision = (lm / "refs" / "main").read_text()
    snapshot = lm / "snapshots" / revision
    names = {p.name for p in snapshot.iterdir()}
    assert {"config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors", "tokenizer_config.json", "tokenizer.json"} <= names
    assert "chat_template.jinja" not in names and "model.safetensors" not in names
    assert (snapshot / "config.json").is_symlink() and (snapshot / "config.json").resolve().parent == lm / "blobs"
    import json

    config = json.loads((snapshot / "config.json").read_text())
    assert config["torch_dtype"] == "float32" and "dtype" not in config and "layer_types" not in config
    assert "<start_of_turn>" in json.loads((snapshot / "tokenizer_config.json").read_text())["chat_template"]
    ce = hub / "models--cross-encoder--ms-marco-MiniLM-L-6-v2"
    ce_config = json.loads((ce / "snapshots" / (ce / "refs" / "main").read_text() / "config.json").read_text())
    assert ce_config["sbert_ce_default_activation_function"] == "torch.nn.modules.linear.Identity"
    sae = hub / "models--google--gemma-scope-2b-pt-res"
    assert (sae / "snapshots" / (sae / "refs" / "main").read_text() / backend.GEMMA_SAE_FILE).is_file()


def test_gemma_lm_from_the_hub_cache_equals_the_offline_model(gemma_env, lm, capsys, caplog, fake_hub_home):
    offline_model, offline_tokenizer = lm
    model, tokenizer, caught = _load_gemma_lm()
    assert backend.loaded() == ["lm/gemma"] and model is not offline_model
    assert model.dtype == torch.float32 and model.config._attn_implementation == "eager"
    assert model.generation_config.eos_token_id == backend.STOP_TOKEN_IDS
    templated = tokenizer.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True)
    assert templated == offline_tokenizer.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(templated, add_special_tokens=False, return_tensors="pt").input_ids
    assert torch.equal(ids, offline_tokenizer(templated, add_special_tokens=False, return_tensors="pt").input_ids)
    with torch.no_grad():
        logits = model(ids).logits
        expected = offline_model(ids).logits
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-5)
    _assert_token_never_shown(gemma_env, capsys, caplog, caught, fake_hub_home)


def test_gemma_cross_encoder_and_sae_from_the_hub_cache(gemma_env, cross_encoder, sae, capsys, caplog, fake_hub_home):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scorer = backend.load_cross_encoder()
        gemma_sae = backend.load_sae()
    assert sorted(backend.loaded()) == ["cross_encoder/gemma", "sae/gemma"]
    assert isinstance(scorer.activation_fn, torch.nn.Identity)  # raw logits, as the homework
    torch.testing.assert_close(torch.as_tensor(scorer.predict(PAIRS)), torch.as_tensor(cross_encoder.predict(PAIRS)),
                               rtol=0, atol=1e-5)
    theirs, ours = gemma_sae.state_dict(), sae.state_dict()
    assert theirs.keys() == ours.keys() and theirs["W_enc"].shape[1] == 16384
    for name in ours:
        assert theirs[name].dtype == torch.float32 and torch.equal(theirs[name], ours[name]), name
    _assert_token_never_shown(gemma_env, capsys, caplog, caught, fake_hub_home)


def test_gemma_lm_in_float16_gives_finite_logits_close_to_float32(gemma_env, monkeypatch, lm, capsys, caplog,
                                                                  fake_hub_home):
    """LAB_DTYPE=float16 is what a T4 gets; on CPU, float16 matmuls work in torch 2.13."""
    offline_model, tokenizer = lm
    monkeypatch.setenv("LAB_DTYPE", "float16")
    model, _, caught = _load_gemma_lm()
    assert model.dtype == torch.float16 and "dtype=float16" in backend.describe()
    templated = tokenizer.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(templated, add_special_tokens=False, return_tensors="pt").input_ids
    with torch.no_grad():
        half = model(ids).logits
        full = offline_model(ids).logits
    assert half.dtype == torch.float16
    backend.check_finite(half, "float16 logits")
    # float16 keeps ~3 decimal digits; over 26 layers the error grows to about 0.02 on logits of size ~16
    # (measured 0.018): 0.1 leaves room for other CPUs and still catches a wrong dtype or a broken layer.
    assert (half.float() - full).abs().max().item() < 0.1
    assert torch.equal(half.float().argmax(-1), full.argmax(-1))
    # LAB_DTYPE back to float32: the cached float16 model is replaced, not kept next to a new copy.
    monkeypatch.setenv("LAB_DTYPE", "float32")
    again, _, more = _load_gemma_lm()
    assert again.dtype == torch.float32 and backend.loaded() == ["lm/gemma"]
    _assert_token_never_shown(gemma_env, capsys, caplog, caught + more, fake_hub_home)


def test_missing_repo_in_the_offline_cache_says_so(gemma_env, tmp_path, monkeypatch):
    """HF_HUB_OFFLINE with an empty cache: the real cause (offline, not cached), for a public repo no token talk."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(backend.BackendError) as info:
        backend.load_cross_encoder()
    message = str(info.value)
    assert "HF_HUB_OFFLINE=1" in message and "not in the local cache" in message
    assert "hugging face token" not in message.lower() and "HF_TOKEN" not in message and "LAB_BACKEND=offline" in message
    assert gemma_env not in message
