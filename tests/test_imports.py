"""The shipped helpers import each other without a cycle (a cycle is why backend and sae once imported lazily)."""
import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

HELPERS = REPO_ROOT / "helpers"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Every ``helpers...`` module that ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "helpers":
            for alias in node.names:  # `from helpers import sae` names a module, `from helpers.sae import x` does not
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in known else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "helpers"}
    return {m for m in found if m in known}


def graph(root: Path = HELPERS, skip: tuple[str, ...] = ("coursework", "offline")) -> dict[str, set[str]]:
    paths = [p for p in root.rglob("*.py") if not set(p.relative_to(root).parts[:-1]) & set(skip)]
    known = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, known) - {module_name(p)} for p in paths}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first walk (each reported once, from its smallest module name)."""
    found = set()

    def walk(node, path):
        for nxt in sorted(edges.get(node, ())):
            if nxt == path[0]:
                found.add(tuple(path))
            elif nxt not in path and nxt > path[0]:
                walk(nxt, path + [nxt])

    for start in sorted(edges):
        walk(start, [start])
    return [list(c) for c in sorted(found)]


def test_the_cycle_finder_finds_a_cycle_and_no_false_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_shipped_helpers_have_no_import_cycle():
    edges = graph()
    assert "helpers.backend" in edges and "helpers.sae" in edges["helpers.backend"]  # the walker sees real imports
    assert cycles(edges) == []


def test_lazy_imports_count_too(tmp_path):
    pkg = tmp_path / "helpers"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from helpers.b import x\n")
    (pkg / "b.py").write_text("def f():\n    from helpers import a\n")
    paths = [pkg / "a.py", pkg / "b.py"]
    known = {".".join(p.relative_to(tmp_path).with_suffix("").parts) for p in paths}
    edges = {".".join(p.relative_to(tmp_path).with_suffix("").parts): imports_of(p, known) for p in paths}
    assert cycles(edges) == [["helpers.a", "helpers.b"]]


def test_importing_the_plots_waits_for_the_first_figure_to_load_matplotlib_and_seaborn():
    import subprocess
    import sys

    code = ("import sys; from helpers import plots; before = {'seaborn', 'matplotlib.pyplot'} & set(sys.modules); "
            "plots.plot_scores({'a': 1.0}, 't', ylabel='y'); "
            "print(sorted(before), sorted({'seaborn', 'matplotlib.pyplot'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                         env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"})
    assert out.stdout.split("\n")[0] == "[] ['matplotlib.pyplot', 'seaborn']", out.stderr[-2000:]
