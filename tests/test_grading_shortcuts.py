"""Issue 23 through the real grader: shortcuts score 0, constants score 0, messages reveal no answer or input.

Every submission is the solved release with some exercise functions replaced (``tests/shortcuts.py``);
each exercise is scored on its own, so one submission carries many attacks at once.
"""
from __future__ import annotations

import ast
import json
import math
import re

import pytest

from helpers.coursework.grading import grader
from tests import shortcuts as sc
from tests import toycourse as toy
from tests.test_grading_course import solved, write

pytestmark = pytest.mark.sandbox

LIBRARY = {  # notebook -> {function: replacement}
    "04_sampling_self_bleu": {"top_k_filter": sc.TOP_K_WARPER, "top_p_filter": sc.TOP_P_WARPER,
                              "sample_with_filter": sc.SAMPLE_BY_PROBING},
    "05_contextual_embeddings": {"mean_pool": sc.MEAN_POOL_BY_LIBRARY},
    "08_papers": {"attention_from_scratch": sc.ATTENTION_BY_MODEL, "differential_attention": sc.DIFF_BY_SDPA,
                  "majority_vote": sc.MAJORITY_IF_NOT_GRADED},
}
SECOND = {  # a second attack on some exercises, in a second submission
    "04_sampling_self_bleu": {"top_p_filter": sc.TOP_P_WARPER_EARLY, "sample_with_filter": sc.SAMPLE_ONE_BY_ONE},
    "08_papers": {"attention_from_scratch": sc.VIA_CHECK},
}
LEAKS = {"01_chat_template": ["prompt_ids", "generate_answer", "coherence"],
         "02_multi_turn_chat": ["render_prompt", "chat_round", "top_next_tokens"],
         "03_tokenization": ["token_table"], "05_contextual_embeddings": ["word_vector"],
         "06_attention_maps": ["generation_attention", "attention_labels"],
         "07_sae_activations": ["hidden_index", "feature_activations"], "08_papers": ["best_of_n"]}
STUBS = ("identity", "one", "emptytext", "emptylist", "shaped")
REPLAYED = {"generate_answer", "coherence", "chat_round", "majority_vote", "best_of_n"}


def _replaced(changes: dict[str, dict[str, str]]) -> dict:
    notebooks = {}
    for name, functions in changes.items():
        nb = solved(name)
        for function, source in functions.items():
            toy.set_cell(nb, f"def {function}(", source)
        notebooks[name] = nb
    return notebooks


def submissions(course) -> dict[str, dict]:
    # the solved release itself is graded once, by test_grading_course (test_instructor_solutions_get_full_marks)
    subs = {}
    for kind, functions in sc.stub_kinds().items():
        subs[kind.replace("_", "")] = _replaced({n: {f: functions[f] for f in fs} for n, fs in sc.FUNCTIONS.items()})
    attacks = {n: dict(fs) for n, fs in LIBRARY.items()}
    for name, functions in LEAKS.items():
        attacks.setdefault(name, {}).update({f: sc.leak(f) for f in functions})
    subs["library"] = _replaced(attacks)
    return subs  # `second` rides with the replay, graded after these: 6 + 2 submissions on 2 jobs, 3 + 1 rounds (not 4 + 1)


def grade(grade_shared, course, tmp, subs: dict[str, dict]) -> dict[str, dict]:
    tmp.mkdir(parents=True, exist_ok=True)
    zips = [write(tmp, sid, nbs) for sid, nbs in subs.items()]
    records = grade_shared(zips, tmp / "out", course, jobs=2)
    return {r["student_id"]: r for r in records}


def by_function(record) -> dict[str, dict]:
    return {ex["function"]: ex for nb in record["notebooks"].values() for ex in nb["exercises"].values()}


def messages(record) -> list[str]:
    out = [c["message"] for ex in by_function(record).values() for c in ex["cases"]]
    out += [e for nb in record["notebooks"].values() for e in nb.get("errors", [])]
    return out


# --------------------------------------------------------------------------- replaying what the messages say

def replay_values(records: list[dict]) -> dict[str, list]:
    """What an attacker reads off graded ``ID.json`` files: the value after ``expected`` in each message, in case
    order (the first record that shows one)."""
    values: dict[str, list] = {}
    for record in records:
        for function, ex in by_function(record).items():
            found = values.setdefault(function, [None] * len(ex["cases"]))
            for i, case in enumerate(ex["cases"]):
                match = re.search(r"expected (.*?)(?:, got .*)?$", case["message"] or "")
                if found[i] is None and match:
                    try:
                        found[i] = ast.literal_eval(match.group(1))
                    except (ValueError, SyntaxError):
                        pass
    return values


REPLAY = '''_replay_{name} = iter({values!r})


def {name}(*args, **kwargs):
    value = next(_replay_{name})
    {tail}'''

REPLAY_TAILS = {
    "chat_round": 'return [*args[2], {"role": "user", "content": args[3]}, {"role": "assistant", "content": value}]',
}


def replay_submission(course, values: dict[str, list]) -> dict:
    changes = {}
    for name, functions in sc.FUNCTIONS.items():
        for function in functions:
            if function in REPLAYED:
                tail = REPLAY_TAILS.get(function, "return value")
                changes.setdefault(name, {})[function] = REPLAY.format(name=function, values=values[function], tail=tail)
    return _replaced(changes)


# --------------------------------------------------------------------------- the run

@pytest.fixture(scope="module")
def course():
    return grader.load_course()


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory, grade_shared, expected_cache):
    tmp = tmp_path_factory.mktemp("shortcuts")
    records = grade(grade_shared, course, tmp, submissions(course))
    replay = replay_submission(course, replay_values([records[k] for k in STUBS]))
    records |= grade(grade_shared, course, tmp / "replay", {"replay": replay, "second": _replaced(SECOND)})
    expected = json.loads((expected_cache / f".expected-{course.digest()}.json").read_text())
    return records, expected


@pytest.mark.parametrize("kind", STUBS)
def test_constant_and_identity_stubs_score_nothing(graded, kind):
    records, _ = graded
    earned = {f: ex["earned"] for f, ex in by_function(records[kind]).items() if ex["earned"]}
    assert earned == {}, f"{kind} stubs earn points: {earned}"


@pytest.mark.parametrize("function", ["top_k_filter", "top_p_filter", "attention_from_scratch", "differential_attention",
                                      "mean_pool"])
def test_the_library_doing_the_exercise_scores_nothing(graded, function):
    records, _ = graded
    ex = by_function(records["library"])[function]
    assert ex["earned"] == 0
    assert all(c["message"].startswith("LibraryRuleError") for c in ex["cases"]), ex["cases"][0]["message"]


def test_top_p_returning_its_input_scores_nothing_though_one_case_is_right(graded):
    records, _ = graded
    identity = by_function(records["identity"])["top_p_filter"]  # the identity stub returns the logits unchanged
    p_one = [c for c in identity["cases"] if c["case"] == "p = 1 keeps (almost) everything"][0]
    assert p_one["message"] == "right, but this case counts only when case 'p = 0.9' passes too"  # keeping all is right
    assert not any(c["passed"] for c in identity["cases"]) and identity["earned"] == 0


def test_an_exercise_that_calls_the_visible_checks_scores_nothing(graded):
    records, _ = graded
    exercise = by_function(records["second"])["attention_from_scratch"]
    assert exercise["earned"] == 0
    assert all("not available while grading" in case["message"] for case in exercise["cases"])


def test_a_library_warper_bound_before_the_cases_is_blocked_too(graded):
    records, _ = graded
    assert by_function(records["second"])["top_p_filter"]["earned"] == 0


def test_sampling_without_sampling_scores_nothing(graded):
    records, _ = graded
    assert by_function(records["library"])["sample_with_filter"]["earned"] == 0


def test_sampling_one_sample_per_generate_call_scores_nothing_and_says_why(graded):
    records, _ = graded
    ex = by_function(records["second"])["sample_with_filter"]
    assert ex["earned"] == 0
    assert any("[n, vocab]" in c["message"] for c in ex["cases"]), [c["message"] for c in ex["cases"]]


def test_a_grading_run_cannot_be_told_apart_by_the_environment(graded):
    records, _ = graded
    ex = by_function(records["library"])["majority_vote"]
    assert ex["earned"] == ex["points"]


def test_the_solved_exercises_next_to_the_attacks_keep_their_points(graded):
    records, _ = graded
    for function in ("self_bleu", "jumprelu_encode", "activations_across_layers", "fraction_of_variance_unexplained"):
        ex = by_function(records["library"])[function]
        assert ex["earned"] == ex["points"], function


def test_replaying_the_messages_of_a_graded_submission_scores_nothing(graded):
    records, _ = graded
    earned = {f: ex["earned"] for f, ex in by_function(records["replay"]).items() if f in REPLAYED and ex["earned"]}
    assert earned == {}


# --------------------------------------------------------------------------- what the messages may say

def _secrets(value, out: set) -> set:
    """Strings (4+ characters) and non-trivial numbers inside a hidden input or an expected output."""
    if isinstance(value, dict) and "__array__" in value:
        return _secrets(value["__array__"], out)
    if isinstance(value, dict):
        for v in value.values():
            _secrets(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _secrets(v, out)
    elif isinstance(value, str):
        if len(value.strip()) >= 4:
            out.add(value.strip())
    elif isinstance(value, float) and math.isfinite(value) and value not in (0.0, 1.0, -1.0) and abs(value) > 1e-3:
        out |= {f"{value:.6g}", f"{value:.4f}", f"{value:.3g}"}
    elif hasattr(value, "tolist"):
        _secrets(value.tolist(), out)
    return out


# The grader's modules (grader.py is the façade that re-exports them).
GRADER_MODULES = ("grader.py", "course.py", "cells.py", "unpack.py", "run.py", "scoring.py", "grade.py", "results.py")


def _grader_vocabulary() -> set[str]:
    """Words the grader writes itself: strings of compare.py, harness.py, makers.py, the grader's modules, and the
    message strings of the cases modules (what a ``return False, ...`` or a ``hint`` says). A secret that is one of these words is
    not a leak when it shows up in a message (``tokens`` is an answer of 8.4 and a word of the top-k message)."""
    import ast
    from pathlib import Path

    root = Path(grader.__file__).parent
    words: set[str] = set()

    def strings(node):
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                words.update(w.casefold() for w in re.findall(r"\w+", sub.value))

    for name in ("compare.py", "harness.py", "makers.py", *GRADER_MODULES):
        strings(ast.parse((root / name).read_text()))
    for path in sorted((root / "cases").glob("nb*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple) and node.value.elts and \
                    isinstance(node.value.elts[0], ast.Constant) and node.value.elts[0].value is False:
                strings(node.value)
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in ("hint", "more") for t in node.targets):
                strings(node.value)
    return words


def _leaks(message: str, secret: str, vocabulary: set[str]) -> bool:
    if re.fullmatch(r"\w+", secret):
        return secret.casefold() not in vocabulary and re.search(rf"(?<!\w){re.escape(secret)}(?!\w)", message) is not None
    return secret in message


class LeakSearch:
    """``_leaks(message, s, vocabulary)`` for every secret ``s`` at once: a word secret leaks where it is one of the
    message's maximal ``\\w+`` runs (what the look-arounds of ``_leaks`` match), any other secret as a substring."""

    def __init__(self, secrets, vocabulary):
        self.words = {s for s in secrets if re.fullmatch(r"\w+", s) and s.casefold() not in vocabulary}
        self.others = [s for s in secrets if not re.fullmatch(r"\w+", s)]

    def found(self, message: str) -> list[str]:
        message = message or ""
        runs = set(re.findall(r"\w+", message))
        return sorted((self.words & runs) | {s for s in self.others if s in message})


def test_the_leak_search_finds_what_leaks_finds():
    import random

    rng = random.Random(5)
    pieces = ["tokens", "Tokens", "top_k", "0.1234", "-3.5", "é", "ab", "x_1", "the cat", "(2, 3)", " ", ", ", ":", "_",
              "expected", "12"]
    vocabulary = {"tokens", "expected"}
    for _ in range(400):
        message = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        secrets = {"".join(rng.choice(pieces) for _ in range(rng.randint(1, 2))).strip() or "ab" for _ in range(6)}
        wanted = sorted(s for s in secrets if _leaks(message, s, vocabulary))
        assert LeakSearch(secrets, vocabulary).found(message) == wanted, (message, secrets)


def test_no_message_holds_an_expected_output_or_a_hidden_input(graded, course):
    records, expected = graded
    secrets: set[str] = set()
    for name, tests in course.tests.items():
        for test in tests:
            _secrets(list(test.case.args) + list(test.case.kwargs.values()), secrets)
            _secrets(expected[name]["\x00".join((test.function, test.case.name))], secrets)
    secrets = {s for s in secrets if not re.fullmatch(r"[\d.e+-]{1,3}", s)}
    vocabulary = _grader_vocabulary()
    # case names are shown with every case, passed or not; what they say about the input is not a message's leak
    names = " ".join(t.case.name for tests in course.tests.values() for t in tests)
    secrets = {s for s in secrets if s not in names}
    search = LeakSearch(secrets, vocabulary)
    leaks, seen = [], 0
    for sid in (*STUBS, "library", "second", "replay"):
        for message in messages(records[sid]):
            seen += bool(message)
            leaks += [(sid, s, message) for s in search.found(message)]
    assert seen > 300 and not leaks, leaks[:10]


def test_student_error_text_is_cut_to_its_type_and_a_short_first_line(graded):
    records, _ = graded
    for function in sum(LEAKS.values(), []):
        for case in by_function(records["library"])[function]["cases"]:
            assert case["message"].startswith("ValueError: ") and "\n" not in case["message"]
            assert len(case["message"]) <= len("ValueError: ") + grader_first_line()


def grader_first_line() -> int:
    from helpers.coursework.grading import compare

    return compare.ERROR_LINE_CHARS
