"""Backend selection, dtype rule, token lookup and the clear errors of helpers.backend."""
import os
import subprocess
import sys
import warnings

import pytest
import torch

from helpers import backend, colab, hub
from tests.conftest import REPO_ROOT


def test_unknown_backend_names_the_valid_values(monkeypatch):
    monkeypatch.setenv("LAB_BACKEND", "foo")
    with pytest.raises(ValueError) as info:
        backend.backend_name()
    assert "gemma" in str(info.value) and "offline" in str(info.value) and "'foo'" in str(info.value)


def test_backend_default_outside_colab_is_offline(monkeypatch):
    monkeypatch.delenv("LAB_BACKEND", raising=False)
    monkeypatch.setattr(colab, "in_colab", lambda: False)
    assert backend.backend_name() == "offline"
    monkeypatch.setattr(colab, "in_colab", lambda: True)
    assert backend.backend_name() == "gemma"


def test_backend_value_is_case_insensitive(monkeypatch):
    monkeypatch.setenv("LAB_BACKEND", " Gemma ")
    assert backend.backend_name() == "gemma"


@pytest.mark.parametrize(
    "device_type, capability, expected",
    [("cuda", (7, 5), torch.float16), ("cuda", (8, 0), torch.bfloat16), ("cuda", (9, 0), torch.bfloat16),
     ("cuda", (6, 1), torch.float16), ("cpu", None, torch.float32)],
)
def test_dtype_rule(device_type, capability, expected):
    assert backend.pick_dtype(device_type, capability) == expected


def test_offline_backend_is_float32_and_dtype_override_is_validated(monkeypatch):
    monkeypatch.delenv("LAB_DTYPE", raising=False)
    assert backend.lm_dtype("offline", torch.device("cpu")) == torch.float32
    assert backend.lm_dtype("gemma", torch.device("cpu")) == torch.float32
    monkeypatch.setenv("LAB_DTYPE", "float16")
    assert backend.lm_dtype("offline", torch.device("cpu")) == torch.float16
    monkeypatch.setenv("LAB_DTYPE", "fp8")
    with pytest.raises(ValueError, match="float32, float16, bfloat16"):
        backend.lm_dtype("gemma", torch.device("cpu"))


def test_token_order_env_then_cached(monkeypatch):
    monkeypatch.setattr(colab, "in_colab", lambda: False)
    fake = "tok" + "en-for-test"
    monkeypatch.setenv("HF_TOKEN", fake)
    lookup = hub.find_hf_token()
    assert lookup.token == fake and lookup.source == "env:HF_TOKEN"
    assert fake not in repr(lookup)  # never shown
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "cached-" + "value")
    assert hub.find_hf_token().source == "cached-login"
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    assert hub.find_hf_token().token is None


def test_colab_secret_comes_first_and_missing_secret_is_explained(monkeypatch):
    import types

    calls = {}

    class SecretNotFoundError(Exception):
        pass

    def get(name):
        calls["name"] = name
        if calls.get("missing"):
            raise SecretNotFoundError(name)
        return "colab-" + "secret"

    userdata = types.SimpleNamespace(get=get)
    fake_colab = types.ModuleType("google.colab")
    fake_colab.userdata = userdata
    google = types.ModuleType("google")
    google.colab = fake_colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", fake_colab)
    monkeypatch.setenv("HF_TOKEN", "from-env")
    assert colab.in_colab()
    assert hub.find_hf_token().source == "colab-secrets" and calls["name"] == "HF_TOKEN"
    calls["missing"] = True
    lookup = hub.find_hf_token()
    assert lookup.source == "env:HF_TOKEN" and lookup.colab_problem == "SecretNotFoundError"


def test_gemma_without_token_or_network_gives_one_clear_message(tmp_path):
    """In a fresh process with no token, no cache and the hub offline: a BackendError naming the real cause."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update(LAB_BACKEND="gemma", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(REPO_ROOT))
    code = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "from helpers import backend\n"
        "for load in (backend.load_lm, backend.load_cross_encoder, backend.load_sae):\n"
        "    try:\n"
        "        load()\n"
        "    except backend.BackendError as err:\n"
        "        print('BACKEND-ERROR', str(err).replace(chr(10), ' '))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in out.stdout.splitlines() if line.startswith("BACKEND-ERROR")]
    assert len(lines) == 3, out.stdout + out.stderr
    for line in lines:  # the real cause first: offline mode and nothing cached
        assert "HF_HUB_OFFLINE=1 is set" in line and "not in the local cache" in line
        assert "LAB_BACKEND=offline" in line
    lm_line, *public = lines
    assert "No Hugging Face token was found either" in lm_line and "HF_TOKEN" in lm_line and "Secrets" in lm_line
    for line in public:  # the cross-encoder and Gemma Scope need no token: never blamed on one
        assert "hugging face token" not in line.lower() and "HF_TOKEN" not in line
    assert "Traceback" not in out.stderr


def test_gemma_error_reasons_come_from_the_typed_error_behind_transformers_oserror():
    import httpx2
    from huggingface_hub.errors import GatedRepoError

    lookup = hub.TokenLookup("x", "env:HF_TOKEN")
    request = httpx2.Request("HEAD", "https://hub.invalid/x")

    def reraised(cause):  # what transformers' cached_file does: raise OSError(...) from the hub's error
        try:
            raise OSError("You are trying to access a gated repo. 401") from cause
        except OSError as err:
            return err

    gated = backend._gemma_error("m", reraised(GatedRepoError("403", response=httpx2.Response(403, request=request))), lookup)
    assert isinstance(gated, backend.BackendError)
    assert "licence" in str(gated) and "LAB_BACKEND=offline" in str(gated)
    offline = backend._gemma_error("m", reraised(httpx2.ConnectError("no route")), lookup)
    assert "could not be reached" in str(offline)


def test_gemma_on_cpu_warns_instead_of_failing():
    with pytest.warns(backend.SlowDeviceWarning, match="T4 GPU"):
        backend.warn_if_cpu("gemma", torch.device("cpu"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backend.warn_if_cpu("offline", torch.device("cpu"))
        backend.warn_if_cpu("gemma", torch.device("cuda"))


def test_describe_names_backend_device_dtype():
    line = backend.describe("offline")
    assert "backend=offline" in line and "dtype=float32" in line
