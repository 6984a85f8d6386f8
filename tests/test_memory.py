"""The memory estimate's formulas against real tensors of a tiny Gemma-2."""
import time

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


def _gpu_runs():
    from helpers.offline import bench

    runs = bench.gpu_runs()
    assert runs, "data/benchmarks/fullsize_*.json (measured on a GPU) are committed and must be there"
    return runs


def test_each_workload_estimate_is_within_a_third_of_its_gpu_measurement():
    """The estimate against ``torch.cuda.max_memory_allocated`` of the real-size model (committed H100 runs)."""
    for run in _gpu_runs():
        names = {w["name"] for w in run["workloads"]}
        assert names == {w.name for w in memory.COURSE_WORKLOADS}, "re-measure after changing COURSE_WORKLOADS"
        for w in run["workloads"]:
            assert 0.67 < w["estimate_gb"] / w["measured_gb"] < 1.5, w
        # the whole course (LM + SAE + steps) stays under the estimate that omits nothing it measured
        assert run["cuda_max_memory_allocated_gb"] < run["estimate_peak_gb_fp16_course"], run


def test_measure_workload_runs_each_kind_of_step_on_a_tiny_model():
    from helpers.offline import fullsize

    torch.manual_seed(0)
    model = Gemma2ForCausalLM(Gemma2Config(**TINY)).eval()
    for work in (memory.Workload("cached", batch=2, seq_len=12, cached=True, new_tokens=4),
                 memory.Workload("attn", batch=1, seq_len=9, cached=False, attentions=True)):
        row = fullsize.measure_workload(model, work)
        assert row["name"] == work.name and row["seconds"] > 0
        assert row["estimate_gb"] == memory.workload_bytes(model.config, work, 4) / memory.GB
        assert "measured_gb" not in row  # CPU: time only


def test_gpu_section_renders_every_run_and_step():
    from helpers.offline import bench

    runs = _gpu_runs()
    text = "\n".join(bench.gpu_section(runs))
    assert bench.gpu_section([]) == []
    for run in runs:
        assert f"| {run['dtype']} | {run['cuda_max_memory_allocated_gb']:.2f} GB |" in text
    assert text.count("\n| 0") == len(runs[0]["workloads"])


def test_bench_records_the_hosts_speed_at_the_start_and_end_of_a_run():
    from helpers.offline import bench

    start = time.perf_counter()
    speed = bench.host_speed(0.05)
    assert time.perf_counter() - start >= 0.05 and speed > 0  # it runs for (at least) the time asked
    assert bench.host_speed_lines({}) == []  # a run made before the reference existed says nothing of it
    line, blank = bench.host_speed_lines({"host_speed_start": 31.6, "host_speed_end": 22.4})
    assert "32 M iterations/s at the start, 22 M/s at the end" in line and blank == ""
