"""Gradebook exports besides ``grades.csv``: Canvas's gradebook import CSV (``make grade ... FORMAT=canvas``).

Canvas imports a CSV shaped like its own gradebook export: the columns ``Student``, ``ID``, ``SIS User ID``,
``SIS Login ID`` and ``Section``, then one column per assignment, named ``Name`` (a new assignment) or
``Name (canvas assignment id)`` (an existing one); a student is matched by one of ``Student``, ``ID`` or ``SIS User
ID`` (Canvas Instructor Guide, "How do I import grades in the Gradebook?", and university guides to it, e.g. Ohio
State's "Import a CSV file to Carmen Grades": the required parts are the student's name or ID or SIS User ID, SIS
Login ID, Section, and the assignment column). Our student id is the SIS id (the hand-in zip's name). With a roster
(``--canvas-roster``: the course's own gradebook export) the name, Canvas ID, login and section come from it,
matched on the SIS User ID, else on the SIS Login ID.
"""
from __future__ import annotations

import csv
from pathlib import Path

from helpers.coursework.config import HOMEWORK
from helpers.errors import CourseError

CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


class RosterError(CourseError, ValueError):
    """The Canvas roster CSV is not a Canvas gradebook export; the message names the missing column."""


def read_roster(path: Path) -> dict[str, dict]:
    """``{student id: row}`` from a Canvas gradebook export (keyed by SIS User ID and by SIS Login ID)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CANVAS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise RosterError(f"{path} has no column {', '.join(missing)}: pass Canvas's own gradebook export "
                              "(Grades > Export > Export Entire Gradebook).")
        roster: dict[str, dict] = {}
        for row in reader:
            if row["Student"].strip().lower() == "points possible":
                continue
            for key in (row["SIS Login ID"], row["SIS User ID"]):  # the SIS User ID wins
                if key and key.strip():
                    roster[key.strip()] = row
    return roster


def canvas_rows(records: list[dict], roster: dict[str, dict] | None = None) -> list[dict]:
    """One row per graded student: Canvas's identity columns and the score (rejected zips and duplicates: none)."""
    rows = []
    for record in sorted(records, key=lambda r: r["student_id"]):
        if record.get("status") != "graded":
            continue
        sid = record["student_id"]
        known = (roster or {}).get(sid, {})
        rows.append({"Student": known.get("Student", ""), "ID": known.get("ID", ""),
                     "SIS User ID": known.get("SIS User ID", sid) or sid,
                     "SIS Login ID": known.get("SIS Login ID", ""), "Section": known.get("Section", ""),
                     "score": record.get("score", 0)})
    return rows


def write_canvas(records: list[dict], path: Path, assignment: str = HOMEWORK.upper(), roster: Path | None = None) -> Path:
    """Canvas's import CSV at ``path``: the identity columns, then ``assignment`` with each student's score."""
    if not assignment.strip():
        raise ValueError("the Canvas assignment column needs a name, e.g. 'HW3' or 'HW3 (123456)'.")
    rows = canvas_rows(records, read_roster(roster) if roster else None)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*CANVAS_COLUMNS, assignment])
        for row in rows:
            writer.writerow([row[c] for c in CANVAS_COLUMNS] + [f"{float(row['score']):g}"])
    return Path(path)
