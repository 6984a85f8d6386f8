"""The model hub: where the real models are, which token is used, and why a download failed.

A Hugging Face token comes from the Colab Secrets panel (``HF_TOKEN``), then from the hub client's own
lookup (``huggingface_hub.get_token``: the environment, ``hf auth login``); it is never printed, stored or
written anywhere. A failed download is traced back to the hub client's typed error (transformers re-raises
them as ``OSError ... from``) and its HTTP status, and turned into one message with the real cause — no
network, ``HF_HUB_OFFLINE=1`` with nothing cached, no token, licence not accepted, a rejected token — and
what to do. ``helpers.backend`` raises it as a ``BackendError``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from helpers import colab

GEMMA_LM_ID = "google/gemma-2-2b-it"
GEMMA_CROSS_ENCODER_ID = "cross-encoder/ms-marco-MiniLM-L-6-v2"
GEMMA_SAE_REPO = "google/gemma-scope-2b-pt-res"
GEMMA_SAE_FILE = "layer_20/width_16k/average_l0_71/params.npz"

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


@dataclass(frozen=True)
class TokenLookup:
    """Where a token came from (never the token's text in ``repr``)."""

    token: str | None
    source: str
    colab_problem: str | None = None

    def __repr__(self) -> str:
        return f"TokenLookup(found={self.token is not None}, source={self.source!r})"


def _colab_secret() -> tuple[str | None, str | None]:
    """``(token, problem)`` from Colab's Secrets panel: the ``HF_TOKEN`` secret, or why it could not be read."""
    if not colab.in_colab():
        return None, None
    try:
        from google.colab import userdata

        token = userdata.get("HF_TOKEN")
    except Exception as err:  # SecretNotFoundError, NotebookAccessError, TimeoutException
        return None, type(err).__name__
    return (token.strip() or None) if token else None, None


def find_hf_token() -> TokenLookup:
    """Look for a Hugging Face token: Colab Secrets ``HF_TOKEN`` first, then ``huggingface_hub.get_token()``.

    ``get_token`` is the hub client's own lookup (``HF_TOKEN`` / ``HUGGING_FACE_HUB_TOKEN``, a CI's OIDC
    exchange, the token file of ``hf auth login``). The Secrets panel is asked first, and here, because the
    course tells students to put the token there, and ``get_token`` asks it last, remembers the first answer
    for the whole session (a secret added after a failed cell would be missed until a restart) and turns a
    refused notebook access into a warning; this lookup names that problem instead (``colab_problem``).
    """
    token, colab_problem = _colab_secret()
    if token:
        return TokenLookup(token, "colab-secrets")
    import huggingface_hub

    try:
        token = huggingface_hub.get_token()
    except Exception:  # an OIDC exchange that failed: treated as no token; the hub's answer says the rest
        token = None
    if not token:
        return TokenLookup(None, "none", colab_problem)
    token = token.strip()
    env = next((name for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN") if os.environ.get(name, "").strip() == token), None)
    return TokenLookup(token, f"env:{env}" if env else "cached-login", colab_problem)


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


def network_errors() -> tuple[type[BaseException], ...]:
    """Exception types of the hub client that mean 'no connection' (DNS, refused, timeout, offline mode)."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]  # OfflineModeIsEnabled is a ConnectionError
    client = hub_http_client()
    if client is not None:
        errors.append(client.TransportError)  # ConnectError, ConnectTimeout, ReadTimeout, NetworkError, ProxyError...
    return tuple(errors)


def hub_http_client():
    """The HTTP library the installed ``huggingface_hub`` really uses (``httpx2`` for 2.x, ``httpx`` for 1.x), or None."""
    import importlib

    try:
        from huggingface_hub.utils import get_session

        module = importlib.import_module(type(get_session()).__module__.split(".")[0])
    except Exception:  # pragma: no cover - an old or unusual hub client: fall back to OSError & co
        return None
    return module if isinstance(getattr(module, "TransportError", None), type) else None


def hub_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean 'the hub (or the local cache) did not give us the files'."""
    errors: list[type[BaseException]] = [OSError, *network_errors()]
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


def typed_cause(err: BaseException) -> BaseException:
    """The hub client's own error behind ``err``: transformers re-raises hub errors as ``OSError(...) from err``.

    Follows ``__cause__`` (then ``__context__``) to the first error of ``huggingface_hub`` or of its HTTP
    library; ``err`` itself when there is none.
    """
    seen, current = set(), err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        module = type(current).__module__.split(".")[0]
        if module in ("huggingface_hub", "httpx", "httpx2") or isinstance(current, (ConnectionError, TimeoutError)):
            return current
        current = current.__cause__ or current.__context__
    return err


def classify_hub_error(err: BaseException, lookup: TokenLookup, needs_token: bool, offline: bool = False) -> str:
    """The real cause of a failed hub download, from the hub client's typed errors and the HTTP status.

    One of ``offline`` (HF_HUB_OFFLINE and not cached), ``network``, ``no-token``, ``licence``,
    ``bad-token``, ``not-found`` or ``other``. The error is first traced back to the hub client's own
    (:func:`typed_cause`); no message text is read.
    """
    from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, LocalEntryNotFoundError,
                                        OfflineModeIsEnabled, RepositoryNotFoundError, RevisionNotFoundError)

    cause = typed_cause(err)
    status = _status_code(cause)
    if offline or isinstance(cause, OfflineModeIsEnabled):
        return "offline"
    if isinstance(cause, GatedRepoError):
        if lookup.token is None:
            return "no-token"
        return "bad-token" if status == 401 else "licence"
    if status == 401:
        return "bad-token" if lookup.token is not None else ("no-token" if needs_token else "not-found")
    if status == 403:
        return "licence" if needs_token else "bad-token"
    if isinstance(cause, (*network_errors(), LocalEntryNotFoundError)):  # (before EntryNotFoundError, its base)
        return "network"  # LocalEntryNotFoundError: not in the cache, and the hub could not be asked
    if isinstance(cause, (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError)) or status == 404:
        return "no-token" if needs_token and lookup.token is None else "not-found"
    return "other"


def diagnose(what: str, err: BaseException, lookup: TokenLookup, needs_token: bool = True,
             offline: bool = False) -> str:
    """One clear message for a failed hub download: the real cause, and what to do (the token never in it)."""
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
    return f"Could not load {what}: {reason}.\n{advice}\n{OFFLINE_HINT}\n(Underlying error: {type(err).__name__}: {first_line})"


def probe_hub(repo_id: str, filename: str, token: str | None) -> BaseException | None:
    """One HEAD request for one file, short timeout and no retries: ``None`` if reachable and allowed, else the error."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    try:
        get_hf_file_metadata(hf_hub_url(repo_id, filename), token=token or False, timeout=HUB_TIMEOUT_S,
                             retry_on_errors=False)
    except Exception as err:  # classified by the caller
        return err
    return None
