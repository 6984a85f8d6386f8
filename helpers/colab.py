"""Colab glue: the repository URL, Open-in-Colab links, the open notebook's JSON, downloads.

``REPO_URL`` here is the one place the course's repository address is written; the
notebooks' setup cells and the README badges must agree with it (a test checks).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

REPO_URL = "https://github.com/understanding-transformers/gemma-2-2b-it-course.git"
BRANCH = "main"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def in_colab() -> bool:
    """True inside a Google Colab runtime."""
    return "google.colab" in sys.modules or _importable("google.colab")


def _importable(module: str) -> bool:
    """True if ``module`` can be imported."""
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def github_slug(repo_url: str = REPO_URL) -> str:
    """``owner/name`` of a GitHub clone URL."""
    match = re.match(r"^https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?$", repo_url)
    if not match:
        raise ValueError(f"REPO_URL {repo_url!r} is not a https://github.com/OWNER/NAME(.git) URL: fix helpers/colab.py.")
    return f"{match.group(1)}/{match.group(2)}"


def colab_url(path: str, repo_url: str = REPO_URL, branch: str = BRANCH) -> str:
    """Open-in-Colab URL of a notebook path in the repository, e.g. ``notebooks/exercises/01_x.ipynb``."""
    return f"https://colab.research.google.com/github/{github_slug(repo_url)}/blob/{branch}/{path}"


def badge_markdown(path: str) -> str:
    """Markdown of the Open-in-Colab badge for a notebook path in the repository."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(path)})"


def open_notebook_json() -> dict:
    """The notebook open in Colab as nbformat JSON (including unsaved edits and outputs)."""
    if not in_colab():
        raise RuntimeError("open_notebook_json() only works in Colab: elsewhere the notebook is the .ipynb file on disk (save it first).")
    from google.colab import _message  # type: ignore[import-not-found]

    reply = _message.blocking_request("get_ipynb", request="", timeout_sec=60)
    if not isinstance(reply, dict) or not isinstance(reply.get("ipynb"), dict):
        raise RuntimeError("Colab did not return the notebook (File > Save, then run the cell again).")
    return reply["ipynb"]


def download(path: str | Path) -> None:
    """Offer a file for download in the browser (Colab), or print where it is."""
    if in_colab():
        from google.colab import files  # type: ignore[import-not-found]

        files.download(str(path))
    else:
        print(f"Saved {path}")


def mount_drive(mount_point: str = "/content/drive") -> Path | None:
    """Mount Google Drive in Colab and return MyDrive (None outside Colab or if the user declines)."""
    if not in_colab():
        return None
    my_drive = Path(mount_point) / "MyDrive"
    if my_drive.is_dir():
        return my_drive
    try:
        from google.colab import drive  # type: ignore[import-not-found]

        drive.mount(mount_point)
    except Exception as err:  # the user closed the dialog, or Drive is unavailable
        print(f"Google Drive was not mounted ({type(err).__name__}); files stay on this runtime only.")
        return None
    return my_drive if my_drive.is_dir() else None


def gpu_advice() -> str:
    """One line on the runtime's accelerator, with how to get a T4 when there is none."""
    import torch

    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return "No GPU: in Colab choose Runtime > Change runtime type > T4 GPU, then run the notebook again from the top."


BADGES_START, BADGES_END = "<!-- BADGES START", "<!-- BADGES END -->"


def readme_with_badges(readme: str, names: list[str]) -> str:
    """README text with the badge table (between the BADGES markers) listing ``names`` (``NN_topic.ipynb``)."""
    start, end = readme.find(BADGES_START), readme.find(BADGES_END)
    if start < 0 or end < start:
        raise ValueError(f"README has no '{BADGES_START} ... -->' / '{BADGES_END}' block: add one where the badges go.")
    head = readme[: readme.index("\n", start) + 1]
    rows = [f"| {n[:2]} | `{n[:-6]}` | {badge_markdown(f'notebooks/exercises/{n}')} |" for n in sorted(names)]
    table = "| # | notebook | open |\n|---|---|---|\n" + "".join(row + "\n" for row in rows)
    return head + table + readme[end:]
