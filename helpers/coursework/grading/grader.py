"""Grade submissions: hidden tests on the student's functions, in a sandbox; questions against keys.

    python -m helpers.coursework.grading grade submissions/*.zip --out grades [-j 2] [--shard 1/4]
    python -m helpers.coursework.grading merge grades-1 grades-2 ... --out grades
    python -m helpers.coursework.grading expected --out grades     # the instructor outputs only

For every notebook of a submission the sandbox runs the release's context cells, the student's
exercise cells and then every hidden case (``cases/nbNN.py``); the outputs come back as plain
JSON and are compared here, outside the sandbox, with what the instructor solutions give on the
same inputs. A case passes or fails; an exercise earns its points times the share of its cases
that pass. Conceptual questions are read from the notebook's answer cells (literals, not run)
and compared with the instructor notebook's answers. Recorded values are never trusted.
Changed or deleted locked cells are reported and void nothing (see ``cells``).

This module is the grader's one import (``from helpers.coursework.grading import grader``): it holds no code and
re-exports the public names of the modules that do, one per concern:

    course.py    the spec (``data/grading/NN_topic.json``), the hidden cases, ``Course`` and ``load_course``
    cells.py     notebook cells: which define an exercise, context cells, locked cells and their changes
    unpack.py    a submitted zip, unpacked safely (``safe_extract``, ``student_id_of``)
    run.py       the sandbox job, the course code it sees, ``Runner``, its results, the expected outputs
    scoring.py   one notebook's points: hidden cases and questions
    grade.py     one zip (``grade_zip``) and a shard of many (``grade_all``)
    results.py   the grades CSV, ``--shard I/N``, ``merge``

Patch a name where it is defined (``unpack.MAX_MEMBERS``, ``grade.read_notebook``), not here: the modules look up
their own globals.
"""
from __future__ import annotations

from helpers.coursework.config import HOMEWORK
from helpers.coursework.grading.cells import (LOCKED_EFFECT, _source, changed_locked_cells, context_sources,
                                              defines, exercise_sources, is_handin_cell, is_question_cell, locked_cells,
                                              read_notebook)
from helpers.coursework.grading.course import (ASSETS_DIR, CASES_PACKAGE, EXERCISE_DIR, NOTEBOOK_DIR, QUESTION_KINDS,
                                               REPO_ROOT, SPEC_DIR, Course, GradingError, Test, _positive, _transport,
                                               cases_module, hidden_tests, load_course, load_spec)
from helpers.coursework.grading.grade import Options, grade_all, grade_zip
from helpers.coursework.grading.results import columns, csv_row, merge, parse_shard, write_csv
from helpers.coursework.grading.run import (CASE_TIMEOUT_S, CHECKS_STUB, STARTUP_S, Runner, expected_outputs, job_for,
                                            parse_results, release_code, run_notebooks)
from helpers.coursework.grading.scoring import score_notebook, score_question
from helpers.coursework.grading.unpack import (MAX_MEMBER_BYTES, MAX_MEMBERS, MAX_TOTAL_BYTES, NOTEBOOK_MEMBER_RE,
                                               ZIP_STEM_RE, UnsafeZipError, safe_extract, student_id_of)

__all__ = [
    "ASSETS_DIR", "CASES_PACKAGE", "CASE_TIMEOUT_S", "CHECKS_STUB", "EXERCISE_DIR", "HOMEWORK", "LOCKED_EFFECT",
    "MAX_MEMBERS", "MAX_MEMBER_BYTES", "MAX_TOTAL_BYTES", "NOTEBOOK_DIR", "NOTEBOOK_MEMBER_RE", "QUESTION_KINDS",
    "REPO_ROOT", "SPEC_DIR", "STARTUP_S", "ZIP_STEM_RE",
    "Course", "GradingError", "Options", "Runner", "Test", "UnsafeZipError",
    "cases_module", "changed_locked_cells", "columns", "context_sources", "csv_row", "defines", "exercise_sources",
    "expected_outputs", "grade_all", "grade_zip", "hidden_tests", "is_handin_cell", "is_question_cell", "job_for",
    "load_course", "load_spec", "locked_cells", "merge", "parse_results", "parse_shard", "read_notebook",
    "release_code", "run_notebooks", "safe_extract", "score_notebook", "score_question", "student_id_of", "write_csv",
]
