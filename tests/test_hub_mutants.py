"""helpers.hub, pinned where mutation testing found it unpinned: where a token comes from, when the hub counts as
offline, which typed error is behind a failure, every branch of the classification, the words of each message and
the one request of ``probe_hub``. The expected values are written out by hand; no network is used."""
import sys
import types

import httpx2
import huggingface_hub
import pytest
from huggingface_hub import constants
from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                    OfflineModeIsEnabled, RepositoryNotFoundError, RevisionNotFoundError)

from helpers import colab, hub
from tests.fakehub import fake_hf_token

URL = "https://hub.invalid/google/gemma-2-2b-it/resolve/main/config.json"
NO_TOKEN = hub.TokenLookup(None, "none")


def _response(status: int) -> httpx2.Response:
    return httpx2.Response(status, request=httpx2.Request("HEAD", URL))


def _token() -> hub.TokenLookup:
    return hub.TokenLookup(fake_hf_token(), "env:HF_TOKEN")


@pytest.fixture
def no_env_token(monkeypatch, tmp_path):
    """No token anywhere: not in the environment, no cached login, not in Colab."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(colab, "in_colab", lambda: False)


def _fake_colab(monkeypatch, get):
    fake = types.ModuleType("google.colab")
    fake.userdata = types.SimpleNamespace(get=get)
    google = types.ModuleType("google")
    google.colab = fake
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", fake)
    monkeypatch.setattr(colab, "in_colab", lambda: True)


# --- the token ---------------------------------------------------------------------------------------------


def test_repr_says_whether_a_token_was_found_and_where_never_the_token():
    token = fake_hf_token()
    assert repr(hub.TokenLookup(token, "env:HF_TOKEN")) == "TokenLookup(found=True, source='env:HF_TOKEN')"
    assert repr(hub.TokenLookup(None, "none")) == "TokenLookup(found=False, source='none')"
    assert hub.TokenLookup(None, "none").colab_problem is None


def test_no_token_anywhere_is_none_with_no_colab_problem(no_env_token):
    lookup = hub.find_hf_token()
    assert (lookup.token, lookup.source, lookup.colab_problem) == (None, "none", None)
    assert hub.get_hf_token() is None


def test_a_failing_client_lookup_counts_as_no_token(no_env_token, monkeypatch):
    def broken():
        raise RuntimeError("OIDC exchange failed")

    monkeypatch.setattr(huggingface_hub, "get_token", broken)
    assert hub.find_hf_token().source == "none"


@pytest.mark.parametrize("name", ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"])
def test_the_environment_variable_is_named_and_spaces_are_trimmed(no_env_token, monkeypatch, name):
    token = fake_hf_token()
    monkeypatch.setenv(name, f"  {token}\n")
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: f" {token} ")
    lookup = hub.find_hf_token()
    assert (lookup.token, lookup.source) == (token, f"env:{name}")
    assert hub.get_hf_token() == token


def test_a_token_unlike_the_environment_one_is_the_cached_login(no_env_token, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", fake_hf_token())
    other = fake_hf_token() + "x"
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: other)
    assert (hub.find_hf_token().token, hub.find_hf_token().source) == (other, "cached-login")


def test_colab_secret_is_trimmed_and_a_blank_secret_is_no_token(no_env_token, monkeypatch):
    asked = []
    values = iter(["  colab-secret-value \n", "   "])

    def get(name):
        asked.append(name)
        return next(values)

    _fake_colab(monkeypatch, get)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    first = hub.find_hf_token()
    assert (first.token, first.source, first.colab_problem) == ("colab-secret-value", "colab-secrets", None)
    second = hub.find_hf_token()  # a blank secret: nothing found, and no problem to report either
    assert (second.token, second.source, second.colab_problem) == (None, "none", None)
    assert asked == ["HF_TOKEN", "HF_TOKEN"]


def test_colab_problem_is_kept_next_to_a_token_found_elsewhere(no_env_token, monkeypatch):
    class NotebookAccessError(Exception):
        pass

    def get(name):
        raise NotebookAccessError(name)

    _fake_colab(monkeypatch, get)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    lookup = hub.find_hf_token()
    assert (lookup.token, lookup.source, lookup.colab_problem) == (None, "none", "NotebookAccessError")
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "cached-value")
    lookup = hub.find_hf_token()
    assert (lookup.token, lookup.source, lookup.colab_problem) == ("cached-value", "cached-login", "NotebookAccessError")


# --- offline mode ------------------------------------------------------------------------------------------


@pytest.fixture
def online(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.mark.parametrize("name", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
@pytest.mark.parametrize("value", ["1", "ON", "yes", " True ", "on"])
def test_offline_spellings(online, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    assert hub.hub_offline() is True


@pytest.mark.parametrize("value", ["0", "", "off", "no", "false", "2"])
def test_not_offline_spellings(online, monkeypatch, value):
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", value)
    assert hub.hub_offline() is False


def test_the_client_own_offline_flag_counts_too(online, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert hub.hub_offline() is True


# --- typed errors ------------------------------------------------------------------------------------------


def test_error_families():
    assert {ConnectionError, TimeoutError, httpx2.TransportError} <= set(hub.network_errors())
    assert {OSError, HfHubHTTPError, EntryNotFoundError, httpx2.TransportError} <= set(hub.hub_errors())


def _chain(*errors, via="cause"):
    """errors[0] raised from errors[1] raised from ... (``via``: ``cause`` = ``raise ... from``, else implicit)."""
    for outer, inner in zip(errors, errors[1:]):
        if via == "cause":
            outer.__cause__ = inner
        else:
            outer.__context__ = inner
    return errors[0]


def test_typed_cause_follows_cause_and_context_to_the_first_hub_error():
    connect = httpx2.ConnectError("no route")
    gated = GatedRepoError("gated", response=_response(401))
    assert hub.typed_cause(_chain(OSError("a"), ValueError("b"), connect)) is connect
    assert hub.typed_cause(_chain(OSError("a"), RuntimeError("b"), connect, via="context")) is connect
    assert hub.typed_cause(_chain(OSError("a"), gated, connect)) is gated  # the first one, not the deepest
    assert hub.typed_cause(_chain(OSError("a"), TimeoutError("t"))).__class__ is TimeoutError
    assert hub.typed_cause(_chain(OSError("a"), ConnectionRefusedError("r"))).__class__ is ConnectionRefusedError
    plain = _chain(OSError("a"), ValueError("b"))
    assert hub.typed_cause(plain) is plain
    loop_a, loop_b = OSError("a"), ValueError("b")
    loop_a.__cause__, loop_b.__cause__ = loop_b, loop_a
    assert hub.typed_cause(loop_a) is loop_a  # a cycle ends the walk


# (error, token?, needs_token, offline flag, expected cause)
MATRIX = [
    (OSError("plain"), False, True, True, "offline"),
    (OfflineModeIsEnabled("offline"), True, False, False, "offline"),
    (GatedRepoError("g", response=_response(401)), False, True, False, "no-token"),
    (GatedRepoError("g", response=_response(403)), False, False, False, "no-token"),
    (GatedRepoError("g", response=_response(401)), True, True, False, "bad-token"),
    (GatedRepoError("g", response=_response(403)), True, True, False, "licence"),
    (GatedRepoError("g", response=_response(400)), True, True, False, "licence"),
    (HfHubHTTPError("401", response=_response(401)), True, False, False, "bad-token"),
    (HfHubHTTPError("401", response=_response(401)), False, True, False, "no-token"),
    (HfHubHTTPError("401", response=_response(401)), False, False, False, "not-found"),
    (HfHubHTTPError("403", response=_response(403)), True, True, False, "licence"),
    (HfHubHTTPError("403", response=_response(403)), False, True, False, "licence"),
    (HfHubHTTPError("403", response=_response(403)), True, False, False, "bad-token"),
    (httpx2.ConnectError("x"), False, True, False, "network"),
    (httpx2.ReadTimeout("x"), True, False, False, "network"),
    (ConnectionError("x"), False, False, False, "network"),
    (TimeoutError("x"), False, False, False, "network"),
    (LocalEntryNotFoundError("not cached"), False, True, False, "network"),
    (RepositoryNotFoundError("r", response=_response(404)), False, True, False, "no-token"),
    (RepositoryNotFoundError("r", response=_response(404)), True, True, False, "not-found"),
    (RepositoryNotFoundError("r", response=_response(400)), False, False, False, "not-found"),
    (RevisionNotFoundError("r", response=_response(400)), False, False, False, "not-found"),
    (RevisionNotFoundError("r", response=_response(400)), False, True, False, "no-token"),
    (EntryNotFoundError("e"), True, False, False, "not-found"),
    (HfHubHTTPError("404", response=_response(404)), False, False, False, "not-found"),
    (HfHubHTTPError("404", response=_response(404)), False, True, False, "no-token"),
    (HfHubHTTPError("500", response=_response(500)), True, True, False, "other"),
    (OSError("no typed cause"), True, True, False, "other"),
]


@pytest.mark.parametrize("err, has_token, needs_token, offline, expected", MATRIX)
def test_every_branch_of_the_classification(err, has_token, needs_token, offline, expected):
    lookup = _token() if has_token else NO_TOKEN
    assert hub.classify_hub_error(err, lookup, needs_token, offline) == expected


def test_the_offline_flag_defaults_to_off():
    assert hub.classify_hub_error(OSError("x"), NO_TOKEN, True) == "other"


# --- the messages ------------------------------------------------------------------------------------------

TAIL = "\nOr set LAB_BACKEND=offline to use the small offline lab models instead.\n(Underlying error: "


def test_offline_message_names_the_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    message = hub.diagnose("the SAE", OfflineModeIsEnabled("offline mode"), NO_TOKEN, needs_token=False)
    assert message == (f"Could not load the SAE: HF_HUB_OFFLINE=1 is set (no downloads) and the SAE is not in the local "
                       f"cache ({tmp_path / 'cache'}).\nUnset HF_HUB_OFFLINE on a machine with internet access to "
                       "download it once, or copy the cache folder over." + TAIL
                       + "OfflineModeIsEnabled: offline mode)")


def test_offline_message_for_a_gated_model_adds_the_token_note_and_the_colab_answer(monkeypatch, tmp_path):
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    lookup = hub.TokenLookup(None, "none", "SecretNotFoundError")
    message = hub.diagnose("m", OSError("x"), lookup, needs_token=True, offline=True)
    assert ("copy the cache folder over. No Hugging Face token was found either, and this model needs one: "
            + hub.TOKEN_HELP + " (Colab Secrets answered SecretNotFoundError: add HF_TOKEN and allow notebook "
            "access.)" + TAIL) in message


def test_network_message():
    message = hub.diagnose("m", httpx2.ConnectError("Name or service not known"), _token(), needs_token=True)
    assert message == ("Could not load m: the model hub could not be reached (no network) and the files are not in "
                       "the local cache.\n" + hub.NETWORK_HELP + TAIL + "ConnectError: Name or service not known)")


def test_network_message_without_a_token_for_a_gated_model_says_so_too():
    message = hub.diagnose("m", httpx2.ConnectError("down"), NO_TOKEN, needs_token=True)
    assert (hub.NETWORK_HELP + " No Hugging Face token was found either, and this model needs one: "
            + hub.TOKEN_HELP + TAIL) in message


def test_no_token_message_with_and_without_a_colab_answer():
    err = GatedRepoError("401 gated", response=_response(401))
    assert hub.diagnose("m", err, NO_TOKEN) == (
        "Could not load m: no Hugging Face token was found, and this model is gated (it needs a token whose account "
        "accepted the licence).\n" + hub.TOKEN_HELP + " " + hub.LICENCE_HELP + TAIL + "GatedRepoError: 401 gated)")
    lookup = hub.TokenLookup(None, "none", "NotebookAccessError")
    assert hub.diagnose("m", err, lookup).startswith(
        "Could not load m: no Hugging Face token was found, and this model is gated (it needs a token whose account "
        "accepted the licence) (Colab Secrets answered NotebookAccessError: add HF_TOKEN and allow notebook access).\n")


def test_licence_message():
    err = GatedRepoError("403 gated", response=_response(403))
    assert hub.diagnose("m", err, _token()) == (
        "Could not load m: the token was accepted, but its account has no access to this model: the Gemma licence "
        "is not accepted yet (or the request is still pending).\n" + hub.LICENCE_HELP + TAIL
        + "GatedRepoError: 403 gated)")


def test_bad_token_messages_for_gated_and_public_models():
    err = HfHubHTTPError("401 Unauthorized", response=_response(401))
    lookup = hub.TokenLookup(fake_hf_token(), "cached-login")
    assert hub.diagnose("m", err, lookup, needs_token=True) == (
        "Could not load m: the Hugging Face token (from cached-login) was rejected: it is invalid, revoked or "
        "mistyped.\nCreate a new read token in your Hugging Face settings and update the HF_TOKEN secret (or unset "
        "HF_TOKEN / run `hf auth logout`)." + TAIL + "HfHubHTTPError: 401 Unauthorized)")
    assert hub.diagnose("m", err, lookup, needs_token=False) == (
        "Could not load m: the Hugging Face token (from cached-login) was rejected: it is invalid, revoked or "
        "mistyped — this model is public and needs no token, but a wrong one is refused.\nCreate a new read token in "
        "your Hugging Face settings and update the HF_TOKEN secret (or unset HF_TOKEN / run `hf auth logout`: public "
        "models need none)." + TAIL + "HfHubHTTPError: 401 Unauthorized)")


def test_not_found_and_other_messages():
    assert hub.diagnose("m", EntryNotFoundError("no such file"), NO_TOKEN, needs_token=False) == (
        "Could not load m: the repository or file was not found on the model hub.\nCheck the repository id and file "
        "name (and the helpers version); " + hub.NETWORK_HELP + TAIL + "EntryNotFoundError: no such file)")
    assert hub.diagnose("m", OSError("disk full"), _token(), needs_token=False) == (
        "Could not load m: the download failed.\n" + hub.GEMMA_HELP + TAIL + "OSError: disk full)")


def test_underlying_error_is_its_first_line_cut_at_300_characters_without_the_token():
    token = fake_hf_token()
    lookup = hub.TokenLookup(token, "env:HF_TOKEN")
    long = "  " + "a" * 290 + token + "b" * 50 + "\nsecond line\n"
    message = hub.diagnose("m", OSError(long), lookup, needs_token=False)
    first = ("a" * 290 + token)[:300]  # the token cut off by the 300 characters: no whole token left to hide
    assert message.endswith(f"(Underlying error: OSError: {first})")
    short = OSError(f"bad header {token} here\nmore")
    assert hub.diagnose("m", short, lookup, needs_token=False).endswith("(Underlying error: OSError: bad header *** here)")
    assert hub.diagnose("m", OSError("   "), NO_TOKEN, needs_token=False).endswith("(Underlying error: OSError: OSError)")
    assert hub.diagnose("m", OSError(), NO_TOKEN, needs_token=False).endswith("(Underlying error: OSError: OSError)")


def test_diagnose_needs_a_token_by_default():
    message = hub.diagnose("m", httpx2.ConnectError("down"), NO_TOKEN)
    assert "No Hugging Face token was found either" in message


# --- the probe ---------------------------------------------------------------------------------------------


def test_probe_is_one_quick_head_request_without_retries(monkeypatch):
    calls = []
    monkeypatch.setattr(huggingface_hub, "hf_hub_url", lambda repo, name: f"url:{repo}/{name}")

    def metadata(url, **kwargs):
        calls.append((url, kwargs))

    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", metadata)
    assert hub.probe_hub("org/repo", "config.json", None) is None
    assert hub.probe_hub("org/repo", "w.npz", "tok") is None
    assert calls == [("url:org/repo/config.json", {"token": False, "timeout": 5.0, "retry_on_errors": False}),
                     ("url:org/repo/w.npz", {"token": "tok", "timeout": 5.0, "retry_on_errors": False})]
    failure = httpx2.ConnectError("refused")

    def refuse(url, **kwargs):
        raise failure

    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", refuse)
    assert hub.probe_hub("org/repo", "config.json", None) is failure


# --- what the second mutation run left ---------------------------------------------------------------------


def test_a_colab_secret_read_as_none_is_no_token(no_env_token, monkeypatch):
    _fake_colab(monkeypatch, lambda name: None)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    lookup = hub.find_hf_token()
    assert (lookup.token, lookup.source, lookup.colab_problem) == (None, "none", None)


def test_offline_message_without_a_known_cache_folder(monkeypatch):
    monkeypatch.delattr(constants, "HF_HUB_CACHE")
    message = hub.diagnose("m", OfflineModeIsEnabled("off"), NO_TOKEN, needs_token=False)
    assert "is not in the local cache (the Hugging Face cache).\n" in message


def test_an_offline_check_that_fails_counts_as_online(online, monkeypatch):
    def broken():
        raise RuntimeError("old client")

    monkeypatch.setattr(constants, "is_offline_mode", broken)
    assert hub.hub_offline() is False


def test_diagnose_passes_needs_token_to_the_classification():
    err = HfHubHTTPError("403 Forbidden", response=_response(403))
    assert hub.diagnose("m", err, _token(), needs_token=True).startswith("Could not load m: the token was accepted")
    assert hub.diagnose("m", err, _token(), needs_token=False).startswith(
        "Could not load m: the Hugging Face token (from env:HF_TOKEN) was rejected")


def test_typed_cause_knows_the_httpx_of_older_hub_clients():
    import httpx

    old = httpx.ConnectError("no route")  # not a ConnectionError: found by its module
    assert hub.typed_cause(_chain(OSError("a"), old)) is old


def test_an_http_library_without_transport_errors_is_no_client(monkeypatch):
    import huggingface_hub.utils

    class Session:  # from a module (this test file) that defines no TransportError
        pass

    monkeypatch.setattr(huggingface_hub.utils, "get_session", lambda: Session())
    monkeypatch.setattr(Session, "__module__", "json.decoder")
    assert hub.hub_http_client() is None
    assert hub.network_errors() == (ConnectionError, TimeoutError)


def test_the_client_is_the_top_level_package_of_the_session_class(monkeypatch):
    import huggingface_hub.utils

    class Session:
        pass

    monkeypatch.setattr(Session, "__module__", "httpx2._client")  # where a session class may really live
    monkeypatch.setattr(huggingface_hub.utils, "get_session", lambda: Session())
    assert hub.hub_http_client() is httpx2
