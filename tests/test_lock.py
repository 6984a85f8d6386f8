"""The locked environment: requirements-lock.txt pins everything, agrees with the requirements, and setup uses it."""
import re

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from helpers.offline import lock
from tests.conftest import REPO_ROOT


def _requirements(path):
    """Every requirement of a requirements file, following ``-r`` includes."""
    found = []
    for raw in (REPO_ROOT / path).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r"):
            found += _requirements(line[2:].strip())
        elif line and not line.startswith("-"):
            found.append(Requirement(line))
    return found


@pytest.fixture(scope="module")
def pins():
    return lock.parse_pins(lock.LOCK_FILE.read_text())


def test_lock_pins_every_requirement_at_a_version_the_requirements_allow(pins):
    for requirement in _requirements("requirements-dev.txt"):
        name = lock.canonical(requirement.name)
        assert name in pins, f"{requirement.name} is required but not in requirements-lock.txt: run `make lock`"
        assert requirement.specifier.contains(Version(pins[name]), prereleases=True), (
            f"requirements-lock.txt has {name}=={pins[name]}, outside {requirement}: run `make lock`")


def test_lock_pins_torch_2_13_without_the_local_label_and_only_exact_versions(pins):
    assert pins["torch"] == "2.13.0"  # `==2.13.0` takes the local CPU wheel (2.13.0+cpu) where it is on disk
    assert not any(name.startswith("nvidia-") for name in pins), "a CUDA torch was locked"
    for name in ("scikit-learn", "transformers", "huggingface-hub", "jupyterlab", "nbconvert", "numpy"):
        assert name in pins, name
    assert Version(pins["scikit-learn"]) < Version("1.9"), "scikit-learn 1.9 changed t-SNE layouts (test_embeddings)"
    assert len(pins) > 100  # transitive dependencies are in it, not just the top level
    with pytest.raises(ValueError, match="not an exact pin"):
        lock.parse_pins("numpy>=1.26\n")


def test_colab_requirements_do_not_force_torch_or_jupyter():
    names = {lock.canonical(r.name) for r in _requirements("requirements.txt")}
    assert not names & {"torch", "jupyterlab", "notebook", "ipykernel", "jupyter-server", "nbconvert"}
    assert "-c" not in (REPO_ROOT / "requirements.txt").read_text()  # Colab never sees the lock


def test_setup_installs_from_the_lock_and_its_stamp_depends_on_it():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^LOCK := requirements-lock\.txt$", makefile, re.M)
    assert re.search(r"^\$\(STAMP\):.*\$\(LOCK\)", makefile, re.M), "the setup stamp must depend on the lock"
    assert re.search(r"pip install .*torch==2\.13\.0 -r requirements-dev\.txt -c \$\(LOCK\)", makefile)
    assert "helpers.offline.lock check" in makefile and "helpers.offline.lock write" in makefile
    assert re.search(r"^lock:", makefile, re.M)


@pytest.mark.parametrize(
    "installed, locked, expected",
    [
        ({"a": "1.0", "torch": "2.13.0+cpu"}, {"a": "1.0", "torch": "2.13.0"}, []),
        ({"a": "1.1"}, {"a": "1.0"}, ["different: a is 1.1, the lock says 1.0"]),
        ({}, {"a": "1.0"}, ["missing: a==1.0"]),
        ({"a": "1.0", "b": "2"}, {"a": "1.0"}, ["not in the lock: b==2"]),
        ({"torch": "2.14.0+cpu"}, {"torch": "2.13.0"}, ["different: torch is 2.14.0+cpu, the lock says 2.13.0"]),
    ],
)
def test_compare_reports_every_difference(installed, locked, expected):
    assert lock.compare(installed, locked) == expected


def test_render_sorts_and_drops_torch_local_label():
    text = lock.render({"zeta": "1", "torch": "2.13.0+cpu", "alpha-pkg": "3"}, {"alpha-pkg": "Alpha_Pkg"})
    body = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert body == ["Alpha_Pkg==3", "torch==2.13.0", "zeta==1"]
    assert lock.parse_pins(text) == {"alpha-pkg": "3", "torch": "2.13.0", "zeta": "1"}
