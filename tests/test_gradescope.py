"""The Gradescope autograder (grading/gradescope.py), run without Gradescope: ``autograder.zip`` unpacked into a
temporary ``AUTOGRADER_ROOT/{source,submission,results}``, its ``run_autograder`` on solved, untouched and attacking
submissions, and ``results.json`` checked against Gradescope's specification (fields, types, values)."""
import json
import os
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from helpers import handin
from helpers.coursework.grading import gradescope, grader
from helpers.coursework.grading.cases import nb03

NB = "03_tokenization"
ROOT_FILES = {"setup.sh", "run_autograder"}
# Gradescope's results.json ("Autograder Specifications"): the fields and the values it accepts.
TOP_FIELDS = {"score", "execution_time", "output", "output_format", "visibility", "stdout_visibility", "extra_data",
              "tests", "leaderboard"}
TEST_FIELDS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
               "visibility", "extra_data"}
VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}

pytestmark = pytest.mark.sandbox


def number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate(results: dict) -> list[dict]:
    """Fail unless ``results`` is a results.json Gradescope accepts; returns its tests."""
    assert set(results) <= TOP_FIELDS, set(results) - TOP_FIELDS
    assert number(results["score"])
    for key, allowed in (("visibility", VISIBILITIES), ("stdout_visibility", VISIBILITIES), ("output_format", FORMATS)):
        assert results.get(key, "visible" if key != "output_format" else "text") in allowed, key
    assert isinstance(results.get("output", ""), str) and isinstance(results.get("extra_data", {}), dict)
    assert "execution_time" not in results or number(results["execution_time"])
    tests = results["tests"]
    assert isinstance(tests, list)
    for test in tests:
        assert set(test) <= TEST_FIELDS, set(test) - TEST_FIELDS
        assert number(test["score"]) and number(test["max_score"]) and 0 <= test["score"] <= test["max_score"]
        assert test["status"] in ("passed", "failed") and (test["status"] == "passed") == (test["score"] == test["max_score"])
        assert isinstance(test["name"], str) and isinstance(test["number"], str) and isinstance(test["output"], str)
        assert test["visibility"] in VISIBILITIES and test["output_format"] in FORMATS
        assert isinstance(test["tags"], list) and all(isinstance(t, str) for t in test["tags"])
    assert len({t["name"] for t in tests}) == len(tests)
    assert results["score"] == pytest.approx(sum(t["score"] for t in tests))
    return tests


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    out = tmp_path_factory.mktemp("gradescope")
    return gradescope.build(out, only=(NB,))


def layout(zip_path: Path, uploads: dict[str, bytes], parent: Path) -> Path:
    """``parent/autograder`` as Gradescope lays it out: the zip unpacked into source (with its modes), the upload."""
    root = parent / "autograder"
    for part in ("source", "submission", "results"):
        (root / part).mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            archive.extract(info, root / "source")
            (root / "source" / info.filename).chmod((info.external_attr >> 16) & 0o777)
    for name, data in uploads.items():
        (root / "submission" / name).write_bytes(data)
    return root


def run_autograder(root: Path, **env) -> dict:
    environ = {"PATH": os.environ["PATH"], "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable,
               "HF_HUB_OFFLINE": "1", **env}
    done = subprocess.run([str(root / "source" / "run_autograder")], env=environ, cwd=root, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    (root / "stdout").write_text(done.stdout + done.stderr)
    return json.loads((root / "results" / "results.json").read_text())


def points() -> float:
    spec = json.loads((grader.SPEC_DIR / f"{NB}.json").read_text())
    return sum(e["points"] for e in spec["exercises"].values()) + sum(q["points"] for q in spec["questions"].values())


def hidden_texts() -> list[str]:
    """The hidden inputs of notebook 03 (its strings), read from the cases module: none may reach results.json."""
    return [a for case in nb03.cases()["token_table"] for a in case.args if isinstance(a, str)]


def test_the_zip_has_setup_and_run_autograder_at_its_root_and_the_course_inside(autograder):
    with zipfile.ZipFile(autograder) as archive:
        names = set(archive.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
        setup = archive.read("setup.sh").decode()
        config = json.loads(archive.read(f"course/{gradescope.CONFIG}"))
    assert ROOT_FILES <= names and modes["setup.sh"] == modes["run_autograder"] == 0o755
    assert {f"course/notebooks/{NB}.ipynb", f"course/notebooks/exercises/{NB}.ipynb", f"course/data/grading/{NB}.json",
            "course/helpers/coursework/grading/cases/nb03.py", "course/data/offline/manifest.json",
            "course/requirements-lock.txt"} <= names
    assert any(n.startswith("course/cache/.expected-") for n in names)  # the instructor outputs are shipped
    assert not any("__pycache__" in n for n in names)
    assert "torch==2.13.0" in setup and "requirements-lock.txt" in setup and "bubblewrap" in setup
    assert "helpers.offline.lock check" in setup
    assert config["notebooks"] == [NB] and config["question_visibility"] == "after_due_date"


def test_solved_notebooks_get_full_marks_and_an_edited_setup_cell_is_only_flagged(autograder, tmp_path):
    # The instructor notebook handed in as it is: solutions, keys, and a setup cell that is not the release's.
    folder = tmp_path / "nb"
    folder.mkdir()
    (folder / f"{NB}.ipynb").write_bytes((grader.NOTEBOOK_DIR / f"{NB}.ipynb").read_bytes())
    zip_path = handin.build_zip("b09901001", folder, tmp_path)
    root = layout(autograder, {zip_path.name: zip_path.read_bytes()}, tmp_path)
    results = run_autograder(root)
    tests = validate(results)
    assert results["score"] == points() and all(t["status"] == "passed" for t in tests)
    spec = json.loads((grader.SPEC_DIR / f"{NB}.json").read_text())
    assert [t["number"] for t in tests] == [*spec["exercises"], *spec["questions"]]
    assert [t["max_score"] for t in tests] == [e["points"] for e in [*spec["exercises"].values(), *spec["questions"].values()]]
    exercise = tests[0]
    assert exercise["visibility"] == "visible" and "All 4 hidden cases pass." in exercise["output"]
    assert all(t["visibility"] == "after_due_date" for t in tests[1:])
    assert "changed or deleted locked cell" in results["output"] and "changed nothing in your grade" in results["output"]
    assert results["stdout_visibility"] == "hidden" and results["extra_data"]["sandbox"] == "bubblewrap"
    assert results["extra_data"]["student_id"] == "b09901001"


def test_the_untouched_release_scores_zero_with_feedback(autograder, tmp_path):
    release = (grader.EXERCISE_DIR / f"{NB}.ipynb").read_bytes()
    root = layout(autograder, {f"{NB}.ipynb": release}, tmp_path)
    (root / "submission_metadata.json").write_text(json.dumps({"users": [{"sid": "r0001", "name": "A"}]}))
    results = run_autograder(root)
    tests = validate(results)
    assert results["score"] == 0 and all(t["status"] == "failed" for t in tests)
    assert "The stub is still there (NotImplementedError)" in tests[0]["output"]
    assert "Hint 1" in tests[0]["output"] and "checks.check_token_table" in tests[0]["output"]
    assert all("not answered" in t["output"] for t in tests[1:])
    assert results["extra_data"]["student_id"] == "r0001"


ATTACK = '''def token_table(tokenizer, text):
    """Tries every way out: print, files, the results pipe, an error message."""
    import glob, json, os
    print("HIDDEN", text)
    seen = {}
    for path in [ROOT + "/source/course/helpers/coursework/grading/cases/nb03.py",
                 ROOT + "/source/course/data/grading/03_tokenization.json",
                 ROOT + "/source/course/notebooks/03_tokenization.ipynb",
                 ROOT + "/source/course/helpers/coursework/grading/harness.py"] + glob.glob(ROOT + "/source/course/cache/*"):
        try:
            seen[path] = open(path).read()[:300]
        except Exception as err:
            seen[path] = type(err).__name__
    try:
        with open(DROP + "/leak.json", "a") as out:
            out.write(json.dumps({"text": text, "seen": seen}) + "\\n")
    except Exception:
        pass
    try:
        open(ROOT + "/results/results.json", "w").write('{"score": 1000, "tests": []}')
    except Exception:
        pass
    for fd in range(3, 40):
        try:
            os.write(fd, (json.dumps({"nb": "03_tokenization", "fn": "token_table", "case": text, "ok": True, "out": 1})
                          + "\\n").encode())
        except OSError:
            pass
    raise ValueError("LEAK " + text + " " + json.dumps(seen))
'''


def attacking(root: Path, drop: Path) -> bytes:
    nb = json.loads((grader.EXERCISE_DIR / f"{NB}.ipynb").read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "def token_table" in "".join(cell["source"]):
            cell["source"] = f"ROOT = {str(root)!r}\nDROP = {str(drop)!r}\n" + ATTACK
    return json.dumps(nb).encode()


@pytest.mark.parametrize("mode", ["bubblewrap", "user"])
def test_an_attacking_submission_gets_no_hidden_input_and_no_points(autograder, mode):
    # A world-traversable root, so that only the autograder's own locks keep the unprivileged user out.
    parent = Path(tempfile.mkdtemp(prefix="gs-attack-"))
    try:
        parent.chmod(0o755)
        drop = parent / "drop"
        drop.mkdir()
        drop.chmod(0o1777)
        root = parent / "autograder"
        upload = attacking(root, drop)
        root = layout(autograder, {f"{NB}.ipynb": upload}, parent)
        for path in [root, *root.rglob("*")]:  # as readable as a careless container could leave it
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0))
        results = run_autograder(root, **({"AUTOGRADER_SANDBOX": "user"} if mode == "user" else {}))
        tests = validate(results)
        assert results["score"] == 0 and results["extra_data"]["sandbox"] == ("bubblewrap" if mode == "bubblewrap" else "unprivileged user")
        text = json.dumps(results, ensure_ascii=False)
        for secret in hidden_texts() + ["LEAK", "HIDDEN", "Hidden tests of notebook 03", "\"score\": 1000"]:
            assert secret not in text, secret
        assert "Your function raised ValueError" in tests[0]["output"]
        leaks = [json.loads(line) for line in (drop / "leak.json").read_text().splitlines()] if (drop / "leak.json").exists() else []
        if mode == "bubblewrap":
            assert leaks == []  # the sandbox sees no folder of the machine it could leave anything in
        else:
            assert leaks, "the attack should have run as the unprivileged user"
            for leak in leaks:
                for path, got in leak["seen"].items():
                    if path.endswith("harness.py"):
                        continue
                    assert got == "PermissionError", (path, got[:80])
    finally:
        subprocess.run(["rm", "-rf", str(parent)], check=False)


def test_nothing_to_grade_is_a_valid_result_that_says_what_to_upload(autograder, tmp_path):
    root = layout(autograder, {"notes.txt": b"hello"}, tmp_path)
    results = run_autograder(root)
    assert validate(results) == [] and results["score"] == 0
    assert "upload {ID}_hw3.zip" in results["output"]
