"""Self-checks for the exercises: a wrong answer raises ``AssertionError`` with a specific hint
(so nbval fails on it); a right one prints a short ✓ line.

One module per notebook (``nb01`` … ``nb08``), the shared pieces in ``common``. A check tests
properties and compares with values pinned when the course is built (``data/checks/NN.json``,
``make check-data``); no check computes an exercise's answer.
"""
from __future__ import annotations

from helpers.checks.common import ok, require
from helpers.checks.nb01 import check_coherence, check_generate_answer, check_prompt_ids
from helpers.checks.nb02 import check_chat_round, check_render_prompt, check_top_next_tokens
from helpers.checks.nb03 import check_token_table
from helpers.checks.nb04 import (check_sample_with_filter, check_self_bleu, check_top_k_filter, check_top_p_filter)
from helpers.checks.nb05 import check_mean_pool, check_word_vector
from helpers.checks.nb06 import check_attention_labels, check_generation_attention
from helpers.checks.nb07 import (check_activations_across_layers, check_feature_activations,
                                 check_fraction_of_variance_unexplained, check_hidden_index, check_jumprelu_encode)
from helpers.checks.nb08 import (check_attention_from_scratch, check_best_of_n, check_differential_attention,
                                 check_majority_vote)

__all__ = ["ok", "require", "check_prompt_ids", "check_generate_answer", "check_coherence", "check_render_prompt",
           "check_chat_round", "check_top_next_tokens", "check_token_table", "check_top_k_filter", "check_top_p_filter",
           "check_sample_with_filter", "check_self_bleu", "check_mean_pool", "check_word_vector",
           "check_generation_attention", "check_attention_labels", "check_hidden_index", "check_jumprelu_encode",
           "check_feature_activations", "check_activations_across_layers", "check_fraction_of_variance_unexplained",
           "check_attention_from_scratch", "check_differential_attention", "check_majority_vote", "check_best_of_n"]
