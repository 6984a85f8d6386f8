"""Reproducible grading: re-run every submitted notebook and score the answers it reproduces.

    python -m helpers.grade submissions/*.zip --out grades -j 2
    python -m helpers.grade --build-reference            # data/reference/<backend>.json from notebooks/

Each zip is unpacked safely (no absolute paths, no ``..``, no links, size limits), each notebook
is executed cell by cell with nbclient in a fresh temporary folder, on the chosen backend, with no
Hugging Face token in the kernel's environment and the hub offline (pre-fetch the models). A cell
error or a timeout only loses the answers the notebook no longer records. A question earns its
points when the reproduced answer matches the submitted one ("we will reproduce your result")
and the reference answer, with the tolerance in ``data/grading.json``.

Grading runs student code: do it in a throwaway container or VM.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = REPO_ROOT / "data" / "grading.json"
REFERENCE_DIR = REPO_ROOT / "data" / "reference"
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
ZIP_STEM_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]{1,31})_hw3$")
MEMBER_RE = re.compile(r"^(\d\d_[a-z0-9_]+\.ipynb|\d\d_[a-z0-9_]+\.answers\.json|submission\.json)$")
SECRET_ENV_RE = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|ACCESS_?KEY|CREDENTIAL|AUTH", re.IGNORECASE)
COMPARE_KINDS = ("exact", "abs", "ordering")
MAX_MEMBERS = 64
MAX_MEMBER_BYTES = 50 * 2**20
MAX_TOTAL_BYTES = 200 * 2**20


class GradingError(RuntimeError):
    """The grading setup is wrong (spec, reference, arguments); the message says what to fix."""


class UnsafeZipError(ValueError):
    """A submitted zip is malformed or tries to write outside its folder."""


# ----------------------------------------------------------------------------- spec and reference

def load_spec(path: Path = SPEC_PATH) -> dict:
    """The grading spec: notebooks (timeouts) and questions (notebook, points, compare, tolerance)."""
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GradingError(f"grading spec {path} is missing: write it (see data/grading.json in the repo).") from None
    except json.JSONDecodeError as err:
        raise GradingError(f"grading spec {path} is not valid JSON: {err}") from None
    notebooks, questions = spec.get("notebooks"), spec.get("questions")
    if not isinstance(notebooks, dict) or not isinstance(questions, dict) or not questions:
        raise GradingError(f"grading spec {path} needs 'notebooks' {{name: {{timeout_s}}}} and 'questions' {{key: {{...}}}}.")
    for key, q in questions.items():
        if q.get("notebook") not in notebooks:
            raise GradingError(f"{path}: question {key} names notebook {q.get('notebook')!r}, which is not under 'notebooks'.")
        if q.get("compare", "exact") not in COMPARE_KINDS:
            raise GradingError(f"{path}: question {key} has compare {q.get('compare')!r}: use one of {', '.join(COMPARE_KINDS)}.")
        if q.get("compare") == "abs" and not isinstance(q.get("tolerance"), (int, float)):
            raise GradingError(f"{path}: question {key} compares with 'abs' and needs a numeric 'tolerance'.")
        if not isinstance(q.get("points"), (int, float)) or q["points"] < 0:
            raise GradingError(f"{path}: question {key} needs non-negative 'points'.")
    return spec


def reference_path(backend: str, directory: Path = REFERENCE_DIR) -> Path:
    """``data/reference/<backend>.json``."""
    return Path(directory) / f"{backend}.json"


def load_reference(backend: str, directory: Path = REFERENCE_DIR) -> dict[str, Any] | None:
    """Reference answers of the instructor notebooks on ``backend`` (None if none were built)."""
    path = reference_path(backend, directory)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))["answers"]


def code_digest(notebook: Path) -> str:
    """sha256 of a notebook's code cells (outputs ignored): tells whether a reference is stale."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    code = "\n\x00".join(c.source for c in nb.cells if c.cell_type == "code")
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------- comparing answers

def _numbers(value: Any) -> list[float] | None:
    """The numbers of a list or dict (dict in key order), or None if it is not all numbers."""
    items = [value[k] for k in sorted(value)] if isinstance(value, dict) else value
    if isinstance(items, list) and items and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
        return [float(v) for v in items]
    return None


def same(a: Any, b: Any, compare: str = "exact", tolerance: float = 0.0) -> bool:
    """Whether two answers agree: ``exact`` equality, ``abs`` within ``tolerance`` (elementwise), or same ``ordering``."""
    if a is None or b is None:
        return False
    if compare == "abs":
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k], "abs", tolerance) for k in a)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(same(x, y, "abs", tolerance) for x, y in zip(a, b))
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
            return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= tolerance + 1e-12
        return a == b
    if compare == "ordering":
        xs, ys = _numbers(a), _numbers(b)
        if xs is None or ys is None:
            return a == b  # a stated choice such as "k2"
        if len(xs) != len(ys) or (isinstance(a, dict) and (not isinstance(b, dict) or a.keys() != b.keys())):
            return False
        signs = lambda v: [(x > y) - (x < y) for i, x in enumerate(v) for y in v[i + 1:]]  # noqa: E731
        return signs(xs) == signs(ys)
    return a == b


# ----------------------------------------------------------------------------- unpacking

def safe_extract(zip_path: Path, dest: Path) -> list[str]:
    """Unpack the course files of a submission into ``dest`` (flat); raise ``UnsafeZipError`` on anything unsafe."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as err:
        raise UnsafeZipError(f"{zip_path.name} is not a readable zip ({err}).") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise UnsafeZipError(f"{zip_path.name} has {len(infos)} entries (at most {MAX_MEMBERS}).")
        chosen: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts or "\x00" in name:
                raise UnsafeZipError(f"{zip_path.name}: entry {name!r} points outside the submission folder (zip-slip).")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeZipError(f"{zip_path.name}: entry {name!r} is a symbolic link.")
            if info.is_dir() or not MEMBER_RE.match(parts[-1]) or parts[0] == "__MACOSX":
                continue
            if parts[-1] in chosen:
                raise UnsafeZipError(f"{zip_path.name}: {parts[-1]} appears twice.")
            chosen[parts[-1]] = info
        total = 0
        dest.mkdir(parents=True, exist_ok=True)
        for base, info in sorted(chosen.items()):
            written = 0
            with archive.open(info) as src, open(dest / base, "wb") as out:
                while block := src.read(1 << 20):
                    written += len(block)
                    total += len(block)
                    if written > MAX_MEMBER_BYTES or total > MAX_TOTAL_BYTES:
                        raise UnsafeZipError(f"{zip_path.name}: {base} unpacks to more than the size limit.")
                    out.write(block)
    return sorted(chosen)


def student_id_of(zip_path: Path) -> str:
    """The student id from a zip named ``STUDENTID_hw3.zip``."""
    match = ZIP_STEM_RE.match(Path(zip_path).stem)
    if not match:
        raise GradingError(f"{zip_path} is not named STUDENTID_hw3.zip: rename it so the id is known.")
    return match.group(1)


# ----------------------------------------------------------------------------- executing

def kernel_env(backend: str, workdir: Path, threads: int) -> dict[str, str]:
    """The student kernel's environment: no token-like variables, hub offline, the chosen backend."""
    env = {k: v for k, v in os.environ.items() if not SECRET_ENV_RE.search(k)}
    env.update({
        "LAB_BACKEND": backend,
        "LAB_GRADING": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_TOKEN_PATH": str(workdir / ".no-token"),  # hides a cached `hf auth login`
        "TOKENIZERS_PARALLELISM": "false",
        "MPLBACKEND": "Agg",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "PYTHONPATH": str(REPO_ROOT),
    })
    return env


def prepare_workdir(parent: Path) -> Path:
    """A fresh folder that the notebooks' setup cell accepts as the repo root (links to helpers/ and data/)."""
    workdir = Path(tempfile.mkdtemp(prefix="nb-", dir=parent))
    for name in ("helpers", "data"):
        (workdir / name).symlink_to(REPO_ROOT / name, target_is_directory=True)
    return workdir


@dataclass
class RunResult:
    """What executing one notebook gave: status, failed cells, reproduced answers, seconds."""

    status: str = "ok"
    errors: list[str] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def execute_notebook(notebook: Path, workdir: Path, backend: str, timeout_s: float, threads: int = 1,
                     executed_copy: Path | None = None) -> RunResult:
    """Run a notebook cell by cell in ``workdir``; errors are recorded, the run stops at the deadline."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    result = RunResult()
    start = time.monotonic()
    nb = nbformat.read(notebook, as_version=4)
    stale = workdir / f"{notebook.stem}.answers.json"
    if stale.exists():
        stale.unlink()  # only what this run records counts
    client = NotebookClient(nb, timeout=max(1, int(timeout_s)), allow_errors=True, kernel_name="python3",
                            startup_timeout=120, resources={"metadata": {"path": str(workdir)}})
    deadline = start + timeout_s
    client.reset_execution_trackers()
    try:
        with client.setup_kernel(env=kernel_env(backend, workdir, threads), cwd=str(workdir), stderr=subprocess.DEVNULL):
            for index, cell in enumerate(nb.cells):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    result.status = "timeout"
                    break
                client.timeout = max(1, int(remaining))
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    result.status = "timeout"
                    result.errors.append(f"cell {index + 1}: timed out after {timeout_s:.0f} s for the notebook")
                    break
                except DeadKernelError:
                    result.status = "kernel died"
                    result.errors.append(f"cell {index + 1}: the kernel died (out of memory?)")
                    break
                for output in cell.get("outputs", []):
                    if output.get("output_type") == "error":
                        result.errors.append(f"cell {index + 1}: {output.get('ename')}: {str(output.get('evalue'))[:200]}")
    except Exception as err:  # kernel failed to start, etc.
        result.status = "not run"
        result.errors.append(f"{type(err).__name__}: {str(err)[:300]}")
    if result.errors and result.status == "ok":
        result.status = "errors"
    if stale.is_file():
        try:
            result.answers = json.loads(stale.read_text(encoding="utf-8")).get("answers", {})
        except (ValueError, AttributeError):
            result.errors.append("the answers file it wrote is not valid JSON")
    if executed_copy is not None:
        executed_copy.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, executed_copy)
    result.seconds = round(time.monotonic() - start, 1)
    return result


# ----------------------------------------------------------------------------- scoring

def score_questions(spec: dict, submitted: dict[str, Any], reproduced: dict[str, Any],
                    reference: dict[str, Any] | None) -> dict[str, dict]:
    """Per question: points, earned, and whether it was reproduced and is correct."""
    rows: dict[str, dict] = {}
    for key, q in sorted(spec["questions"].items()):
        compare, tol = q.get("compare", "exact"), float(q.get("tolerance", 0.0))
        sub, rep = submitted.get(key), reproduced.get(key)
        ref = None if reference is None else reference.get(key)
        was_reproduced = key in submitted and key in reproduced and same(sub, rep, compare, tol)
        correct = None if reference is None or key not in reference else (key in reproduced and same(rep, ref, compare, tol))
        earned = q["points"] if was_reproduced and correct is not False else 0
        rows[key] = {"notebook": q["notebook"], "points": q["points"], "earned": earned, "reproduced": was_reproduced,
                     "correct": correct, "submitted": sub, "reproduced_value": rep, "reference": ref}
    return rows


@dataclass(frozen=True)
class GradeOptions:
    """Settings shared by every zip of one grading run."""

    out: Path
    backend: str = "offline"
    spec_path: Path = SPEC_PATH
    reference_dir: Path = REFERENCE_DIR
    timeout_s: float | None = None
    threads: int = 1
    notebooks: tuple[str, ...] = ()


def grade_zip(zip_path: Path, options: GradeOptions) -> dict:
    """Grade one submission zip and write ``out/ID.json`` (and the executed notebooks under ``out/ID/``)."""
    spec = load_spec(options.spec_path)
    reference = load_reference(options.backend, options.reference_dir)
    zip_path = Path(zip_path)
    student = student_id_of(zip_path)
    started = time.monotonic()
    record: dict[str, Any] = {"student_id": student, "zip": zip_path.name, "backend": options.backend,
                              "reference": reference is not None, "notebooks": {}, "status": "graded"}
    scratch_root = Path(options.out) / ".work"
    scratch_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{student}-", dir=scratch_root))
    submitted: dict[str, Any] = {}
    reproduced: dict[str, Any] = {}
    try:
        try:
            files = safe_extract(zip_path, scratch / "submitted")
        except UnsafeZipError as err:
            record.update(status="rejected", error=str(err))
            files = []
        wanted = [n for n in spec["notebooks"] if not options.notebooks or n in options.notebooks]
        for name in wanted if record["status"] == "graded" else []:
            nb_file = scratch / "submitted" / f"{name}.ipynb"
            ans_file = scratch / "submitted" / f"{name}.answers.json"
            if ans_file.is_file():
                try:
                    submitted.update(json.loads(ans_file.read_text(encoding="utf-8")).get("answers", {}))
                except (ValueError, AttributeError):
                    pass
            if not nb_file.is_file():
                record["notebooks"][name] = {"status": "missing"}
                continue
            workdir = prepare_workdir(scratch)
            shutil.copyfile(nb_file, workdir / nb_file.name)
            timeout = options.timeout_s or float(spec["notebooks"][name].get("timeout_s", 600))
            run = execute_notebook(workdir / nb_file.name, workdir, options.backend, timeout, options.threads,
                                   Path(options.out) / student / nb_file.name)
            reproduced.update(run.answers)
            record["notebooks"][name] = {"status": run.status, "errors": run.errors, "seconds": run.seconds}
        questions = score_questions(spec, submitted, reproduced, reference)
        if options.notebooks:
            questions = {k: v for k, v in questions.items() if v["notebook"] in options.notebooks}
        if record["status"] == "rejected":
            for row in questions.values():
                row["earned"] = 0
        record["questions"] = questions
        record["score"] = sum(r["earned"] for r in questions.values())
        record["max_score"] = sum(r["points"] for r in questions.values())
        record["files"] = files
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    record["seconds"] = round(time.monotonic() - started, 1)
    out_file = Path(options.out) / f"{student}.json"
    out_file.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return record


def _grade_safely(zip_path: Path, options: GradeOptions) -> dict:
    """``grade_zip`` that turns an unexpected failure into a record instead of stopping the whole run."""
    try:
        return grade_zip(zip_path, options)
    except GradingError:
        raise
    except Exception as err:  # one broken submission must not stop the others
        return {"student_id": Path(zip_path).stem, "zip": Path(zip_path).name, "status": "failed",
                "error": f"{type(err).__name__}: {err}", "score": 0, "max_score": None, "questions": {}}


def write_csv(records: list[dict], path: Path, keys: list[str]) -> None:
    """One row per student: id, status, score, max score, then the points earned per question."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "zip", "status", "score", "max_score", *keys])
        for r in sorted(records, key=lambda r: r["student_id"]):
            q = r.get("questions", {})
            writer.writerow([r["student_id"], r["zip"], r["status"], r["score"], r.get("max_score"),
                             *[q.get(k, {}).get("earned", "") for k in keys]])


def grade_all(zips: list[Path], options: GradeOptions, jobs: int = 1) -> list[dict]:
    """Grade several zips (``jobs`` at a time, each in its own process) and write ``grades.csv``."""
    spec = load_spec(options.spec_path)
    ids = [student_id_of(z) for z in zips]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise GradingError(f"several zips for student(s) {', '.join(duplicates)}: keep one zip per student.")
    missing = [str(z) for z in zips if not Path(z).is_file()]
    if missing:
        raise GradingError(f"no such zip: {', '.join(missing)}")
    Path(options.out).mkdir(parents=True, exist_ok=True)
    if jobs <= 1 or len(zips) == 1:
        records = [_grade_safely(Path(z), options) for z in zips]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            records = list(pool.map(_grade_safely, [Path(z) for z in zips], [options] * len(zips)))
    keys = sorted(k for k, q in spec["questions"].items() if not options.notebooks or q["notebook"] in options.notebooks)
    write_csv(records, Path(options.out) / "grades.csv", keys)
    shutil.rmtree(Path(options.out) / ".work", ignore_errors=True)
    return records


# ----------------------------------------------------------------------------- reference answers

def build_reference(backend: str, notebooks_dir: Path = NOTEBOOK_DIR, out_dir: Path = REFERENCE_DIR,
                    spec_path: Path = SPEC_PATH, timeout_s: float | None = None, only: tuple[str, ...] = ()) -> Path:
    """Run the instructor notebooks named in the spec (or ``only`` these) and store their answers as the reference."""
    spec = load_spec(spec_path)
    target = reference_path(backend, out_dir)
    old = json.loads(target.read_text(encoding="utf-8")) if only and target.is_file() else {}
    keep = {k for k, q in spec["questions"].items() if q["notebook"] not in only}
    answers: dict[str, Any] = {k: v for k, v in old.get("answers", {}).items() if k in keep}
    sources: dict[str, str] = {k: v for k, v in old.get("code_sha256", {}).items() if k in spec["notebooks"] and k not in only}
    with tempfile.TemporaryDirectory(prefix="reference-") as scratch:
        for name, settings in spec["notebooks"].items():
            if only and name not in only:
                continue
            path = Path(notebooks_dir) / f"{name}.ipynb"
            if not path.is_file():
                raise GradingError(f"instructor notebook {path} is missing: the spec names it.")
            workdir = prepare_workdir(Path(scratch))
            shutil.copyfile(path, workdir / path.name)
            run = execute_notebook(workdir / path.name, workdir, backend, timeout_s or float(settings.get("timeout_s", 600)))
            if run.status != "ok":
                raise GradingError(f"instructor notebook {path} did not run cleanly ({run.status}): {run.errors[:3]}")
            answers.update(run.answers)
            sources[name] = code_digest(path)
            print(f"{name}: {len(run.answers)} answers in {run.seconds} s")
    missing = sorted(k for k, q in spec["questions"].items() if k not in answers and (not only or q["notebook"] in only))
    if missing:
        raise GradingError(f"the instructor notebooks do not record {', '.join(missing)}: fix data/grading.json or the notebooks.")
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {"backend": backend, "code_sha256": sources, "answers": dict(sorted(answers.items()))}
    target.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def exercise_dependencies(name: str, backend: str, notebooks_dir: Path = NOTEBOOK_DIR,
                          timeout_s: float = 600) -> dict[str, list[str]]:
    """For each exercise of a notebook: the answer keys lost when only that exercise is left as a stub."""
    import nbformat

    from helpers import authoring

    path = Path(notebooks_dir) / f"{name}.ipynb"
    numbers = authoring.exercise_numbers(nbformat.read(path, as_version=4), name)
    lost: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="dependencies-") as scratch:
        def answers_of(text: str) -> dict[str, Any]:
            workdir = prepare_workdir(Path(scratch))
            (workdir / path.name).write_text(text, encoding="utf-8")
            return execute_notebook(workdir / path.name, workdir, backend, timeout_s).answers

        full = answers_of(path.read_text(encoding="utf-8"))
        for number in numbers:
            stubbed = answers_of(authoring.student_text(path, only={number}))
            lost[number] = sorted(k for k in full if k not in stubbed or not same(full[k], stubbed[k]))
    return lost


def main(argv: list[str] | None = None) -> int:
    """Command line: grade zips, or build the reference answers."""
    parser = argparse.ArgumentParser(prog="python -m helpers.grade", description=__doc__.splitlines()[0])
    parser.add_argument("zips", nargs="*", type=Path, help="STUDENTID_hw3.zip files")
    parser.add_argument("--out", type=Path, default=Path("grades"), help="folder for ID.json, executed notebooks and grades.csv")
    parser.add_argument("--backend", default=os.environ.get("LAB_BACKEND") or "offline", choices=("offline", "gemma"))
    parser.add_argument("-j", "--jobs", type=int, default=1, help="zips graded in parallel (default 1)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per notebook (default: from the spec)")
    parser.add_argument("--notebook", action="append", default=[], help="grade (or build the reference of) only this notebook; repeatable")
    parser.add_argument("--spec", type=Path, default=SPEC_PATH)
    parser.add_argument("--reference-dir", type=Path, default=REFERENCE_DIR)
    parser.add_argument("--build-reference", action="store_true", help="run the instructor notebooks and write data/reference/<backend>.json")
    parser.add_argument("--source", type=Path, default=NOTEBOOK_DIR, help="instructor notebooks for --build-reference")
    parser.add_argument("--dependencies", action="store_true",
                        help="for each --notebook, print the answers lost when each exercise is left as a stub")
    args = parser.parse_args(argv)
    try:
        if args.dependencies:
            for name in args.notebook or list(load_spec(args.spec)["notebooks"]):
                print(json.dumps({name: exercise_dependencies(name, args.backend, args.source, args.timeout or 600)}, indent=1))
            return 0
        if args.build_reference:
            target = build_reference(args.backend, args.source, spec_path=args.spec, out_dir=args.reference_dir,
                                     timeout_s=args.timeout, only=tuple(args.notebook))
            print(f"wrote {target}")
            return 0
        if not args.zips:
            parser.error("give one or more STUDENTID_hw3.zip files (or --build-reference)")
        if args.jobs < 1:
            parser.error("-j must be at least 1")
        threads = max(1, (os.cpu_count() or 1) // args.jobs)
        options = GradeOptions(args.out, args.backend, args.spec, args.reference_dir, args.timeout, threads, tuple(args.notebook))
        if load_reference(args.backend, args.reference_dir) is None:
            print(f"warning: no reference answers for {args.backend} ({reference_path(args.backend, args.reference_dir)}): "
                  "only reproduction is checked. Build them with --build-reference.", file=sys.stderr)
        records = grade_all(args.zips, options, args.jobs)
    except GradingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for r in records:
        print(f"{r['student_id']}: {r['score']}/{r.get('max_score')} ({r['status']}{', ' + r['error'] if r.get('error') else ''})")
    print(f"wrote {args.out / 'grades.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
