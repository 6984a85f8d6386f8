"""The grading sandbox: bubblewrap, an allow-list of read-only mounts, no network, limits.

Inside the sandbox a submission sees only:

- the Python interpreter and the course's virtual environment, read-only;
- ``/course/helpers`` (the student release's package) and ``/course/data/offline``, read-only;
- ``/grader`` with ``harness.py`` and ``makers.py``, read-only: nothing else of the grading code (no spec, keys,
  cases, comparisons or instructor solutions), and neither file holds an answer; the harness loads ``makers``
  from its file before the first student line and takes ``/grader`` off ``sys.path``, so student code cannot
  import them;
- ``/course/notebooks`` (its working folder), ``/tmp`` and ``$HOME`` as small private tmpfs;
- the job file, read-only.

New pid/net/ipc/uts namespaces, a cleared environment with an allow-list, ``--die-with-parent``
and ``--new-session``; as root the harness drops to ``nobody`` with no capabilities. Limits: wall
time (the grader kills the sandbox), address space, processes, file size, and what it can print.
Spec, keys, expected outputs, instructor solutions, other students and the grader's own home,
environment and token are not there.
"""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from helpers.errors import CourseError

GRADER_DIR = Path(__file__).resolve().parent
NOBODY = 65534
ENV_ALLOW = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/student",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "LAB_BACKEND": "offline",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "MPLBACKEND": "Agg",
    "MPLCONFIGDIR": "/tmp/mpl",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


class SandboxError(CourseError, RuntimeError):
    """The sandbox cannot run here (no bubblewrap, or it fails to start); the message says what to do."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run."""

    seconds: float = 300.0
    # Time allowed to reach the harness's first result line (interpreter start, imports): the `seconds` above
    # count from then, so a slow machine's start-up is never taken from the student's time. 0: no separate allowance.
    startup_seconds: float = 0.0
    memory_bytes: int = 8 * 2**30
    processes: int = 64
    file_bytes: int = 64 * 2**20
    tmpfs_bytes: int = 256 * 2**20
    log_bytes: int = 64 * 2**10
    result_bytes: int = 64 * 2**20


@dataclass
class RunOutcome:
    """What came out of one sandboxed run."""

    results: bytes
    log: bytes
    returncode: int | None
    timed_out: bool
    seconds: float
    dropped_log_bytes: int = 0
    dropped_result_bytes: int = 0
    command: list[str] = field(default_factory=list)


def bwrap_path() -> str:
    path = shutil.which("bwrap")
    if not path:
        raise SandboxError(
            "bubblewrap (`bwrap`) is not installed: `apt-get install bubblewrap` (Debian/Ubuntu), "
            "or pass --unsafe-no-sandbox only on a throwaway machine.")
    return path


def _dirs_for(path: str, made: set[str]) -> list[str]:
    """``--perms 0755 --dir`` for every missing ancestor of ``path`` (bwrap makes them 0700 otherwise)."""
    args: list[str] = []
    parts = Path(path).parts
    for i in range(2, len(parts)):
        parent = str(Path(*parts[:i]))
        if parent not in made:
            made.add(parent)
            args += ["--perms", "0755", "--dir", parent]
    return args


def command(code_dir: Path, assets_dir: Path, job_file: Path, limits: Limits) -> list[str]:
    """The bwrap command line that runs ``harness.py`` on ``job_file``."""
    made: set[str] = {"/"}
    args = [bwrap_path(), "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--clearenv"]
    for key, value in ENV_ALLOW.items():
        args += ["--setenv", key, value]
    # Private scratch first: the read-only binds below may lie under /tmp (a CI clone's venv) and must stay visible.
    args += ["--perms", "0755", "--dir", "/home"]
    for tmp in ("/tmp", "/home/student"):
        args += ["--size", str(limits.tmpfs_bytes), "--perms", "1777", "--tmpfs", tmp]
    made |= {"/tmp", "/home", "/home/student"}
    for system in ("/usr", "/bin", "/lib", "/lib64", "/sbin"):
        if os.path.exists(system):
            args += ["--ro-bind", system, system]
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf"):
        if os.path.exists(etc):
            args += ["--ro-bind", etc, etc]
    prefixes = sorted({os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix})
    for prefix in prefixes:
        if not any(prefix != p and prefix.startswith(p + "/") for p in prefixes):
            args += _dirs_for(prefix, made) + ["--ro-bind", prefix, prefix]
    args += ["--perms", "0755", "--dir", "/course", "--perms", "0755", "--dir", "/course/data",
             "--ro-bind", str(code_dir), "/course/helpers", "--ro-bind", str(assets_dir), "/course/data/offline",
             "--perms", "0755", "--dir", "/grader",
             "--ro-bind", str(GRADER_DIR / "harness.py"), "/grader/harness.py",
             "--ro-bind", str(GRADER_DIR / "makers.py"), "/grader/makers.py",
             "--ro-bind", str(job_file), "/grader/job.pt"]
    args += ["--size", str(limits.tmpfs_bytes), "--perms", "1777", "--tmpfs", "/course/notebooks"]
    args += ["--proc", "/proc", "--dev", "/dev", "--chdir", "/course/notebooks"]
    if os.geteuid() == 0:
        args += ["/usr/bin/setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--"]
    args += [os.path.join(sys.prefix, "bin", "python"), "-I", "-B", "/grader/harness.py", "/grader/job.pt"]
    return args


def _limits(limits: Limits):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        # Counted per real user: as root the harness runs as `nobody`; otherwise as the TA, so leave room.
        base = 0 if os.geteuid() == 0 else _process_count()
        resource.setrlimit(resource.RLIMIT_NPROC, (base + limits.processes, base + limits.processes))
    return apply


def _process_count() -> int:
    uid = os.getuid()
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += os.stat(entry.path).st_uid == uid
            except OSError:
                pass
    return count


def _drain(stream, limit: int, sink: list, dropped: list, first: threading.Event | None = None) -> None:
    """Read ``stream`` to its end, keeping the first ``limit`` bytes and counting the rest; ``first`` is set on the first bytes."""
    kept = 0
    while block := stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536):
        if first is not None:
            first.set()
        keep = block[: max(0, limit - kept)]
        if keep:
            sink.append(keep)
            kept += len(keep)
        dropped[0] += len(block) - len(keep)
    stream.close()


def run(code_dir: Path, assets_dir: Path, job_file: Path, limits: Limits = Limits()) -> RunOutcome:
    """Run the harness on ``job_file`` in the sandbox; results come back through a pipe."""
    return _run(lambda fd: command(code_dir, assets_dir, job_file, limits) + [str(fd)], limits)


def run_unsafe(code_root: Path, job_file: Path, limits: Limits = Limits(), workdir: Path | None = None) -> RunOutcome:
    """The same harness without a sandbox (``--unsafe-no-sandbox``): only for a throwaway machine."""
    workdir = Path(workdir or job_file.parent / "work")
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**ENV_ALLOW, "HOME": str(workdir), "MPLCONFIGDIR": str(workdir / ".mpl"), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "LAB_COURSE_ROOT": str(code_root)}
    return _run(lambda fd: [sys.executable, "-B", str(GRADER_DIR / "harness.py"), str(job_file), str(fd)],
                limits, cwd=workdir, env=env)


def _run(make_argv, limits: Limits, cwd: Path | None = None, env: dict | None = None) -> RunOutcome:
    """Start ``make_argv(result_fd)``; results come back through the pipe ``result_fd``."""
    read_fd, write_fd = os.pipe()
    argv = make_argv(write_fd)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                pass_fds=(write_fd,), preexec_fn=_limits(limits), cwd=cwd, env=env,
                                start_new_session=True)
    except OSError as err:
        os.close(read_fd)
        os.close(write_fd)
        raise SandboxError(f"could not start the sandbox: {err}") from None
    os.close(write_fd)
    results: list[bytes] = []
    log: list[bytes] = []
    dropped_results, dropped_log = [0], [0]
    ready = threading.Event()
    readers = [threading.Thread(target=_drain, args=(os.fdopen(read_fd, "rb"), limits.result_bytes, results, dropped_results,
                                                     ready)),
               threading.Thread(target=_drain, args=(proc.stdout, limits.log_bytes, log, dropped_log))]
    for reader in readers:
        reader.daemon = True
        reader.start()
    timed_out = False
    try:
        if limits.startup_seconds > 0:  # the job's time starts with the harness's first line (it writes one when ready)
            deadline = time.monotonic() + limits.startup_seconds
            while not ready.wait(0.05) and proc.poll() is None:
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(argv, limits.startup_seconds)
        proc.wait(timeout=limits.seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
            proc.kill()
            proc.wait()
    for reader in readers:
        reader.join(timeout=10)
    return RunOutcome(results=b"".join(results), log=b"".join(log), returncode=proc.returncode, timed_out=timed_out,
                      seconds=round(time.monotonic() - start, 2), dropped_log_bytes=dropped_log[0],
                      dropped_result_bytes=dropped_results[0], command=argv)
