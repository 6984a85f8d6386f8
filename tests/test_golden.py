"""Decoded text of the offline model against pinned outputs (refresh: `python -m tests.golden --refresh`)."""
import json

import pytest

from tests import golden


@pytest.fixture(scope="module")
def pinned():
    return json.loads(golden.OUTPUTS.read_text(encoding="utf-8"))  # missing file: a failure, not a skip


def test_pinned_outputs_come_from_the_committed_model(pinned):
    assert pinned["model_sha256"] == golden.model_sha256(), (
        "the offline model changed since the outputs were pinned: run `python -m tests.golden --refresh` and review")


def test_decoded_text_matches_the_pinned_outputs(lm, pinned):
    model, tokenizer = lm
    now = golden.cases(model, tokenizer)
    assert set(now) == set(pinned["outputs"]), "cases added or removed: refresh the pinned outputs"
    for key, value in now.items():
        assert value == pinned["outputs"][key], f"{key}: {value!r} != pinned {pinned['outputs'][key]!r}"


def test_pinned_outputs_are_not_degenerate(pinned):
    """The pins themselves: answers are text, the template answer ends its turn, samples differ."""
    out = pinned["outputs"]
    assert all(isinstance(v, str) and v.strip() or isinstance(v, list) and all(s.strip() for s in v)
               for v in out.values())
    assert len(out["02 three chat rounds, answers"]) == 3
    assert len(set(out["04 sample_with_filter, top_p=0.6, seed 1"])) > 1
    assert out["01 generate_answer, template=True, 60 tokens"] != out["01 generate_answer, template=False, 60 tokens"]
