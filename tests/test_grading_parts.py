"""The grading code around the harness, in this process: the sandbox makers, the bwrap command line and limits,
and the grader's command line. Stand-in tokenizers, models and grader functions; expected values written out."""
import math
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from helpers.coursework.grading import __main__ as cli
from helpers.coursework.grading import grader, makers, sandbox

INF = -math.inf


# ----------------------------------------------------------------------------- makers


class Encoding(dict):
    """A tokenizer's output: ``enc["input_ids"]`` and ``enc.input_ids``."""

    def __getattr__(self, name):
        return self[name]


class FakeTokenizer:
    """`` cat`` -> 5, `` dog`` -> 7, `` two words`` -> two ids; plain text -> <bos>=2 + one id per character."""

    def __init__(self):
        self.vocab = {" cat": [5], " dog": [7], " two words": [8, 9]}
        self.chat_calls = []

    def __call__(self, text, add_special_tokens=True, return_tensors=None):
        ids = self.vocab[text] if not add_special_tokens else [2] + [10 + (ord(c) % 20) for c in text]
        return Encoding(input_ids=torch.tensor([ids]) if return_tensors == "pt" else ids)

    def apply_chat_template(self, messages, **kwargs):
        self.chat_calls.append((messages, kwargs))
        return Encoding(input_ids=torch.tensor([[2, 106, 1645]]), attention_mask=torch.ones(1, 3))


def test_keep_ids_filter_keeps_only_those_ids_on_the_last_axis():
    keep = makers.keep_ids_filter([3, 1, 3])
    logits = torch.tensor([[0.5, 0.25, 0.75, 1.5, 2.0], [5.0, 4.0, 3.0, 2.0, 1.0]])
    assert keep(logits).tolist() == [[INF, 0.25, INF, 1.5, INF], [INF, 4.0, INF, 2.0, INF]]
    assert keep(torch.arange(10.0).reshape(1, 2, 5)).tolist() == [[[INF, 1.0, INF, 3.0, INF], [INF, 6.0, INF, 8.0, INF]]]
    assert logits[0, 0] == 0.5  # the input is not changed


def test_argmax_filter_keeps_the_largest_logit_of_each_row_and_the_first_of_ties():
    got = makers.argmax_filter()(torch.tensor([[1.0, 5.0, 5.0, 2.0], [-3.0, -1.0, -2.0, -9.0]]))
    assert got.tolist() == [[INF, 5.0, INF, INF], [INF, -1.0, INF, INF]]


def test_identity_filter_returns_its_input():
    logits = torch.tensor([1.0, 2.0])
    assert makers.identity_filter()(logits) is logits


def test_word_ids_reads_one_token_words_with_their_space_and_passes_ids():
    tok = FakeTokenizer()
    assert makers._word_ids(tok, ["cat", 11, "dog", "cat"]) == [5, 11, 7, 5]
    with pytest.raises(ValueError) as info:
        makers._word_ids(tok, ["cat", "two words"])
    assert str(info.value) == "'two words' is 2 tokens for this tokenizer: pick a one-token word"


def test_uniform_words_filter_gives_the_words_logit_zero_and_removes_the_rest():
    got = makers.uniform_words_filter(FakeTokenizer(), ["dog", 2, "dog"])(torch.full((2, 8), 3.0))
    assert got.tolist() == [[INF, INF, 0.0, INF, INF, INF, INF, 0.0]] * 2


def test_script_filter_follows_its_steps_then_repeats_the_last_and_each_one_starts_over():
    tok = FakeTokenizer()
    script = makers.script_filter(tok, ["cat", 1, "dog"])
    kept = [script(torch.zeros(1, 8))[0].tolist().index(0.0) for _ in range(5)]
    assert kept == [5, 1, 7, 7, 7]
    assert [row.count(0.0) for row in script(torch.zeros(2, 8)).tolist()] == [1, 1]
    assert makers.script_filter(tok, ["dog", "cat"])(torch.zeros(1, 8))[0].tolist().index(0.0) == 7  # a fresh one


def test_prompt_ids_of_the_hidden_cases_are_made_outside_the_sandbox():
    """Prompt ids are exercise 1.1's output: the grader makes them (cases/nb04.py); no maker inside the sandbox does."""
    from helpers.coursework.grading.cases import nb04

    assert not {"chat_prompt_ids", "text_prompt_ids"} & set(makers.MAKERS)
    chat = nb04._chat_ids("Hello?")
    assert chat.dtype == torch.long and chat.shape[0] == 1
    assert chat[0, :2].tolist() == [2, 106] and chat[0].tolist().count(106) == 2  # the user turn, then model
    assert chat[0].tolist().count(2) == 1
    assert nb04._text_ids("ab")[0, 0].item() == 2 and 106 not in nb04._text_ids("ab")[0].tolist()


def test_lm_config_is_a_changed_copy_and_the_model_keeps_its_own():
    model = types.SimpleNamespace(config=types.SimpleNamespace(sliding_window=4096, layers=[1, 2]))
    config = makers.lm_config(model, sliding_window=5, extra=True)
    assert (config.sliding_window, config.extra, config.layers) == (5, True, [1, 2])
    assert model.config.sliding_window == 4096 and not hasattr(model.config, "extra")
    assert config.layers is not model.config.layers  # a deep copy


def test_captured_projection_picks_q_or_k_of_one_layer(monkeypatch):
    from helpers import hooks

    seen = []

    def capture_qk(model, ids, layer):
        seen.append((model, ids.tolist(), layer))
        return "Q", "K"

    monkeypatch.setattr(hooks, "capture_qk", capture_qk)
    tok = FakeTokenizer()
    assert makers.captured_projection("M", tok, "ab", 3, "q") == "Q"
    assert makers.captured_projection("M", tok, "ab", 4, "k") == "K"
    assert seen == [("M", [[2, 27, 28]], 3), ("M", [[2, 27, 28]], 4)]
    with pytest.raises(KeyError):
        makers.captured_projection("M", tok, "ab", 3, "v")


def test_a_batched_filter_refuses_scores_that_are_not_n_rows_and_names_the_fix():
    keep = makers.keep_ids_filter([1, 3], rows=2)
    assert torch.isfinite(keep(torch.zeros(2, 5))).sum().item() == 4
    for wrong in (torch.zeros(1, 5), torch.zeros(5), torch.zeros(2, 1, 5)):
        with pytest.raises(ValueError, match=r"batched \[n, vocab\] scores of a step, got shape"):
            keep(wrong)
    assert makers.keep_ids_filter([1])(torch.zeros(7, 3)).shape == (7, 3)  # without rows: any batch


def test_kept_words_filter_keeps_the_words_with_their_logits():
    tok = FakeTokenizer()
    logits = torch.arange(40.0).reshape(1, 40)
    out = makers.kept_words_filter(tok, ["cat", "dog"], rows=1)(logits)
    kept = torch.isfinite(out[0]).nonzero().flatten().tolist()
    assert kept == [5, 7] and (out[0, kept] == logits[0, kept]).all()


def test_every_maker_is_registered_under_its_own_name():
    assert makers.MAKERS == {name: getattr(makers, name) for name in (
        "keep_ids_filter", "argmax_filter", "identity_filter", "uniform_words_filter", "script_filter", "kept_words_filter",
        "lm_config", "captured_projection")}


# ----------------------------------------------------------------------------- the bwrap command line


def pairs(args, flag):
    """The values after every ``flag`` (one or two per flag) in a command line."""
    width = {"--ro-bind": 2, "--setenv": 2, "--perms": 1, "--dir": 1, "--tmpfs": 1, "--size": 1}[flag]
    return [tuple(args[i + 1:i + 1 + width]) for i, a in enumerate(args) if a == flag]


@pytest.fixture
def paths(tmp_path):
    code, assets, job = tmp_path / "code", tmp_path / "assets", tmp_path / "job.pt"
    code.mkdir()
    assets.mkdir()
    job.write_bytes(b"")
    return code, assets, job


@pytest.mark.parametrize("euid", [0, 1000])
def test_the_sandbox_command_mounts_only_the_allow_list(monkeypatch, paths, euid):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: "/usr/bin/bwrap" if name == "bwrap" else None)
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    code, assets, job = paths
    limits = sandbox.Limits(tmpfs_bytes=1234)
    args = sandbox.command(code, assets, job, limits)
    assert args[:9] == ["/usr/bin/bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                        "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv"]
    assert dict(pairs(args, "--setenv")) == sandbox.ENV_ALLOW
    binds = dict(pairs(args, "--ro-bind"))
    assert binds[str(code)] == "/course/helpers" and binds[str(assets)] == "/course/data/offline"
    assert binds[str(job)] == "/grader/job.pt"
    assert binds[str(sandbox.GRADER_DIR / "harness.py")] == "/grader/harness.py"
    assert binds[str(sandbox.GRADER_DIR / "makers.py")] == "/grader/makers.py"
    assert not any(target.startswith("/grader/") and target not in ("/grader/harness.py", "/grader/makers.py", "/grader/job.pt")
                   for target in binds.values())
    assert os.path.realpath(sys.prefix) in binds or sys.prefix in binds  # the interpreter's environment, read-only
    assert "/home" not in binds and str(Path.home()) not in binds
    tmpfs = [t for (t,) in pairs(args, "--tmpfs")]
    assert tmpfs == ["/tmp", "/home/student", "/course/notebooks"]
    assert [s for (s,) in pairs(args, "--size")] == ["1234"] * 3
    assert args[args.index("--chdir") + 1] == "/course/notebooks"
    tail = [os.path.join(sys.prefix, "bin", "python"), "-I", "-B", "/grader/harness.py", "/grader/job.pt"]
    assert args[-5:] == tail
    drop = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--"]
    assert (args[-12:-5] == drop) is (euid == 0) and ("/usr/bin/setpriv" in args) is (euid == 0)


def test_missing_parent_folders_are_made_world_readable_once():
    made = {"/"}
    assert sandbox._dirs_for("/opt/venvs/lab", made) == ["--perms", "0755", "--dir", "/opt", "--perms", "0755", "--dir",
                                                         "/opt/venvs"]
    assert sandbox._dirs_for("/opt/venvs/other", made) == []
    assert made == {"/", "/opt", "/opt/venvs"}


def test_without_bubblewrap_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(sandbox.SandboxError, match=r"apt-get install bubblewrap.*--unsafe-no-sandbox"):
        sandbox.bwrap_path()


@pytest.mark.parametrize("euid, base", [(0, 0), (1000, 7)])
def test_limits_are_set_in_the_child(monkeypatch, euid, base):
    calls = []
    monkeypatch.setattr(sandbox.resource, "setrlimit", lambda kind, value: calls.append((kind, value)))
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    monkeypatch.setattr(sandbox, "_process_count", lambda: 7)
    sandbox._limits(sandbox.Limits(memory_bytes=100, file_bytes=50, processes=3))()
    r = sandbox.resource
    assert calls == [(r.RLIMIT_AS, (100, 100)), (r.RLIMIT_FSIZE, (50, 50)), (r.RLIMIT_CORE, (0, 0)),
                     (r.RLIMIT_NPROC, (base + 3, base + 3))]


def test_process_count_counts_this_users_processes():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with_child = sandbox._process_count()
    finally:
        child.kill()
        child.wait()
    assert with_child >= 2  # this test and its child at least
    assert with_child - 1 >= sandbox._process_count() >= 1 or with_child > sandbox._process_count()


def test_a_command_that_cannot_start_is_a_sandbox_error():
    with pytest.raises(sandbox.SandboxError, match="could not start the sandbox"):
        sandbox._run(lambda fd: ["/nonexistent/bwrap", str(fd)], sandbox.Limits(seconds=5))


def test_a_process_group_already_gone_is_no_error(monkeypatch):
    def gone(pid, sig):
        raise ProcessLookupError

    monkeypatch.setattr(os, "killpg", gone)
    outcome = sandbox._run(lambda fd: [sys.executable, "-c", "import time; time.sleep(30)"], sandbox.Limits(seconds=0.3))
    assert outcome.timed_out and outcome.returncode is not None and outcome.seconds < 10


def test_log_and_results_keep_their_first_bytes_and_count_the_rest():
    code = ("import os, sys\nos.write(int(sys.argv[1]), b'R' * 10)\nsys.stdout.write('L' * 7)\n")
    outcome = sandbox._run(lambda fd: [sys.executable, "-c", code, str(fd)],
                           sandbox.Limits(seconds=30, log_bytes=3, result_bytes=4))
    assert (outcome.results, outcome.dropped_result_bytes) == (b"RRRR", 6)
    assert (outcome.log, outcome.dropped_log_bytes) == (b"LLL", 4)
    assert outcome.returncode == 0 and not outcome.timed_out


def test_run_and_run_unsafe_start_the_harness_on_the_job(monkeypatch, paths, tmp_path):
    seen = []
    monkeypatch.setattr(sandbox, "_run", lambda make_argv, limits, **kw: seen.append((make_argv(9), limits, kw)) or "done")
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: "/usr/bin/bwrap")
    code, assets, job = paths
    limits = sandbox.Limits(seconds=3)
    assert sandbox.run(code, assets, job, limits) == "done"
    argv, got_limits, kw = seen.pop()
    assert argv[0] == "/usr/bin/bwrap" and argv[-2:] == ["/grader/job.pt", "9"] and got_limits is limits and kw == {}
    assert sandbox.run_unsafe(tmp_path / "course", job, limits, workdir=tmp_path / "w") == "done"
    argv, _, kw = seen.pop()
    assert argv == [sys.executable, "-B", str(sandbox.GRADER_DIR / "harness.py"), str(job), "9"]
    assert kw["cwd"] == tmp_path / "w" and (tmp_path / "w").is_dir()
    env = kw["env"]
    assert env["LAB_COURSE_ROOT"] == str(tmp_path / "course") and env["HOME"] == str(tmp_path / "w")
    assert env["MPLCONFIGDIR"] == str(tmp_path / "w" / ".mpl")
    assert not any(key.startswith("LAB_") and key != "LAB_BACKEND" for key in env if key != "LAB_COURSE_ROOT")  # no "graded" signal
    assert set(env) == set(sandbox.ENV_ALLOW) | {"LAB_COURSE_ROOT"}  # nothing else of this process's environment
    sandbox.run_unsafe(tmp_path / "course", job, limits)
    assert seen.pop()[2]["cwd"] == job.parent / "work"


# ----------------------------------------------------------------------------- the command line


@pytest.fixture
def fake_grader(monkeypatch):
    calls = {}

    def grade_all(zips, out, **kw):
        calls["grade_all"] = (zips, out, kw)
        return [{"student_id": "b2", "status": "graded", "score": 5.5, "max_score": 7.0},
                {"student_id": "a1", "status": "duplicate id: also x.zip", "score": 0}]

    monkeypatch.setattr(grader, "grade_all", grade_all)
    return calls


def test_grade_prints_one_line_per_student_sorted(fake_grader, capsys, tmp_path):
    code = cli.main(["grade", "b2_hw3.zip", "a1_hw3.zip", "--out", str(tmp_path), "-j", "2", "--shard", "1/2",
                     "--notebooks", "04_x", "05_y"])
    assert code == 0
    assert capsys.readouterr().out == ("          a1  duplicate id: also x.zip      0 / \n"
                                       "          b2  graded        5.5 / 7.0\n")
    zips, out, kw = fake_grader["grade_all"]
    assert zips == [Path("b2_hw3.zip"), Path("a1_hw3.zip")] and out == tmp_path
    assert kw == {"jobs": 2, "shard": "1/2", "unsafe": False, "only": ("04_x", "05_y"), "show_keys": False, "canvas": None}


def test_grade_defaults_and_the_unsafe_flag(fake_grader, tmp_path):
    assert cli.main(["grade", "a_hw3.zip", "--out", str(tmp_path), "--unsafe-no-sandbox"]) == 0
    assert fake_grader["grade_all"][2] == {"jobs": 1, "shard": None, "unsafe": True, "only": (), "show_keys": False,
                                           "canvas": None}


def test_grade_with_keys_and_the_canvas_export(fake_grader, tmp_path, capsys):
    assert cli.main(["grade", "a_hw3.zip", "--out", str(tmp_path), "--show-keys", "--format", "canvas"]) == 0
    kw = fake_grader["grade_all"][2]
    assert kw["show_keys"] is True and kw["canvas"] == {"assignment": "HW3", "roster": None}
    roster = tmp_path / "export.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section\n")
    assert cli.main(["grade", "a_hw3.zip", "--out", str(tmp_path), "--format", "canvas", "--canvas-assignment",
                     "HW3 (77)", "--canvas-roster", str(roster)]) == 0
    assert fake_grader["grade_all"][2]["canvas"] == {"assignment": "HW3 (77)", "roster": roster}
    assert cli.main(["grade", "a_hw3.zip", "--out", str(tmp_path), "--format", "canvas", "--canvas-roster",
                     str(tmp_path / "none.csv")]) == 2
    assert "no such roster" in capsys.readouterr().err


def test_grade_refuses_zero_jobs(fake_grader, capsys, tmp_path):
    assert cli.main(["grade", "a.zip", "--out", str(tmp_path), "-j", "0"]) == 2
    assert capsys.readouterr().err == "error: -j must be at least 1.\n" and "grade_all" not in fake_grader


@pytest.mark.parametrize("error", [grader.GradingError("no such zip: a.zip"), sandbox.SandboxError("no bwrap")])
def test_setup_errors_are_one_line_and_exit_2(monkeypatch, capsys, tmp_path, error):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(grader, "grade_all", fail)
    assert cli.main(["grade", "a.zip", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {error}\n"


def test_merge_prints_the_csv_it_wrote(monkeypatch, capsys, tmp_path):
    seen = []
    monkeypatch.setattr(grader, "merge", lambda dirs, out, canvas: seen.append((dirs, out, canvas)) or out / "grades.csv")
    assert cli.main(["merge", "g1", "g2", "--out", str(tmp_path)]) == 0
    assert seen == [([Path("g1"), Path("g2")], tmp_path, None)]
    assert capsys.readouterr().out == f"wrote {tmp_path / 'grades.csv'}\n"


@pytest.mark.parametrize("flag, unsafe", [([], False), (["--unsafe-no-sandbox"], True)])
def test_expected_runs_the_instructor_solutions_and_counts_the_cases(monkeypatch, capsys, tmp_path, flag, unsafe):
    seen = {}
    monkeypatch.setattr(grader, "load_course", lambda: "COURSE")
    monkeypatch.setattr(grader, "release_code", lambda root: seen.setdefault("root", root))
    monkeypatch.setattr(grader, "expected_outputs", lambda course, runner, cache_dir: seen.update(
        course=course, runner=runner, cache=cache_dir) or {"01_a": {1: 0, 2: 0}, "02_b": {3: 0}})
    assert cli.main(["expected", "--out", str(tmp_path), *flag]) == 0
    assert capsys.readouterr().out == "instructor solutions pass: 3 hidden cases in 2 notebooks\n"
    assert seen["course"] == "COURSE" and seen["cache"] == tmp_path and seen["root"].name == "course"
    assert seen["runner"] == grader.Runner(seen["root"], unsafe=unsafe)


def test_a_command_is_required(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2 and "the following arguments are required: command" in capsys.readouterr().err


def test_help_names_the_module_and_the_graders_first_line(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m helpers.coursework.grading")
    assert grader.__doc__.splitlines()[0] in " ".join(out.split())


# ----------------------------------------------------------------------------- grader: loading and running the course


@pytest.fixture
def toy_paths(tmp_path):
    from tests import toycourse

    return toycourse.write_course(tmp_path / "toy")


def load(paths, **kw):
    return grader.load_course(paths["spec"], paths["notebooks"], paths["exercises"], cases_package="toycases", **kw)


def test_load_course_only_names_known_notebooks(toy_paths):
    assert list(load(toy_paths, only=("01_toy",)).specs) == ["01_toy"]
    with pytest.raises(grader.GradingError) as info:
        load(toy_paths, only=("01_toy", "09_x", "08_y"))
    assert str(info.value) == "no grading spec for 08_y, 09_x; known: 01_toy."


@pytest.mark.parametrize("which, label", [("notebooks", "instructor"), ("exercises", "release")])
def test_load_course_names_a_missing_notebook(toy_paths, which, label):
    (toy_paths[which] / "01_toy.ipynb").unlink()
    with pytest.raises(grader.GradingError) as info:
        load(toy_paths)
    assert str(info.value) == f"{label} notebook {toy_paths[which] / '01_toy.ipynb'} is missing (run `make exercises`)."


def edit_notebook(path, edit):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    edit(nb)
    nbformat.write(nb, path)


def test_load_course_needs_every_function_in_the_instructor_notebook(toy_paths):
    def rename(nb):
        for cell in nb.cells:
            cell.source = cell.source.replace("def scale(", "def scaled(")
    edit_notebook(toy_paths["notebooks"] / "01_toy.ipynb", rename)
    with pytest.raises(grader.GradingError) as info:
        load(toy_paths)
    assert str(info.value) == "01_toy: no cell of the instructor notebook defines `scale`."


def test_load_course_needs_a_context_cell_in_the_release(toy_paths):
    def untag(nb):
        for cell in nb.cells:
            cell.metadata.pop("tags", None)
    edit_notebook(toy_paths["exercises"] / "01_toy.ipynb", untag)
    with pytest.raises(grader.GradingError) as info:
        load(toy_paths)
    assert str(info.value) == "01_toy: the release notebook has no cell tagged 'context' (the setup cell must be)."


def outcome(results=b'{"nb": "01_toy", "done": true, "seconds": 0.25}\n', log=b"x" * 2100):
    return sandbox.RunOutcome(results=results, log=log, returncode=0, timed_out=False, seconds=1.5)


@pytest.mark.parametrize("unsafe", [False, True])
def test_runner_saves_the_job_and_runs_it_with_the_notebooks_time(monkeypatch, tmp_path, unsafe):
    seen = {}

    def run(code_dir, assets_dir, job_file, limits):
        seen.update(args=(code_dir, assets_dir, job_file), limits=limits)
        seen["job"] = torch.load(job_file, weights_only=False)
        seen["mode"] = job_file.stat().st_mode & 0o777
        return outcome()

    def run_unsafe(code_root, job_file, limits, workdir):
        seen.update(args=(code_root, job_file), limits=limits, workdir=workdir)
        seen["job"] = torch.load(job_file, weights_only=False)
        return outcome()

    monkeypatch.setattr(sandbox, "run", run)
    monkeypatch.setattr(sandbox, "run_unsafe", run_unsafe)
    code_root = tmp_path / "course"
    (code_root / "notebooks").mkdir(parents=True)
    jobs = [{"name": "01_toy", "timeout_s": 30.0}, {"name": "02_b", "timeout_s": 12.5}]
    runner = grader.Runner(code_root, assets_dir=tmp_path / "assets", unsafe=unsafe)
    results, info = runner(jobs, tmp_path / "scratch" / "new")
    job_file = tmp_path / "scratch" / "new" / "job.pt"
    assert seen["job"] == {"notebooks": jobs}
    assert (seen["limits"].seconds, seen["limits"].startup_seconds) == (42.5, grader.STARTUP_S)
    if unsafe:
        assert seen["args"] == (code_root, job_file)
        assert seen["workdir"].parent == code_root / "notebooks" and seen["workdir"].name.startswith("run-")
    else:
        assert seen["args"] == (code_root / "helpers", tmp_path / "assets", job_file) and seen["mode"] == 0o644
    assert results == {"01_toy": {"cases": {}, "errors": [], "done": True, "seconds": 0.25}}
    assert info == {"timed_out": False, "returncode": 0, "seconds": 1.5, "log_tail": "x" * 2000}


def test_expected_outputs_name_the_failing_instructor_case(monkeypatch, toy_paths):
    course = load(toy_paths)
    monkeypatch.setattr(grader.Course, "digest", lambda self: "d1")
    info = {"timed_out": False, "returncode": 0}
    answers = [({"01_toy": {"cases": {("double", "four"): {"ok": False, "error": "ValueError: no"}}, "errors": [],
                            "done": True}}, info),
               ({"01_toy": {"cases": {}, "errors": ["cell 1: boom"], "done": False}}, info | {"timed_out": True}),
               ({"01_toy": {"cases": {}, "errors": [], "done": True}}, info)]

    def runner(jobs, scratch):
        return answers.pop(0)

    for why in ("ValueError: no", "cell 1: boom; timed out", "no result"):
        with pytest.raises(grader.GradingError) as info:
            grader.expected_outputs(course, runner)
        assert str(info.value).startswith(f"the instructor solution of 01_toy `double` fails hidden case four: {why}. "
                                          "Fix the solution or the case. {'together': ")
