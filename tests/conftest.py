"""Shared test setup: the offline backend, never the model hub."""
import os
import sys
from pathlib import Path

os.environ.setdefault("LAB_BACKEND", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
