"""Hidden cases of notebook 06 (attention maps). TA only: never in the student release.

The grader runs on the offline backend, so the token ids below are the offline tokenizer's: greedy
continuations of prompts that appear nowhere in the release (two of them contain a generated
``<eos>``, id 1, as a loop that never stops produces).
"""
from __future__ import annotations

import torch

from helpers.coursework.grading.compare import allclose, exact
from helpers.coursework.grading.spec import Case, ref

APPLE = [2, 2392, 2102, 433, 962, 1062, 677, 468, 439, 765, 369, 1, 548]  # "Apple released a new" (5) + 8
RAINBOW = [2, 696, 516, 1068, 466, 738, 369, 593, 1592, 1279]  # "The rainbow has" (4) + 6
TIME = [2, 2105, 853, 471, 433, 1384, 1379, 446, 439, 765, 369, 1, 646]  # "Time travel" (3) + 10


def _ids(values: list[int]) -> torch.Tensor:
    return torch.tensor([values])


def cases() -> dict[str, list[Case]]:
    rows = allclose(atol=1e-5, rtol=1e-4)
    return {
        "generation_attention": [
            Case("apple_prompt5_layer3", args=(ref("model"), _ids(APPLE), 5, 3), compare=rows),
            Case("rainbow_prompt4_layer0", args=(ref("model"), _ids(RAINBOW), 4, 0), compare=rows),
            Case("time_prompt3_last_layer", args=(ref("model"), _ids(TIME), 3, 25), compare=rows),
            Case("bos_only_prompt_layer17", args=(ref("model"), _ids(RAINBOW), 1, 17), compare=rows),
        ],
        "attention_labels": [
            Case("apple_prompt5", args=(ref("tokenizer"), _ids(APPLE), 5), compare=exact()),
            Case("rainbow_prompt4", args=(ref("tokenizer"), _ids(RAINBOW), 4), compare=exact()),
            Case("time_bos_only_prompt", args=(ref("tokenizer"), _ids(TIME), 1), compare=exact()),
        ],
    }
