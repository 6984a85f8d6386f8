"""Mutation testing of the course's core: ``python -m helpers.offline.mutation`` (``make mutation``).

mutmut (3.x) changes one thing at a time in the modules below (``<`` for ``<=``, ``and`` for
``or``, a constant, a string, a dropped argument...) and runs the tests that execute the changed
function; a mutant that no test notices *survives*. The score of a module is the share of its
non-equivalent mutants that the tests kill (a timeout counts as killed: the change was noticed).

The run happens in ``build/mutation/work`` (links to the repository, a ``setup.cfg`` written
here), never in the repository itself, and uses the fast tests only: the tests listed in
``TESTS`` minus those marked ``sandbox`` or ``slow`` (bubblewrap grading, kernels). mutmut
records which of these tests call which function and runs only those for each mutant, so a
mutant of ``grader.score_question`` never waits for a tokenscan test. On 2 cores one module takes
minutes and the whole run over an hour (README, "How long things take").

    python -m helpers.offline.mutation                      # every module, report in build/mutation/
    python -m helpers.offline.mutation --only helpers/metrics.py
    python -m helpers.offline.mutation --report-only        # rewrite the report from the last run
    python -m helpers.offline.mutation --quality QUALITY.md # and the score table of QUALITY.md

The report (``build/mutation/report.md`` and ``report.json``) gives per module killed /
survived / timeout / no tests, the score, and every surviving mutant as a diff. Survivors that
are *equivalent* (no test could tell them apart from the original) are listed in ``EQUIVALENT``
below with the reason, keyed by module, function and the changed line, so that renumbering
does not lose them; they are left out of the score.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "build" / "mutation"

# The modules mutated. The grader's modules (grader.py is only their façade): their pure parts are scored; the functions that start the sandbox or load the
# real course (OUT_OF_SCOPE) are tested by the sandbox tests, which take minutes: their mutants are run against
# the fast tests like the others but reported apart, outside the score. (mutmut 3.8.1 cannot skip them: its
# `do_not_mutate_patterns` setting is read but not applied.)
MODULES = (
    "helpers/handin.py",
    "helpers/tokenscan.py",
    "helpers/metrics.py",
    "helpers/chat.py",
    "helpers/assets.py",
    "helpers/colab.py",
    "helpers/coursework/grading/compare.py",
    "helpers/coursework/grading/course.py",
    "helpers/coursework/grading/cells.py",
    "helpers/coursework/grading/unpack.py",
    "helpers/coursework/grading/run.py",
    "helpers/coursework/grading/scoring.py",
    "helpers/coursework/grading/grade.py",
    "helpers/coursework/grading/results.py",
    "helpers/coursework/authoring.py",
    "helpers/coursework/release.py",
    # the science helpers (what the notebooks compute with) and the loading code
    "helpers/numerics.py",
    "helpers/validation.py",
    "helpers/hub.py",
    "helpers/backend.py",
    "helpers/sae.py",
    "helpers/hooks.py",
    "helpers/attention.py",
    "helpers/embeddings.py",
    "helpers/generation.py",
    "helpers/testtime.py",
)
OUT_OF_SCOPE = {
    "helpers/coursework/grading/course.py": ("Course.digest", "load_course"),
    "helpers/coursework/grading/run.py": ("release_code", "Runner.__call__", "expected_outputs"),
    "helpers/coursework/grading/grade.py": ("grade_all",),
}

# The fast tests (seconds in all); `-m "not sandbox and not slow"` drops the bubblewrap and kernel ones.
TESTS = (
    "tests/test_handin.py",
    "tests/test_handin_contracts.py",
    "tests/test_handin_mutants.py",
    "tests/test_tokenscan.py",
    "tests/test_tokenscan_mutants.py",
    "tests/test_tokenscan_json.py",
    "tests/test_secrets.py::test_scanner_finds_a_planted_token",
    "tests/test_metrics.py",
    "tests/test_chat.py",
    "tests/test_metrics_chat_contracts.py",
    "tests/test_assets.py",
    "tests/test_colab.py",
    "tests/test_compare.py",
    "tests/test_compare_values.py",
    "tests/test_grading.py",
    "tests/test_grader_units.py",
    "tests/test_grader_mutants.py",
    "tests/test_grading_parts.py",  # (not tests/test_harness_units.py: it calls no mutated module, and takes 10 s)
    "tests/test_authoring.py",
    "tests/test_authoring_units.py",
    "tests/test_authoring_mutants.py",
    # not tests/test_release.py: its fixture writes the real release (25 MB, every notebook) for each mutant;
    # tests/test_release_units.py checks the same code on a small repository
    "tests/test_release_units.py",
    "tests/test_bleu_oracle.py",
    "tests/test_errors.py",
    "tests/test_validation_numerics.py",
    "tests/test_backend.py",
    "tests/test_backend_errors.py",
    "tests/test_bad_input.py",
    "tests/test_overflow.py",
    "tests/test_sae.py",
    "tests/test_sae_helpers.py",
    "tests/test_hooks.py",
    "tests/test_attention.py",
    "tests/test_embeddings.py",
    "tests/test_generation.py",
    "tests/test_testtime.py",
    "tests/test_hub_mutants.py",
    "tests/test_science_mutants.py",
    "tests/test_backend_mutants.py",
)
# The science helpers: the tests that call each one (a subset of TESTS). A run of only these modules (`--only`) selects
# just these files: mutmut's stats pass over the whole fast selection would otherwise take minutes before the first
# mutant. Every module of a run must be listed here for the restriction to apply; else the whole of TESTS runs.
SCIENCE = ("tests/test_backend.py", "tests/test_backend_errors.py", "tests/test_bad_input.py")
MODULE_TESTS: dict[str, tuple[str, ...]] = {
    "helpers/hub.py": ("tests/test_backend.py", "tests/test_backend_errors.py", "tests/test_colab.py",
                       "tests/test_hub_mutants.py"),
    "helpers/backend.py": (*SCIENCE, "tests/test_backend_mutants.py"),
    "helpers/sae.py": ("tests/test_sae.py", "tests/test_sae_helpers.py", "tests/test_bad_input.py",
                       "tests/test_science_mutants.py"),
    "helpers/hooks.py": ("tests/test_hooks.py", "tests/test_bad_input.py", "tests/test_science_mutants.py"),
    "helpers/attention.py": ("tests/test_attention.py", "tests/test_bad_input.py", "tests/test_overflow.py",
                             "tests/test_science_mutants.py"),
    "helpers/embeddings.py": ("tests/test_embeddings.py", "tests/test_bad_input.py", "tests/test_overflow.py",
                              "tests/test_science_mutants.py"),
    "helpers/generation.py": ("tests/test_generation.py", "tests/test_bad_input.py", "tests/test_overflow.py",
                              "tests/test_science_mutants.py"),
    "helpers/testtime.py": ("tests/test_testtime.py", "tests/test_bad_input.py", "tests/test_overflow.py",
                            "tests/test_science_mutants.py"),
}
ALSO_COPY = ("data", "notebooks", "README.md", "Makefile", "requirements.txt", "requirements-dev.txt",
             "requirements-lock.txt", ".ci")

# Plugins a mutant's run does not need (each fork starts a pytest session: ~0.3 s saved per mutant).
PYTEST_ARGS = ("-p", "no:cacheprovider", "-p", "no:cov", "-p", "no:nbval", "-p", "no:anyio", "-p", "no:doctest",
               "-p", "no:junitxml", "-p", "no:pastebin", "-p", "no:legacypath")

# Survivors judged equivalent: (module, function, changed line before -> after) -> why no test can kill it.
EQUIVALENT: dict[tuple[str, str, str], str] = {
    ("helpers/hub.py", "find_hf_token", 'token = None -> token = ""'):
        'the token is only tested with `if not token`, where "" and None are both false',
    ("helpers/backend.py", "_from_hub",
     'if hub.classify_hub_error(problem, lookup, needs_token) == "network": -> '
     'if hub.classify_hub_error(problem, lookup, None) == "network":'):
        "needs_token only chooses among the non-network causes (no-token / licence / bad-token / not-found); whether "
        'the answer is "network" does not depend on it',
    ("helpers/attention.py", "previous_token_score",
     "index = (queries[keep] - 1).view(1, -1, 1).expand(rows.shape[0], -1, 1) -> "
     "index = (queries[keep] - 1).view(-1, 1).expand(rows.shape[0], -1, 1)"):
        "expand adds the missing leading dimension: a [query, 1] view expanded to [head, query, 1] is the same "
        "tensor as a [1, query, 1] one",
    ("helpers/embeddings.py", "centered",
     "return vectors - vectors.mean(dim=0, keepdim=True) -> return vectors - vectors.mean(dim=0, keepdim=False)"):
        "vectors are 2-D (checked): the [d] mean broadcasts over the rows exactly like the [1, d] one",
    ("helpers/embeddings.py", "centered",
     "return vectors - vectors.mean(dim=0, keepdim=True) -> return vectors - vectors.mean(dim=0, )"):
        "vectors are 2-D (checked): the [d] mean broadcasts over the rows exactly like the [1, d] one",
    ("helpers/embeddings.py", "cosine_similarity_matrix",
     "unit = torch.nn.functional.normalize(vectors.float(), dim=-1) -> unit = torch.nn.functional.normalize(vectors.float(), )"):
        "vectors are 2-D (checked), and normalize's default dim=1 is dim -1 there",
    ("helpers/embeddings.py", "cosine_similarity_matrix",
     "unit = torch.nn.functional.normalize(vectors.float(), dim=-1) -> unit = torch.nn.functional.normalize(vectors.float(), dim=+1)"):
        "vectors are 2-D (checked): dim 1 is dim -1",
    ("helpers/generation.py", "check_max_new_tokens",
     'return check_count(max_new_tokens, "max_new_tokens", 1) -> return check_count(max_new_tokens, "max_new_tokens", )'):
        "check_count's default minimum is 1",
    ("helpers/testtime.py", "_answer_length",
     "for k in range(1, len(ids) + 1): -> for k in range(len(ids) + 1):"):
        "k = 0 decodes no token, which spells no word, and the answer is never empty (sample_answers calls it only "
        "for a non-empty answer)",
    ("helpers/testtime.py", "_answer_length",
     "for k in range(1, len(ids) + 1): -> for k in range(1, len(ids) + 2):"):
        "k = len(ids) + 1 decodes the same tokens as k = len(ids), which already returned or did not match",
    ("helpers/sae.py", "top_activating_tokens",
     'check_count(k, "k (how many top tokens)", 1) -> check_count(k, "k (how many top tokens)", )'):
        "check_count's default minimum is 1",
}
# The same by rule: (module or "*", a regular expression the change matches, why it cannot change behaviour).
EQUIVALENT_RULES: tuple[tuple[str, str, str], ...] = (
    ("*", r'encoding="utf-8".* -> (?!.*encoding="utf-8").*(encoding=None|encoding="UTF-8"|\(\s*\)|, \))',
     'Python 3.11 on Linux reads and writes UTF-8 by default (PEP 538/540 coerce the C locale), and codec names '
     'ignore case: encoding="utf-8", "UTF-8" and the default are the same codec'),
    ("helpers/coursework/grading/compare.py", r'in "XXbiuf?XX"',
     '"X" is not a numpy dtype kind, so `kind in "XXbiuXX"` is `kind in "biu"`'),
    ("helpers/coursework/grading/compare.py", r"astype\(None\)",
     "numpy's astype(None) is astype(float64), the same conversion"),
    ("helpers/handin.py", r"ensure_ascii=None\)",
     "json tests ensure_ascii for truth: None writes the same text as False"),
    ("helpers/handin.py", r'ZipFile\(target, "w", \)',
     "every entry is written with an explicit ZIP_DEFLATED, so the archive's default compression is never used"),
    ("helpers/handin.py", r"ZipInfo\((path\.name|MANIFEST), \)",
     "ZipInfo's default date_time is (1980, 1, 1, 0, 0, 0), which is ZIP_DATE"),
    ("helpers/handin.py", r"\\1PASS",
     "a shell/magic line replaced by the bare name PASS parses as well as by pass; only calls are read"),
    ("helpers/handin.py", r'cell\.get\("source", "XXXX"\)|c\.get\("source", "XXXX"\)',
     'a missing source read as "XXXX" holds no call and no stub, the same as ""'),
    ("helpers/handin.py", r"if \(isinstance\(source, list\)\) or True else",
     '"".join of a string is that string'),
    ("helpers/handin.py", r"'XX, XX'\.join\(copied\)",
     "collect copies at most one notebook, so the separator is never printed"),
    ("helpers/handin.py", r'add_argument\("--(notebooks|out)", (type=None, )?(required=True, )?(default|help)',
     "build_zip and submission_files wrap the folders in Path, so a str from argparse behaves the same"),
    ("helpers/tokenscan.py", r'decode\("utf-8", errors="ignore"\) -> .*decode\((errors="ignore"|"UTF-8", errors="ignore")\)',
     "bytes.decode's default codec is UTF-8, and codec names ignore case"),
    ("helpers/coursework/authoring.py", r'lstrip\("XX0XX"\)',
     "the stripped text is the two digits of the notebook name, which hold no X"),
    ("helpers/coursework/authoring.py", r'"(XX<!-- BEGIN SOLUTIONXX|<!-- begin solution)" in cell\.source',
     'MARKER_WORDS already holds "BEGIN SOLUTION", a part of "<!-- BEGIN SOLUTION", so that clause never decides'),
    ("helpers/coursework/authoring.py", r"(locked|first_code|inside) = False -> \w+ = None",
     "the flag is only tested for truth, and None is false like False"),
    ("helpers/coursework/authoring.py", r'strip_code\(cell\.source, ("XXXX"|None), "", where\)|'
                                        r'strip_code\(cell\.source, "", ("XXXX"|None), where\)',
     "number and title only go into the stub of a BEGIN SOLUTION block, and answer cells have none"),
    ("helpers/coursework/authoring.py", r'r"\\1PASS"',
     "a magic line replaced by the bare name PASS parses as well as by pass"),
    ("helpers/coursework/authoring.py", r"nbformat\.writes\(nb, \)",
     "without a version nbformat.writes keeps the notebook's own format, and render only gets format-4 notebooks (make_student sets 4; a v3 node also came out as 4)"),
    ("helpers/coursework/authoring.py", r'return text if (\(text\.endswith\("\\n"\)\) and False|text\.endswith\("XX\\nXX"\))',
     "nbformat.writes never ends its text with a newline, so the newline is always added"),
    ("helpers/coursework/grading/cells.py", r'return "XX\\nXX"\.join\(line\.rstrip\(\)',
     "_norm's text is only compared for equality, and joining newline-free lines with a separator that holds a "
     "newline is as one-to-one as joining them with the newline alone"),
    ("helpers/coursework/grading/cells.py", r'return "".join\(source\) if \(isinstance\(source, list\)\) or True',
     'every notebook is validated by nbformat (read_notebook) before its cells are read: a source is a str or a '
     'list of str, and "".join of a str is that str'),
    ("helpers/coursework/grading/course.py", r'tol = q\.get\("tolerance", 1\.0\)',
     "load_spec only validates the tolerance (finite, >= 0): a missing one is valid as 0.0 and as 1.0, and the "
     "spec is returned unchanged (score_notebook reads its own default)"),
    ("helpers/coursework/grading/run.py", r'raw\.decode\("UTF-8", "replace"\)',
     "codec names ignore case"),
    ("helpers/coursework/grading/run.py", r"culprit_seen = False -> culprit_seen = None",
     "the flag is only tested for truth, and None is false like False"),
    ("helpers/coursework/grading/unpack.py", r'"XX\\x00XX" in name',
     "zipfile cuts every entry name at its first NUL byte (ZipInfo), so no name holds one and the clause never decides"),
    ("helpers/coursework/grading/scoring.py", r'results = results or \{"cases": \{\}, "errors": \[\], ("XXdoneXX"|"DONE"|"done"): (False|True)\}',
     'score_notebook reads "cases" and "errors" of the results, never "done"'),
    ("helpers/coursework/grading/scoring.py", r'"errors": results\.get\("errors", (None)?\)',
     'every results dict score_notebook gets has "errors" (parse_results, run_notebooks and its own default make it)'),
    ("helpers/coursework/grading/grade.py", r"ensure_ascii=None\)",
     "json tests ensure_ascii for truth: None writes the same text as False"),
    ("helpers/coursework/grading/results.py", r'open\(path, "w", (newline=None, )?encoding="utf-8"\)',
     'grading runs on Linux only (bubblewrap), where newline=None translates "\\n" to "\\n": the csv module\'s '
     '"\\r\\n" is written unchanged, as with newline=""'),
    ("helpers/coursework/grading/results.py", r'extrasaction="IGNORE"',
     'csv.DictWriter checks extrasaction.lower() and then only compares it with "raise": "IGNORE" ignores too'),
    ("helpers/hub.py", r'os\.environ\.get\(name, "XXXX"\)\.strip\(\)\.upper\(\) in \{"1", "ON", "YES", "TRUE"\}',
     'an unset variable read as "XXXX" is not one of the offline spellings, the same as ""'),
    ("helpers/attention.py", r"\.mean\(dim=-1\) -> .*\.mean\(dim=\+1\)$",
     "the tensor averaged is 2-D, [head, query] (rows[:, keep, 0], or the gathered [head, query, 1] squeezed): "
     "dim 1 is dim -1"),
    ("helpers/sae.py", r"np\.asarray\(params\[key\], (dtype=None)?\)\)",
     "the arrays are copied into float32 parameters (Parameter.copy_ casts), so reading them as float64 first "
     "gives the same float32 values as np.float32 (Gemma Scope's arrays are float32 already)"),
    ("helpers/coursework/authoring.py", r"match = LINE_RE\.match\(line\) -> match = None|"
                                        r'if \(match\) and False else line',
     "what LINE_RE cuts off is the trailing `# SOLUTION` comment, which parses (and matches the assignment pattern) "
     "the same as without it"),
)

# How mutmut's own words (`mutmut results --all true`) count here: killed and timeout (the change was noticed),
# survived, no tests, not checked; every other word mutmut may print (suspicious, segfault, skipped, caught by type
# check, interrupted, and any it adds later) counts as "suspicious", i.e. neither killed nor survived.
COUNTED = ("killed", "timeout", "survived", "no tests", "suspicious", "not checked")


def _workdir(out: Path) -> Path:
    work = out / "work"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for name in ("helpers", "tests", *ALSO_COPY):
        if (REPO_ROOT / name).exists():
            (work / name).symlink_to(REPO_ROOT / name)
    return work


def _setup_cfg(modules: list[str], tests: list[str]) -> str:
    def block(key: str, values) -> str:
        return f"{key} =\n" + "".join(f"    {v}\n" for v in values)

    return ("[mutmut]\nsource_paths = helpers\n" + block("only_mutate", modules)
            + block("also_copy", [p for p in ALSO_COPY if (REPO_ROOT / p).exists()])
            + block("pytest_add_cli_args", [*PYTEST_ARGS, "-m", "not sandbox and not slow"])
            + block("pytest_add_cli_args_test_selection", tests)
            + "timeout_multiplier = 10.0\n")


def selection(modules: list[str]) -> list[str]:
    """The test files of a run: those of MODULE_TESTS when every module has an entry there, else all of TESTS."""
    if modules and all(m in MODULE_TESTS for m in modules):
        return list(dict.fromkeys(t for m in modules for t in MODULE_TESTS[m]))
    return list(TESTS)


def run(out: Path, modules: list[str], jobs: int) -> float:
    """Run mutmut over ``modules`` in a fresh ``out/work``; returns the seconds it took."""
    work = _workdir(out)
    tests = [t for t in selection(modules) if (REPO_ROOT / t.split("::")[0]).exists()]
    (work / "setup.cfg").write_text(_setup_cfg(modules, tests), encoding="utf-8")
    env = {**os.environ, "LAB_BACKEND": "offline", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
    env.pop("LAB_OFFLINE_DIR", None)
    mutmut = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or "mutmut"
    start = time.monotonic()
    with open(out / "mutmut.log", "wb") as log:
        code = subprocess.run([mutmut, "run", "--max-children", str(jobs)], cwd=work, env=env,
                              stdout=log, stderr=subprocess.STDOUT).returncode
    seconds = time.monotonic() - start
    if code != 0:
        tail = (out / "mutmut.log").read_bytes()[-3000:].decode("utf-8", "replace")
        raise SystemExit(f"mutmut failed (exit {code}); the end of {out / 'mutmut.log'}:\n{tail}")
    return seconds


def _status(word: str) -> str:
    """mutmut's status word -> the report's: killed, timeout, survived, no tests, not checked, else suspicious."""
    return word if word in COUNTED else "suspicious"


def _mutmut(work: Path, *args: str) -> str:
    """The standard output of one mutmut command in the work folder (where its setup.cfg is)."""
    mutmut = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or "mutmut"
    done = subprocess.run([mutmut, *args], cwd=work, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"`mutmut {' '.join(args)}` failed (exit {done.returncode}): {done.stderr[-1000:]}")
    return done.stdout


def parse_results(text: str) -> dict[str, str]:
    """``mutmut results --all true`` (lines ``    helpers.x.x_f__mutmut_3: killed``) -> ``{mutant: status word}``."""
    found = {}
    for line in text.splitlines():
        name, sep, word = line.strip().partition(": ")
        if sep and "__mutmut_" in name:
            found[name] = word.strip()
    return found


def module_of(mutant: str, modules: list[str]) -> str | None:
    """``helpers.metrics.x_bleu__mutmut_3`` -> ``helpers/metrics.py`` (the longest module path that prefixes it)."""
    dotted = {m.removesuffix(".py").replace("/", "."): m for m in modules}
    owners = [d for d in dotted if mutant.startswith(d + ".")]
    return dotted[max(owners, key=len)] if owners else None


def _function_of(key: str) -> str:
    """``helpers.metrics.x_distinct_n__mutmut_3`` -> ``distinct_n``; methods: ``Class.method``."""
    name = key.rsplit(".", 1)[-1]
    name = re.sub(r"__mutmut_\d+$", "", name)
    if name.startswith("x_"):
        return name[2:]
    if name.startswith("xǁ"):  # class methods: xǁClassǁmethod
        return ".".join(part for part in name[2:].split("ǁ") if part)
    return name


def _change(diff: str) -> str:
    minus = [line[1:].strip() for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    plus = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return " / ".join(minus) + " -> " + " / ".join(plus)


def _diffs(work: Path, names: list[str]) -> dict[str, str]:
    """The diff of each mutant, from ``mutmut show NAME`` (its first line, ``# NAME: status``, dropped)."""
    diffs = {}
    for name in names:
        text = _mutmut(work, "show", name)
        diffs[name] = text.split("\n", 1)[1] if text.startswith("# ") else text
    return diffs


def collect(out: Path, modules: list[str]) -> dict:
    """Per module: counts, score, survivors with their diffs (equivalent ones marked)."""
    work = out / "work"
    report: dict = {"modules": {}}
    by_module: dict[str, dict[str, str]] = {m: {} for m in modules}
    for mutant, word in parse_results(_mutmut(work, "results", "--all", "true")).items():
        module = module_of(mutant, modules)
        if module is not None:
            by_module[module][mutant] = word
    for module in modules:
        if not by_module[module]:
            report["modules"][module] = {"error": "no results (was it run?)"}
            continue
        rows, outside = [], 0
        for key, word in sorted(by_module[module].items(), key=lambda kv: _natural(kv[0])):
            function = _function_of(key)
            if function in OUT_OF_SCOPE.get(module, ()):
                outside += 1
                continue
            rows.append({"mutant": key, "function": function, "status": _status(word)})
        open_rows = [r for r in rows if r["status"] not in ("killed", "timeout", "not checked")]
        diffs = _diffs(work, [r["mutant"] for r in open_rows])
        for row in open_rows:
            row["diff"] = diffs.get(row["mutant"], "")
            row["change"] = _change(row["diff"])
            reason = EQUIVALENT.get((module, row["function"], row["change"])) or next(
                (why for where, pattern, why in EQUIVALENT_RULES
                 if where in ("*", module) and re.search(pattern, row["change"])), None)
            if reason:
                row["equivalent"] = reason
        counts = {s: sum(r["status"] == s for r in rows) for s in COUNTED}
        equivalent = sum(1 for r in open_rows if r.get("equivalent"))
        detected = counts["killed"] + counts["timeout"]
        considered = len(rows) - equivalent - counts["not checked"]  # an interrupted run: the share of those checked
        report["modules"][module] = {
            "total": len(rows), **counts, "equivalent": equivalent, "out_of_scope": outside,
            "score": round(detected / considered, 4) if considered else 1.0,
            "survivors": [{k: r[k] for k in ("mutant", "function", "status", "change", "diff", "equivalent") if k in r}
                          for r in open_rows],
        }
    return report


def _natural(key: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


def render(report: dict) -> str:
    lines = ["# Mutation report", "",
             f"mutmut over {len(report['modules'])} modules; fast tests only; "
             f"{report.get('seconds', 0):.0f} s on {report.get('jobs', '?')} worker(s).", "",
             "| module | mutants | killed | timeout | survived | no tests | equivalent | not checked | score |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for module, m in report["modules"].items():
        if "error" in m:
            lines.append(f"| `{module}` | {m['error']} | | | | | | | |")
            continue
        lines.append(f"| `{module}` | {m['total']} | {m['killed']} | {m['timeout']} | {m['survived']} | "
                     f"{m['no tests']} | {m['equivalent']} | {m['not checked']} | {m['score']:.1%} |")
    for module, m in report["modules"].items():
        survivors = m.get("survivors") or []
        if not survivors:
            continue
        lines += ["", f"## {module}", ""]
        for s in survivors:
            tag = f"equivalent: {s['equivalent']}" if s.get("equivalent") else s["status"]
            lines += [f"### `{s['mutant']}` ({tag})", "", "```diff", s.get("diff", "").strip(), "```", ""]
    return "\n".join(lines) + "\n"


QUALITY_START, QUALITY_END = "<!-- MUTATION TABLE START", "<!-- MUTATION TABLE END -->"


def quality_table(report: dict) -> str:
    rows = ["| module | mutants | killed (+timeout) | survived | no tests | equivalent | not checked | score |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for module, m in report["modules"].items():
        if "error" not in m:
            rows.append(f"| `{module}` | {m['total']} | {m['killed'] + m['timeout']} | {m['survived']} | "
                        f"{m['no tests']} | {m['equivalent']} | {m['not checked']} | {m['score']:.1%} |")
    return "\n".join(rows) + "\n"


def write_quality(path: Path, report: dict) -> None:
    """Replace the table between the markers of QUALITY.md with this run's numbers."""
    text = path.read_text(encoding="utf-8")
    start, end = text.find(QUALITY_START), text.find(QUALITY_END)
    if start < 0 or end < start:
        raise SystemExit(f"{path} has no '{QUALITY_START} -->' ... '{QUALITY_END}' block")
    head = text[: text.index("\n", start) + 1]
    path.write_text(head + quality_table(report) + text[end:], encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.offline.mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--only", action="append", choices=MODULES, help="mutate only this module (repeatable)")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--report-only", action="store_true", help="do not run mutmut; report the last run")
    parser.add_argument("--quality", type=Path, help="also rewrite the score table of this QUALITY.md")
    parser.add_argument("--min-score", type=float, default=0.0, help="exit 1 if a module scores below this (0-1)")
    args = parser.parse_args(argv)
    modules = args.only or list(MODULES)
    args.out.mkdir(parents=True, exist_ok=True)
    seconds = 0.0
    if not args.report_only:
        seconds = run(args.out, modules, args.jobs)
    report = collect(args.out, modules)
    report |= {"seconds": round(seconds, 1), "jobs": args.jobs}
    (args.out / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (args.out / "report.md").write_text(render(report), encoding="utf-8")
    print(quality_table(report), end="")
    print(f"report: {args.out / 'report.md'}" + (f" ({seconds:.0f} s)" if seconds else ""))
    if args.quality:
        write_quality(args.quality, report)
    low = [m for m, r in report["modules"].items() if "score" in r and r["score"] < args.min_score]
    if low:
        print(f"below {args.min_score:.0%}: {', '.join(low)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
