"""Model loading for both lab backends, chosen by the environment variable ``LAB_BACKEND``.

``gemma``   — google/gemma-2-2b-it, cross-encoder/ms-marco-MiniLM-L-6-v2 and the Gemma Scope
              layer-20 16k SAE, fetched from the model hub with your token (default in Colab).
``offline`` — the small trained lab models shipped in ``data/offline/`` (default elsewhere,
              and what ``make test`` / CI use). Same classes, same code path.

Models are loaded once per process and cached; ``free_memory()`` drops them so that a
T4 never holds two copies. A Hugging Face token is read from the Colab Secrets panel
(``HF_TOKEN``), then the environment, then a cached ``hf auth login``; it is never
printed, stored or written anywhere by this module.
"""
from __future__ import annotations

import gc
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from helpers.assets import AssetError, offline_dir, verify
from helpers.sae import JumpReLUSAE

VALID_BACKENDS = ("gemma", "offline")
VALID_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

GEMMA_LM_ID = "google/gemma-2-2b-it"
GEMMA_CROSS_ENCODER_ID = "cross-encoder/ms-marco-MiniLM-L-6-v2"
GEMMA_SAE_REPO = "google/gemma-scope-2b-pt-res"
GEMMA_SAE_FILE = "layer_20/width_16k/average_l0_71/params.npz"
SAE_LAYER = 20  # the SAE reads resid_post of decoder layer 20 = hidden_states[21]

EOS_ID, END_OF_TURN_ID, PAD_ID, BOS_ID = 1, 107, 0, 2
STOP_TOKEN_IDS = [EOS_ID, END_OF_TURN_ID]  # generation must stop on both

GEMMA_HELP = (
    "To use the real models: (1) accept the Gemma licence on the model page of "
    f"{GEMMA_LM_ID} while logged in to Hugging Face; (2) create a read token; (3) in Colab, "
    "open the key icon (Secrets) in the left bar, add a secret named HF_TOKEN with the token "
    "and switch on 'Notebook access' (elsewhere: export HF_TOKEN=... or run `hf auth login`); "
    "(4) make sure the runtime has internet access. Or set LAB_BACKEND=offline to use the "
    "small offline lab models instead."
)


class BackendError(RuntimeError):
    """A model could not be loaded; the message says what to do."""


class SlowDeviceWarning(UserWarning):
    """The real model is about to run on a CPU."""


_CACHE: dict[tuple[str, str], object] = {}

# Notebook output stays clean: tqdm's "IProgress not found" (no ipywidgets) says nothing useful here.
warnings.filterwarnings("ignore", message="IProgress not found")


def _quiet_loading() -> None:
    """No "Loading weights" progress bars from transformers in notebook output."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def in_colab() -> bool:
    """True inside a Google Colab runtime."""
    try:
        import google.colab  # noqa: F401
    except ImportError:
        return False
    return True


def backend_name() -> str:
    """``LAB_BACKEND`` if set (validated), else ``gemma`` in Colab and ``offline`` elsewhere."""
    value = os.environ.get("LAB_BACKEND", "").strip().lower()
    if not value:
        return "gemma" if in_colab() else "offline"
    if value not in VALID_BACKENDS:
        raise ValueError(
            f"LAB_BACKEND={os.environ['LAB_BACKEND']!r} is not a backend: use one of {', '.join(VALID_BACKENDS)} "
            "(gemma = the real Gemma-2-2b-it from the model hub, offline = the small models in data/offline/)."
        )
    return value


def device() -> torch.device:
    """CUDA if a GPU is visible, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_dtype(device_type: str, capability: tuple[int, int] | None = None) -> torch.dtype:
    """Gemma's dtype rule: CPU float32; CUDA float16 below compute capability 8.0 (T4), bfloat16 from 8.0.

    ``torch.cuda.is_bf16_supported()`` can answer True on a T4 (emulated, slow), so the rule
    looks at the compute capability instead.
    """
    if device_type != "cuda":
        return torch.float32
    if capability is None:
        raise ValueError("pick_dtype needs the CUDA compute capability, e.g. (7, 5) for a T4.")
    return torch.bfloat16 if tuple(capability) >= (8, 0) else torch.float16


def lm_dtype(backend: str, dev: torch.device) -> torch.dtype:
    """dtype for the LM: ``LAB_DTYPE`` if set, float32 for the offline models, else :func:`pick_dtype`."""
    override = os.environ.get("LAB_DTYPE", "").strip().lower()
    if override:
        if override not in VALID_DTYPES:
            raise ValueError(f"LAB_DTYPE={override!r} is not supported: use one of {', '.join(VALID_DTYPES)}.")
        return VALID_DTYPES[override]
    if backend == "offline":
        return torch.float32
    capability = torch.cuda.get_device_capability(dev) if dev.type == "cuda" else None
    return pick_dtype(dev.type, capability)


@dataclass(frozen=True)
class TokenLookup:
    """Where a token came from (never the token's text in ``repr``)."""

    token: str | None
    source: str
    colab_problem: str | None = None

    def __repr__(self) -> str:
        return f"TokenLookup(found={self.token is not None}, source={self.source!r})"


def find_hf_token() -> TokenLookup:
    """Look for a Hugging Face token: Colab Secrets ``HF_TOKEN``, then env, then cached login."""
    colab_problem = None
    if in_colab():
        try:
            from google.colab import userdata

            token = userdata.get("HF_TOKEN")
            if token:
                return TokenLookup(token.strip(), "colab-secrets")
        except Exception as err:  # SecretNotFoundError, NotebookAccessError, TimeoutException
            colab_problem = type(err).__name__
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if os.environ.get(name, "").strip():
            return TokenLookup(os.environ[name].strip(), f"env:{name}", colab_problem)
    try:
        from huggingface_hub import get_token

        token = get_token()
    except Exception:
        token = None
    if token:
        return TokenLookup(token, "cached-login", colab_problem)
    return TokenLookup(None, "none", colab_problem)


def get_hf_token() -> str | None:
    """The Hugging Face token, or None (see :func:`find_hf_token` for the order)."""
    return find_hf_token().token


def _gemma_error(what: str, err: BaseException, lookup: TokenLookup) -> BackendError:
    """One clear message for a failed hub download: why, and what to do."""
    text = f"{type(err).__name__}: {err}"
    lowered = text.lower()
    if lookup.token is None:
        reason = "no Hugging Face token was found"
        if lookup.colab_problem:
            reason += f" (Colab Secrets answered {lookup.colab_problem}: add HF_TOKEN and allow notebook access)"
    elif "gated" in lowered or "403" in lowered or "401" in lowered or "access" in lowered:
        reason = "the token has no access: the Gemma licence is probably not accepted yet, or the token is invalid"
    elif "connect" in lowered or "offline" in lowered or "resolve" in lowered or "network" in lowered:
        reason = "the model hub could not be reached (no network, or HF_HUB_OFFLINE=1 with nothing cached)"
    else:
        reason = "the download failed"
    first_line = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
    return BackendError(f"Could not load {what}: {reason}.\n{GEMMA_HELP}\n(Underlying error: {type(err).__name__}: {first_line})")


def _hub_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean 'the hub did not give us the files'."""
    errors: list[type[BaseException]] = [OSError]
    try:
        from huggingface_hub.errors import HfHubHTTPError

        errors.append(HfHubHTTPError)
    except ImportError:  # pragma: no cover - very old huggingface_hub
        pass
    try:
        import httpx

        errors.append(httpx.HTTPError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def warn_if_cpu(backend: str, dev: torch.device) -> None:
    """Warn (not fail) when the real 2B model is about to run on a CPU."""
    if backend == "gemma" and dev.type != "cuda":
        warnings.warn(
            "No GPU found: Gemma-2-2b-it will run on the CPU in float32 — about 10.5 GB of RAM and "
            "seconds per generated token, so each notebook takes many minutes. In Colab choose "
            "Runtime > Change runtime type > T4 GPU, or set LAB_BACKEND=offline for the small lab models.",
            SlowDeviceWarning,
            stacklevel=3,
        )


def _offline_path(sub: str) -> Path:
    """Verified path of one offline asset directory (clear error naming the bad file)."""
    root = offline_dir()
    try:
        verify(root, sub)
    except AssetError as err:
        raise BackendError(str(err)) from None
    return root / sub


def load_lm(backend: str | None = None):
    """``(model, tokenizer)`` for the backend: a ``Gemma2ForCausalLM`` in eval mode with eager attention.

    The generation config stops on both ``<eos>`` (1) and ``<end_of_turn>`` (107).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    backend = backend or backend_name()
    key = ("lm", backend)
    if key in _CACHE:
        return _CACHE[key]
    _quiet_loading()
    dev = device()
    dtype = lm_dtype(backend, dev)
    if backend == "offline":
        if dev.type == "cpu":
            # The lab model is tiny: one thread is as fast as several, cannot be slowed down by
            # oversubscribed cores, and gives the same numbers on every machine.
            torch.set_num_threads(1)
        path = _offline_path("lm")
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="eager")
    else:
        warn_if_cpu(backend, dev)
        lookup = find_hf_token()
        try:
            tokenizer = AutoTokenizer.from_pretrained(GEMMA_LM_ID, token=lookup.token)
            model = AutoModelForCausalLM.from_pretrained(
                GEMMA_LM_ID, token=lookup.token, dtype=dtype, attn_implementation="eager"
            )
        except _hub_errors() as err:
            raise _gemma_error(GEMMA_LM_ID, err, lookup) from None
    try:
        model = model.to(dev)
    except torch.OutOfMemoryError:
        raise BackendError(
            f"Out of GPU memory while loading {GEMMA_LM_ID}: call helpers.backend.free_memory() or "
            "restart the runtime (Runtime > Restart session) so only one copy of the model is held."
        ) from None
    model.eval()
    model.generation_config.eos_token_id = list(STOP_TOKEN_IDS)
    model.generation_config.pad_token_id = PAD_ID
    _CACHE[key] = (model, tokenizer)
    return model, tokenizer


def load_cross_encoder(backend: str | None = None):
    """A sentence-transformers ``CrossEncoder`` whose ``predict`` returns raw logits (Identity activation)."""
    from sentence_transformers import CrossEncoder

    backend = backend or backend_name()
    key = ("cross_encoder", backend)
    if key in _CACHE:
        return _CACHE[key]
    _quiet_loading()
    dev = str(device())
    if backend == "offline":
        model = CrossEncoder(str(_offline_path("cross_encoder")), activation_fn=nn.Identity(), device=dev)
    else:
        lookup = find_hf_token()
        try:
            model = CrossEncoder(GEMMA_CROSS_ENCODER_ID, activation_fn=nn.Identity(), device=dev, token=lookup.token)
        except _hub_errors() as err:
            raise _gemma_error(GEMMA_CROSS_ENCODER_ID, err, lookup) from None
    _CACHE[key] = model
    return model


def load_sae(backend: str | None = None) -> JumpReLUSAE:
    """The layer-20 JumpReLU SAE (16,384 features) as a float32 module on the model's device."""
    backend = backend or backend_name()
    key = ("sae", backend)
    if key in _CACHE:
        return _CACHE[key]
    if backend == "offline":
        path = _offline_path("sae") / "params.npz"
    else:
        from huggingface_hub import hf_hub_download

        lookup = find_hf_token()
        try:
            path = hf_hub_download(GEMMA_SAE_REPO, GEMMA_SAE_FILE, token=lookup.token)
        except _hub_errors() as err:
            raise _gemma_error(f"{GEMMA_SAE_REPO}/{GEMMA_SAE_FILE}", err, lookup) from None
    sae = JumpReLUSAE.from_npz(path).to(device())
    _CACHE[key] = sae
    return sae


def loaded() -> list[str]:
    """Names of the models currently held, e.g. ``['lm/offline']``."""
    return [f"{kind}/{backend}" for kind, backend in _CACHE]


def free_memory(*kinds: str) -> None:
    """Drop cached models (all, or the given kinds: 'lm', 'cross_encoder', 'sae') and free GPU memory.

    Objects the notebook still references stay alive: also ``del model`` there.
    """
    for key in list(_CACHE):
        if not kinds or key[0] in kinds:
            del _CACHE[key]
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


unload = free_memory


def describe(backend: str | None = None) -> str:
    """One line for a notebook's setup cell: backend, device, dtype."""
    backend = backend or backend_name()
    dev = device()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    return f"backend={backend} device={dev.type} ({name}) dtype={str(lm_dtype(backend, dev)).replace('torch.', '')}"
