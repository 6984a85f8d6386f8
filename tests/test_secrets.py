"""No Hugging Face token may ever be committed: scan every file of the repo."""
import subprocess
from pathlib import Path

from helpers.tokenscan import scan_text
from tests.conftest import REPO_ROOT
from tests.tokens import fake_hf_token

SKIP_DIRS = {".git", ".venv", "build", "__pycache__", ".pytest_cache", ".ipynb_checkpoints"}


def repo_files(root: Path) -> list[Path]:
    """Tracked and untracked (not ignored) files; every file if this is not a git checkout."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root, capture_output=True, check=True,
        ).stdout.decode()
        return [root / name for name in out.split("\0") if name and (root / name).is_file()]
    except (OSError, subprocess.CalledProcessError):
        return [p for p in root.rglob("*") if p.is_file() and not SKIP_DIRS & set(p.relative_to(root).parts)]


def scan(root: Path) -> list[str]:
    """``path:line`` of everything shaped like an HF token or a literal token passed to login()."""
    hits = []
    for path in repo_files(root):
        try:
            text = path.read_bytes().decode("utf-8", errors="ignore")
        except OSError:
            continue
        hits += scan_text(text, str(path.relative_to(root)))
    return hits


def test_scanner_finds_a_planted_token(tmp_path):
    (tmp_path / "notebook.ipynb").write_text('{"source": "token = \\"' + fake_hf_token(seed=1) + '\\""}')
    (tmp_path / "cell.py").write_text("log" + "in(token='abc')\n")
    (tmp_path / "clean.py").write_text("token = os.environ['HF_TOKEN']\n")
    assert sorted(scan(tmp_path)) == ["cell.py:1", "notebook.ipynb:1"]


def test_repository_contains_no_hf_token():
    hits = scan(REPO_ROOT)
    assert not hits, f"something shaped like a Hugging Face token is in: {hits} — remove it and read the token from Colab Secrets or HF_TOKEN"
