"""GPU memory estimates computed from model configs (not guessed), for planning a T4 session.

``course_peak(gemma2_2b_config())`` adds, for the worst notebook, the LM weights, its KV
cache, the activations the notebook asks for (attentions, hidden states, logits), and the
cross-encoder and SAE held beside the LM. It counts tensors PyTorch allocates
(``torch.cuda.max_memory_allocated``); the CUDA context (~0.3–0.5 GB) comes on top.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

GB = 1e9

# Real sizes, written in code because nothing here can download the configs.
MS_MARCO_MINILM_L6_PARAMS = 22_713_601  # cross-encoder/ms-marco-MiniLM-L-6-v2 (BERT, 6 layers, 384 wide)
GEMMA_SCOPE_D_SAE = 16_384


def gemma2_2b_config():
    """``Gemma2Config`` of google/gemma-2-2b(-it), written out (26 layers, d_model 2304, vocab 256000)."""
    from transformers import Gemma2Config

    return Gemma2Config(
        vocab_size=256000, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26,
        num_attention_heads=8, num_key_value_heads=4, head_dim=256, max_position_embeddings=8192,
        sliding_window=4096, query_pre_attn_scalar=256, final_logit_softcapping=30.0,
        attn_logit_softcapping=50.0, hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True,
        pad_token_id=0, eos_token_id=1, bos_token_id=2,
    )


def gemma2_param_count(config) -> int:
    """Parameters of a ``Gemma2ForCausalLM`` with tied embeddings, from its config."""
    d, hd = config.hidden_size, config.head_dim
    attn = d * config.num_attention_heads * hd * 2 + d * config.num_key_value_heads * hd * 2
    mlp = 3 * d * config.intermediate_size
    norms = 4 * d
    return config.vocab_size * d + config.num_hidden_layers * (attn + mlp + norms) + d


def kv_cache_bytes(config, batch: int, seq_len: int, dtype_bytes: int = 2) -> int:
    """Keys + values of every layer for ``batch`` sequences of ``seq_len`` tokens."""
    return 2 * config.num_hidden_layers * batch * config.num_key_value_heads * config.head_dim * seq_len * dtype_bytes


def forward_activation_bytes(config, batch: int, seq_len: int, dtype_bytes: int = 2, *, attentions: bool = False,
                             hidden_states: bool = False, logits_positions: int | None = None) -> int:
    """Tensors one forward keeps or peaks at: returned attentions/hidden states, fp32 logits, the largest transient."""
    layers, heads, d = config.num_hidden_layers, config.num_attention_heads, config.hidden_size
    positions = seq_len if logits_positions is None else logits_positions
    kept = batch * positions * config.vocab_size * 4  # logits, upcast to float32 for soft-capping and sampling
    if attentions:
        kept += layers * batch * heads * seq_len * seq_len * dtype_bytes
    if hidden_states:
        kept += (layers + 1) * batch * seq_len * d * dtype_bytes
    transient = max(
        batch * heads * seq_len * seq_len * 4 * 2,  # eager scores + softmax in float32
        batch * seq_len * config.intermediate_size * dtype_bytes * 3,  # gate, up, product
    )
    return kept + transient


@dataclass(frozen=True)
class Workload:
    """What one notebook runs on the LM at its largest step."""

    name: str
    batch: int
    seq_len: int
    cached: bool  # generation with a KV cache, logits of the last position only
    attentions: bool = False
    hidden_states: bool = False
    new_tokens: int = 0  # of seq_len, the tokens generated (cached workloads)


# The largest step of each notebook on Gemma (token counts rounded up from the prompts used).
COURSE_WORKLOADS = (
    Workload("01 greedy 200-word answer", batch=1, seq_len=40 + 400, cached=True, new_tokens=400),
    Workload("02 third chat round", batch=1, seq_len=120 + 20, cached=True, new_tokens=20),
    Workload("04 20 samples in one generate", batch=20, seq_len=45 + 30, cached=True, new_tokens=30),
    Workload("05 six sentences, hidden states", batch=6, seq_len=16, cached=False, hidden_states=True),
    Workload("06 'Google' + 20 tokens, attentions", batch=1, seq_len=24, cached=False, attentions=True),
    Workload("07 hidden states + SAE", batch=1, seq_len=32, cached=False, hidden_states=True),
)


def workload_bytes(config, work: Workload, dtype_bytes: int = 2) -> int:
    """Activation + cache memory of one workload (weights excluded)."""
    total = forward_activation_bytes(
        config, work.batch, work.seq_len, dtype_bytes, attentions=work.attentions,
        hidden_states=work.hidden_states, logits_positions=1 if work.cached else None,
    )
    if work.cached:
        total += kv_cache_bytes(config, work.batch, work.seq_len, dtype_bytes)
    return total


def course_peak(config, dtype_bytes: int = 2, d_sae: int = GEMMA_SCOPE_D_SAE,
                cross_encoder_params: int = MS_MARCO_MINILM_L6_PARAMS) -> dict:
    """Peak allocated bytes if LM, cross-encoder and SAE are all held and the worst workload runs."""
    weights = gemma2_param_count(config) * dtype_bytes
    sae = (2 * config.hidden_size * d_sae + d_sae * 2 + config.hidden_size) * 4  # float32
    sae_acts = max(w.batch * w.seq_len for w in COURSE_WORKLOADS) * d_sae * 4 * 2
    cross_encoder = cross_encoder_params * 4
    per_workload = {w.name: workload_bytes(config, w, dtype_bytes) for w in COURSE_WORKLOADS}
    worst = max(per_workload, key=per_workload.get)
    peak = weights + cross_encoder + sae + sae_acts + per_workload[worst]
    return {
        "weights_gb": weights / GB, "cross_encoder_gb": cross_encoder / GB, "sae_gb": (sae + sae_acts) / GB,
        "workloads_gb": {k: v / GB for k, v in per_workload.items()}, "worst_workload": worst,
        "peak_gb": peak / GB, "workloads": [asdict(w) for w in COURSE_WORKLOADS],
    }
