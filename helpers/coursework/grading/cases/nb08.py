"""Hidden cases of notebook 08 (papers: attention from scratch, differential attention, test-time compute).
TA only: never in the student release.

Attention: q and k caught from the model on prompts that are not in the release (inside the sandbox,
``make("captured_projection", ...)``), on a full-attention layer, a sliding layer with the window shrunk
so that it acts, and the last layer; then random q and k with a config where every setting differs
from the model's (6 query heads sharing 2 key heads, head_dim 8, scalar 20, cap 3, window 3, θ 50).
Differential attention: random q and k of other shapes and other λ (0, negative, close to 1, T = 1).
Voting: other answer lists, with ties, empty answers, case differences and negative / -inf scores.
"""
from __future__ import annotations

import torch

from helpers.coursework.grading.compare import allclose, exact
from helpers.coursework.grading.spec import Case, make, ref

TEXT_A = "Google Maps shows the way to almost any place in the world, and Gmail sends the email."
TEXT_B = "If time travel were possible, we would have met visitors from the future by now."
TEXT_C = "Regularization keeps a model simple; dropout turns off neurons while the network trains."

OTHER_CONFIG = dict(num_attention_heads=6, num_key_value_heads=2, head_dim=8, query_pre_attn_scalar=20,
                    attn_logit_softcapping=3.0, sliding_window=3,
                    rope_parameters={"rope_theta": 50.0, "rope_type": "default"})


def _qk(text: str, layer: int) -> tuple:
    model, tokenizer = ref("model"), ref("tokenizer")
    return (make("captured_projection", model, tokenizer, text, layer, "q"),
            make("captured_projection", model, tokenizer, text, layer, "k"))


def _random(seed: int, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


# 8.1 and 8.2 *are* attention: torch's fused attention and multi-head attention, transformers' attention functions
# and Gemma-2 modules, and building any transformers model raise while their cases run.
ATTENTION = (
    "torch.nn.functional:scaled_dot_product_attention",
    "torch:_C._nn.scaled_dot_product_attention",
    "torch:ops.aten.scaled_dot_product_attention",
    "torch:ops.aten._scaled_dot_product_attention_math",
    "torch.nn.functional:multi_head_attention_forward",
    "torch.nn.modules.activation:MultiheadAttention.forward",
    "torch.nn.attention.flex_attention:flex_attention",
    "transformers.modeling_utils:PreTrainedModel.__init__",
    "transformers.models.gemma2.modeling_gemma2:Gemma2Attention.forward",
    "transformers.models.gemma2.modeling_gemma2:Gemma2RotaryEmbedding.forward",
    "transformers.models.gemma2.modeling_gemma2:eager_attention_forward",
    "transformers.models.gemma2.modeling_gemma2:apply_rotary_pos_emb",
    "transformers.integrations.sdpa_attention:sdpa_attention_forward",
)
LIBRARY_RULE = {"attention_from_scratch": ATTENTION, "differential_attention": ATTENTION}


def cases() -> dict[str, list[Case]]:
    weights = allclose(atol=1e-5, rtol=1e-4)
    model = ref("model")
    config = make("lm_config", model)
    other = make("lm_config", model, **OTHER_CONFIG)
    return {
        "attention_from_scratch": [
            Case("prompt_a_full_layer_5", args=(*_qk(TEXT_A, 5), config, 5), compare=weights),
            Case("prompt_b_sliding_layer_10_window_6", args=(*_qk(TEXT_B, 10), make("lm_config", model, sliding_window=6), 10),
                 compare=weights),
            Case("prompt_c_last_layer_25", args=(*_qk(TEXT_C, 25), config, 25), compare=weights),
            Case("prompt_c_sliding_layer_24", args=(*_qk(TEXT_C, 24), config, 24), compare=weights),
            Case("random_6_heads_2_kv_sliding_layer_4", args=(_random(1, 6, 9, 8, scale=2.0), _random(2, 2, 9, 8, scale=2.0), other, 4),
                 compare=weights),
            Case("random_6_heads_2_kv_full_layer_7", args=(_random(3, 6, 9, 8, scale=2.0), _random(4, 2, 9, 8, scale=2.0), other, 7),
                 compare=weights),
            Case("one_token", args=(_random(5, 8, 1, 16), _random(6, 4, 1, 16), config, 3), compare=weights,
                 requires="prompt_a_full_layer_5"),  # [[1.0]] per head: a uniform causal map passes it
        ],
        "differential_attention": [
            Case("no_heads_T10_lambda_0.5", args=(_random(11, 10, 12), _random(12, 10, 12), 0.5), compare=weights),
            Case("three_heads_lambda_0_is_softmax", args=(_random(13, 3, 6, 8), _random(14, 3, 6, 8), 0.0), compare=weights),
            Case("batch_and_heads_lambda_0.95", args=(_random(15, 2, 2, 5, 16, scale=2.0), _random(16, 2, 2, 5, 16, scale=2.0), 0.95),
                 compare=weights),
            Case("negative_lambda", args=(_random(17, 4, 7, 6), _random(18, 4, 7, 6), -0.3), compare=weights),
            Case("one_token", args=(_random(19, 1, 4), _random(20, 1, 4), 0.2), compare=weights),
        ],
        "majority_vote": [
            # the first answer is never the winner here, except where a constant would pass (those pay with a partner)
            Case("clear_winner", args=(["red", "blue", "blue", "green", "red", "blue"],), compare=exact()),
            Case("tie_first_appearance", args=(["green", "red", "blue", "blue", "red"],), compare=exact()),
            Case("three_way_tie", args=(["teal", "violet", "indigo", "violet", "indigo", "orange", "orange"],),
                 compare=exact()),
            Case("empty_answers_skipped", args=(["", "", "", "x", "y", "y"],), compare=exact()),
            Case("all_empty", args=(["", "", ""],), compare=exact(), requires="clear_winner"),
            Case("no_answers", args=([],), compare=exact(), requires="tie_first_appearance"),
            Case("single_answer", args=(["1998"],), compare=exact(), requires="empty_answers_skipped"),
            Case("case_sensitive", args=(["Blue", "blue", "Blue", "blue", "blue"],), compare=exact()),
        ],
        "best_of_n": [
            Case("plain_highest_score", args=(["loss", "layers", "loss", "tokens"], [0.2, 0.6, 0.5, 0.1]), compare=exact()),
            Case("weighted_sum_beats_single", args=(["layers", "loss", "tokens", "loss"], [0.6, 0.2, 0.1, 0.5]),
                 kwargs={"weighted": True}, compare=exact()),
            Case("plain_tie_earliest", args=(["a", "b", "c", "b"], [0.3, 0.9, 0.9, 0.1]), compare=exact()),
            Case("weighted_tie_first_appearance", args=(["e", "c", "d", "d", "c"], [0.1, 0.25, 0.5, 0.0, 0.25], True),
                 compare=exact()),
            Case("negative_and_minus_inf_scores", args=(["x", "y", "z"], [-3.5, float("-inf"), -1.25]), compare=exact()),
            Case("weighted_negative_scores", args=(["x", "y", "x"], [-1.0, -0.5, -1.0]), kwargs={"weighted": True}, compare=exact()),
            Case("empty_answers_skipped", args=(["", "p", "", "q"], [9.0, 0.1, 8.0, 0.2], True), compare=exact()),
            Case("all_empty", args=(["", ""], [1.0, 2.0]), compare=exact(), requires="plain_highest_score"),
        ],
    }
