"""The system packages `make test` needs besides the venv, installed when possible, else one command to run.

    python3 -m helpers.offline.sysdeps            # make test: install what is missing, or stop with the command
    python3 -m helpers.offline.sysdeps --setup    # make setup: the same, but on a system that cannot run the
                                                  # grading tests (macOS, ...) only say so and go on

Two packages, both Debian's (standard library only here: this runs before the venv exists):

* ``bubblewrap`` — the grading tests run student code inside it (``helpers/coursework/grading/sandbox.py``);
  it needs Linux namespaces, so grading and ``make test`` need Linux. A ``bwrap`` that is installed but
  cannot create namespaces (a container without user namespaces, a kernel that restricts them) is found here,
  in seconds, not after minutes of tests.
* ``wordnet-base`` — WordNet 3.0's database, from which ``data/corpus/wordnet_simple.txt`` is regenerated and
  compared (``tests/test_wordnet.py``).

As root with ``apt-get`` (CI, a container) the missing ones are installed; otherwise the script prints the one
command that installs them and exits 1.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

WORDNET_DIR = Path("/usr/share/wordnet")


@dataclass(frozen=True)
class Requirement:
    package: str  # the Debian package that provides it
    why: str
    present: Callable[[], "str | None"]  # None when usable, else what is wrong


def bwrap_problem() -> "str | None":
    """None when ``bwrap`` can start a sandbox like the grader's (new pid/net/ipc namespaces), else why not."""
    path = shutil.which("bwrap")
    if not path:
        return "bwrap is not installed"
    args = [path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent", "true"]
    if os.geteuid() != 0:
        args[1:1] = ["--unshare-user"]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bwrap could not start a sandbox ({err})"
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        return f"bwrap is installed but cannot create namespaces here: {first}"
    return None


def wordnet_problem() -> "str | None":
    return None if (WORDNET_DIR / "data.noun").is_file() else f"{WORDNET_DIR}/data.noun is missing"


REQUIREMENTS = (
    Requirement("bubblewrap", "the grading tests run student code in it", bwrap_problem),
    Requirement("wordnet-base", "the general-English corpus is regenerated from it and compared", wordnet_problem),
)


def install_command(packages: list[str], root: bool) -> str:
    prefix = "" if root else "sudo "
    return f"{prefix}apt-get update && {prefix}apt-get install -y {' '.join(packages)}"


def apt_install(packages: list[str]) -> int:
    """``apt-get update`` + ``apt-get install -y`` (quiet, no prompts); the exit code."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print(f"sysdeps: installing {' '.join(packages)} with apt-get", flush=True)
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL)
        if done.returncode != 0:
            return done.returncode
    return 0


def problems(requirements=REQUIREMENTS) -> dict[str, str]:
    """``{package: what is wrong}`` for every requirement that is not met."""
    found = {}
    for req in requirements:
        wrong = req.present()
        if wrong:
            found[req.package] = f"{wrong} ({req.why})"
    return found


def ensure(setup_only: bool = False, *, system: str | None = None, root: bool | None = None,
           have_apt: bool | None = None, install=apt_install, requirements=REQUIREMENTS, out=sys.stderr) -> int:
    """Install what is missing where possible; 0 when everything is there, else 1 with the command to run."""
    system = platform.system() if system is None else system
    root = (os.geteuid() == 0) if root is None else root
    have_apt = (shutil.which("apt-get") is not None) if have_apt is None else have_apt
    if system != "Linux":
        print(f"sysdeps: the grading tests of `make test` need Linux (bubblewrap uses Linux namespaces); this is "
              f"{system}. `make lab` and `make run` work here; run `make test` in a Linux machine or container "
              f"(Debian/Ubuntu: it installs what it needs as root).", file=out)
        return 0 if setup_only else 1
    wrong = problems(requirements)
    if not wrong:
        return 0
    if root and have_apt:
        if install(sorted(wrong)) == 0:
            wrong = problems(requirements)
            if not wrong:
                return 0
    for package, why in wrong.items():
        print(f"sysdeps: {package}: {why}", file=out)
    packages = sorted(wrong)
    if have_apt:
        print(f"sysdeps: run `{install_command(packages, root)}`, then the make command again.", file=out)
    else:
        print(f"sysdeps: install {', '.join(packages)} with your system's package manager "
              f"(WordNet 3.0's database files must be in {WORDNET_DIR}), then the make command again.", file=out)
    if "bubblewrap" in wrong and "cannot create namespaces" in wrong["bubblewrap"]:
        print("sysdeps: bwrap needs user namespaces when not run as root (e.g. `sysctl kernel.unprivileged_userns_clone=1`,"
              " or on Ubuntu 24.04+ an AppArmor profile for bwrap); in a container, run it as root or with"
              " --privileged.", file=out)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m helpers.offline.sysdeps", description=__doc__.split("\n\n")[0])
    parser.add_argument("--setup", action="store_true",
                        help="make setup: on a system that cannot run the grading tests, only say so (exit 0)")
    args = parser.parse_args(argv)
    return ensure(setup_only=args.setup)


if __name__ == "__main__":
    sys.exit(main())
