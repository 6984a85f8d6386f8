"""The visible checks hold no solution: their expected values are pinned from the instructor solutions
(``data/checks``, ``make check-data``), the pinned data is fresh, states no question key, and ships;
no check module keeps a reference implementation; while grading, ``helpers.checks`` is a raising stub."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys

import pytest

from helpers.checks import common
from helpers.coursework import release
from helpers.coursework.grading import grader
from helpers.coursework.pin_checks import core
from tests.conftest import REPO_ROOT

CHECK_MODULES = sorted((REPO_ROOT / "helpers" / "checks").glob("*.py"))
# The references the checks used to compute (issue 19) and the library calls that are an exercise's answer.
FORBIDDEN_NAMES = {"_attention_reference", "_causal_weights", "_jumprelu", "_layer_outputs", "_kv_cache_rows",
                   "_greedy_new_ids", "attention_reference", "causal_weights", "jumprelu", "layer_outputs",
                   "kv_cache_rows", "greedy_eos_only", "TopKLogitsWarper", "TopPLogitsWarper", "eager_attention_forward",
                   "scaled_dot_product_attention", "DynamicCache", "register_forward_hook", "sentence_bleu",
                   "Gemma2RotaryEmbedding", "apply_rotary_pos_emb", "model_attention", "forward_attentions",
                   "word_token_positions", "encode_batch", "chat_prompt_ids", "text_prompt_ids", "sampling_kwargs"}
# Calls that are an exercise's answer (1.1's template, 1.2's greedy generate): a check reads such inputs from the
# pinned data instead; 4.3's check only wraps the student's own generate call (an attribute, not a call).
FORBIDDEN_CALLS = {"apply_chat_template", "generate"}


def _names(path) -> set[str]:
    """Every name, attribute and defined function of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.alias)):
            found.add(node.name)
    return found


def _calls(path) -> set[str]:
    """The attribute names a module calls (``x.generate(...)`` -> ``generate``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}


@pytest.mark.parametrize("path", CHECK_MODULES, ids=lambda p: p.name)
def test_no_check_module_holds_a_reference_implementation(path):
    assert not _names(path) & FORBIDDEN_NAMES, f"{path.name} uses {sorted(_names(path) & FORBIDDEN_NAMES)}"
    assert not _calls(path) & FORBIDDEN_CALLS, f"{path.name} calls {sorted(_calls(path) & FORBIDDEN_CALLS)}"


def test_the_forbidden_names_are_found_where_they_are_used():
    """The scan sees through attributes and imports (the pinner, TA-side, uses them)."""
    pinner = REPO_ROOT / "helpers" / "coursework" / "pin_checks"
    used = set().union(*(_names(p) for p in [*pinner.glob("*.py"), REPO_ROOT / "helpers" / "offline" / "reference.py"]))
    assert {"attention_reference", "kv_cache_rows", "register_forward_hook", "scaled_dot_product_attention"} <= used
    assert {"generate", "apply_chat_template"} <= set().union(*(_calls(p) for p in pinner.glob("*.py")))


@pytest.mark.parametrize("path", CHECK_MODULES, ids=lambda p: p.name)
def test_check_modules_are_small(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [(f.name, f.end_lineno - f.lineno + 1) for f in ast.walk(tree)
            if isinstance(f, ast.FunctionDef) and f.end_lineno - f.lineno + 1 > 40]
    assert not long, f"{path.name}: functions over 40 lines: {long}"


def test_no_exercise_function_is_defined_by_the_checks():
    course = grader.load_course()
    code = "\n".join(p.read_text(encoding="utf-8") for p in CHECK_MODULES)
    for name in course.specs:
        for function in course.functions(name):
            assert not re.search(rf"(?m)^\s*def {function}\(", code), f"helpers.checks defines `{function}`"


def test_pinned_check_data_is_fresh(lm, sae, cross_encoder):
    """Rebuilt from the instructor solutions now, the pinned data equals what is committed (`make check-data`)."""
    stale = core.stale(sorted(core.NOTEBOOKS), core.Objects())
    assert not stale, f"data/checks is stale (run `make check-data` and commit the result): {stale}"


def test_a_changed_pinned_value_is_stale(lm, tmp_path):
    data = core.read("07")
    data["check_fraction_of_variance_unexplained"]["any"]["correct"] += 1e-3
    (tmp_path / "07.json").write_text(core.text_of(data), encoding="utf-8")
    assert "07" in core.stale(["07"], core.Objects(), data_dir=tmp_path)


def test_rebuilding_keeps_the_entries_of_other_models():
    stored = {"check_x": {"google/gemma-2-2b-it|256000|2304|26|float16": {"a": 1}, "offline|1": {"a": 2}}, "gone": {}}
    fresh = {"check_x": {"offline|1": {"a": 3}}}
    assert core.merged(stored, fresh) == {"check_x": {"google/gemma-2-2b-it|256000|2304|26|float16": {"a": 1},
                                                      "offline|1": {"a": 3}}}


def _scalars(value, in_list=False):
    """(scalar, whether it sits in a list) for every leaf of the pinned data, except the digests of single token
    texts of 2.3's top-k lists (any one-character token, "A" or "-", has one; they are not keys)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k != "wide_texts":
                yield from _scalars(v, in_list)
    elif isinstance(value, list):
        for v in value:
            yield from _scalars(v, True)
    else:
        yield value, in_list


def test_pinned_data_states_no_question_key():
    """No key (a number, a text, a choice) appears as a pinned value, plainly or as a digest."""
    course = grader.load_course()
    keys = [key for name in course.keys for key in course.keys[name].values()]
    leaves = [leaf for path in sorted(common.DATA_DIR.glob("*.json"))
              for leaf in _scalars(json.loads(path.read_text(encoding="utf-8")))]
    plain = {(type(v), v) for v, in_list in leaves if not in_list and not (isinstance(v, str) and len(v) == 64)}
    digests = {v for v, _ in leaves if isinstance(v, str) and len(v) == 64}
    for key in keys:
        for form in ([key] if not isinstance(key, list) else [key, *key]):
            assert isinstance(form, list) or (type(form), form) not in plain, f"data/checks states a key: {form!r}"
            assert common.digest(form) not in digests, f"data/checks holds the digest of a key: {form!r}"
    assert not {v for _, v in plain if isinstance(v, str) and re.fullmatch(r"[A-F]", v)}


def test_release_ships_the_checks_package_and_its_data_and_nothing_else_new():
    files = [str(p) for p in release.release_files(REPO_ROOT)]
    assert {f"helpers/checks/{p.name}" for p in CHECK_MODULES} <= set(files)
    assert {f"data/checks/{p.name}" for p in common.DATA_DIR.glob("*.json")} <= set(files)
    assert not [f for f in files if f.startswith("helpers/coursework") or f.startswith("data/") and not
                f.startswith(("data/offline/", "data/checks/"))]


def test_copied_package_keeps_the_checks_subpackage(tmp_path):
    target = release.copy_package(tmp_path / "helpers")
    assert sorted(p.name for p in (target / "checks").glob("*.py")) == sorted(p.name for p in CHECK_MODULES)


def test_grading_code_root_stubs_the_checks_package(tmp_path):
    root = grader.release_code(tmp_path / "code")
    assert not (root / "helpers" / "checks").exists() and (root / "helpers" / "checks.py").is_file()
    script = ("from helpers import checks\n"
              "try:\n    checks.check_top_k_filter(lambda l, k: l)\nexcept RuntimeError as e:\n    print('stub:', e)\n"
              "try:\n    import helpers.checks.nb04\nexcept (ImportError, TypeError):\n    print('no submodules')\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert "stub: helpers.checks.check_top_k_filter is not available while grading" in out.stdout, out.stderr
    assert "no submodules" in out.stdout, out.stdout + out.stderr


# (check, exercise function, the objects it takes after the function)
ALL_CHECKS = [
    ("check_prompt_ids", "prompt_ids", "t"), ("check_generate_answer", "generate_answer", "mt"),
    ("check_coherence", "coherence", "c"), ("check_render_prompt", "render_prompt", "t"),
    ("check_chat_round", "chat_round", "mt"), ("check_top_next_tokens", "top_next_tokens", "mt"),
    ("check_token_table", "token_table", "t"), ("check_top_k_filter", "top_k_filter", ""),
    ("check_top_p_filter", "top_p_filter", ""), ("check_sample_with_filter", "sample_with_filter", "mt"),
    ("check_self_bleu", "self_bleu", ""), ("check_mean_pool", "mean_pool", ""), ("check_word_vector", "word_vector", "mt"),
    ("check_generation_attention", "generation_attention", "mt"), ("check_attention_labels", "attention_labels", "t"),
    ("check_hidden_index", "hidden_index", "mt"), ("check_jumprelu_encode", "jumprelu_encode", ""),
    ("check_feature_activations", "feature_activations", "mts"),
    ("check_activations_across_layers", "activations_across_layers", "mts"),
    ("check_fraction_of_variance_unexplained", "fraction_of_variance_unexplained", ""),
    ("check_attention_from_scratch", "attention_from_scratch", "mt"),
    ("check_differential_attention", "differential_attention", ""), ("check_majority_vote", "majority_vote", ""),
    ("check_best_of_n", "best_of_n", ""),
]


@pytest.fixture(scope="module")
def solutions():
    from tests.hidden_inputs import all_solutions

    return all_solutions()


@pytest.fixture
def nothing_pinned_for_models(monkeypatch):
    """Only the model-free entries (``any``) of the pinned data: every model and tokenizer is one with no entry."""
    real = common._notebook_data

    def only_any(notebook):
        return {check: {k: v for k, v in entries.items() if k == common.ANY} for check, entries in real(notebook).items()}

    monkeypatch.setattr(common, "_notebook_data", only_any)


def test_every_check_is_listed():
    from helpers import checks

    assert sorted(c for c, _, _ in ALL_CHECKS) == sorted(n for n in checks.__all__ if n.startswith("check_"))


@pytest.mark.parametrize("check, function, takes", ALL_CHECKS, ids=[c[1] for c in ALL_CHECKS])
def test_checks_pass_the_solutions_on_a_model_with_nothing_pinned(lm, sae, cross_encoder, solutions, capsys,
                                                                   nothing_pinned_for_models, check, function, takes):
    """The real Gemma until a TA pins it: properties only, no false failure, and the ✓ line says so."""
    from helpers import checks

    model, tokenizer = lm
    objects = {"m": model, "t": tokenizer, "s": sae, "c": cross_encoder}
    getattr(checks, check)(solutions[function], *[objects[k] for k in takes])
    out = capsys.readouterr().out
    assert "✓" in out
    pins_nothing = {"check_attention_labels"}  # properties alone (the labels are checked against the ids)
    assert ("properties only" in out) == (takes != "" and check not in pins_nothing), out


def test_properties_still_name_mistakes_with_nothing_pinned(lm, nothing_pinned_for_models):
    from helpers import checks

    _, tokenizer = lm

    def double_bos(tok, question, use_template):
        if use_template:
            text = tok.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
            return tok(text, return_tensors="pt").input_ids
        return tok(question, return_tensors="pt").input_ids

    with pytest.raises(AssertionError, match="2 × <bos>"):
        checks.check_prompt_ids(double_bos, tokenizer)
    with pytest.raises(AssertionError, match="<bos> is missing"):
        checks.check_token_table(lambda tok, text: [(tok.convert_ids_to_tokens(i), i)
                                                    for i in tok(text, add_special_tokens=False)["input_ids"]], tokenizer)
