"""``make run``: execute every notebook headless on the offline backend, keep the results, print a summary.

    python -m helpers.offline.run_all                        # notebooks/[0-9]*.ipynb -> build/run/
    python -m helpers.offline.run_all --out DIR --timeout 600 notebooks/03_tokenization.ipynb

Each notebook runs in its own fresh kernel with ``LAB_BACKEND=offline`` and the hub offline, in
the output folder (so answer files land there, not next to the sources). For each one the
executed notebook ``NAME.ipynb`` and an HTML rendering ``NAME.html`` are written to the output
folder, also when a cell fails (the traceback is in them), plus ``summary.json``. The exit
status is 1 if any notebook failed or timed out.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "build" / "run"
DEFAULT_TIMEOUT_S = 900  # per cell
SECRET_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")  # never handed to a kernel whose outputs get written


@dataclass
class Result:
    """How one notebook went."""

    notebook: str
    seconds: float
    status: str  # "ok" or "error"
    error: str = ""


def default_notebooks(root: Path = REPO_ROOT) -> list[Path]:
    """``notebooks/[0-9]*.ipynb``, in order."""
    return sorted((root / "notebooks").glob("[0-9]*.ipynb"))


def offline_environment() -> None:
    """The offline backend for this process and the kernels it starts; no token in their environment."""
    os.environ["LAB_BACKEND"] = "offline"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # no debugger warning in outputs
    for name in SECRET_VARIABLES:
        os.environ.pop(name, None)


def _error_line(err: BaseException) -> str:
    """``ename: evalue`` of a failed cell (or the exception), one line."""
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    text = f"{ename}: {evalue}" if ename else f"{type(err).__name__}: {err}"
    return " ".join(text.split())[:200]


def run_notebook(path: Path, out: Path, timeout: int = DEFAULT_TIMEOUT_S, cwd: Path | None = None) -> Result:
    """Execute one notebook in a fresh kernel in ``cwd`` (default ``out``); write ``out/NAME.ipynb`` and ``out/NAME.html``."""
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    status, error = "ok", ""
    with tempfile.TemporaryDirectory(prefix="run-all-") as sockets:
        # IPC sockets, not TCP on localhost: nothing listens on a port, and the kernel has no warning to print.
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
        client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(cwd or out)}})
        try:
            client.execute()
        except Exception as err:  # CellExecutionError, CellTimeoutError, DeadKernelError
            status, error = "error", _error_line(err)
        finally:
            if km.has_kernel:
                km.shutdown_kernel(now=True)
    seconds = time.perf_counter() - start
    nbformat.write(nb, out / path.name)
    html, _ = HTMLExporter().from_notebook_node(nb)
    (out / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    return Result(path.name, round(seconds, 1), status, error)


def summary(results: list[Result], out: Path) -> str:
    """The one-screen table: notebook, seconds, ok/error (and the error's first line)."""
    width = max([len(r.notebook) for r in results] + [8])
    lines = [f"{'notebook':<{width}}  {'seconds':>7}  status", "-" * (width + 17)]
    for r in results:
        lines.append(f"{r.notebook:<{width}}  {r.seconds:>7.1f}  {r.status}" + (f"  {r.error}" if r.error else ""))
    failed = sum(r.status != "ok" for r in results)
    total = sum(r.seconds for r in results)
    lines.append("-" * (width + 17))
    lines.append(f"{len(results) - failed}/{len(results)} ok in {total:.0f} s; executed notebooks and HTML in {_shown(out)}")
    return "\n".join(lines)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run_all(notebooks: list[Path], out: Path, timeout: int = DEFAULT_TIMEOUT_S) -> list[Result]:
    """Execute the notebooks one after the other with a progress bar; ``summary.json`` in ``out``."""
    from tqdm import tqdm

    offline_environment()
    out.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    with tqdm(notebooks, desc="notebooks", unit="nb", file=sys.stderr, dynamic_ncols=True) as bar:
        for path in bar:
            bar.set_postfix_str(path.name)
            results.append(run_notebook(Path(path), out, timeout))
    (out / "summary.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.offline.run_all", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/[0-9]*.ipynb")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: build/run")
    parser.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_S, help="seconds per cell")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or default_notebooks()
    missing = [str(p) for p in notebooks if not Path(p).is_file()]
    if missing or not notebooks:
        print(f"no such notebook: {', '.join(missing)}" if missing else "no notebooks found", file=sys.stderr)
        return 2
    results = run_all(notebooks, args.out.resolve(), args.timeout)
    print(summary(results, args.out))
    return 0 if all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
