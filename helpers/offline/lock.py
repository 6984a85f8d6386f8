"""The locked environment: write ``requirements-lock.txt`` and check a venv against it.

``requirements.txt`` (what Colab installs, ranges, no torch) and ``requirements-dev.txt`` (adds
the test and Jupyter tools) say *what* the course needs; ``requirements-lock.txt`` says *which
exact version* of every package, transitive ones included, ``make setup`` and CI install. It is
used as pip constraints next to ``torch==2.13.0 -r requirements-dev.txt``, so the same command
that installs the course also pins every package in it.

    python -m helpers.offline.lock write            # make lock: fresh venv, resolve, pip freeze
    python -m helpers.offline.lock check            # this interpreter's packages == the lock?
    python -m helpers.offline.lock check --python /tmp/venv/bin/python

``write`` resolves in a brand-new temporary venv, so nothing already installed leaks into the
lock, and installs ``torch==2.13.0`` in the same pip call (the CPU wheel where one is on disk).
torch is written as ``torch==2.13.0`` without the local label (``+cpu``): pip then takes the
CPU wheel where it is available, and the lock stays installable elsewhere.

Why not a resolver that does not install (``uv pip compile``, ``pip-compile``, with hashes)? Both resolve
``torch==2.13.0`` from the package index's metadata, which is the CUDA build's: tried with uv 0.13.8
(``uv pip compile`` of ``torch==2.13.0`` + requirements-dev.txt for Python 3.11 on manylinux x86-64), the
lock gained 19 CUDA packages (``nvidia-*``, ``cuda-*``, ``triton``; 169 pins instead of 149) that the CPU wheel neither needs nor
installs, so ``check`` would fail on every CPU venv; and a hash of torch pins one build (CPU or CUDA), so a
hashed lock could not serve both. Installing and freezing locks what the course really runs.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK_FILE = REPO_ROOT / "requirements-lock.txt"
DEV_REQUIREMENTS = REPO_ROOT / "requirements-dev.txt"
TORCH_PIN = "torch==2.13.0"
LOCK_PYTHON = "3.11"  # the lock is resolved for this Python minor version (CI, Colab's current one)

HEADER = """\
# Exact versions of every package of the course environment (transitive ones included),
# for Python {python} on Linux with the CPU build of {torch}.
# Written by `make lock` (python -m helpers.offline.lock write): a fresh venv,
# `pip install {torch} -r requirements-dev.txt`, then `pip freeze`. Do not edit by hand.
# `make setup` and CI install with `-c requirements-lock.txt`; Colab installs the looser
# requirements.txt and keeps its own torch and Jupyter.
"""

_PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;#]+)")


def canonical(name: str) -> str:
    """PEP 503 name: ``Jinja2`` -> ``jinja2``, ``typing_extensions`` -> ``typing-extensions``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def public_version(version: str) -> str:
    """``2.13.0+cpu`` -> ``2.13.0`` (the local label says which build, not which release)."""
    return version.split("+", 1)[0]


def parse_pins(text: str) -> dict[str, str]:
    """``{canonical name: version}`` of every ``name==version`` line (comments, options and blanks skipped)."""
    pins: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = _PIN_RE.match(line)
        if not match:
            raise ValueError(f"not an exact pin (name==version): {raw!r}")
        pins[canonical(match.group(1))] = match.group(3)
    return pins


def freeze(python: str) -> dict[str, str]:
    """``pip freeze`` of an interpreter as ``{canonical name: version}`` (editable/URL installs rejected)."""
    out = subprocess.run(
        [python, "-m", "pip", "freeze", "--disable-pip-version-check"],
        capture_output=True, text=True, check=True,
    ).stdout
    pins: dict[str, str] = {}
    for line in out.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN_RE.match(line)
        if not match:
            raise ValueError(f"{python}: `pip freeze` gave {line!r}, which is not name==version (editable or URL install?)")
        pins[canonical(match.group(1))] = match.group(3)
    return pins


def render(pins: dict[str, str], names: dict[str, str] | None = None) -> str:
    """The lock file's text: header, then ``name==version`` sorted by name, torch without its local label."""
    names = names or {}
    lines = [HEADER.format(python=LOCK_PYTHON, torch=TORCH_PIN)]
    for key in sorted(pins):
        version = public_version(pins[key]) if key == "torch" else pins[key]
        lines.append(f"{names.get(key, key)}=={version}\n")
    return "".join(lines)


def compare(installed: dict[str, str], locked: dict[str, str]) -> list[str]:
    """One line per difference between an environment and the lock (empty list: identical)."""
    problems = []
    for name in sorted(set(installed) | set(locked)):
        have, want = installed.get(name), locked.get(name)
        if have is None:
            problems.append(f"missing: {name}=={want}")
        elif want is None:
            problems.append(f"not in the lock: {name}=={have}")
        elif (public_version(have) != public_version(want)) if name == "torch" else (have != want):
            problems.append(f"different: {name} is {have}, the lock says {want}")
    return problems


def _run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def write(out: Path = LOCK_FILE, python: str = sys.executable) -> dict[str, str]:
    """Resolve ``torch==2.13.0 -r requirements-dev.txt`` in a fresh venv and write its ``pip freeze`` to ``out``."""
    version = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    if version != LOCK_PYTHON:
        print(f"warning: resolving with Python {version}; the lock is meant for Python {LOCK_PYTHON}", file=sys.stderr)
    workdir = Path(tempfile.mkdtemp(prefix="course-lock-"))
    venv = workdir / "venv"
    try:
        _run([python, "-m", "venv", "--clear", str(venv)])
        vpy = str(venv / "bin" / "python")
        _run([vpy, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", TORCH_PIN, "-r", str(DEV_REQUIREMENTS)])
        _run([vpy, "-m", "pip", "check"])
        pins = freeze(vpy)
        names = _display_names(vpy)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if "torch" not in pins or public_version(pins["torch"]) != TORCH_PIN.split("==")[1]:
        raise SystemExit(f"the fresh venv has torch {pins.get('torch')}, not {TORCH_PIN}: refusing to write the lock")
    Path(out).write_text(render(pins, names))
    print(f"wrote {out}: {len(pins)} packages (Python {version}, {platform.machine()})")
    return pins


def _display_names(python: str) -> dict[str, str]:
    """``{canonical: name as the package spells it}`` so the lock reads like ``pip freeze``."""
    code = ("import json, importlib.metadata as m; "
            "print(json.dumps([d.metadata['Name'] for d in m.distributions()]))")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout
    return {canonical(name): name for name in json.loads(out)}


def check(python: str = sys.executable, lock: Path = LOCK_FILE) -> list[str]:
    """Differences between ``pip freeze`` of ``python`` and the lock (empty list: they are equal)."""
    return compare(freeze(python), parse_pins(Path(lock).read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.offline.lock", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="resolve in a fresh venv and write the lock")
    w.add_argument("--out", type=Path, default=LOCK_FILE)
    w.add_argument("--python", default=sys.executable, help="interpreter that creates the venv")
    c = sub.add_parser("check", help="compare an interpreter's installed packages with the lock")
    c.add_argument("--python", default=sys.executable)
    c.add_argument("--lock", type=Path, default=LOCK_FILE)
    c.add_argument("--strict", action="store_true", help="packages that are not in the lock are an error too")
    args = parser.parse_args(argv)
    if args.command == "write":
        write(args.out, args.python)
        return 0
    problems = check(args.python, args.lock)
    extra = [p for p in problems if p.startswith("not in the lock")]
    errors = problems if args.strict else [p for p in problems if p not in extra]
    if errors:
        print(f"{args.python} does not match {args.lock.name}:", *errors, sep="\n  ", file=sys.stderr)
        print("run `make setup` (or `make lock` if the requirements changed on purpose)", file=sys.stderr)
        return 1
    count = len(parse_pins(Path(args.lock).read_text()))
    note = f" ({len(extra)} more installed by hand: {', '.join(p.split(': ', 1)[1] for p in extra)})" if extra else ""
    print(f"{args.python}: all {count} packages as in {args.lock.name}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
