"""Grading re-runs the notebooks: full marks for the solutions, exactly the dependent points lost for a stub."""
import json
import re
import zipfile
from pathlib import Path

import nbformat
import pytest

from helpers import authoring, grade, submission
from helpers.assets import offline_dir
from tests.toycourse import REFERENCE, SPEC, toy_notebook, write_answers, write_course

RECORD_RE = re.compile(r"""answers\.record\(\s*["'](p\d+(?:\.[a-z0-9_]+)+)["']""")
RECORD_F_RE = re.compile(r"""answers\.record\(\s*f["'](p\d+[a-z0-9_.]*)\{""")
QUICK_NOTEBOOK = "05_contextual_embeddings"  # the quickest graded notebook on the offline backend

FAKE_TOKEN = "hf" + "_" + "Ab3dE" * 7


@pytest.mark.parametrize("a, b, compare, tol, expected", [
    (6.07, 6.50, "abs", 0.5, True),
    (6.07, 6.60, "abs", 0.5, False),
    ({"k2": 0.8, "k200": 0.2}, {"k2": 0.7, "k200": 0.3}, "abs", 0.5, True),
    ([235285, 2182], [235285, 2182], "exact", 0, True),
    ([235285, 2182], [235285, 23533], "exact", 0, False),
    ("The sky is blue.", "The sky is blue. ", "exact", 0, False),
    ({"k2": 0.9, "k200": 0.2}, {"k2": 0.6, "k200": 0.1}, "ordering", 0, True),
    ({"k2": 0.2, "k200": 0.9}, {"k2": 0.6, "k200": 0.1}, "ordering", 0, False),
    ("k2", "k2", "ordering", 0, True),
    (None, None, "exact", 0, False),
])
def test_answers_compare_with_the_question_tolerance(a, b, compare, tol, expected):
    assert grade.same(a, b, compare, tol) is expected


def test_a_question_needs_reproduction_and_correctness():
    spec = {"questions": {"p1.a": {"notebook": "n", "points": 2, "compare": "exact"},
                          "p1.b": {"notebook": "n", "points": 1, "compare": "exact"},
                          "p1.c": {"notebook": "n", "points": 1, "compare": "exact"}}}
    rows = grade.score_questions(spec, submitted={"p1.a": 1, "p1.b": 5, "p1.c": 7},
                                 reproduced={"p1.a": 1, "p1.b": 2, "p1.c": 7}, reference={"p1.a": 1, "p1.b": 2, "p1.c": 8})
    assert [(rows[k]["earned"], rows[k]["reproduced"], rows[k]["correct"]) for k in ("p1.a", "p1.b", "p1.c")] == [
        (2, True, True), (0, False, True), (0, True, False)]


def make_zip(path: Path, members: dict[str, bytes], links: tuple[str, ...] = ()) -> Path:
    """A zip with the given members (and symbolic-link entries)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize("members, links", [
    ({"../01_toy.ipynb": b"{}"}, ()),
    ({"sub/../../evil.py": b"x"}, ()),
    ({"/etc/01_toy.ipynb": b"{}"}, ()),
    ({"C:/temp/01_toy.ipynb": b"{}"}, ()),
    ({}, ("01_toy.ipynb",)),
])
def test_unsafe_zips_are_rejected(tmp_path, members, links):
    bad = make_zip(tmp_path / "s9_hw3.zip", members, links)
    with pytest.raises(grade.UnsafeZipError):
        grade.safe_extract(bad, tmp_path / "x")
    assert not (tmp_path / "evil.py").exists() and not (tmp_path / "01_toy.ipynb").exists()


def test_safe_extract_flattens_a_folder_and_skips_other_files(tmp_path):
    good = make_zip(tmp_path / "s9_hw3.zip", {"hw3/01_toy.ipynb": b"{}", "hw3/01_toy.answers.json": b"{}",
                                               "__MACOSX/hw3/._01_toy.ipynb": b"", "hw3/run.sh": b"rm -rf /"})
    assert grade.safe_extract(good, tmp_path / "x") == ["01_toy.answers.json", "01_toy.ipynb"]
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["01_toy.answers.json", "01_toy.ipynb"]


def test_oversized_member_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setattr(grade, "MAX_MEMBER_BYTES", 1000)
    big = make_zip(tmp_path / "s9_hw3.zip", {"01_toy.ipynb": b" " * 5000})
    with pytest.raises(grade.UnsafeZipError, match="size limit"):
        grade.safe_extract(big, tmp_path / "x")


def test_kernel_environment_has_no_token(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("MY_API_KEY", "secret")
    env = grade.kernel_env("gemma", tmp_path, 1)
    assert FAKE_TOKEN not in env.values() and "MY_API_KEY" not in env
    assert env["HF_HUB_OFFLINE"] == "1" and env["LAB_BACKEND"] == "gemma" and env["LAB_GRADING"] == "1"


def dependent_points(exercise: str) -> float:
    """Points of the toy questions that need ``exercise``."""
    return sum(q["points"] for q in SPEC["questions"].values() if exercise in q["exercises"])


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade four toy submissions in one parallel run: solutions, a stub, a forged answer, a zip-slip."""
    root = tmp_path_factory.mktemp("toy")
    course = write_course(root)
    source = course["notebooks"] / "01_toy.ipynb"
    zips = []
    for student, variant in [("s001", "solutions"), ("s002", "stub-1.1"), ("s003", "forged"), ("s004", "slip")]:
        folder = root / student
        folder.mkdir()
        if variant == "stub-1.1":
            (folder / "01_toy.ipynb").write_text(authoring.student_text(source, only={"1.1"}))
        else:
            nbformat.write(toy_notebook(), folder / "01_toy.ipynb")
        write_answers(folder, {**REFERENCE, "p2.order": [0.9, 0.1, 0.5]} if variant == "forged" else REFERENCE)
        zips.append(submission.build_zip(student, folder, root / "zips"))
    zips[-1].unlink()
    make_zip(zips[-1], {"01_toy.ipynb": source.read_bytes(), "../../escaped.txt": b"gotcha"})
    options = grade.GradeOptions(root / "grades", "offline", course["spec"], course["reference"])
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_TOKEN", FAKE_TOKEN)  # the grader has a token; the student kernel must not see it
    try:
        records = grade.grade_all(zips, options, jobs=2)
    finally:
        mp.undo()
    return root, {r["student_id"]: r for r in records}


def test_instructor_solutions_get_full_marks(graded):
    root, records = graded
    record = records["s001"]
    assert record["score"] == record["max_score"] == sum(q["points"] for q in SPEC["questions"].values())
    assert record["questions"]["p2.token_seen"]["reproduced_value"] is False
    assert json.loads((root / "grades" / "s001.json").read_text())["score"] == record["score"]
    assert (root / "grades" / "s001" / "01_toy.ipynb").is_file()  # executed copy for the TA


def test_a_stub_loses_exactly_its_dependent_points(graded):
    _, records = graded
    record = records["s002"]
    lost = {k for k, q in record["questions"].items() if q["earned"] < q["points"]}
    assert lost == {k for k, q in SPEC["questions"].items() if "1.1" in q["exercises"]}
    assert record["max_score"] - record["score"] == dependent_points("1.1")
    assert record["notebooks"]["01_toy"]["status"] == "errors"
    assert "exercise 1.1" in record["notebooks"]["01_toy"]["errors"][0]


def test_an_answer_that_does_not_reproduce_scores_zero(graded):
    _, records = graded
    questions = records["s003"]["questions"]
    assert questions["p2.order"]["reproduced"] is False and questions["p2.order"]["earned"] == 0
    assert records["s003"]["score"] == records["s003"]["max_score"] - SPEC["questions"]["p2.order"]["points"]


def test_a_zip_slip_zip_is_rejected(graded):
    root, records = graded
    assert records["s004"]["status"] == "rejected" and "zip-slip" in records["s004"]["error"]
    assert records["s004"]["score"] == 0 and not list(root.rglob("escaped.txt"))


def test_csv_lists_every_student(graded):
    root, _ = graded
    lines = (root / "grades" / "grades.csv").read_text().splitlines()
    assert lines[0].startswith("student_id,zip,status,score,max_score,p1.both")
    assert [line.split(",")[0] for line in lines[1:]] == ["s001", "s002", "s003", "s004"]


def test_a_timeout_loses_only_the_answers_after_it(tmp_path):
    course = write_course(tmp_path, sleep_s=300)
    folder = tmp_path / "s005"
    folder.mkdir()
    nbformat.write(toy_notebook(sleep_s=300), folder / "01_toy.ipynb")
    write_answers(folder, REFERENCE)
    zipped = submission.build_zip("s005", folder, tmp_path / "zips")
    options = grade.GradeOptions(tmp_path / "grades", "offline", course["spec"], course["reference"], timeout_s=30)
    record = grade.grade_all([zipped], options)[0]
    assert record["notebooks"]["01_toy"]["status"] == "timeout"
    earned = {k for k, q in record["questions"].items() if q["earned"]}
    assert earned == {"p1.double", "p1.k_squared", "p1.both"}


def test_bad_spec_names_the_question(tmp_path):
    spec = tmp_path / "grading.json"
    spec.write_text(json.dumps({"notebooks": {"01_toy": {}}, "questions": {"p1.x": {"notebook": "02_other", "points": 1}}}))
    with pytest.raises(grade.GradingError, match="p1.x names notebook '02_other'"):
        grade.load_spec(spec)


def test_zip_name_must_carry_the_student_id(tmp_path):
    with pytest.raises(grade.GradingError, match="STUDENTID_hw3.zip"):
        grade.student_id_of(tmp_path / "homework.zip")


# ----------------------------------------------------------------------------- the real course

def recorded_keys(path: Path) -> tuple[set[str], set[str]]:
    """Answer keys a notebook records with a literal string, and the fixed prefixes of f-string keys."""
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return set(RECORD_RE.findall(code)), set(RECORD_F_RE.findall(code))


def test_grading_spec_matches_the_notebooks():
    spec = grade.load_spec()
    reference = grade.load_reference("offline") or {}
    for path in authoring.instructor_notebooks():
        assert path.stem in spec["notebooks"], f"{path.name} is not in data/grading.json: add it and its questions"
        keys, prefixes = recorded_keys(path)
        listed = {k for k, q in spec["questions"].items() if q["notebook"] == path.stem}
        assert keys <= listed, f"{path.name} records {sorted(keys - listed)}, which data/grading.json does not grade"
        assert all(any(k.startswith(p) for k in listed) for p in prefixes), f"{path.name} records {prefixes} keys that are not graded"
        unknown = {k for k in listed - keys - set(reference) if not any(k.startswith(p) for p in prefixes)}
        assert not unknown, f"data/grading.json grades {sorted(unknown)}, which {path.name} never records"
    for name in spec["notebooks"]:
        assert (grade.NOTEBOOK_DIR / f"{name}.ipynb").is_file(), f"data/grading.json names {name}, which has no notebook"


def test_reference_answers_are_fresh():
    path = grade.reference_path("offline")
    if not path.is_file():
        pytest.skip("no reference answers yet (make reference)")
    payload = json.loads(path.read_text())
    spec = grade.load_spec()
    for name in spec["notebooks"]:
        assert payload["code_sha256"].get(name) == grade.code_digest(grade.NOTEBOOK_DIR / f"{name}.ipynb"), (
            f"the code of {name} changed since data/reference/offline.json was built: run `make reference`")
    assert set(spec["questions"]) <= set(payload["answers"])


@pytest.mark.skipif(not (grade.reference_path("offline").is_file() and (offline_dir() / "manifest.json").is_file()),
                    reason="needs the offline assets and data/reference/offline.json")
def test_real_notebook_full_marks_and_stub_loss(tmp_path):
    spec = grade.load_spec()
    reference = grade.load_reference("offline")
    source = grade.NOTEBOOK_DIR / f"{QUICK_NOTEBOOK}.ipynb"
    questions = {k: q for k, q in spec["questions"].items() if q["notebook"] == QUICK_NOTEBOOK}
    exercise = next(e for q in questions.values() for e in q["exercises"])
    mine = {k: reference[k] for k in questions}
    zips = []
    for student, text in [("t001", source.read_text()), ("t002", authoring.student_text(source, only={exercise}))]:
        folder = tmp_path / student
        folder.mkdir()
        (folder / source.name).write_text(text)
        write_answers(folder, mine, QUICK_NOTEBOOK)
        zips.append(submission.build_zip(student, folder, tmp_path / "zips"))
    options = grade.GradeOptions(tmp_path / "grades", "offline", notebooks=(QUICK_NOTEBOOK,))
    records = {r["student_id"]: r for r in grade.grade_all(zips, options, jobs=2)}
    full, stub = records["t001"], records["t002"]
    assert full["score"] == full["max_score"] == sum(q["points"] for q in questions.values()), full["notebooks"]
    lost = {k for k, q in stub["questions"].items() if q["earned"] < q["points"]}
    assert lost == {k for k, q in questions.items() if exercise in q["exercises"]}, stub["notebooks"]
