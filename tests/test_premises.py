"""Predict -> run -> answer, and the premises of observation questions (issue: keys true on the model students run).

For every question whose spec says ``"observation": true``: the instructor notebook shows the question, then a
``prediction`` cell (``free``: the student writes one line), then the cell(s) tagged ``result:<qid>`` that show the
result, then the answer cell, then a ``premise`` cell (instructor only) that checks what the key rests on; nothing
a student sees between the prediction and the answer interprets the result. ``course_check`` runs the premises.
"""
import json
import os
import re

import nbformat
import pytest

from helpers import handin
from helpers.coursework import authoring, course_check, premises

INSTRUCTOR = authoring.instructor_notebooks()
OBSERVATIONS = [(path, qid) for path in INSTRUCTOR for qid in course_check.observation_questions(path.stem)]
INTERPRETATION = re.compile(r"what to see here|you should (have )?(see|observe)", re.IGNORECASE)


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def _positions(cells, qid):
    """Indices of the prediction, result, answer and premise cells of ``qid``."""
    call = re.compile(rf"answers\.(choose|fill|predict)\(\s*['\"]{re.escape(qid)}['\"]")
    where = {"prediction": [], "result": [], "answer": [], "premise": []}
    for index, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        found = call.search(cell.source)
        if found and found.group(1) == "predict":
            where["prediction"].append(index)
        elif found:
            where["answer"].append(index)
        if f"result:{qid}" in _tags(cell):
            where["result"].append(index)
        if "premise" in _tags(cell) and re.search(rf"premise\(\s*['\"]{re.escape(qid)}['\"]", cell.source):
            where["premise"].append(index)
    return where


def order_problems(cells, qid) -> list[str]:
    """What breaks predict -> run -> answer for ``qid`` ([] when the order holds)."""
    where = _positions(cells, qid)
    problems = [f"{qid}: no {kind} cell" for kind, found in where.items() if not found]
    if problems:
        return problems
    prediction, answer = where["prediction"][0], where["answer"][-1]
    if not {"free", "prediction"} <= set(_tags(cells[prediction])):
        problems.append(f"{qid}: the prediction cell must be tagged 'free' and 'prediction'")
    if not all(prediction < r < answer for r in where["result"]):
        problems.append(f"{qid}: every result cell comes after the prediction and before the answer")
    if not all(p > answer for p in where["premise"]):
        problems.append(f"{qid}: the premise cell comes after the answer cell")
    student = authoring.strip_markdown
    for index in range(prediction, answer):
        cell = cells[index]
        if cell.cell_type == "markdown" and INTERPRETATION.search(student(cell.source, "test")):
            problems.append(f"{qid}: cell {index} interprets the result before the answer (move it after, instructor only)")
    return problems


@pytest.mark.parametrize("path,qid", OBSERVATIONS, ids=[f"{p.stem[:2]}-{q}" for p, q in OBSERVATIONS])
def test_every_observation_question_is_predict_run_answer(path, qid):
    nb = nbformat.read(path, as_version=4)
    assert order_problems(nb.cells, qid) == []


@pytest.mark.parametrize("path", sorted({p for p, _ in OBSERVATIONS}), ids=lambda p: p.stem)
def test_student_version_drops_premises_and_leaves_predictions_open(path):
    student = authoring.make_student(nbformat.read(path, as_version=4), path.stem)
    assert not [c for c in student.cells if "premise" in c.source and "premises import" in c.source]
    predictions = [c for c in student.cells if "answers.predict(" in c.source]
    assert predictions and all(c.metadata.get("editable", True) for c in predictions)


def _md(text):
    return nbformat.v4.new_markdown_cell(text)


def _code(text, tags=()):
    cell = nbformat.v4.new_code_cell(text)
    cell.metadata["tags"] = list(tags)
    return cell


def test_the_order_check_names_each_break():
    good = [_md("**p9.q1** — ?"), _code('answers.predict("p9.q1", "")', ["free", "prediction"]),
            _code("show()", ["result:p9.q1"]), _code('answers.fill("p9.q1", 3)  # SOLUTION'),
            _code('premise("p9.q1", "x", observed=1, holds=True)', ["premise"])]
    assert order_problems(good, "p9.q1") == []
    swapped = [good[0], good[2], good[1], *good[3:]]
    assert "after the prediction" in order_problems(swapped, "p9.q1")[0]
    assert order_problems(good[:1] + good[2:], "p9.q1") == ["p9.q1: no prediction cell"]
    told = good[:2] + [_md("*What to see here:* it is 3.")] + good[2:]
    assert "interprets the result" in order_problems(told, "p9.q1")[0]
    hidden = good[:2] + [_md("<!-- BEGIN SOLUTION -->\n*What to see here:* 3.\n<!-- END SOLUTION -->")] + good[2:]
    assert order_problems(hidden, "p9.q1") == []
    late = good[:3] + [good[4], good[3]]
    assert "premise cell comes after" in order_problems(late, "p9.q1")[0]
    untagged = good[:1] + [_code('answers.predict("p9.q1", "")')] + good[2:]
    assert "tagged 'free'" in order_problems(untagged, "p9.q1")[0]


def test_a_prediction_is_one_line_kept_out_of_the_answers(capsys):
    sheet = handin.AnswerSheet("07_sae_activations")
    assert sheet.predict("p7.q6", "  the SAE's own\n layer  ") == "the SAE's own layer"
    assert sheet.predictions == {"p7.q6": "the SAE's own layer"} and sheet.answers == {}
    assert sheet.predict("p7.q6", ...) == "" and "no prediction yet" in capsys.readouterr().out
    with pytest.raises(handin.AnswerError, match="at most 300"):
        sheet.predict("p7.q6", "x" * 301)
    with pytest.raises(handin.AnswerError, match="text in quotes"):
        sheet.predict("p7.q6", 21)
    assert handin.answers_in_source('answers.predict("p7.q6", "21")\nanswers.fill("p7.q6", 21)') == {"p7.q6": 21}


def test_a_failed_premise_stops_the_run_unless_a_course_check_collects_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(premises.REPORT_ENV, raising=False)
    assert premises.premise("p9.q1", "x is small", observed=0.123456, holds=True) is True
    assert capsys.readouterr().out == "premise p9.q1: x is small — observed 0.1235: holds\n"
    with pytest.raises(premises.PremiseFailed, match="p9.q1: x is small — observed 7: FAILS"):
        premises.premise("p9.q1", "x is small", observed=7, holds=False)
    report = tmp_path / "r.jsonl"
    monkeypatch.setenv(premises.REPORT_ENV, str(report))
    assert premises.premise("p9.q2", "y", observed=[1.0, "a"], holds=False) is False
    records = course_check.read_report(report)
    assert [(r["qid"], r["holds"], r["observed"]) for r in records] == [("p9.q2", False, "[1, a]")]


def test_judge_reports_holds_fails_missing_and_strays():
    records = [{"qid": "p9.q1", "claim": "c", "observed": "1", "holds": True},
               {"qid": "p9.q2", "claim": "d", "observed": "2", "holds": False},
               {"qid": "p9.q9", "claim": "e", "observed": "3", "holds": True}]
    lines = course_check.judge(["p9.q1", "p9.q2", "p9.q3"], records, error="")
    assert [(line.qid, line.status) for line in lines] == [
        ("p9.q1", "holds"), ("p9.q2", "FAILS"), ("p9.q3", "MISSING"), ("p9.q9", "MISSING")]
    assert "stopped" not in course_check.judge(["p9.q3"], [], "")[0].text
    assert "boom" in course_check.judge(["p9.q3"], [], "boom")[0].text


def test_course_check_runs_a_notebook_offline_and_exits_by_its_premises(tmp_path, monkeypatch, capsys):
    """`make course-check` on the offline backend, as CI runs it: one line per observation question."""
    # 03 runs fastest of the notebooks with observation questions (no generation): the command, not the notebook,
    # is under test here, and nbval runs every notebook's premises offline
    path = next(p for p, _ in OBSERVATIONS if p.stem == "03_tokenization")
    monkeypatch.setenv("LAB_BACKEND", "offline")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    code = course_check.main([path.stem[:2], "--out", str(tmp_path)])
    out = capsys.readouterr().out
    for qid in course_check.observation_questions(path.stem):
        assert re.search(rf"^{re.escape(qid)}\s+holds\s+\S", out, re.MULTILINE), out
    assert code == 0 and (tmp_path / path.name).is_file()
    assert os.environ.get(premises.REPORT_ENV) is None
    spec = json.loads((course_check.SPEC_DIR / f"{path.stem}.json").read_text())
    assert all(spec["questions"][q].get("observation") for q in course_check.observation_questions(path.stem))
