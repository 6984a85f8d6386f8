"""helpers.colab with a stand-in ``google.colab`` module: links, the open notebook, downloads, Drive, the badge table."""
import sys
import types

import pytest

from helpers import colab

SLUG = "understanding-transformers/gemma-2-2b-it-course"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


@pytest.fixture
def fake_colab(monkeypatch):
    """``google.colab`` with ``_message``, ``files`` and ``drive`` that record their calls."""
    calls = {"requests": [], "downloads": [], "mounts": []}
    state = {"reply": {"ipynb": {"cells": [], "nbformat": 4}}, "mount": None}

    def blocking_request(kind, **kwargs):
        calls["requests"].append((kind, kwargs))
        return state["reply"]

    def mount(point):
        calls["mounts"].append(point)
        if state["mount"]:
            state["mount"](point)

    google, module = types.ModuleType("google"), types.ModuleType("google.colab")
    module._message = types.SimpleNamespace(blocking_request=blocking_request)
    module.files = types.SimpleNamespace(download=lambda path: calls["downloads"].append(path))
    module.drive = types.SimpleNamespace(mount=mount)
    google.colab = module
    for name, value in {"google": google, "google.colab": module}.items():
        monkeypatch.setitem(sys.modules, name, value)
    return calls, state


@pytest.fixture
def no_colab(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(colab, "_importable", lambda module: False)


def test_in_colab_only_with_google_colab(no_colab, fake_colab):
    assert colab.in_colab()  # the fake is in sys.modules


def test_not_in_colab_here(no_colab):
    assert colab.in_colab() is False


def test_importable_tells_an_importable_module_from_a_missing_one():
    assert colab._importable("json") is True
    assert colab._importable("no_such_module_for_this_course") is False


@pytest.mark.parametrize("url", [colab.REPO_URL, f"https://github.com/{SLUG}", f"https://github.com/{SLUG}/",
                                 f"https://github.com/{SLUG}.git/"])
def test_github_slug(url):
    assert colab.github_slug(url) == SLUG


def test_github_slug_defaults_to_the_course_repository():
    assert colab.github_slug() == SLUG


@pytest.mark.parametrize("url", ["http://github.com/a/b", "https://gitlab.com/a/b.git", "https://github.com/a",
                                 "https://github.com/a/b/c", "git@github.com:a/b.git", " https://github.com/a/b"])
def test_github_slug_refuses_other_urls(url):
    with pytest.raises(ValueError) as info:
        colab.github_slug(url)
    assert str(info.value) == (f"REPO_URL {url!r} is not a https://github.com/OWNER/NAME(.git) URL: "
                               "fix helpers/colab.py.")


def test_colab_url_and_badge():
    path = "notebooks/exercises/04_sampling_self_bleu.ipynb"
    url = f"https://colab.research.google.com/github/{SLUG}/blob/main/{path}"
    assert colab.colab_url(path) == url
    assert colab.colab_url("x.ipynb", "https://github.com/o/n.git", "dev") == "https://colab.research.google.com/github/o/n/blob/dev/x.ipynb"
    assert colab.badge_markdown(path) == f"[![Open In Colab]({BADGE})]({url})"


def test_open_notebook_json_outside_colab_says_to_save(no_colab):
    with pytest.raises(RuntimeError) as info:
        colab.open_notebook_json()
    assert str(info.value) == ("open_notebook_json() only works in Colab: elsewhere the notebook is the .ipynb file "
                               "on disk (save it first).")


def test_open_notebook_json_asks_colab_for_the_notebook(fake_colab):
    calls, state = fake_colab
    assert colab.open_notebook_json() == {"cells": [], "nbformat": 4}
    assert calls["requests"] == [("get_ipynb", {"request": "", "timeout_sec": 60})]


@pytest.mark.parametrize("reply", [None, "text", {}, {"ipynb": "not a dict"}, {"ipynb": None}])
def test_open_notebook_json_refuses_a_bad_reply(fake_colab, reply):
    fake_colab[1]["reply"] = reply
    with pytest.raises(RuntimeError) as info:
        colab.open_notebook_json()
    assert str(info.value) == "Colab did not return the notebook (File > Save, then run the cell again)."


def test_download_prints_the_path_outside_colab(no_colab, capsys, tmp_path):
    colab.download(tmp_path / "a.zip")
    assert capsys.readouterr().out == f"Saved {tmp_path / 'a.zip'}\n"


def test_download_hands_the_path_to_colab(fake_colab, capsys, tmp_path):
    colab.download(tmp_path / "a.zip")
    assert fake_colab[0]["downloads"] == [str(tmp_path / "a.zip")] and capsys.readouterr().out == ""


def test_mount_drive_outside_colab_is_none(no_colab):
    assert colab.mount_drive() is None


def test_mount_drive_uses_a_mounted_drive_without_asking(fake_colab, tmp_path):
    (tmp_path / "MyDrive").mkdir()
    assert colab.mount_drive(str(tmp_path)) == tmp_path / "MyDrive"
    assert fake_colab[0]["mounts"] == []


def test_mount_drive_mounts_at_content_drive_by_default(fake_colab):
    calls, _ = fake_colab
    assert colab.mount_drive() is None  # the fake mounts nothing, so there is no MyDrive
    assert calls["mounts"] == ["/content/drive"]


def test_mount_drive_returns_my_drive_once_mounted(fake_colab, tmp_path):
    calls, state = fake_colab
    state["mount"] = lambda point: (tmp_path / "MyDrive").mkdir()
    assert colab.mount_drive(str(tmp_path)) == tmp_path / "MyDrive"
    assert calls["mounts"] == [str(tmp_path)]


def test_declined_drive_is_reported_and_none(fake_colab, tmp_path, capsys):
    def declined(point):
        raise PermissionError("the user closed the dialog")

    fake_colab[1]["mount"] = declined
    assert colab.mount_drive(str(tmp_path)) is None
    assert capsys.readouterr().out == "Google Drive was not mounted (PermissionError); files stay on this runtime only.\n"


def test_gpu_advice(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert colab.gpu_advice() == ("No GPU: in Colab choose Runtime > Change runtime type > T4 GPU, then run the "
                                  "notebook again from the top.")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: f"Tesla T4 #{index}")
    assert colab.gpu_advice() == "GPU: Tesla T4 #0"


README = """# Course

Intro.

<!-- BADGES START: written by `make exercises` -->
| old | table |
<!-- BADGES END -->

After.
"""


def test_readme_badges_are_rewritten_between_the_markers_in_name_order():
    names = ["02_b.ipynb", "01_a.ipynb"]
    rows = [f"| 01 | `01_a` | {colab.badge_markdown('notebooks/exercises/01_a.ipynb')} |",
            f"| 02 | `02_b` | {colab.badge_markdown('notebooks/exercises/02_b.ipynb')} |"]
    expected = ("# Course\n\nIntro.\n\n<!-- BADGES START: written by `make exercises` -->\n"
                "| # | notebook | open |\n|---|---|---|\n" + "\n".join(rows) + "\n<!-- BADGES END -->\n\nAfter.\n")
    assert colab.readme_with_badges(README, names) == expected
    assert colab.readme_with_badges(expected, names) == expected  # a second run changes nothing


def test_readme_with_no_rows_keeps_the_header():
    text = colab.readme_with_badges(README, [])
    assert "| # | notebook | open |\n|---|---|---|\n<!-- BADGES END -->" in text and "| old |" not in text


@pytest.mark.parametrize("readme", ["# no markers\n", "<!-- BADGES END -->\n<!-- BADGES START -->\n",
                                    "<!-- BADGES START -->\n"])
def test_readme_without_the_markers_is_refused(readme):
    with pytest.raises(ValueError) as info:
        colab.readme_with_badges(readme, ["01_a.ipynb"])
    assert str(info.value) == ("README has no '<!-- BADGES START ... -->' / '<!-- BADGES END -->' block: "
                               "add one where the badges go.")
