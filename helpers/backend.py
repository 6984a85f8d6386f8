"""Model loading for both lab backends, chosen by the environment variable ``LAB_BACKEND``.

``gemma``   — google/gemma-2-2b-it, cross-encoder/ms-marco-MiniLM-L-6-v2 and the Gemma Scope
              layer-20 16k SAE, fetched from the model hub with your token (default in Colab).
``offline`` — the small trained lab models shipped in ``data/offline/`` (default elsewhere,
              and what ``make test`` / CI use). Same classes, same code path.

Models are loaded once per process and cached; ``free_memory()`` drops them so that a
T4 never holds two copies. A Hugging Face token is read from the Colab Secrets panel
(``HF_TOKEN``), then the environment, then a cached ``hf auth login``; it is never
printed, stored or written anywhere by this module.

On the gemma backend one quick request (no retries) checks the hub before a download starts, so
a failure says its real cause within seconds: no network, ``HF_HUB_OFFLINE=1`` with nothing
cached, no token, licence not accepted, or a rejected token (the cross-encoder and Gemma Scope
are public: they never fail for want of a token). :func:`check_finite` turns inf/NaN (float16
overflow) into a :class:`NumericsError` that names the fix, ``LAB_DTYPE=float32``.
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
from helpers.errors import CourseError
from helpers.sae import JumpReLUSAE

VALID_BACKENDS = ("gemma", "offline")
VALID_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

GEMMA_LM_ID = "google/gemma-2-2b-it"
GEMMA_CROSS_ENCODER_ID = "cross-encoder/ms-marco-MiniLM-L-6-v2"
GEMMA_SAE_REPO = "google/gemma-scope-2b-pt-res"
GEMMA_SAE_FILE = "layer_20/width_16k/average_l0_71/params.npz"
SAE_LAYER = 20  # the decoder layer whose output (resid_post) the SAE reads

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
OFFLINE_HINT = "Or set LAB_BACKEND=offline to use the small offline lab models instead."
TOKEN_HELP = (
    "Create a read token in your Hugging Face settings; in Colab open the key icon (Secrets) in the "
    "left bar, add a secret named HF_TOKEN with the token and switch on 'Notebook access' "
    "(elsewhere: export HF_TOKEN=... or run `hf auth login`)."
)
LICENCE_HELP = (
    f"Open the model page of {GEMMA_LM_ID} while logged in to Hugging Face with the account the token "
    "belongs to, and accept the Gemma licence (access is granted at once); then run the cell again."
)
NETWORK_HELP = (
    "Check the internet connection (in Colab: Runtime > Disconnect and delete runtime, then reconnect; "
    "elsewhere: network, proxy or firewall), or download the models once on a machine that has access."
)
HUB_TIMEOUT_S = 5.0  # one HEAD request, no retries: an unreachable hub is reported in seconds, not minutes

# Which hub repos are gated (need a token whose account accepted a licence). The cross-encoder and
# Gemma Scope are public: no token is needed, so "no token" is never the reason they fail.
GATED_REPOS = {GEMMA_LM_ID}


class BackendError(CourseError, RuntimeError):
    """A model could not be loaded; the message says what to do."""


class NumericsError(BackendError):
    """A tensor holds inf or NaN: typically a float16 overflow; the message names ``LAB_DTYPE=float32``."""


def check_finite(tensor: torch.Tensor, what: str) -> torch.Tensor:
    """``tensor`` unchanged if every value is finite; else :class:`NumericsError` naming cause and fix.

    ``what`` says which tensor it is (``"logits"``, ``"hidden_states[-1]"``) so the message points
    at the place where the overflow showed up.
    """
    if not torch.is_tensor(tensor) or not (tensor.is_floating_point() or tensor.is_complex()):
        return tensor
    finite = torch.isfinite(tensor)
    if bool(finite.all()):
        return tensor
    n_nan = int(torch.isnan(tensor).sum())
    n_inf = int((~finite).sum()) - n_nan
    dtype = str(tensor.dtype).replace("torch.", "")
    raise NumericsError(
        f"inf/NaN in {what}: {n_inf} inf and {n_nan} NaN of {tensor.numel()} values (dtype {dtype}). "
        "This is typical of float16 overflow: Gemma's activations can exceed float16's largest value, "
        "65504, and then turn into inf and NaN. Fix: set LAB_DTYPE=float32 and load the model again "
        "(import os; os.environ['LAB_DTYPE'] = 'float32'; then run the loading cell again): "
        "Gemma-2-2b-it in float32 needs about 10.5 GB, which fits a T4's 15 GB."
    )


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


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set: models come from the local cache only."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
            return True
    try:
        from huggingface_hub import constants

        return bool(constants.is_offline_mode())
    except Exception:  # pragma: no cover - very old huggingface_hub
        return False


def _hub_cache_dir() -> str:
    """Where the hub cache is (``HF_HUB_CACHE`` / ``HF_HOME``), for messages."""
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except Exception:  # pragma: no cover
        return "the Hugging Face cache"


def _network_errors() -> tuple[type[BaseException], ...]:
    """Exception types of the hub client that mean 'no connection' (DNS, refused, timeout, offline mode)."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]  # OfflineModeIsEnabled is a ConnectionError
    client = _hub_http_client()
    if client is not None:
        errors.append(client.TransportError)  # ConnectError, ConnectTimeout, ReadTimeout, NetworkError, ProxyError...
    return tuple(errors)


def _hub_http_client():
    """The HTTP library the installed ``huggingface_hub`` really uses (``httpx2`` for 2.x, ``httpx`` for 1.x), or None."""
    import importlib

    try:
        from huggingface_hub.utils import get_session

        module = importlib.import_module(type(get_session()).__module__.split(".")[0])
    except Exception:  # pragma: no cover - an old or unusual hub client: fall back to OSError & co
        return None
    return module if isinstance(getattr(module, "TransportError", None), type) else None


def _hub_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean 'the hub (or the local cache) did not give us the files'."""
    errors: list[type[BaseException]] = [OSError, *_network_errors()]
    try:
        from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

        errors += [HfHubHTTPError, EntryNotFoundError]
    except ImportError:  # pragma: no cover - very old huggingface_hub
        pass
    return tuple(errors)


def _status_code(err: BaseException) -> int | None:
    """HTTP status of a hub error (``None`` when there was no response)."""
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None)


def classify_hub_error(err: BaseException, lookup: TokenLookup, needs_token: bool, offline: bool = False) -> str:
    """The real cause of a failed hub download.

    One of ``offline`` (HF_HUB_OFFLINE and not cached), ``network``, ``no-token``, ``licence``,
    ``bad-token``, ``not-found`` or ``other``. The exception *type* decides first; the message text
    is only a fallback for errors that transformers re-raised as plain ``OSError``.
    """
    try:
        from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, OfflineModeIsEnabled
        from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError
    except ImportError:  # pragma: no cover
        GatedRepoError = RepositoryNotFoundError = OfflineModeIsEnabled = EntryNotFoundError = RevisionNotFoundError = ()  # type: ignore
    status = _status_code(err)
    text = f"{type(err).__name__}: {err}".lower()
    if offline or isinstance(err, OfflineModeIsEnabled):
        return "offline"
    if isinstance(err, GatedRepoError) or "gated repo" in text or "restricted" in text:
        if lookup.token is None:
            return "no-token"
        return "bad-token" if status == 401 else "licence"
    if status == 401 or "invalid credentials" in text or "invalid user token" in text:
        return "bad-token" if lookup.token is not None else ("no-token" if needs_token else "not-found")
    if status == 403:
        return "licence" if needs_token else "bad-token"
    if isinstance(err, (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError)) or status == 404:
        return "no-token" if needs_token and lookup.token is None else "not-found"
    if isinstance(err, _network_errors()) or any(
        word in text for word in ("couldn't connect", "could not connect", "connection", "timed out", "timeout",
                                  "name or service not known", "temporary failure in name resolution",
                                  "network is unreachable", "offline")
    ):
        return "network"
    if needs_token and lookup.token is None and ("401" in text or "403" in text or "access" in text):
        return "no-token"
    return "other"


def _gemma_error(what: str, err: BaseException, lookup: TokenLookup, needs_token: bool = True,
                 offline: bool = False) -> BackendError:
    """One clear message for a failed hub download: the real cause, and what to do."""
    cause = classify_hub_error(err, lookup, needs_token, offline)
    token_note = ""
    if needs_token and lookup.token is None:
        token_note = " No Hugging Face token was found either, and this model needs one: " + TOKEN_HELP
        if lookup.colab_problem:
            token_note += f" (Colab Secrets answered {lookup.colab_problem}: add HF_TOKEN and allow notebook access.)"
    if cause == "offline":
        reason = (f"HF_HUB_OFFLINE=1 is set (no downloads) and {what} is not in the local cache "
                  f"({_hub_cache_dir()})")
        advice = ("Unset HF_HUB_OFFLINE on a machine with internet access to download it once, "
                  "or copy the cache folder over." + token_note)
    elif cause == "network":
        reason = "the model hub could not be reached (no network) and the files are not in the local cache"
        advice = NETWORK_HELP + token_note
    elif cause == "no-token":
        reason = "no Hugging Face token was found, and this model is gated (it needs a token whose account accepted the licence)"
        if lookup.colab_problem:
            reason += f" (Colab Secrets answered {lookup.colab_problem}: add HF_TOKEN and allow notebook access)"
        advice = TOKEN_HELP + " " + LICENCE_HELP
    elif cause == "licence":
        reason = ("the token was accepted, but its account has no access to this model: the Gemma licence "
                  "is not accepted yet (or the request is still pending)")
        advice = LICENCE_HELP
    elif cause == "bad-token":
        reason = (f"the Hugging Face token (from {lookup.source}) was rejected: it is invalid, revoked or mistyped"
                  + ("" if needs_token else " — this model is public and needs no token, but a wrong one is refused"))
        advice = ("Create a new read token in your Hugging Face settings and update the HF_TOKEN secret "
                  "(or unset HF_TOKEN / run `hf auth logout`" + (")." if needs_token else ": public models need none)."))
    elif cause == "not-found":
        reason = "the repository or file was not found on the model hub"
        advice = "Check the repository id and file name (and the helpers version); " + NETWORK_HELP
    else:
        reason = "the download failed"
        advice = GEMMA_HELP
    first_line = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
    if lookup.token:
        first_line = first_line.replace(lookup.token, "***")
    return BackendError(
        f"Could not load {what}: {reason}.\n{advice}\n{OFFLINE_HINT}\n(Underlying error: {type(err).__name__}: {first_line})"
    )


def probe_hub(repo_id: str, filename: str, token: str | None) -> BaseException | None:
    """One HEAD request for one file, short timeout and no retries: ``None`` if reachable and allowed, else the error."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    try:
        get_hf_file_metadata(hf_hub_url(repo_id, filename), token=token or False, timeout=HUB_TIMEOUT_S,
                             retry_on_errors=False)
    except Exception as err:  # classified by the caller
        return err
    return None


def _from_hub(what: str, repo_id: str, probe_file: str, lookup: TokenLookup, load):
    """``load(local_files_only)`` with the hub's failure modes turned into one :class:`BackendError`.

    With ``HF_HUB_OFFLINE`` set only the cache is read. Otherwise one quick probe comes first: if the
    hub is unreachable the cache is tried (no ~50 s of retries per file); if the hub refuses (no
    token, licence, bad token) the error says so before any download starts.
    """
    needs_token = repo_id in GATED_REPOS
    if hub_offline():
        try:
            return load(True)
        except _hub_errors() as err:
            raise _gemma_error(what, err, lookup, needs_token, offline=True) from None
    problem = probe_hub(repo_id, probe_file, lookup.token)
    if problem is not None:
        if classify_hub_error(problem, lookup, needs_token) == "network":
            try:
                return load(True)  # the files may be cached from an earlier run
            except _hub_errors():
                pass
        raise _gemma_error(what, problem, lookup, needs_token) from None
    try:
        return load(False)
    except _hub_errors() as err:
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
