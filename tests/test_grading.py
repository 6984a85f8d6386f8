"""Grading: hidden tests on the student's functions, in the bubblewrap sandbox (toy course, no model)."""
import csv
import json
import os
import socket
import subprocess
import zipfile

import pytest

from helpers.coursework import authoring
from helpers.coursework.grading import grader, sandbox
from tests import toycourse as toy

FULL = 7.0  # 2 + 3 exercise points, 1 + 1 question points


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    paths = toy.write_course(root)
    loaded = toy.load_toy_course(paths)
    cache = root / "expected-cache"
    original = grader.grade_all

    def grade_all(*args, **kwargs):  # the instructor outputs are computed once for the module
        return original(*args, **{"cache_dir": cache, **kwargs})
    mp = pytest.MonkeyPatch()
    mp.setattr(grader, "grade_all", grade_all)
    yield root, paths, loaded
    mp.undo()


def solved(paths, stub=(), answers=True) -> dict:
    """The release notebook as a perfect student hands it in, with the exercises in ``stub`` left as stubs."""
    import nbformat

    nb = nbformat.read(paths["notebooks"] / "01_toy.ipynb", as_version=4)
    student = authoring.make_student(nb, "01_toy", only=set(stub), stub_answers=not answers)
    return json.loads(authoring.render(student))


def grade(course, tmp_path, notebooks: dict, **kw) -> dict:
    """Grade ``{student_id: notebook}``; returns ``{student_id: record}``."""
    root, paths, loaded = course
    zips = [toy.write_zip(tmp_path / "zips", sid, nb) for sid, nb in notebooks.items()]
    records = grader.grade_all(zips, tmp_path / "out", course=loaded, **kw)
    return {r["student_id"]: r for r in records}


def earned(record, number):
    return record["notebooks"]["01_toy"]["exercises"][number]["earned"]


@pytest.mark.sandbox
def test_solutions_full_release_zero_each_stub_loses_its_own_points(course, tmp_path):
    _, paths, _ = course
    got = grade(course, tmp_path, {
        "full": solved(paths),
        "release": toy.student_notebook(paths),
        "nodouble": solved(paths, stub={"1.1"}),
        "noscale": solved(paths, stub={"1.2"}),
    }, jobs=2, canvas={"assignment": "HW3"})
    assert got["full"]["score"] == FULL == got["full"]["max_score"]
    assert got["release"]["score"] == 0
    assert got["nodouble"]["score"] == FULL - 2 and earned(got["nodouble"], "1.1") == 0
    assert got["noscale"]["score"] == FULL - 3 and earned(got["noscale"], "1.2") == 0
    case = got["nodouble"]["notebooks"]["01_toy"]["exercises"]["1.1"]["cases"][0]
    assert not case["passed"] and "NotImplementedError" in case["message"]
    rows = list(csv.DictReader(open(tmp_path / "out" / "grades.csv")))
    assert [r["student_id"] for r in rows] == ["full", "nodouble", "noscale", "release"]
    assert rows[0]["1.1 double"] == "2.0" and rows[0]["p1.q1"] == "1"
    # the feedback file of each student names the kinds of case that failed, and what to do
    nodouble = (tmp_path / "out" / "feedback" / "nodouble.md").read_text()
    assert "### Exercise 1.1 `double`: 0 / 2 points" in nodouble
    assert "- The stub is still there (NotImplementedError): four; negative; large." in nodouble
    assert "All 2 hidden cases pass." in nodouble and "Score: 5 / 7" in nodouble
    assert "pass. The failed" not in (tmp_path / "out" / "feedback" / "full.md").read_text()
    with open(tmp_path / "out" / "canvas.csv", newline="") as handle:
        canvas = list(csv.reader(handle))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "HW3"]
    assert [(r[2], r[5]) for r in canvas[1:]] == [("full", "7"), ("nodouble", "5"), ("noscale", "4"), ("release", "0")]


@pytest.mark.sandbox
def test_typed_in_answers_and_hard_coded_outputs_score_nothing(course, tmp_path):
    _, paths, _ = course

    def cheat(nb):
        # the notebook's visible check passes (double(3) == 6), the hidden cases do not
        toy.set_cell(nb, "def double", 'def double(x):\n    return 6')
        nb["cells"].append({"cell_type": "code", "id": "added", "metadata": {}, "outputs": [], "execution_count": None,
                            "source": 'answers_typed_in = {"1.1": [8, -14, 2000000]}\ndouble = lambda x: {4: 8, -7: -14}.get(x, 0)'})
    got = grade(course, tmp_path, {"cheat": toy.student_notebook(paths, cheat)})["cheat"]
    # cells the student added are never run, and `return 6` fails every hidden case
    assert earned(got, "1.1") == 0 and got["score"] == 0


@pytest.mark.sandbox
def test_partial_credit_per_case_and_wrong_output_message(course, tmp_path):
    _, paths, _ = course
    nb = solved(paths)
    toy.set_cell(nb, "def double", "def double(x):\n    return 2 * x if x < 100 else x")
    toy.set_cell(nb, "def scale", "def scale(v, k):\n    return v * abs(k)")
    got = grade(course, tmp_path, {"part": nb})["part"]
    assert earned(got, "1.1") == pytest.approx(2 * 2 / 3, abs=0.01)
    assert earned(got, "1.2") == 1.5  # the k = -1.0 case fails
    failed = [c for c in got["notebooks"]["01_toy"]["exercises"]["1.2"]["cases"] if not c["passed"]][0]
    assert "values differ" in failed["message"]


@pytest.mark.sandbox
def test_an_edited_setup_cell_keeps_its_exercise_points_and_is_flagged(course, tmp_path):
    # Colab ignores the cells' editable/deletable metadata; the grader runs the release's context cells, so an
    # edited or deleted one changes nothing it scores: it is reported (record and feedback), never voids points.
    _, paths, _ = course
    setup = solved(paths)
    toy.set_cell(setup, "# Setup", "# Setup, edited in Colab\nimport os\nraise SystemExit('the student broke setup')")
    ctx = solved(paths)
    toy.set_cell(ctx, "import torch", "import torch\nimport math")
    gone = solved(paths)
    gone["cells"] = [c for c in gone["cells"] if "import torch" != "".join(c["source"]).strip()]
    demo = solved(paths)
    toy.set_cell(demo, "print(scale(", "print('changed')")
    got = grade(course, tmp_path, {"setup": setup, "ctx": ctx, "gone": gone, "demo": demo}, jobs=2)
    for sid, first_line, change, context in (("setup", "# Setup: in Colab, fetch the course code", "changed", True),
                                              ("ctx", "import torch", "changed", True), ("gone", "import torch", "deleted", True),
                                              ("demo", "print(scale(torch.ones(2), 3.0))", "changed", False)):
        assert got[sid]["score"] == FULL, sid
        nb = got[sid]["notebooks"]["01_toy"]
        assert not any("voided" in ex for ex in nb["exercises"].values())
        assert [(c["first_line"][:len(first_line)], c["change"], c["context"]) for c in nb["locked_cells_changed"]] == [
            (first_line, change, context)], sid
        feedback = (tmp_path / "out" / "feedback" / f"{sid}.md").read_text()
        assert "changed or deleted locked cell" in feedback and first_line in feedback, sid


def test_questions_compare_with_the_instructor_keys():
    assert grader.score_question("choice", "B", "B", 0) and not grader.score_question("choice", "A", "B", 0)
    assert grader.score_question("multi", ["A", "C"], ["A", "C"], 0) and not grader.score_question("multi", ["A"], ["A", "C"], 0)
    assert grader.score_question("number", 42.4, 42, 0.5) and not grader.score_question("number", 42.6, 42, 0.5)
    assert grader.score_question("text", " Red ", "red", 0) and not grader.score_question("number", None, 42, 1)


@pytest.mark.sandbox
def test_attacks_fail_inside_the_sandbox(course, tmp_path, monkeypatch):
    _, paths, _ = course
    secret = "s3cr3t-" + os.urandom(8).hex()
    monkeypatch.setenv("GRADER_SECRET", secret)
    home = tmp_path / "home"
    (home / ".cache" / "huggingface").mkdir(parents=True)
    token_file = home / ".cache" / "huggingface" / "token"
    token_file.write_text(secret)
    spec_file = paths["spec"] / "01_toy.json"
    spec_before = spec_file.read_text()
    victim = tmp_path / "out" / "victim.json"
    victim.parent.mkdir(parents=True)
    victim.write_text("{}")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    marker = "sleeper-" + os.urandom(4).hex()
    attack = f'''import os, subprocess, socket
found = []
for path in ["/proc/1/environ", "/proc/self/environ", {str(token_file)!r}, os.path.expanduser("~/.cache/huggingface/token")]:
    try:
        found.append(open(path, errors="replace").read())
    except OSError:
        pass
found.append(os.environ.get("GRADER_SECRET", ""))
for path in [{str(spec_file)!r}, {str(victim)!r}, "/course/helpers/backend.py", "/course/data/offline/manifest.json"]:
    try:
        open(path, "w").write("pwned")
    except OSError:
        pass
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=1)
except OSError:
    pass
subprocess.Popen(["setsid", "sh", "-c", "exec sleep 600 {marker}"])
print("x" * (150 * 2**20))
LEAK = " ".join(found)

def double(x):
    if "{secret}" in LEAK:
        raise RuntimeError("leaked: " + LEAK)
    return 2 * x'''
    nb = solved(paths)
    toy.set_cell(nb, "def double", attack)
    got = grade(course, tmp_path, {"attacker": nb})["attacker"]
    text = json.dumps(got)
    assert secret not in text and earned(got, "1.1") == 2  # nothing leaked, and the function still ran
    assert spec_file.read_text() == spec_before and victim.read_text() == "{}"
    with pytest.raises(socket.timeout):
        listener.accept()
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 1  # the setsid process is gone
    assert got["sandbox_runs"]["together"]["timed_out"] is False


@pytest.mark.sandbox
def test_a_hanging_notebook_times_out_and_the_others_still_score(course, tmp_path, monkeypatch):
    root, paths, loaded = course
    hang = solved(paths)
    toy.set_cell(hang, "def scale", "import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                                    "def scale(v, k):\n    while True:\n        time.sleep(1)")
    loaded.specs["01_toy"]["timeout_s"] = 3  # counted from the harness's first line: start-up is not in it
    try:
        got = grade(course, tmp_path, {"hang": hang, "ok": solved(paths)}, jobs=2)
    finally:
        loaded.specs["01_toy"]["timeout_s"] = toy.SPEC["timeout_s"]
    assert got["ok"]["score"] == FULL
    assert earned(got["hang"], "1.2") == 0


@pytest.mark.sandbox
def test_damaged_encrypted_and_invalid_submissions_fail_alone(course, tmp_path):
    root, paths, loaded = course
    good = toy.write_zip(tmp_path / "zips", "good", solved(paths))
    bad_json = toy.write_zip(tmp_path / "zips", "badjson", solved(paths))
    with zipfile.ZipFile(bad_json, "w") as archive:
        archive.writestr("01_toy.ipynb", "{not json")
    crc = tmp_path / "zips" / "crc_hw3.zip"
    data = bytearray(good.read_bytes())
    offset = data.find(b'"cells"')
    data[offset + 60] ^= 0xFF
    crc.write_bytes(bytes(data))
    encrypted = tmp_path / "zips" / "enc_hw3.zip"
    data = bytearray(good.read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set the "encrypted" bit of every entry
        start = 0
        while (start := data.find(signature, start)) >= 0:
            data[start + flag_at] |= 0x1
            start += 4
    encrypted.write_bytes(bytes(data))
    records = grader.grade_all([good, bad_json, crc, encrypted], tmp_path / "out", course=loaded, jobs=2)
    got = {r["student_id"]: r for r in records}
    assert got["good"]["score"] == FULL
    assert got["badjson"]["status"] == "graded" and got["badjson"]["score"] == 0
    assert "not a valid notebook" in got["badjson"]["notebooks"]["01_toy"]["problem"]
    assert got["crc"]["status"] == "rejected" and "damaged" in got["crc"]["error"]
    assert got["enc"]["status"] == "rejected" and "encrypted" in got["enc"]["error"]


@pytest.mark.sandbox
def test_duplicate_ids_and_id_mismatch_are_reported(course, tmp_path):
    _, paths, loaded = course
    first = toy.write_zip(tmp_path / "a", "same", solved(paths))
    second = toy.write_zip(tmp_path / "b", "same", solved(paths))
    other = toy.write_zip(tmp_path / "c", "renamed", solved(paths))
    other.rename(tmp_path / "c" / "someone_hw3.zip")
    records = grader.grade_all([first, second, tmp_path / "c" / "someone_hw3.zip"], tmp_path / "out", course=loaded, jobs=2)
    statuses = sorted(r["status"] for r in records)
    assert statuses[0].startswith("duplicate id") and statuses[1:] == ["graded", "graded"]
    mismatch = [r for r in records if r["student_id"] == "someone"][0]
    assert "renamed" in mismatch["id_mismatch"]


@pytest.mark.sandbox
def test_shards_then_merge_equal_one_run(course, tmp_path):
    _, paths, loaded = course
    zips = [toy.write_zip(tmp_path / "zips", sid, nb) for sid, nb in
            {"s1": solved(paths), "s2": solved(paths, stub={"1.2"}), "s3": toy.student_notebook(paths)}.items()]
    for i in (1, 2):
        grader.grade_all(zips, tmp_path / f"shard{i}", shard=f"{i}/2", course=loaded)
    assert sorted(p.name for p in (tmp_path / "shard1").glob("[!.]*.json")) == ["s1.json", "s3.json"]
    merged = grader.merge([tmp_path / "shard1", tmp_path / "shard2"], tmp_path / "all", course=loaded)
    rows = {r["student_id"]: r["score"] for r in csv.DictReader(open(merged))}
    assert rows == {"s1": "7.0", "s2": "4.0", "s3": "0.0"}
    with pytest.raises(grader.GradingError, match="I/N"):
        grader.parse_shard("3/2")


def test_grading_refuses_to_run_without_bubblewrap(course, tmp_path, monkeypatch):
    _, paths, loaded = course
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    z = toy.write_zip(tmp_path, "nobwrap", solved(paths))
    with pytest.raises(sandbox.SandboxError, match="--unsafe-no-sandbox"):
        grader.grade_all([z], tmp_path / "out", course=loaded)


@pytest.mark.parametrize("change, message", [
    (lambda s: s["exercises"]["1.1"].update(points=float("nan")), "not allowed"),
    (lambda s: s["exercises"]["1.1"].update(points=-1), "positive finite"),
    (lambda s: s["questions"]["p1.q2"].update(tolerance=-0.1), "tolerance"),
    (lambda s: s["questions"].update({"p1.q9": {"kind": "choice", "points": 1}}), "without a key"),
    (lambda s: s["questions"]["p1.q1"].update(kind="essay"), "kind"),
    (lambda s: s["exercises"]["1.2"].update(function="triple"), "defines `triple`"),
])
def test_spec_is_validated_before_any_run(tmp_path, change, message):
    paths = toy.write_course(tmp_path)
    spec = json.loads(json.dumps(toy.SPEC))
    change(spec)
    (paths["spec"] / "01_toy.json").write_text(json.dumps(spec))
    with pytest.raises(grader.GradingError, match=message):
        toy.load_toy_course(paths)
