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

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def lm():
    """``(model, tokenizer)`` of the offline backend, loaded once for the whole test run."""
    from helpers.backend import load_lm

    return load_lm("offline")


@pytest.fixture(scope="session")
def cross_encoder():
    """The offline cross-encoder (raw logits)."""
    from helpers.backend import load_cross_encoder

    return load_cross_encoder("offline")


@pytest.fixture(scope="session")
def sae():
    """The offline layer-20 JumpReLU SAE."""
    from helpers.backend import load_sae

    return load_sae("offline")
