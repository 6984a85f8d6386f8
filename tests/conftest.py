"""Shared test setup: the offline backend, never the model hub; one thread, so numbers do not depend on the machine."""
import os
import sys
from pathlib import Path

os.environ.setdefault("LAB_BACKEND", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Pinned before torch is imported: float sums (matmuls, softmax) are reduced in a thread-count-dependent
# order, so a result compared at 1e-6 could differ between a 2-core CI runner and a 64-core workstation.
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_name] = "1"

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:  # already set (torch allows it once, before any parallel work)
    pass


def pytest_configure(config):
    config.addinivalue_line("markers", "sandbox: runs student code in the bubblewrap sandbox (seconds to minutes each)")
    config.addinivalue_line("markers", "slow: starts Jupyter kernels or other processes (left out of `make mutation`)")


def pytest_xdist_make_scheduler(config, log):
    """``make test`` runs on two pytest-xdist workers, one test file at a time per worker.

    A file's tests stay on one worker, so a module-scoped fixture (a graded batch, a built release, a Jupyter
    kernel) is made once, and the cells of one notebook (nbval) run in order in one kernel. (``--dist loadgroup``
    would do this with marks, but its node-id suffix does not take effect with pytest 9.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class FileScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid.split("::", 1)[0]

    return FileScheduling(config, log)


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


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """``run_cli(main, argv)`` -> ``(exit code, stdout, stderr)`` of an argparse command line, 200 columns wide."""
    monkeypatch.setenv("COLUMNS", "200")

    def run(main, argv):
        with pytest.raises(SystemExit) as info:
            main(argv)
        out = capsys.readouterr()
        return info.value.code, out.out, out.err

    return run


@pytest.fixture(scope="session")
def expected_cache(tmp_path_factory):
    """One cache directory of the grader's instructor outputs (``.expected-<course digest>.json``) for the whole
    run, both pytest-xdist workers included: pass it as ``grade_all(..., cache_dir=expected_cache)``.

    ``warm_expected(course, expected_cache)`` computes a course's outputs once, under a file lock, so the other
    worker waits for the file instead of running the same solutions again (or reading a half-written file).
    """
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    cache = root / "expected-cache"
    cache.mkdir(exist_ok=True)
    return cache


def warm_expected(course, cache: Path) -> None:
    """Make sure ``cache`` holds ``course``'s instructor outputs (grading no zip computes and caches them)."""
    import fcntl

    from helpers.coursework.grading import grader

    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (cache / f".expected-{course.digest()}.json").is_file():
            grader.grade_all([], cache / f"warm-{os.getpid()}", course=course, cache_dir=cache)


@pytest.fixture(scope="session")
def grade_shared(expected_cache):
    """``grade_shared(zips, out, course, **options)``: ``grade_all`` with the run's shared instructor outputs."""
    from helpers.coursework.grading import grader

    def grade(zips, out, course, **options):
        warm_expected(course, expected_cache)
        return grader.grade_all(zips, out, course=course, cache_dir=expected_cache, **options)

    return grade
