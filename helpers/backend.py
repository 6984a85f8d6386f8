"""Model loading for both lab backends, chosen by the environment variable ``LAB_BACKEND``.

``gemma``   — google/gemma-2-2b-it, cross-encoder/ms-marco-MiniLM-L-6-v2 and the Gemma Scope
              layer-20 16k SAE, fetched from the model hub with your token (default in Colab).
``offline`` — the small trained lab models shipped in ``data/offline/`` (default elsewhere,
              and what ``make test`` / CI use). Same classes, same code path.

Models are loaded once per process and cached; ``free_memory()`` drops them so that a
T4 never holds two copies. Where the real models are, which token is used and why a download
failed is :mod:`helpers.hub`'s part (one quick request, no retries, checks the hub before a
download starts, so a failure says its real cause within seconds); inf/NaN checks are
:mod:`helpers.numerics` (``check_finite`` is importable from here too).
"""
from __future__ import annotations

import gc
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from helpers import colab, hub
from helpers.assets import AssetError, offline_dir, verify
from helpers.errors import BackendError
from helpers.hub import (GEMMA_CROSS_ENCODER_ID, GEMMA_LM_ID, GEMMA_SAE_FILE, GEMMA_SAE_REPO, TokenLookup,
                         find_hf_token, get_hf_token)  # noqa: F401  (find_hf_token, get_hf_token: part of the API)
from helpers.numerics import NumericsError, check_finite  # noqa: F401  (part of the loading API)
from helpers.sae import JumpReLUSAE

VALID_BACKENDS = ("gemma", "offline")
VALID_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

SAE_LAYER = 20  # the decoder layer whose output (resid_post) the SAE reads

EOS_ID, END_OF_TURN_ID, PAD_ID, BOS_ID = 1, 107, 0, 2
STOP_TOKEN_IDS = [EOS_ID, END_OF_TURN_ID]  # generation must stop on both

class SlowDeviceWarning(UserWarning):
    """The real model is about to run on a CPU."""


_CACHE: dict[tuple[str, str], object] = {}

# Notebook output stays clean: tqdm's "IProgress not found" (no ipywidgets) says nothing useful here.
warnings.filterwarnings("ignore", message="IProgress not found")


def _quiet_loading() -> None:
    """No "Loading weights" progress bars from transformers in notebook output."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def backend_name() -> str:
    """``LAB_BACKEND`` if set (validated), else ``gemma`` in Colab and ``offline`` elsewhere."""
    value = os.environ.get("LAB_BACKEND", "").strip().lower()
    if not value:
        return "gemma" if colab.in_colab() else "offline"
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


def _gemma_error(what: str, err: BaseException, lookup: TokenLookup, needs_token: bool = True,
                 offline: bool = False) -> BackendError:
    """:func:`helpers.hub.diagnose`'s message as a :class:`BackendError`."""
    return BackendError(hub.diagnose(what, err, lookup, needs_token, offline))


def _from_hub(what: str, repo_id: str, probe_file: str, lookup: TokenLookup, load):
    """``load(local_files_only)`` with the hub's failure modes turned into one :class:`BackendError`.

    With ``HF_HUB_OFFLINE`` set only the cache is read. Otherwise one quick probe comes first: if the
    hub is unreachable the cache is tried (no ~50 s of retries per file); if the hub refuses (no
    token, licence, bad token) the error says so before any download starts.
    """
    needs_token = repo_id in hub.GATED_REPOS
    errors = hub.hub_errors()
    if hub.hub_offline():
        try:
            return load(True)
        except errors as err:
            raise _gemma_error(what, err, lookup, needs_token, offline=True) from None
    problem = hub.probe_hub(repo_id, probe_file, lookup.token)
    if problem is not None:
        if hub.classify_hub_error(problem, lookup, needs_token) == "network":
            try:
                return load(True)  # the files may be cached from an earlier run
            except errors:
                pass
        raise _gemma_error(what, problem, lookup, needs_token) from None
    try:
        return load(False)
    except errors as err:
        raise _gemma_error(what, err, lookup, needs_token) from None


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

    The generation config stops on both ``<eos>`` (1) and ``<end_of_turn>`` (107). A cached model is
    reused unless ``LAB_DTYPE`` now asks for another dtype (then it is loaded again in that dtype).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    backend = backend or backend_name()
    key = ("lm", backend)
    dev = device()
    dtype = lm_dtype(backend, dev)
    if key in _CACHE:
        if _CACHE[key][0].dtype == dtype:
            return _CACHE[key]
        del _CACHE[key]  # e.g. LAB_DTYPE=float32 set after a float16 overflow: never hold two copies
        _release_memory()
    _quiet_loading()
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

        def load(local_only: bool):
            kwargs = dict(token=lookup.token or False, local_files_only=local_only)
            tokenizer = AutoTokenizer.from_pretrained(GEMMA_LM_ID, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(GEMMA_LM_ID, dtype=dtype, attn_implementation="eager", **kwargs)
            return model, tokenizer

        model, tokenizer = _from_hub(GEMMA_LM_ID, GEMMA_LM_ID, "config.json", lookup, load)
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

        def load(local_only: bool):
            return CrossEncoder(GEMMA_CROSS_ENCODER_ID, activation_fn=nn.Identity(), device=dev,
                                token=lookup.token or False, local_files_only=local_only)

        model = _from_hub(GEMMA_CROSS_ENCODER_ID, GEMMA_CROSS_ENCODER_ID, "config.json", lookup, load)
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

        def load(local_only: bool) -> str:
            return hf_hub_download(GEMMA_SAE_REPO, GEMMA_SAE_FILE, token=lookup.token or False,
                                   local_files_only=local_only)

        path = _from_hub(f"{GEMMA_SAE_REPO}/{GEMMA_SAE_FILE}", GEMMA_SAE_REPO, GEMMA_SAE_FILE, lookup, load)
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
    _release_memory()


def _release_memory() -> None:
    """Collect garbage and hand cached CUDA blocks back."""
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
