"""Repository guards: CI runs the README's command, and nothing can pull a CUDA build of torch."""
import re

from tests.conftest import REPO_ROOT


def _requirement_names(path):
    names = []
    for line in (REPO_ROOT / path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower())
    return names


def test_requirements_never_name_torch():
    """Colab already has torch; an unpinned torch would pull a multi-GB CUDA build elsewhere."""
    for path in ("requirements.txt", "requirements-dev.txt"):
        assert "torch" not in _requirement_names(path), f"{path} must not list torch (make setup pins it)"


def test_setup_pins_the_cpu_torch_wheel_in_the_same_pip_call():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*torch==2\.13\.0 -r requirements-dev\.txt", makefile)


def test_ci_runs_the_readme_test_command_and_nothing_else():
    readme = (REPO_ROOT / "README.md").read_text()
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == "make test" and "make test" in readme
    assert [c for c in commands[:-1] if not (c.startswith("set ") or c.startswith("cd "))] == []  # no extra step


def test_make_test_sets_itself_up_system_packages_first():
    """`make test` alone is the whole set-up: the system check runs before the (slow) venv is built."""
    makefile = (REPO_ROOT / "Makefile").read_text()
    test_rule = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert test_rule.split(":", 1)[1].split() == ["sysdeps", "$(STAMP)"]
    assert "helpers.offline.sysdeps" in makefile
