"""The memory estimate's formulas against real tensors of a tiny Gemma-2."""
import torch
from transformers import Gemma2Config, Gemma2ForCausalLM

from helpers.offline import memory

TINY = dict(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
            num_key_value_heads=2, head_dim=8, sliding_window=64, max_position_embeddings=128)


def test_param_count_matches_a_real_model():
    config = Gemma2Config(**TINY)
    model = Gemma2ForCausalLM(config)
    assert memory.gemma2_param_count(config) == sum(p.numel() for p in model.parameters())


def test_gemma2_2b_has_its_published_size():
    assert memory.gemma2_param_count(memory.gemma2_2b_config()) == 2_614_341_888


def test_kv_cache_formula_matches_the_cache_generate_builds():
    torch.manual_seed(0)
    config = Gemma2Config(**TINY)
    model = Gemma2ForCausalLM(config).eval()
    ids = torch.randint(5, 300, (3, 10))
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=True)
    cache = out.past_key_values
    actual = sum(layer.keys.numel() * layer.keys.element_size() + layer.values.numel() * layer.values.element_size()
                 for layer in cache.layers)
    assert actual == memory.kv_cache_bytes(config, batch=3, seq_len=10, dtype_bytes=4)


def test_course_peak_on_gemma_fp16_fits_a_t4():
    report = memory.course_peak(memory.gemma2_2b_config())
    assert 5.2 < report["weights_gb"] < 5.3
    assert report["peak_gb"] < 8, report
    assert report["peak_gb"] > report["weights_gb"] + report["sae_gb"]
