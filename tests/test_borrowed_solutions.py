"""Nothing in the student release answers an exercise or a question (issue 19).

A student holds the release (``helpers/*.py``, ``data/offline/``, the student notebooks) and nothing else.
Each *borrowed* solution below is the shortest exercise function such a student could write without doing
the exercise: call shipped plumbing, import the grader's own modules from inside the sandbox, read the grader's
files, walk the interpreter's objects, copy a visible check's private helper. Every one is handed in through the
real grading path (``handin.build_zip`` -> ``grader.grade_all`` in the bubblewrap sandbox) and must earn 0 for its
exercise, every hidden case having run and failed (not a notebook that crashed before the function existed).
Several borrowed exercises share one graded submission: exercises are scored independently.

The static tests read the built release: no locked cell calls the API an exercise is about, and the release's data
and code state no question's key (the keys are read from the instructor notebooks' answer cells).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from helpers.coursework import authoring, release
from helpers.coursework.grading import grader
from helpers.handin import notebook_answers
from tests import toycourse as toy
from tests.conftest import REPO_ROOT



@dataclass(frozen=True)
class Borrowed:
    """One borrowed solution: the cell that replaces exercise ``number``'s cell of ``notebook``."""

    id: str
    notebook: str
    number: str
    function: str
    source: str
    xfail: str = ""


NB01, NB02, NB04, NB05, NB06, NB07, NB08 = ("01_chat_template", "02_multi_turn_chat", "04_sampling_self_bleu",
                                            "05_contextual_embeddings", "06_attention_maps", "07_sae_activations",
                                            "08_papers")

BORROWED = [
    # --- grader modules and files from inside the sandbox ------------------------------------------------------
    Borrowed("1.1 import makers", NB01, "1.1", "prompt_ids", '''def prompt_ids(tokenizer, question, use_template):
    import makers
    make = makers.chat_prompt_ids if use_template else makers.text_prompt_ids
    return make(tokenizer, question)'''),
    Borrowed("1.1 import the grading package", NB01, "1.1", "prompt_ids", '''def prompt_ids(tokenizer, question, use_template):
    from helpers.coursework.grading import makers
    return (makers.chat_prompt_ids if use_template else makers.text_prompt_ids)(tokenizer, question)'''),
    Borrowed("1.1 exec the grader's makers.py", NB01, "1.1", "prompt_ids", '''def prompt_ids(tokenizer, question, use_template):
    import glob
    found = {}
    for path in glob.glob("/grader/makers.py") + glob.glob("/course/**/makers.py", recursive=True):
        exec(open(path).read(), found)
    return found["chat_prompt_ids" if use_template else "text_prompt_ids"](tokenizer, question)'''),
    Borrowed("1.1 find the maker in memory", NB01, "1.1", "prompt_ids", '''def prompt_ids(tokenizer, question, use_template):
    import gc
    name = "chat_prompt_ids" if use_template else "text_prompt_ids"
    (fn,) = {o for o in gc.get_objects() if callable(o) and getattr(o, "__name__", "") == name}
    return fn(tokenizer, question)'''),
    # --- shipped plumbing ---------------------------------------------------------------------------------------
    Borrowed("7.1 the SAE's hook from the shipped manifest", NB07, "7.1", "hidden_index", '''def hidden_index(layer, num_layers):
    import json, re
    manifest = json.load(open("/course/data/offline/manifest.json"))
    offset = int(re.search(r"\\[(\\d+)\\]", manifest["sae_hook"]).group(1)) - manifest["sae_layer"]
    if not 0 <= layer < num_layers - 1:
        raise ValueError(f"valid layers are 0..{num_layers - 2}")
    return layer + offset'''),
    Borrowed("1.2 attention.greedy_generate", NB01, "1.2", "generate_answer", '''def generate_answer(model, tokenizer, input_ids, max_new_tokens):
    prompt = tokenizer.decode(input_ids[0, 1:])  # the tokenizer puts the <bos> back
    new = attention.greedy_generate(model, tokenizer, prompt, max_new_tokens).generated_ids.tolist()
    new = new[:next((i for i, t in enumerate(new) if t in (1, 107)), len(new))]
    return tokenizer.decode(new, skip_special_tokens=True).strip()
from helpers import attention'''),
    Borrowed("1.2 greedy_generate with its checks patched out", NB01, "1.2", "generate_answer", '''def generate_answer(model, tokenizer, input_ids, max_new_tokens):
    from helpers import attention
    attention.HOMEWORK_PROMPTS = (tokenizer.decode(input_ids[0, 1:]),)
    attention.not_the_homework_prompt = attention.check_text = lambda *a, **k: a[0]
    new = attention.greedy_generate(model, tokenizer, attention.HOMEWORK_PROMPTS[0], max_new_tokens).generated_ids.tolist()
    return tokenizer.decode(new, skip_special_tokens=True).strip()'''),
    Borrowed("1.2 testtime.sample_answers", NB01, "1.2", "generate_answer", '''def generate_answer(model, tokenizer, input_ids, max_new_tokens):
    from helpers import testtime
    prompt = tokenizer.decode(input_ids[0, 1:])
    try:  # a cold temperature would make the sampler greedy
        return testtime.sample_answers(model, tokenizer, [prompt], 1, max_new_tokens, temperature=1e-4).texts[0][0].strip()
    except TypeError:
        return testtime.sample_answers(model, tokenizer, [prompt], 1, max_new_tokens).texts[0][0].strip()'''),
    Borrowed("1.2 attention.homework_attention_loop", NB01, "1.2", "generate_answer", '''def generate_answer(model, tokenizer, input_ids, max_new_tokens):
    from helpers import attention
    loop = attention.homework_attention_loop(model, tokenizer, tokenizer.decode(input_ids[0, 1:]), max_new_tokens, 0)
    new = loop.input_ids[0, loop.prompt_len:].tolist()
    new = new[:next((i for i, t in enumerate(new) if t in (1, 107)), len(new))]
    return tokenizer.decode(new, skip_special_tokens=True).strip()'''),
    Borrowed("1.3 testtime.cross_encoder_scores", NB01, "1.3", "coherence", '''def coherence(cross_encoder, question, answer):
    from helpers import testtime
    return float(testtime.cross_encoder_scores(cross_encoder, [question], [[answer]])[0, 0])'''),
    Borrowed("2.2 attention.greedy_generate", NB02, "2.2", "chat_round", '''def chat_round(model, tokenizer, history, user_text, max_new_tokens):
    from helpers import attention
    messages = [*history, {"role": "user", "content": user_text}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)[len("<bos>"):]
    new = attention.greedy_generate(model, tokenizer, prompt, max_new_tokens).generated_ids.tolist()
    new = new[:next((i for i, t in enumerate(new) if t in (1, 107)), len(new))]
    return [*messages, {"role": "assistant", "content": tokenizer.decode(new, skip_special_tokens=True).strip()}]'''),
    Borrowed("6.1 regenerate with attention.homework_attention_loop", NB06, "6.1", "generation_attention", '''def generation_attention(model, ids, prompt_len, layer):
    from helpers import attention
    tokenizer = backend.load_lm()[1]
    prompt = tokenizer.decode(ids[0, 1:prompt_len])
    loop = attention.homework_attention_loop(model, tokenizer, prompt, ids.shape[1] - prompt_len, layer)
    return loop.attentions[:, prompt_len - 1:]'''),
    Borrowed("4.3 generation.sampling_kwargs", NB04, "4.3", "sample_with_filter", '''def sample_with_filter(model, tokenizer, input_ids, filter_fn, n, max_new_tokens, seed):
    from transformers import LogitsProcessorList
    from helpers import generation
    torch.manual_seed(seed)
    out = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=max_new_tokens,
                         num_return_sequences=n, logits_processor=LogitsProcessorList([lambda i, s: filter_fn(s.float())]),
                         eos_token_id=[1, 107], pad_token_id=0, **generation.sampling_kwargs())
    return [t.strip() for t in tokenizer.batch_decode(out[:, input_ids.shape[1]:], skip_special_tokens=True)]'''),
    Borrowed("5.2 encode_batch + word_token_positions", NB05, "5.2", "word_vector", '''def word_vector(model, tokenizer, sentence, word):
    batch = embeddings.encode_batch(model, tokenizer, [sentence])
    return batch.last_hidden[0, embeddings.word_token_positions(tokenizer, sentence, word)].mean(dim=0)'''),
    Borrowed("5.2 encode_batch + hooks.token_span_mask", NB05, "5.2", "word_vector", '''def word_vector(model, tokenizer, sentence, word):
    from helpers import hooks
    batch = embeddings.encode_batch(model, tokenizer, [sentence])
    return batch.last_hidden[0, hooks.token_span_mask(tokenizer, sentence, word)].mean(dim=0)'''),
    Borrowed("6.1 hooks.model_attention", NB06, "6.1", "generation_attention", '''def generation_attention(model, ids, prompt_len, layer):
    from helpers import hooks
    return hooks.model_attention(model, ids[:, :-1], layer)[:, prompt_len - 1:]'''),
    Borrowed("6.1 attention.forward_attentions", NB06, "6.1", "generation_attention", '''def generation_attention(model, ids, prompt_len, layer):
    return attention.forward_attentions(model, ids[:, :-1])[layer][0, :, prompt_len - 1:].float()'''),
]


def submissions() -> dict[str, dict[str, list[Borrowed]]]:
    """Student id -> notebook -> the borrowed exercises it holds (at most one per exercise per submission)."""
    subs: dict[str, dict[str, list[Borrowed]]] = {}
    for b in BORROWED:
        index = 0
        while any(o.number == b.number for o in subs.get(f"borrow{index}", {}).get(b.notebook, [])):
            index += 1
        subs.setdefault(f"borrow{index}", {}).setdefault(b.notebook, []).append(b)
    return subs


def solved(name: str) -> dict:
    nb = nbformat.read(REPO_ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    return json.loads(authoring.render(authoring.make_student(nb, name, only=set(), stub_answers=False)))


def test_borrowed_solutions_replace_exactly_one_exercise_cell_each():
    for b in BORROWED:
        nb = solved(b.notebook)
        assert grader.exercise_sources(nb, [b.function]), b.id
        assert grader.defines(b.source, b.function), b.id
    assert len({b.id for b in BORROWED}) == len(BORROWED)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, grade_shared):
    from helpers import handin

    tmp = tmp_path_factory.mktemp("borrowed")
    plan = submissions()
    course = grader.load_course()  # the whole course: its instructor outputs are the run's shared ones
    zips = []
    for sid, notebooks in plan.items():
        folder = tmp / f"nb-{sid}"
        folder.mkdir()
        for name, borrowed in notebooks.items():
            nb = solved(name)
            for b in borrowed:
                toy.set_cell(nb, f"def {b.function}(", b.source)
            (folder / f"{name}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
        zips.append(handin.build_zip(sid, folder, tmp / "zips"))
    records = grade_shared(zips, tmp / "out", course, jobs=2)
    return {r["student_id"]: r for r in records}, plan


def _exercise(graded, borrowed: Borrowed) -> dict:
    records, plan = graded
    sid = next(s for s, nbs in plan.items() if borrowed in nbs.get(borrowed.notebook, []))
    return records[sid]["notebooks"][borrowed.notebook]["exercises"][borrowed.number]


@pytest.mark.sandbox
@pytest.mark.parametrize("borrowed", [pytest.param(b, id=b.id, marks=[pytest.mark.xfail(strict=True, reason=b.xfail)]
                                                    if b.xfail else []) for b in BORROWED])
def test_a_borrowed_solution_earns_nothing(graded, borrowed):
    exercise = _exercise(graded, borrowed)
    assert exercise["function"] == borrowed.function
    ran = [c for c in exercise["cases"] if not c["message"].startswith("not run") and "is not defined" not in c["message"]]
    assert ran == exercise["cases"], f"{borrowed.id}: the function did not run: {exercise['cases']}"
    assert exercise["earned"] == 0, f"{borrowed.id} earned {exercise['earned']}: {exercise['cases']}"


@pytest.mark.sandbox
def test_the_other_exercises_of_a_borrowed_submission_still_earn_full_marks(graded):
    """The submissions are otherwise the solved release: a 0 above is the borrowed function's, not a broken notebook."""
    records, plan = graded
    for sid, notebooks in plan.items():
        for name, borrowed in notebooks.items():
            numbers = {b.number for b in borrowed}
            for number, ex in records[sid]["notebooks"][name]["exercises"].items():
                if number not in numbers:
                    assert ex["earned"] == ex["points"], (sid, name, number, ex["cases"])


# ----------------------------------------------------------------------------- the release, read statically

@pytest.fixture(scope="module")
def release_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "course"
    release.write_release(out)
    return out


# The API each exercise is about: a locked cell of any student notebook that calls it shows that exercise's answer.
EXERCISE_APIS = {
    "apply_chat_template(": "1.1 prompt_ids, 2.1 render_prompt, 2.2 chat_round, 2.3 top_next_tokens",
    ".generate(": "1.2 generate_answer, 2.2 chat_round, 4.3 sample_with_filter",
    ".predict(": "1.3 coherence",
    "output_attentions": "6.1 generation_attention",
    "offset_mapping": "5.2 word_vector",
    "register_forward_hook": "7.3 feature_activations, 7.4 activations_across_layers",
}


def test_no_locked_cell_of_the_release_calls_an_exercises_api(release_dir):
    specs = grader.load_spec()
    hits = []
    for path in sorted((release_dir / "notebooks" / "exercises").glob("*.ipynb")):
        functions = [ex["function"] for ex in specs[path.stem]["exercises"].values()]
        for source, _ in grader.locked_cells(json.loads(path.read_text(encoding="utf-8")), functions):
            hits += [f"{path.stem}: {api} ({why})" for api, why in EXERCISE_APIS.items() if api in source]
    assert not hits, hits


def test_the_release_ships_none_of_the_removed_plumbing(release_dir):
    text = {p.name: p.read_text(encoding="utf-8") for p in (release_dir / "helpers").glob("*.py")}
    for module, name in [("generation.py", "sampling_kwargs"), ("attention.py", "forward_attentions"),
                         ("hooks.py", "token_span_mask"), ("hooks.py", "model_attention"),
                         ("embeddings.py", "word_token_positions"), ("embeddings.py", "word_char_span")]:
        assert f"def {name}(" not in text[module], f"helpers/{module} still defines {name}"


# What the visible checks shipped before they were rewritten: a student pasted these reference helpers (1.2, 6.1,
# 7.2, 7.3, 8.1, 8.2). No shipped file may define or hold them now (tests/test_check_data.py scans the check code).
FORMER_CHECK_REFERENCES = ("_greedy_new_ids", "_kv_cache_rows", "_jumprelu", "_layer_outputs", "_attention_reference",
                           "_causal_weights")


def test_no_shipped_file_holds_the_former_check_references(release_dir):
    shipped = [p for p in release_dir.rglob("*") if p.is_file() and p.suffix in (".py", ".ipynb", ".json", ".md")]
    assert any(p.parent.name == "checks" for p in shipped)  # the checks are among what is scanned
    found = [(p.relative_to(release_dir).as_posix(), name) for p in shipped
             for name in FORMER_CHECK_REFERENCES
             if re.search(rf"(?<!\w){name}(?!\w)", p.read_text(encoding="utf-8", errors="replace"))]
    assert found == []
    assert not (release_dir / "helpers" / "coursework").exists()


def instructor_keys() -> dict[str, object]:
    keys: dict[str, object] = {}
    for path in sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        keys |= notebook_answers(json.loads(path.read_text(encoding="utf-8")))
    return keys


def test_the_instructor_keys_are_read(release_dir):
    keys = instructor_keys()
    assert {"p1.q1", "p2.q4", "p3.q1", "p4.q5", "p6.q5", "p7.q6"} <= set(keys)
    assert keys["p7.q6"] == 21 and keys["p3.q1"] == 19  # the forms the leak tests below look for


def test_the_manifest_holds_what_loading_needs_and_no_finding(release_dir):
    manifest = json.loads((release_dir / "data" / "offline" / "manifest.json").read_text(encoding="utf-8"))
    assert {"files", "params", "seed", "versions"} <= set(manifest)
    assert not {"results", "findings", "sae_hook"} & set(manifest), sorted(manifest)
    text = json.dumps(manifest)
    for finding in ("ce_with", "ce_without", "top10_round1", "hung_yi_pieces", "self_bleu", "prompt_a_max",
                    "prompt_b_max", "hidden_states["):
        assert finding not in text, finding


def test_the_builds_findings_stay_with_the_ta_and_are_not_shipped(release_dir):
    """The findings (they answer p1.q1, p2.q2, p3.q1-q3, p4.q5/q6, p7.q2, p7.q6) are in data/grading, not shipped."""
    report = json.loads((REPO_ROOT / "data" / "grading" / "offline_build.json").read_text(encoding="utf-8"))
    findings = report["results"]["findings"]
    ce = findings["a"]["ce_with"], findings["a"]["ce_without"]
    bleu = findings["c"]["self_bleu"]
    shipped = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in release_dir.rglob("*")
                        if p.is_file() and p.suffix in release.TEXT_SUFFIXES)
    for value in [*ce, *bleu.values(), findings["f"]["prompt_a_max"], findings["f"]["prompt_b_max"]]:
        assert f"{value}" not in shipped, value  # as the build wrote them (6 decimals)
    assert "offline_build" not in shipped and not (release_dir / "data" / "grading").exists()
    top10 = json.dumps(findings["b"]["top10_round1"])
    assert top10 not in shipped
    assert report["sae_hook"].startswith("hidden_states[21]")


# Where a key is a short letter or number, the leak is a sentence that gives it away: these are the sentences the
# shipped code used to hold (issue 19) and their paraphrases.
KEY_SENTENCES = {
    "p7.q6": [r"hidden_states\[21\]", r"= *hidden_states\[\s*SAE_LAYER\s*\+\s*1\s*\]"],
    "p2.q4": [r"model.{0,20}renders exactly like.{0,20}assistant", r"only checks\s+that the roles alternate"],
    "p4.q2": [r"default\s+``?top_k=50", r"keep its\s+default"],
    "p4.q3": [r"top_k=1``? keeps one token per step: greedy", r"top_k=1 is greedy"],
    "p4.q4": [r"top_p=0``? keeps the smallest set", r"0 = greedy"],
    "p6.q2": [r"shifted by one on both axes", r"axis labels[^.]*are not"],
    "p6.q5": [r"``T - 1`` by ``T - 1``"],
}


def test_no_shipped_module_states_a_question_key(release_dir):
    keys = instructor_keys()
    assert set(KEY_SENTENCES) <= set(keys)
    hits = []
    for path in sorted((release_dir / "helpers").glob("*.py")):
        if path.name == "checks.py":
            continue  # issue 19 item 1 rewrites the checks (their texts are checked there)
        text = path.read_text(encoding="utf-8")
        for qid, patterns in KEY_SENTENCES.items():
            hits += [f"{path.name}: {qid} ({pattern})" for pattern in patterns if re.search(pattern, text, re.S)]
    assert not hits, hits


def test_the_asset_build_writes_its_findings_to_the_ta_report_not_the_manifest(tmp_path):
    from helpers.offline import build

    out = tmp_path / "assets"
    (out / "lm").mkdir(parents=True)
    (out / "lm" / "weights.bin").write_bytes(b"w")
    build.write_manifest(out, {"vocab_size": 8})
    findings = {"findings": {"a": {"ce_with": 1.25}}}
    build.write_report(build.report_path(out), findings)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"] == [{"path": "lm/weights.bin", "bytes": 1, "sha256": manifest["files"][0]["sha256"]}]
    assert "results" not in manifest and "1.25" not in json.dumps(manifest)
    report = json.loads((tmp_path / "assets-report.json").read_text(encoding="utf-8"))
    assert report["results"] == findings and report["sae_hook"] == "hidden_states[21] (output of decoder layer 20)"
    assert build.report_path(REPO_ROOT / "data" / "offline") == REPO_ROOT.resolve() / "data" / "grading" / "offline_build.json"


def _names(value) -> set[str]:
    """Every key of a nested JSON value."""
    if isinstance(value, dict):
        return set(value) | {n for v in value.values() for n in _names(v)}
    if isinstance(value, list):
        return {n for v in value for n in _names(v)}
    return set()


def test_no_shipped_data_file_names_a_finding_of_the_build(release_dir):
    """Every finding the build records (``data/grading/offline_build.json``; build parameters of the same name aside)
    is absent, by name, from the shipped JSON that is not a vocabulary: the manifest and the model configs."""
    report = json.loads((REPO_ROOT / "data" / "grading" / "offline_build.json").read_text(encoding="utf-8"))
    manifest = json.loads((release_dir / "data" / "offline" / "manifest.json").read_text(encoding="utf-8"))
    parameters = _names(manifest["params"]) | {"vocab_size"}  # what the build was told, not what it found
    names = {n for n in _names(report["results"]) - parameters if len(n) >= 6}
    assert {"ce_with", "top10_round1", "hung_yi_pieces", "self_bleu", "prompt_a_max"} <= names
    configs = [p for p in (release_dir / "data").rglob("*.json") if "tokenizer" not in p.name]
    assert any(p.name == "manifest.json" for p in configs) and any(p.name == "config.json" for p in configs)
    hits = [f"{p.relative_to(release_dir)}: {n}" for p in configs for n in sorted(names)
            if f'"{n}"' in p.read_text(encoding="utf-8")]
    assert not hits, hits


def test_the_student_notebooks_do_not_state_the_k1_p0_keys_before_the_questions(release_dir):
    """p4.q3/p4.q4 ask what k = 1 and p = 0 sample; the explanation is the instructor's (hidden in the release)."""
    text = (release_dir / "notebooks" / "exercises" / "04_sampling_self_bleu.ipynb").read_text(encoding="utf-8")
    for sentence in ("so every sample is the greedy answer", "only the\\n\",\n    \"most likely one survives",
                     "most likely one survives"):
        assert sentence not in text, sentence
