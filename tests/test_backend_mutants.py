"""helpers.backend, pinned where mutation testing found it unpinned: what each loader hands the libraries (both
backends; the gemma path with the hub's loaders replaced by recorders), the model cache, the dtype and device rules,
the fallbacks of ``_from_hub`` and the words of the warnings and errors. No network; the offline models only."""
import warnings

import pytest
import torch
from torch import nn

from helpers import backend, colab, hub
from helpers.assets import AssetError, offline_dir
from helpers.errors import BackendError
from tests.fakehub import fake_hf_token


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """An empty model cache, no LAB_DTYPE, not in Colab, no token anywhere, the hub 'online' with probes that pass."""
    monkeypatch.setattr(backend, "_CACHE", {})
    for name in ("LAB_DTYPE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(colab, "in_colab", lambda: False)
    probes = []
    monkeypatch.setattr(hub, "probe_hub", lambda *args: probes.append(args))
    return probes


# --- the offline backend -----------------------------------------------------------------------------------


def test_offline_lm_is_eager_float32_in_eval_mode_stops_on_both_ids_and_is_cached(fresh, monkeypatch):
    monkeypatch.setattr(torch, "set_num_threads", lambda n: threads.append(n))
    threads = []
    model, tokenizer = backend.load_lm("offline")
    assert threads == [1]  # the tiny model runs on one thread on a CPU
    assert model.dtype == torch.float32 and model.config._attn_implementation == "eager" and not model.training
    assert model.generation_config.eos_token_id == [1, 107] and model.generation_config.pad_token_id == 0
    assert tokenizer("Hello").input_ids[0] == backend.BOS_ID
    assert backend.loaded() == ["lm/offline"]
    again = backend.load_lm("offline")
    assert again[0] is model and again[1] is tokenizer


def test_a_new_lab_dtype_reloads_the_lm_and_keeps_one_copy(fresh, monkeypatch):
    first, _ = backend.load_lm("offline")
    monkeypatch.setenv("LAB_DTYPE", "bfloat16")
    second, _ = backend.load_lm("offline")
    assert second is not first and second.dtype == torch.bfloat16 and backend.loaded() == ["lm/offline"]
    assert backend.load_lm("offline")[0] is second


def test_offline_cross_encoder_returns_raw_logits_and_is_cached(fresh):
    model = backend.load_cross_encoder("offline")
    assert isinstance(model.activation_fn, nn.Identity) and str(model.device) == "cpu"
    raw = model.predict([("a question", "an answer")], show_progress_bar=False)
    assert raw.shape == (1,)
    assert backend.load_cross_encoder("offline") is model and backend.loaded() == ["cross_encoder/offline"]


def test_offline_sae_is_the_16k_sae_and_is_cached(fresh):
    sae = backend.load_sae("offline")
    assert sae.W_enc.shape[1] == 16384 and sae.W_enc.device.type == "cpu"
    assert backend.load_sae("offline") is sae and backend.loaded() == ["sae/offline"]


def test_the_backend_defaults_to_lab_backend(fresh, monkeypatch):
    monkeypatch.setenv("LAB_BACKEND", "offline")
    backend.load_sae()
    backend.load_cross_encoder()
    assert backend.loaded() == ["sae/offline", "cross_encoder/offline"]


def test_only_the_asset_asked_for_is_verified_and_a_bad_one_is_a_backend_error(monkeypatch):
    seen = []
    monkeypatch.setattr(backend, "verify", lambda root, sub: seen.append((root, sub)))
    assert backend._offline_path("sae") == offline_dir() / "sae"
    assert seen == [(offline_dir(), "sae")]

    def broken(root, sub):
        raise AssetError(f"{sub}/params.npz: sha256 differs")

    monkeypatch.setattr(backend, "verify", broken)
    with pytest.raises(BackendError) as info:
        backend._offline_path("sae")
    assert str(info.value) == "sae/params.npz: sha256 differs" and not isinstance(info.value, AssetError)


def test_free_memory_drops_the_kinds_named_or_all(monkeypatch):
    monkeypatch.setattr(backend, "_CACHE", {("lm", "offline"): 1, ("sae", "offline"): 2, ("sae", "gemma"): 3,
                                            ("cross_encoder", "gemma"): 4})
    backend.free_memory("sae")
    assert backend.loaded() == ["lm/offline", "cross_encoder/gemma"]
    backend.free_memory("lm", "nothing")
    assert backend.loaded() == ["cross_encoder/gemma"]
    backend.unload()
    assert backend.loaded() == []


# --- the gemma backend, the hub's loaders replaced ---------------------------------------------------------


class Recorder:
    def __init__(self, result=None, error=None):
        self.calls, self.result, self.error = [], result, error

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def small_lm():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = offline_dir() / "lm"
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


@pytest.mark.parametrize("token", [None, "tok"])
def test_gemma_lm_is_loaded_from_the_hub_with_the_token_and_eager_attention(fresh, monkeypatch, small_lm, token):
    import transformers

    if token:
        token = fake_hf_token()
        monkeypatch.setenv("HF_TOKEN", token)
    model, tokenizer = small_lm
    model.generation_config.eos_token_id, model.generation_config.pad_token_id = 5, 9
    load_tok, load_model = Recorder(tokenizer), Recorder(model)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", load_tok)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", load_model)
    with pytest.warns(backend.SlowDeviceWarning):
        got = backend.load_lm("gemma")
    assert got == (model, tokenizer) and backend.loaded() == ["lm/gemma"]
    assert fresh == [(backend.GEMMA_LM_ID, "config.json", token)]
    expected = {"token": token or False, "local_files_only": False}
    assert load_tok.calls == [(("google/gemma-2-2b-it",), expected)]
    assert load_model.calls == [(("google/gemma-2-2b-it",), {"dtype": torch.float32, "attn_implementation": "eager",
                                                             **expected})]
    assert model.generation_config.eos_token_id == [1, 107] and model.generation_config.pad_token_id == 0
    assert not model.training


def test_out_of_gpu_memory_while_loading_says_what_to_do(fresh, monkeypatch):
    import transformers

    class Huge:
        dtype = torch.float32

        def to(self, dev):
            raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", Recorder(object()))
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", Recorder(Huge()))
    with pytest.warns(backend.SlowDeviceWarning), pytest.raises(BackendError) as info:
        backend.load_lm("gemma")
    assert str(info.value) == ("Out of GPU memory while loading google/gemma-2-2b-it: call helpers.backend.free_memory() "
                               "or restart the runtime (Runtime > Restart session) so only one copy of the model is held.")
    assert backend.loaded() == []


@pytest.mark.parametrize("token", [None, "tok"])
def test_gemma_cross_encoder_is_the_public_one_with_raw_logits(fresh, monkeypatch, token):
    import sentence_transformers

    if token:
        token = fake_hf_token()
        monkeypatch.setenv("HF_TOKEN", token)
    made = Recorder("the model")
    monkeypatch.setattr(sentence_transformers, "CrossEncoder", made)
    assert backend.load_cross_encoder("gemma") == "the model"
    assert backend.load_cross_encoder("gemma") == "the model" and len(made.calls) == 1  # cached
    (args, kwargs), = made.calls
    assert args == ("cross-encoder/ms-marco-MiniLM-L-6-v2",)
    assert isinstance(kwargs.pop("activation_fn"), nn.Identity)
    assert kwargs == {"device": "cpu", "token": token or False, "local_files_only": False}
    assert fresh == [("cross-encoder/ms-marco-MiniLM-L-6-v2", "config.json", token)]
    assert backend.loaded() == ["cross_encoder/gemma"]


@pytest.mark.parametrize("token", [None, "tok"])
def test_gemma_sae_is_the_layer_20_gemma_scope_file(fresh, monkeypatch, token):
    import huggingface_hub

    if token:
        token = fake_hf_token()
        monkeypatch.setenv("HF_TOKEN", token)
    download = Recorder(str(offline_dir() / "sae" / "params.npz"))
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    sae = backend.load_sae("gemma")
    assert sae.W_enc.shape[1] == 16384 and backend.load_sae("gemma") is sae
    assert download.calls == [(("google/gemma-scope-2b-pt-res", "layer_20/width_16k/average_l0_71/params.npz"),
                               {"token": token or False, "local_files_only": False})]
    assert fresh == [("google/gemma-scope-2b-pt-res", "layer_20/width_16k/average_l0_71/params.npz", token)]


def test_a_failed_sae_download_names_the_file(fresh, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", Recorder(error=OSError("disk full")))
    with pytest.raises(BackendError) as info:
        backend.load_sae("gemma")
    assert str(info.value).startswith("Could not load google/gemma-scope-2b-pt-res/layer_20/width_16k/average_l0_71/"
                                      "params.npz: the download failed.")


# --- _from_hub -----------------------------------------------------------------------------------------------

NO_TOKEN = hub.TokenLookup(None, "none")


def _loader(*outcomes):
    """``load(local_only)`` that records each call and returns (or raises) the next outcome."""
    calls, outcomes = [], list(outcomes)

    def load(local_only):
        calls.append(local_only)
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return load, calls


def test_offline_mode_reads_the_cache_only_and_says_offline(fresh, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    load, calls = _loader("cached")
    assert backend._from_hub("the LM", backend.GEMMA_LM_ID, "config.json", NO_TOKEN, load) == "cached"
    assert calls == [True] and fresh == []
    load, calls = _loader(OSError("not cached"))
    with pytest.raises(BackendError) as info:
        backend._from_hub("the LM", backend.GEMMA_LM_ID, "config.json", NO_TOKEN, load)
    message = str(info.value)
    assert calls == [True] and message.startswith("Could not load the LM: HF_HUB_OFFLINE=1 is set")
    assert "No Hugging Face token was found either" in message  # the LM is gated
    assert message.endswith("(Underlying error: OSError: not cached)")


def test_no_network_falls_back_to_the_cache_then_names_the_probe_error(fresh, monkeypatch):
    import httpx2

    monkeypatch.setattr(hub, "probe_hub", lambda *a: httpx2.ConnectError("no route"))
    load, calls = _loader("cached")
    assert backend._from_hub("x", backend.GEMMA_SAE_REPO, "f", NO_TOKEN, load) == "cached" and calls == [True]
    load, calls = _loader(OSError("not cached"))
    with pytest.raises(BackendError) as info:
        backend._from_hub("the SAE", backend.GEMMA_SAE_REPO, "f", NO_TOKEN, load)
    message = str(info.value)
    assert calls == [True] and message.startswith("Could not load the SAE: the model hub could not be reached")
    assert "token" not in message.lower() and message.endswith("(Underlying error: ConnectError: no route)")


def test_a_refusal_is_reported_before_any_load(fresh, monkeypatch):
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    response = httpx2.Response(401, request=httpx2.Request("HEAD", "https://hub.invalid/x"))
    monkeypatch.setattr(hub, "probe_hub", lambda *a: HfHubHTTPError("401 Unauthorized", response=response))
    load, calls = _loader()
    with pytest.raises(BackendError) as info:  # public repo, no token: a 401 means not found
        backend._from_hub("the cross-encoder", backend.GEMMA_CROSS_ENCODER_ID, "config.json", NO_TOKEN, load)
    assert calls == [] and str(info.value).startswith("Could not load the cross-encoder: the repository or file was not found")
    with pytest.raises(BackendError) as info:  # the gated LM, no token: a 401 means a token is needed
        backend._from_hub("the LM", backend.GEMMA_LM_ID, "config.json", NO_TOKEN, load)
    assert calls == [] and str(info.value).startswith("Could not load the LM: no Hugging Face token was found")


def test_a_download_that_fails_after_a_good_probe_is_diagnosed(fresh):
    import httpx2

    load, calls = _loader(httpx2.ReadTimeout("read timed out"))
    with pytest.raises(BackendError) as info:
        backend._from_hub("the LM", backend.GEMMA_LM_ID, "config.json", NO_TOKEN, load)
    message = str(info.value)
    assert calls == [False] and message.startswith("Could not load the LM: the model hub could not be reached")
    assert "No Hugging Face token was found either" in message
    assert message.endswith("(Underlying error: ReadTimeout: read timed out)")
    load, calls = _loader(httpx2.ReadTimeout("read timed out"))
    with pytest.raises(BackendError) as info:
        backend._from_hub("the SAE", backend.GEMMA_SAE_REPO, "f", NO_TOKEN, load)
    assert "token" not in str(info.value).lower()


def test_gemma_error_blames_a_missing_token_by_default():
    import httpx2

    assert "No Hugging Face token was found either" in str(backend._gemma_error("m", httpx2.ConnectError("x"), NO_TOKEN))


# --- names, dtypes, devices, warnings ----------------------------------------------------------------------


def test_unknown_backend_message(monkeypatch):
    monkeypatch.setenv("LAB_BACKEND", "Foo")
    with pytest.raises(ValueError) as info:
        backend.backend_name()
    assert str(info.value) == ("LAB_BACKEND='Foo' is not a backend: use one of gemma, offline (gemma = the real "
                               "Gemma-2-2b-it from the model hub, offline = the small models in data/offline/).")


def test_pick_dtype_needs_the_capability_on_cuda():
    with pytest.raises(ValueError) as info:
        backend.pick_dtype("cuda")
    assert str(info.value) == "pick_dtype needs the CUDA compute capability, e.g. (7, 5) for a T4."


@pytest.mark.parametrize("capability, expected", [((7, 5), torch.float16), ((8, 6), torch.bfloat16)])
def test_gemma_dtype_on_cuda_follows_the_compute_capability(monkeypatch, capability, expected):
    monkeypatch.delenv("LAB_DTYPE", raising=False)
    asked = []
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda dev: asked.append(dev) or capability)
    cuda = torch.device("cuda")
    assert backend.lm_dtype("gemma", cuda) == expected and asked == [cuda]
    assert backend.lm_dtype("offline", cuda) == torch.float32  # the lab models are float32 everywhere


def test_device_and_describe(monkeypatch):
    monkeypatch.delenv("LAB_DTYPE", raising=False)
    monkeypatch.setenv("LAB_BACKEND", "offline")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert backend.device() == torch.device("cpu")
    assert backend.describe() == "backend=offline device=cpu (CPU) dtype=float32"
    assert backend.describe("gemma") == "backend=gemma device=cpu (CPU) dtype=float32"
    monkeypatch.setenv("LAB_DTYPE", "float16")
    assert backend.describe("offline") == "backend=offline device=cpu (CPU) dtype=float16"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert backend.device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda dev: f"Tesla T4 ({dev})")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda dev: (7, 5))
    monkeypatch.delenv("LAB_DTYPE")
    assert backend.describe("gemma") == "backend=gemma device=cuda (Tesla T4 (cuda)) dtype=float16"


def _load_on_cpu():
    backend.warn_if_cpu("gemma", torch.device("cpu"))  # as load_lm calls it


def test_cpu_warning_words():
    # (Where the warning points, stacklevel=3, is not tested: mutmut's trampoline adds frames to every call.)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _load_on_cpu()
        backend.warn_if_cpu("offline", torch.device("cpu"))
        backend.warn_if_cpu("gemma", torch.device("cuda"))
    (warning,) = caught
    assert warning.category is backend.SlowDeviceWarning
    assert str(warning.message) == (
        "No GPU found: Gemma-2-2b-it will run on the CPU in float32 — about 10.5 GB of RAM and seconds per generated "
        "token, so each notebook takes many minutes. In Colab choose Runtime > Change runtime type > T4 GPU, or set "
        "LAB_BACKEND=offline for the small lab models.")


# --- what the second mutation run left: the offline loaders on a (pretend) GPU -----------------------------


@pytest.fixture
def pretend_cuda(fresh, monkeypatch):
    """``backend.device()`` answers cuda (a T4: capability 7.5); nothing is really moved to a GPU."""
    monkeypatch.setattr(backend, "device", lambda: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda dev=None: (7, 5))


def test_offline_lm_on_a_gpu_stays_float32_eager_and_is_moved_there(pretend_cuda, monkeypatch, small_lm):
    import transformers

    model, tokenizer = small_lm
    moved = []
    monkeypatch.setattr(type(model), "to", lambda self, dev: moved.append(dev) or self)
    load_model = Recorder(model)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", load_model)
    got, _ = backend.load_lm("offline")
    assert got is model and moved == [torch.device("cuda")]
    (args, kwargs), = load_model.calls
    assert args == (offline_dir() / "lm",) and kwargs == {"dtype": torch.float32, "attn_implementation": "eager"}


def test_offline_cross_encoder_goes_to_the_device(pretend_cuda, monkeypatch):
    import sentence_transformers

    made = Recorder("ce")
    monkeypatch.setattr(sentence_transformers, "CrossEncoder", made)
    backend.load_cross_encoder("offline")
    (args, kwargs), = made.calls
    assert args == (str(offline_dir() / "cross_encoder"),) and kwargs["device"] == "cuda"
    assert isinstance(kwargs["activation_fn"], nn.Identity)


def test_the_sae_goes_to_the_models_device(fresh, monkeypatch):
    monkeypatch.setattr(backend, "device", lambda: torch.device("meta"))
    assert backend.load_sae("offline").W_enc.device.type == "meta"


def test_describe_offline_on_a_gpu_is_float32(pretend_cuda, monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda dev: "Tesla T4")
    assert backend.describe("offline") == "backend=offline device=cuda (Tesla T4) dtype=float32"


@pytest.mark.parametrize("load, name", [(backend.load_lm, "google/gemma-2-2b-it"),
                                        (backend.load_cross_encoder, "cross-encoder/ms-marco-MiniLM-L-6-v2")])
def test_a_refused_download_names_the_model(fresh, monkeypatch, load, name):
    from huggingface_hub.errors import RepositoryNotFoundError
    import httpx2

    response = httpx2.Response(404, request=httpx2.Request("HEAD", "https://hub.invalid/x"))
    monkeypatch.setattr(hub, "probe_hub", lambda *a: RepositoryNotFoundError("404", response=response))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", backend.SlowDeviceWarning)
        with pytest.raises(BackendError) as info:
            load("gemma")
    assert str(info.value).startswith(f"Could not load {name}: ")
