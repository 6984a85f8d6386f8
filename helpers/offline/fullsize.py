"""Full-size check: a randomly initialised Gemma-2-2b (the real config, written in code) and a random
SAE of Gemma Scope's size (2304 x 16384), run through the same helpers the notebooks use.

Nothing is downloaded: the weights are random, so the *text* is meaningless, but shapes, dtypes,
memory and time per token are those of the real model. This catches bugs in the gemma path
that the small offline model cannot (vocabulary of 256,000, d_model 2304, head_dim 256).

    python -m helpers.offline.fullsize [--dtype float32|float16|bfloat16] [--new-tokens 8] [--workloads]
                                       [--out build/fullsize.json]

On CPU the default dtype is float32 (about 10.5 GB of RAM); on a GPU it is the backend's rule
(float16 on a T4) and ``torch.cuda.max_memory_allocated`` is reported next to the estimate of
:mod:`helpers.offline.memory`.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import torch

from helpers import attention, backend
from helpers.offline import memory, reference
from helpers.assets import offline_dir
from helpers.sae import JumpReLUSAE

CHAT_PROMPT = "Name a color in a rainbow, please just answer in a word without any emoji."
ATTENTION_PROMPT, ATTENTION_LAYER = "Google", 10
SAE_TEXT = "Time travel offers me the opportunity to correct past errors, but it comes with its own set of risks."


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def random_gemma2_2b(dtype: torch.dtype, dev: torch.device):
    """``Gemma2ForCausalLM`` of the real 2B config with random weights, eager attention, on ``dev``."""
    from transformers import Gemma2ForCausalLM

    torch.manual_seed(0)
    with dev:  # initialise on the device: 2.6 B random numbers take minutes on a CPU
        model = Gemma2ForCausalLM._from_config(memory.gemma2_2b_config(), dtype=dtype, attn_implementation="eager")
    model.generation_config.eos_token_id = list(backend.STOP_TOKEN_IDS)
    model.generation_config.pad_token_id = backend.PAD_ID
    return model.to(dev).eval()


def random_sae(d_model: int, d_sae: int, dev: torch.device) -> JumpReLUSAE:
    """A JumpReLU SAE of Gemma Scope's shape with random weights (float32, like the real one)."""
    generator = torch.Generator().manual_seed(0)
    sae = JumpReLUSAE(d_model, d_sae)
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(d_model, d_sae, generator=generator) / d_model**0.5)
        sae.W_dec.copy_(torch.randn(d_sae, d_model, generator=generator) / d_sae**0.5)
        sae.threshold.fill_(0.5)
    return sae.requires_grad_(False).to(dev)


@torch.no_grad()
def _greedy_ids(model, inputs: dict, max_new_tokens: int, **kwargs) -> torch.Tensor:
    """The new token ids of a greedy ``generate`` (fullsize's own copy: greedy answers are exercises)."""
    inputs = {k: v.to(model.device) for k, v in inputs.items()}
    out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, **kwargs)
    return out[:, inputs["input_ids"].shape[1]:]


@torch.no_grad()
def measure_workload(model, work: memory.Workload) -> dict:
    """Run one of the course's largest steps on ``model``; peak bytes allocated above the weights, and seconds.

    Token ids are random (the weights are too): memory and time depend on shapes, not on text.
    On CPU only the time is meaningful.
    """
    dev = model.device
    generator = torch.Generator().manual_seed(0)
    prompt_len = work.seq_len - work.new_tokens if work.cached else work.seq_len
    ids = torch.randint(3, model.config.vocab_size, (work.batch, prompt_len), generator=generator).to(dev)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev)
    start = time.perf_counter()
    if work.cached:
        model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=work.new_tokens,
                       min_new_tokens=work.new_tokens, do_sample=False)
    else:
        out = model(ids, output_attentions=work.attentions, output_hidden_states=work.hidden_states)
        del out
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - start
    row = {"name": work.name, "seconds": seconds, "estimate_gb": memory.workload_bytes(model.config, work,
                                                                                           model.dtype.itemsize) / memory.GB}
    if dev.type == "cuda":
        row["measured_gb"] = (torch.cuda.max_memory_allocated(dev) - before) / memory.GB
    return row


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def run(dtype: torch.dtype | None = None, new_tokens: int = 8, workloads: bool = False) -> dict:
    """Run the chat, attention and SAE steps on the random full-size model; return measurements."""
    from transformers import AutoTokenizer

    dev = backend.device()
    dtype = dtype or backend.pick_dtype(dev.type, torch.cuda.get_device_capability(dev) if dev.type == "cuda" else None)
    # Gemma's tokenizer cannot be downloaded here: the offline one has Gemma's special ids,
    # template and ids < 256,000, which is all the model needs.
    tokenizer = AutoTokenizer.from_pretrained(offline_dir() / "lm")
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    model, init_s = _timed(lambda: random_gemma2_2b(dtype, dev))
    config = model.config
    sae = random_sae(config.hidden_size, memory.GEMMA_SCOPE_D_SAE, dev)
    results: dict = {"device": str(dev), "dtype": str(dtype).replace("torch.", ""), "init_s": init_s,
                     "params": sum(p.numel() for p in model.parameters())}

    # 1. chat prompt -> a few generated tokens (min_new_tokens: random weights may pick <eos> at once)
    inputs = dict(tokenizer.apply_chat_template([{"role": "user", "content": CHAT_PROMPT}], add_generation_prompt=True,
                                                return_tensors="pt", return_dict=True))
    _greedy_ids(model, inputs, 1)  # warm-up
    _, gen_s = _timed(lambda: _greedy_ids(model, inputs, new_tokens, min_new_tokens=new_tokens))
    results.update(prompt_tokens=int(inputs["input_ids"].shape[1]), new_tokens=new_tokens,
                   seconds_per_token=gen_s / new_tokens)

    # 2. attention rows of a greedy generation from ONE forward (eager attention)
    gen = attention.greedy_generate(model, tokenizer, ATTENTION_PROMPT, max_new_tokens=new_tokens)
    rows, attn_s = _timed(lambda: reference.generation_attention_rows(model, gen.input_ids, gen.prompt_len, ATTENTION_LAYER))
    expected = (config.num_attention_heads, len(gen.generated_ids), gen.input_ids.shape[1] - 1)
    assert tuple(rows.shape) == expected, f"attention rows {tuple(rows.shape)} != {expected}"
    assert torch.allclose(rows.sum(-1), torch.ones(()), atol=1e-2), "attention rows do not sum to 1"
    results.update(attention_rows_shape=list(rows.shape), attention_forward_s=attn_s)

    # 3. resid_post of layer 20 -> SAE features
    ids = tokenizer(SAE_TEXT, return_tensors="pt")["input_ids"]
    resid, resid_s = _timed(lambda: reference.decoder_layer_outputs(model, ids, [backend.SAE_LAYER])[backend.SAE_LAYER][0])
    acts = reference.jumprelu(resid, sae.W_enc, sae.b_enc, sae.threshold)
    assert tuple(resid.shape) == (ids.shape[1], config.hidden_size), f"resid_post shape {tuple(resid.shape)}"
    assert tuple(acts.shape) == (ids.shape[1], memory.GEMMA_SCOPE_D_SAE)
    assert torch.isfinite(resid).all() and torch.isfinite(acts).all(), "non-finite activations"
    results.update(resid_post_shape=list(resid.shape), sae_acts_shape=list(acts.shape), resid_forward_s=resid_s,
                   sae_mean_l0=float((acts > 0).float().sum(-1).mean()))

    if workloads:  # each notebook's largest step, measured next to memory.workload_bytes' estimate
        results["workloads"] = [measure_workload(model, work) for work in memory.COURSE_WORKLOADS]

    results["peak_rss_gb"] = peak_rss_gb()
    if dev.type == "cuda":
        results["cuda_max_memory_allocated_gb"] = torch.cuda.max_memory_allocated() / 1e9
        results["gpu"] = torch.cuda.get_device_name(dev)
    results["estimate_peak_gb_fp16_course"] = memory.course_peak(config)["peak_gb"]
    results["torch"], results["python"] = torch.__version__, platform.python_version()
    return results


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; prints a table and writes JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=sorted(backend.VALID_DTYPES), default=None)
    parser.add_argument("--new-tokens", type=int, default=8)
    parser.add_argument("--workloads", action="store_true",
                        help="also run each notebook's largest step (memory.COURSE_WORKLOADS) and measure it")
    parser.add_argument("--out", type=Path, default=Path("build/fullsize.json"))
    args = parser.parse_args(argv)
    if args.new_tokens < 1:
        parser.error("--new-tokens must be at least 1")
    results = run(backend.VALID_DTYPES[args.dtype] if args.dtype else None, args.new_tokens, args.workloads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for key, value in results.items():
        print(f"{key:32s} {value:.3f}" if isinstance(value, float) else f"{key:32s} {value}")
    print(f"full-size check passed; written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
