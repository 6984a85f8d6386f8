"""The instructor solutions, read from the instructor notebooks (never copied into tests)."""
import json
import re

import torch

from tests.conftest import REPO_ROOT


def instructor_functions(name: str) -> dict:
    """The exercise functions of an instructor notebook: every code cell with a solution block that defines one."""
    path = REPO_ROOT / "notebooks" / f"{name}.ipynb"
    namespace = {"torch": torch}
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:  # a missing notebook is a failure, not a skip
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and "# BEGIN SOLUTION" in source and re.search(r"(?m)^def \w+\(", source):
            exec(compile(source, path.name, "exec"), namespace)
    return namespace


def passes(check, fn, *args, capsys):
    """``check(fn, *args)`` accepts ``fn`` and says so."""
    check(fn, *args)
    assert "✓" in capsys.readouterr().out


def fails(check, fn, *args, match: str):
    """``check(fn, *args)`` rejects ``fn`` with the hint ``match``."""
    import pytest

    with pytest.raises(AssertionError, match=match):
        check(fn, *args)
