"""The grades table: CSV columns and rows of the records, ``--shard I/N``, and merging the shards' records."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from helpers.coursework.grading.course import Course, GradingError, load_course


def columns(course: Course) -> list[str]:
    cols = []
    for name, spec in course.specs.items():
        cols += [f"{number} {ex['function']}" for number, ex in spec["exercises"].items()]
        cols += list(spec.get("questions", {}))
    return cols


def csv_row(record: dict) -> dict:
    row = {"student_id": record["student_id"], "zip": record["zip"], "status": record["status"],
           "score": record.get("score", 0), "max_score": record.get("max_score", "")}
    for nb in record.get("notebooks", {}).values():
        row |= {f"{n} {e['function']}": e["earned"] for n, e in nb.get("exercises", {}).items()}
        row |= {q: v["earned"] for q, v in nb.get("questions", {}).items()}
    return row


def write_csv(records: list[dict], path: Path, cols: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["student_id", "zip", "status", "score", "max_score", *cols],
                                extrasaction="ignore")
        writer.writeheader()
        for record in sorted(records, key=lambda r: (r["student_id"], r["zip"])):
            writer.writerow(csv_row(record))


def parse_shard(text: str | None) -> tuple[int, int]:
    if not text:
        return 1, 1
    match = re.match(r"^(\d+)/(\d+)$", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise GradingError(f"--shard {text!r}: use I/N with 1 <= I <= N, e.g. --shard 2/8.")
    return int(match.group(1)), int(match.group(2))


def merge(dirs: list[Path], out: Path, course: Course | None = None, canvas: dict | None = None) -> Path:
    """One ``grades.csv`` from the ``ID.json`` files of several shard folders."""
    course = course or load_course()
    records, seen = [], {}
    for directory in dirs:
        for path in sorted(Path(directory).glob("*.json")):
            if path.name.startswith("."):
                continue
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("student_id") in seen:
                raise GradingError(f"{record.get('student_id')} was graded in {seen[record['student_id']]} and {directory}.")
            seen[record.get("student_id")] = str(directory)
            records.append(record)
    Path(out).mkdir(parents=True, exist_ok=True)
    write_csv(records, Path(out) / "grades.csv", columns(course))
    if canvas is not None:
        from helpers.coursework.grading import gradebook
        gradebook.write_canvas(records, Path(out) / "canvas.csv", **canvas)
    return Path(out) / "grades.csv"
