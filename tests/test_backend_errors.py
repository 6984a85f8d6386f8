"""helpers.backend says the real cause when the hub fails (no network / no token / licence / bad token / offline),
fails in seconds without a network, and stops float16 overflow from passing silently. No real network is used."""
import time

import httpx2
import pytest
import torch
from huggingface_hub import constants
from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled,
                                    RepositoryNotFoundError)

from helpers import backend, colab, hub
from tests.fakehub import fake_hf_token

URL = "https://hub.invalid/google/gemma-2-2b-it/resolve/main/config.json"
NO_TOKEN = hub.TokenLookup(None, "none")


def _response(status: int, message: str = "") -> httpx2.Response:
    headers = {"X-Error-Message": message} if message else {}
    return httpx2.Response(status, headers=headers, request=httpx2.Request("HEAD", URL))


def _blames_token(message: str) -> bool:
    """True if a message tells the user to get or fix a token."""
    return any(words in message.lower() for words in ("hugging face token", "hf_token", "read token"))


def _with_token():
    return hub.TokenLookup(fake_hf_token(), "env:HF_TOKEN")


# (error the hub client raises, token?, gated repo?, expected cause, words the message must hold, words it must not)
CASES = [
    ("connect", False, False, "network", ["could not be reached", "no network"], ["no hugging face token"]),
    ("connect", True, True, "network", ["could not be reached", "internet"], ["licence is not accepted"]),
    ("timeout", False, False, "network", ["could not be reached"], ["token"]),
    ("offline-mode", False, False, "offline", ["HF_HUB_OFFLINE=1", "not in the local cache"], ["token"]),
    ("offline-mode", False, True, "offline", ["HF_HUB_OFFLINE=1", "No Hugging Face token was found either"], []),
    ("gated-401", False, True, "no-token", ["no Hugging Face token was found", "Secrets", "HF_TOKEN"], []),
    ("gated-403", True, True, "licence", ["licence is not accepted", "model page"], ["no hugging face token"]),
    ("invalid-401", True, False, "bad-token", ["was rejected", "needs no token"], ["licence"]),
    ("invalid-401", True, True, "bad-token", ["was rejected", "new read token"], ["licence is not accepted"]),
    ("repo-404", False, False, "not-found", ["not found"], ["token"]),
    ("transformers-oserror-gated", False, True, "no-token", ["no Hugging Face token was found"], []),
    ("transformers-oserror-connect", False, False, "network", ["could not be reached"], ["token"]),
    ("transformers-oserror-not-cached", False, False, "network", ["could not be reached"], ["token"]),
    # No typed error behind it: the words of a message decide nothing (they could be anyone's).
    ("plain-oserror", False, True, "other", ["download failed"], []),
]


def _error(kind: str) -> BaseException:
    if kind == "connect":
        return httpx2.ConnectError("[Errno -2] Name or service not known")
    if kind == "timeout":
        return httpx2.ConnectTimeout("timed out")
    if kind == "offline-mode":
        return OfflineModeIsEnabled("Cannot reach the hub: offline mode is enabled.")
    if kind == "gated-401":
        return GatedRepoError("401 Client Error. Cannot access gated repo for url " + URL, response=_response(401))
    if kind == "gated-403":
        return GatedRepoError("403 Client Error. Cannot access gated repo for url " + URL, response=_response(403))
    if kind == "invalid-401":
        return HfHubHTTPError("401 Client Error: Unauthorized for url " + URL,
                              response=_response(401, "Invalid credentials in Authorization header"))
    if kind == "repo-404":
        return RepositoryNotFoundError("404 Client Error. Repository Not Found for url " + URL, response=_response(404))
    if kind.startswith("transformers-oserror-"):  # transformers re-raises the hub's error: OSError(...) from err
        cause = _error({"gated": "gated-401", "connect": "connect", "not-cached": "not-cached"}[kind.removeprefix("transformers-oserror-")])
        try:
            raise OSError("You are trying to access a repo; see the cause (text of no importance)") from cause
        except OSError as err:
            return err
    if kind == "not-cached":
        return LocalEntryNotFoundError("Cannot find the requested files in the disk cache and outgoing traffic has been disabled.")
    if kind == "plain-oserror":
        return OSError("You are trying to access a gated repo. We couldn't connect to the hub. 401 403")
    raise ValueError(kind)


@pytest.mark.parametrize("kind, has_token, gated, cause, must, must_not", CASES)
def test_each_hub_failure_gets_its_real_cause(kind, has_token, gated, cause, must, must_not):
    lookup = _with_token() if has_token else NO_TOKEN
    err = _error(kind)
    assert hub.classify_hub_error(err, lookup, needs_token=gated) == cause
    message = str(backend._gemma_error("the model", err, lookup, needs_token=gated))
    assert message == hub.diagnose("the model", err, lookup, needs_token=gated)
    for words in must:
        assert words.lower() in message.lower(), (words, message)
    for words in must_not:
        assert words.lower() not in message.lower(), (words, message)
    assert "LAB_BACKEND=offline" in message and "Underlying error" in message
    if has_token:
        assert lookup.token not in message


def test_messages_for_different_causes_differ():
    messages = {str(backend._gemma_error("m", _error(kind), _with_token() if tok else NO_TOKEN, gated)).split("\n")[0]
                for kind, tok, gated, *_ in CASES}
    assert len(messages) == 8  # offline, network, no-token, licence, bad-token (public + gated), not-found, other


def test_no_dead_http_client_import():
    """The exception types come from the HTTP library the installed hub client really uses."""
    source = (hub.__file__ and open(hub.__file__).read())
    assert "import httpx\n" not in source and "import httpx2\n" not in source
    assert hub.hub_http_client() is httpx2
    assert httpx2.TransportError in hub.network_errors()
    assert isinstance(httpx2.ConnectError("x"), hub.hub_errors())


@pytest.fixture
def online_hub(monkeypatch, tmp_path):
    """Hub 'online' (HF_HUB_OFFLINE unset) but its endpoint is a closed port on this machine; empty cache."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "LAB_DTYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", "http://127.0.0.1:9/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(colab, "in_colab", lambda: False)
    monkeypatch.setattr(backend, "_CACHE", {})
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))  # no cached login


def test_unreachable_hub_fails_in_seconds_and_says_no_network(online_hub):
    """A closed port on 127.0.0.1 stands in for 'no network': one probe, no retries, then the (empty) cache."""
    start = time.perf_counter()
    with pytest.raises(backend.BackendError) as info:
        backend.load_sae("gemma")
    elapsed = time.perf_counter() - start
    message = str(info.value)
    assert elapsed < 5, f"took {elapsed:.1f} s: retries are back?"
    assert "could not be reached (no network)" in message and not _blames_token(message)
    assert "ConnectError" in message


def test_unreachable_hub_falls_back_to_files_already_cached(online_hub, monkeypatch):
    calls = []

    def fake_download(repo, filename, token=None, local_files_only=False):
        calls.append(local_files_only)
        if not local_files_only:
            raise AssertionError("no download may start once the probe found no network")
        return str(backend._offline_path("sae") / "params.npz")

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    sae = backend.load_sae("gemma")
    assert calls == [True] and sae.W_enc.shape[1] == 16384


@pytest.mark.parametrize("has_token, probe_error, expected", [
    (False, "gated-401", "no Hugging Face token was found"),
    (True, "gated-403", "licence is not accepted"),
    (True, "invalid-401", "was rejected"),
])
def test_lm_refused_by_the_hub_fails_before_any_download(online_hub, monkeypatch, has_token, probe_error, expected):
    token = fake_hf_token() if has_token else None
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    seen = {}

    def probe(repo_id, filename, tok):
        seen.update(repo=repo_id, token=tok)
        return _error(probe_error)

    monkeypatch.setattr(hub, "probe_hub", probe)
    import transformers

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained",
                        lambda *a, **k: pytest.fail("no download after a refused probe"))
    with pytest.warns(backend.SlowDeviceWarning), pytest.raises(backend.BackendError) as info:
        backend.load_lm("gemma")
    assert seen == {"repo": backend.GEMMA_LM_ID, "token": token}
    assert expected in str(info.value)
    if token:
        assert token not in str(info.value)


def test_public_models_never_blame_a_missing_token(online_hub, monkeypatch):
    """The cross-encoder and the SAE need no token: with none, a refusal is not 'no token'."""
    monkeypatch.setattr(hub, "probe_hub", lambda *a: _error("repo-404"))
    for load in (backend.load_cross_encoder, backend.load_sae):
        with pytest.raises(backend.BackendError) as info:
            load("gemma")
        assert not _blames_token(str(info.value))


def test_hf_hub_offline_with_empty_cache_names_offline_mode_for_each_loader(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(colab, "in_colab", lambda: False)
    monkeypatch.setattr(backend, "_CACHE", {})
    monkeypatch.setattr(hub, "probe_hub", lambda *a: pytest.fail("offline mode must not probe the hub"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))  # no cached login
    with pytest.warns(backend.SlowDeviceWarning), pytest.raises(backend.BackendError) as lm_error:
        backend.load_lm("gemma")
    assert "HF_HUB_OFFLINE=1" in str(lm_error.value) and "No Hugging Face token was found either" in str(lm_error.value)
    for load in (backend.load_cross_encoder, backend.load_sae):
        with pytest.raises(backend.BackendError) as info:
            load("gemma")
        assert "HF_HUB_OFFLINE=1" in str(info.value) and not _blames_token(str(info.value))


# --- float16 overflow is never silent -------------------------------------------------------------------


def test_check_finite_passes_finite_tensors_through():
    x = torch.randn(2, 3)
    assert backend.check_finite(x, "x") is x
    ids = torch.tensor([1, 2, 3])
    assert backend.check_finite(ids, "ids") is ids  # integer tensors cannot overflow into inf


def test_inf_from_a_decoder_layer_is_caught_with_cause_and_fix(lm):
    model, tokenizer = lm
    ids = tokenizer("The rainbow has seven colours", return_tensors="pt").input_ids

    def overflow(module, args, output):
        hidden = output[0] if isinstance(output, tuple) else output
        hidden = hidden.clone()
        hidden[0, -1, 0] = float("inf")  # what a float16 activation above 65504 becomes
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    handle = model.model.layers[10].register_forward_hook(overflow)
    try:
        with torch.no_grad():
            logits = model(ids).logits
    finally:
        handle.remove()
    with pytest.raises(backend.NumericsError) as info:
        backend.check_finite(logits, "logits")
    message = str(info.value)
    assert isinstance(info.value, backend.BackendError)
    assert message.startswith("inf/NaN in logits") and "NaN" in message
    assert "float16 overflow" in message and "LAB_DTYPE=float32" in message and "T4" in message
    with torch.no_grad():
        backend.check_finite(model(ids).logits, "logits")  # hook removed: finite again


def test_half_precision_message_names_the_dtype_and_its_limit():
    x = torch.tensor([70000.0]).to(torch.float16)  # overflows to inf
    with pytest.raises(backend.NumericsError, match=r"1 inf and 0 NaN of 1 values \(dtype float16\).*65504"):
        backend.check_finite(x, "hidden_states[21]")
