"""The course's grader as a Gradescope autograder: ``make gradescope OUT=DIR`` writes ``DIR/autograder.zip``.

    python -m helpers.coursework.grading.gradescope build --out DIR [--notebooks 03_tokenization ...]
    python -m helpers.coursework.grading.gradescope run --root /autograder      (what run_autograder calls)

What Gradescope's published specification ("Autograder Specifications",
gradescope-autograders.readthedocs.io/en/latest/specs/) asks, and where this follows it:

- the zip holds ``setup.sh`` and ``run_autograder`` at its root and is unpacked into ``/autograder/source``;
  ``setup.sh`` runs once while the image is built (Ubuntu images: apt works) — ours installs what ``make setup``
  does and bubblewrap (``autograder/setup.sh``);
- ``run_autograder`` runs per submission in ``/autograder``; the student's upload is in ``/autograder/submission``;
  the results go to ``/autograder/results/results.json``; what it prints is kept in ``/autograder/results/stdout``
  for instructors only ("any output you wish to show to students must be explicitly put in the JSON output field");
- ``results.json``: a top-level ``score`` (required when the tests carry none), ``execution_time``, ``output``,
  ``output_format``, ``visibility``, ``stdout_visibility``, ``extra_data`` and ``tests``, a list of objects with
  ``score``, ``max_score``, ``status`` ("passed"/"failed"), ``name``, ``number``, ``output``, ``output_format``
  ("text", "html", "simple_format", "md", "ansi"), ``tags``, ``visibility`` ("visible", "hidden",
  "after_due_date", "after_published").

One test per exercise (the points of the hidden cases; the output is the feedback of ``feedback.py``: which kinds
of case failed, what to try, the hint to reread) and one per question (right or wrong and the key: so that the
questions cannot be found by resubmitting, they are ``after_due_date`` by default). ``stdout_visibility`` is
"hidden" and nothing the student's code prints or returns is written into ``results.json``.

The sandbox is the grader's own (bubblewrap; as root the student's code runs as ``nobody``). Where bubblewrap
cannot start (a container without user namespaces), the student's code still runs as ``nobody``, without
capabilities, from a world-readable copy of the shipped code, while the hidden cases, spec, instructor notebooks and
expected outputs stay root-only (``lock``); that fallback has no network or pid isolation, so ``build
--require-sandbox`` refuses it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

from helpers.coursework.config import HOMEWORK
from helpers.coursework.grading import feedback, grader, sandbox

TEMPLATES = Path(__file__).resolve().parent / "autograder"
CONFIG = "gradescope.json"
CACHE = "cache"
VISIBILITY = ("visible", "hidden", "after_due_date", "after_published")
# Parts of the course folder that only root may read on Gradescope (relative to source/course).
SECRET = ("data/grading", "notebooks", CACHE, "helpers/coursework/grading/cases", CONFIG)
NOBODY = sandbox.NOBODY


# ----------------------------------------------------------------------------- build

def _course_files(root: Path) -> list[Path]:
    """What the autograder needs of the repository (relative paths): code, spec, notebooks, assets, requirements."""
    files: list[Path] = []
    for top in ("helpers", "data/grading", "data/offline"):
        files += [p.relative_to(root) for p in sorted((root / top).rglob("*"))
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    files += [p.relative_to(root) for p in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    files += [p.relative_to(root) for p in sorted((root / "notebooks" / "exercises").glob("[0-9][0-9]_*.ipynb"))]
    files += [Path(n) for n in ("requirements.txt", "requirements-dev.txt", "requirements-lock.txt")]
    return files


def build(out: Path, only: tuple[str, ...] = (), expected: bool = True, question_visibility: str = "after_due_date",
          exercise_visibility: str = "visible", require_sandbox: bool = False, torch_index_url: str = "",
          unsafe: bool = False) -> Path:
    """Write ``out/autograder.zip``; with ``expected`` the instructor outputs are computed here (in the sandbox)
    and shipped, so that a run grades only the student's notebooks."""
    for label, value in (("question visibility", question_visibility), ("exercise visibility", exercise_visibility)):
        if value not in VISIBILITY:
            raise grader.GradingError(f"{label} {value!r}: use one of {', '.join(VISIBILITY)}.")
    if torch_index_url and not re.match(r"^https://\S+$", torch_index_url):
        raise grader.GradingError(f"TORCH_INDEX_URL {torch_index_url!r} must be an https:// address (PyTorch's CPU wheel index).")
    course = grader.load_course(only=only)  # validates spec, cases, keys before anything is written
    root = grader.REPO_ROOT
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = {"homework": HOMEWORK, "notebooks": sorted(course.specs), "question_visibility": question_visibility,
              "exercise_visibility": exercise_visibility, "require_sandbox": require_sandbox}
    extra: dict[str, bytes] = {f"course/{CONFIG}": (json.dumps(config, indent=2) + "\n").encode()}
    if torch_index_url:
        extra["course/torch-index-url.txt"] = (torch_index_url + "\n").encode()
    if expected:
        with tempfile.TemporaryDirectory(prefix="gradescope-expected-") as tmp:
            runner = grader.Runner(grader.release_code(Path(tmp) / "course"), unsafe=unsafe)
            grader.expected_outputs(course, runner, cache_dir=Path(tmp) / "cache")
            for path in (Path(tmp) / "cache").glob(".expected-*.json"):
                extra[f"course/{CACHE}/{path.name}"] = path.read_bytes()
    target = out / "autograder.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        def add(name: str, data: bytes, mode: int) -> None:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
        for script in ("setup.sh", "run_autograder"):
            add(script, (TEMPLATES / script).read_bytes(), 0o755)
        for rel in _course_files(root):
            add(f"course/{rel.as_posix()}", (root / rel).read_bytes(), 0o644)
        for name, data in sorted(extra.items()):
            add(name, data, 0o644)
    return target


# ----------------------------------------------------------------------------- run

def lock(root: Path) -> None:
    """Make the secret parts of ``root/source/course`` root-only, and ``submission``/``results`` unwritable to others."""
    course = Path(root) / "source" / "course"
    for rel in SECRET:
        path = course / rel
        if path.exists():
            path.chmod(0o700 if path.is_dir() else 0o600)
    for name, mode in (("submission", 0o700), ("results", 0o755)):
        path = Path(root) / name
        if path.is_dir():
            path.chmod(mode)


def bwrap_works() -> bool:
    """True if bubblewrap can start a sandbox here (it cannot in a container without user namespaces)."""
    try:
        path = sandbox.bwrap_path()
        done = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--proc", "/proc",
                               "--dev", "/dev", "/bin/true"], capture_output=True, timeout=30)
        return done.returncode == 0
    except (sandbox.SandboxError, OSError, subprocess.TimeoutExpired):
        return False


class UserRunner:
    """Runs the harness as ``nobody`` without bubblewrap (the fallback): a world-readable copy of the shipped code,
    the harness and the offline assets; the job file is copied next to them for each run."""

    def __init__(self, code_root: Path) -> None:
        self.public = Path(tempfile.mkdtemp(prefix="hw3-run-"))
        self.public.chmod(0o755)
        course = self.public / "course"
        shutil.copytree(Path(code_root) / "helpers", course / "helpers")
        shutil.copytree(grader.ASSETS_DIR, course / "data" / "offline")
        (course / "notebooks").mkdir()
        grading = self.public / "grader"
        grading.mkdir()
        for name in ("harness.py", "makers.py"):
            shutil.copyfile(sandbox.GRADER_DIR / name, grading / name)
        for path in [self.public, *self.public.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)

    def __call__(self, jobs: list[dict], scratch: Path) -> tuple[dict, dict]:
        import torch

        run = Path(tempfile.mkdtemp(prefix="job-", dir=self.public))
        run.chmod(0o755)
        job_file = run / "job.pt"
        torch.save({"notebooks": jobs}, job_file)
        job_file.chmod(0o644)
        work = run / "work"
        work.mkdir()
        os.chown(work, NOBODY, NOBODY)
        limits = sandbox.Limits(seconds=sum(j["timeout_s"] for j in jobs), startup_seconds=grader.STARTUP_S)
        env = {**sandbox.ENV_ALLOW, "HOME": str(work), "MPLCONFIGDIR": str(work / ".mpl"),
               "LAB_COURSE_ROOT": str(self.public / "course")}
        drop = ["/usr/bin/setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--"]
        outcome = sandbox._run(lambda fd: drop + [os.path.join(sys.prefix, "bin", "python"), "-I", "-B",
                                                  str(self.public / "grader" / "harness.py"), str(job_file), str(fd)],
                               limits, cwd=work, env=env)
        shutil.rmtree(run, ignore_errors=True)
        return grader.parse_results(outcome.results), {"timed_out": outcome.timed_out, "returncode": outcome.returncode,
                                                       "seconds": outcome.seconds}


def _safe_id(text: str) -> str:
    text = re.sub(r"[^A-Za-z0-9-]", "", str(text))[:32]
    return text if re.match(r"^[A-Za-z0-9][A-Za-z0-9-]{1,31}$", text) else "student"


def submission_zip(root: Path, into: Path) -> Path:
    """The upload as one ``ID_hw3.zip`` in ``into``: the hand-in zip itself, or the uploaded notebooks zipped."""
    submission = Path(root) / "submission"
    zips = sorted(p for p in submission.rglob("*.zip") if p.is_file() and not p.is_symlink())
    notebooks = sorted(p for p in submission.rglob("*.ipynb") if p.is_file() and not p.is_symlink()
                       and grader.NOTEBOOK_MEMBER_RE.match(p.name) and ".ipynb_checkpoints" not in p.parts)
    meta_id = ""
    try:
        meta = json.loads((Path(root) / "submission_metadata.json").read_text(encoding="utf-8"))
        users = meta.get("users") or [{}]
        meta_id = users[0].get("sid") or users[0].get("id") or ""
    except (OSError, ValueError, AttributeError, IndexError, TypeError):
        pass
    into.mkdir(parents=True, exist_ok=True)
    if zips:
        stem_match = grader.ZIP_STEM_RE.match(zips[0].stem)
        sid = stem_match.group(1) if stem_match else _safe_id(meta_id)
        target = into / f"{sid}_{HOMEWORK}.zip"
        shutil.copyfile(zips[0], target)
        return target
    if not notebooks:
        raise grader.UnsafeZipError(f"nothing to grade: upload {{ID}}_{HOMEWORK}.zip (the hand-in cell's zip) or the "
                                    "notebooks (NN_topic.ipynb).")
    target = into / f"{_safe_id(meta_id)}_{HOMEWORK}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in notebooks[: grader.MAX_MEMBERS]:
            if path.stat().st_size > grader.MAX_MEMBER_BYTES:
                raise grader.UnsafeZipError(f"{path.name} is larger than {grader.MAX_MEMBER_BYTES // 2**20} MB.")
            archive.write(path, path.name)
    return target


def results_json(record: dict, course, config: dict, sandbox_mode: str, seconds: float) -> dict:
    """Gradescope's results.json from a grading record (text only from feedback.py)."""
    q_vis, ex_vis = config.get("question_visibility", "after_due_date"), config.get("exercise_visibility", "visible")
    tests = []
    for name, nb in record.get("notebooks", {}).items():
        for number, row in nb.get("exercises", {}).items():
            tests.append({"name": f"Exercise {number} {row['function']} ({name})", "number": number,
                          "score": float(row["earned"]), "max_score": float(row["points"]),
                          "status": "passed" if row["earned"] >= row["points"] else "failed",
                          "output": feedback.exercise_text(course, name, number, row), "output_format": "md",
                          "visibility": ex_vis, "tags": [name, "exercise"]})
        for qid, row in nb.get("questions", {}).items():
            tests.append({"name": f"Question {qid} ({name})", "number": qid, "score": float(row["earned"]),
                          "max_score": float(row["points"]), "status": "passed" if row["earned"] else "failed",
                          # the key only where the students see this test after the deadline (or never)
                          "output": feedback.question_text(course, name, qid, row, show_keys=q_vis != "visible"),
                          "output_format": "md", "visibility": q_vis, "tags": [name, "question"]})
    notes = [f"Score: {record.get('score', 0):g} / {record.get('max_score', 0):g}", ""]
    if record.get("status") != "graded":
        notes += [f"Not graded: {record.get('error') or record.get('status')}", ""]
    for name, nb in record.get("notebooks", {}).items():
        lines = feedback.notebook_notes(nb)
        if lines:
            notes += [f"**{name}**", ""] + lines + [""]
    if q_vis != "visible":
        notes.append("The questions' results (right or wrong, and the key) are shown after the deadline.")
    return {"score": float(record.get("score", 0)), "execution_time": int(round(seconds)),
            "output": "\n".join(notes).strip() + "\n", "output_format": "md", "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"sandbox": sandbox_mode, "status": record.get("status"), "student_id": record.get("student_id")}}


def failure_results(message: str) -> dict:
    return {"score": 0.0, "output": message, "visibility": "visible", "stdout_visibility": "hidden", "tests": []}


def run(root: Path) -> dict:
    """Grade ``root/submission`` and write ``root/results/results.json``; returns it."""
    root = Path(root)
    started = time.monotonic()
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    lock(root)
    course_dir = root / "source" / "course"
    try:
        config = json.loads((course_dir / CONFIG).read_text(encoding="utf-8"))
        course = grader.load_course(only=tuple(config["notebooks"]))  # everything secret is loaded first
        forced = os.environ.get("AUTOGRADER_SANDBOX", "")  # "user": the fallback even where bubblewrap works (tests)
        mode = "unprivileged user" if forced == "user" or not bwrap_works() else "bubblewrap"
        print(f"sandbox: {mode}")
        if mode != "bubblewrap" and config.get("require_sandbox"):
            raise sandbox.SandboxError("bubblewrap cannot start in this container and the autograder was built "
                                       "with --require-sandbox.")
        factory = None if mode == "bubblewrap" else UserRunner
        with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
            tmp = Path(tmp)
            try:
                zip_path = submission_zip(root, tmp / "zips")
            except grader.UnsafeZipError as err:
                data = failure_results(f"Not graded: {err}")
            else:
                records = grader.grade_all([zip_path], tmp / "out", course=course, cache_dir=course_dir / CACHE,
                                           runner_factory=factory)
                record = records[0]
                print(f"{record['student_id']}: {record['status']} {record.get('score', 0)} / {record.get('max_score')}")
                print(json.dumps(record.get("sandbox_runs", {})))
                data = results_json(record, course, config, mode, time.monotonic() - started)
    except Exception:  # the autograder itself failed: the student sees a plain message, the TAs the traceback
        traceback.print_exc()
        data = failure_results("The autograder could not grade this submission; the course staff can see why. "
                               "Please tell them.")
    path = results_dir / "results.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    path.chmod(0o644)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.coursework.grading.gradescope", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write OUT/autograder.zip")
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--notebooks", nargs="*", default=(), help="only these notebooks (e.g. 03_tokenization)")
    b.add_argument("--no-expected", action="store_true", help="do not ship the instructor outputs (each run computes them)")
    b.add_argument("--question-visibility", default="after_due_date", choices=VISIBILITY)
    b.add_argument("--exercise-visibility", default="visible", choices=VISIBILITY)
    b.add_argument("--require-sandbox", action="store_true", help="refuse to grade where bubblewrap cannot start")
    b.add_argument("--torch-index-url", default="", help="PyTorch's CPU wheel index, for setup.sh (default: the usual index)")
    b.add_argument("--unsafe-no-sandbox", action="store_true")
    r = sub.add_parser("run", help="grade ROOT/submission into ROOT/results/results.json (run_autograder)")
    r.add_argument("--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")))
    lk = sub.add_parser("lock", help="make the hidden parts of ROOT/source/course root-only")
    lk.add_argument("--root", type=Path, default=Path("/autograder"))
    sub.add_parser("probe", help="say whether bubblewrap can start here")
    args = parser.parse_args(argv)
    if args.command == "run":
        data = run(args.root)
        return 0 if data.get("tests") or data.get("score") is not None else 1
    if args.command == "lock":
        lock(args.root)
        return 0
    if args.command == "probe":
        print("bubblewrap works here" if bwrap_works() else
              "bubblewrap cannot start here: run_autograder will use the unprivileged-user fallback")
        return 0
    try:
        path = build(args.out, only=tuple(args.notebooks), expected=not args.no_expected,
                     question_visibility=args.question_visibility, exercise_visibility=args.exercise_visibility,
                     require_sandbox=args.require_sandbox, torch_index_url=args.torch_index_url,
                     unsafe=args.unsafe_no_sandbox)
    except (grader.GradingError, sandbox.SandboxError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
