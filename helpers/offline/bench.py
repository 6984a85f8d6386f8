"""Benchmarks (``make bench``): measured ratios on the offline backend, nbval times, and the T4 estimate.

Writes ``build/bench.json`` and the table in ``BENCHMARKS.md``. Every number is measured in this
run (median of ``--repeats``) except ``t4_peak_gb_estimate``, which is computed from Gemma-2-2b's
real config by :mod:`helpers.offline.memory` and labelled as an estimate.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import tempfile
import sys
import time
from pathlib import Path

import torch

from helpers import attention, backend, generation
from helpers.offline import memory
from helpers.assets import REPO_ROOT

PARAPHRASE_PROMPT = (
    "Generate a paraphrase of the sentence 'Professor Lee is one of the best teachers in the domain of "
    "machine learning'. Just response with one sentence."
)


def host_speed(seconds: float = 1.0) -> float:
    """Millions of iterations a second of a fixed pure-Python loop on one core: the host's speed when a run was made.

    Shared machines (a VM beside others) slow down and speed up by a third or more within an hour; ``make bench``
    measures this at its start and end so that two runs' times can be compared (or set aside)."""
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(1000):
            count += 1
    return count / (time.perf_counter() - start) / 1e6


def host_speed_lines(env: dict) -> list[str]:
    """BENCHMARKS.md's sentence on the host's speed at the run's start and end (none for a run that lacks them)."""
    if "host_speed_start" not in env:
        return []
    return [f"Host speed (`host_speed`, a fixed pure-Python loop on one core): {env['host_speed_start']:.0f} M "
            f"iterations/s at the start, {env['host_speed_end']:.0f} M/s at the end of this run; times here scale "
            "with it.", ""]


def median_time(fn, repeats: int) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@torch.no_grad()
def _sample(model, tokenizer, prompt: str, n: int, max_new_tokens: int, seed: int, one_by_one: bool) -> list[str]:
    """``n`` top-k=50 samples of the templated ``prompt``: one batched ``generate`` call, or ``n`` calls.

    The benchmark's own sampler (the notebook's is exercise 4.3): it only has to be the same work
    done both ways, stopping on ``<eos>`` and ``<end_of_turn>``.
    """
    generation.check_positive(n, "n (number of samples)")
    encoding = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                             return_tensors="pt", return_dict=True)
    inputs = {k: encoding[k].to(model.device) for k in ("input_ids", "attention_mask")}
    kwargs = dict(max_new_tokens=max_new_tokens, eos_token_id=[1, 107], pad_token_id=tokenizer.pad_token_id,
                  do_sample=True, temperature=1.0, top_k=50, top_p=1.0)
    prompt_len = inputs["input_ids"].shape[1]
    with generation.seeded(seed):
        if one_by_one:
            outputs = [model.generate(**inputs, **kwargs)[0, prompt_len:] for _ in range(n)]
        else:
            outputs = list(model.generate(**inputs, num_return_sequences=n, **kwargs)[:, prompt_len:])
    return [tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in outputs]


def time_batched_vs_loop(model, tokenizer, prompt: str, n: int = 20, max_new_tokens: int = 30, repeats: int = 3) -> dict[str, float]:
    """Median seconds of ``n`` samples from one ``generate`` call and from ``n`` calls, and their ratio.

    Both use the same prompt, seeds and filter (top_k=50) and stop at ``<end_of_turn>``; the
    batched call runs until its longest sample ends, so the ratio is what a student really saves.
    """
    generation.check_positive(repeats, "repeats")
    batched, loop = [], []
    for repeat in range(repeats):
        start = time.perf_counter()
        _sample(model, tokenizer, prompt, n, max_new_tokens, seed=repeat, one_by_one=False)
        batched.append(time.perf_counter() - start)
        start = time.perf_counter()
        _sample(model, tokenizer, prompt, n, max_new_tokens, seed=repeat, one_by_one=True)
        loop.append(time.perf_counter() - start)
    batched_s, loop_s = statistics.median(batched), statistics.median(loop)
    return {"batched_s": batched_s, "loop_s": loop_s, "ratio": loop_s / batched_s}


def bench_sampling(model, tokenizer, repeats: int) -> dict:
    """20 samples in one batched ``generate`` vs 20 calls (same prompt, top_k=50, 30 new tokens)."""
    result = time_batched_vs_loop(model, tokenizer, PARAPHRASE_PROMPT, n=20, max_new_tokens=30, repeats=repeats)
    return {"batched_s": result["batched_s"], "loop_s": result["loop_s"], "sampling_batched_speedup": result["ratio"]}


def bench_attention(model, tokenizer, repeats: int, layer: int = 10, new_tokens: int = 20) -> dict:
    """Time of the attention rows of a 20-token generation: the homework's KV-cache loop with
    ``output_attentions`` at every step, vs ``generate`` (KV cache) + one forward with attentions."""

    @torch.no_grad()
    def one_pass():  # the bench's own copy of the route of exercise 6.1 (the notebook's is the student's)
        gen = attention.greedy_generate(model, tokenizer, "Google ", max_new_tokens=new_tokens, stop_at_eos=False)
        return model(gen.input_ids[:, :-1].to(model.device), output_attentions=True).attentions[layer]

    loop = attention.homework_attention_loop(model, tokenizer, "Google ", new_tokens, layer)
    one_pass_s = median_time(one_pass, repeats)
    loop_s = median_time(lambda: attention.homework_attention_loop(model, tokenizer, "Google ", new_tokens, layer), repeats)
    return {
        "attention_one_pass_forwards": 1,
        "attention_homework_forwards": loop.forwards,
        "attention_one_pass_s": one_pass_s,
        "attention_homework_loop_s": loop_s,
        "attention_time_ratio": loop_s / one_pass_s,
    }


def bench_grading(submissions: int = 4, jobs: int = 2) -> dict:
    """Seconds to grade full submissions (every notebook solved) in the sandbox, after the instructor run."""
    import tempfile

    import nbformat

    from helpers import handin
    from helpers.coursework import authoring
    from helpers.coursework.grading import grader

    course = grader.load_course()
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp_path = Path(tmp)
        folder = tmp_path / "notebooks"
        folder.mkdir()
        for name in course.specs:
            nb = nbformat.read(REPO_ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
            (folder / f"{name}.ipynb").write_text(authoring.render(authoring.make_student(nb, name, set(), False)))
        zips = [handin.build_zip(f"bench{i}", folder, tmp_path / "zips") for i in range(submissions)]
        start = time.perf_counter()
        grader.grade_all(zips[:1], tmp_path / "warm", course=course, cache_dir=tmp_path / "cache")
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        records = grader.grade_all(zips, tmp_path / "out", jobs=jobs, course=course, cache_dir=tmp_path / "cache")
        wall_s = time.perf_counter() - start
    scores = {r["score"] == r["max_score"] for r in records}
    per = statistics.median(r["seconds"] for r in records)
    return {"grading_seconds_per_submission": per, "grading_wall_seconds": wall_s, "grading_submissions": submissions,
            "grading_jobs": jobs, "grading_first_run_with_instructor_s": first_s,
            "grading_class_hours_1000": 1000 * wall_s / submissions / 3600, "grading_all_full_marks": scores == {True}}


def _pytest(args: list[str]) -> tuple[float, int]:
    """Wall seconds and exit code of one pytest run, offline backend, as ``make test`` runs it."""
    env = dict(os.environ, LAB_BACKEND="offline", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    start = time.perf_counter()
    code = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    return time.perf_counter() - start, code


def suite_groups(junit_xml: str) -> dict[str, float]:
    """Seconds per test file (a notebook counts as one file) from a pytest JUnit report, largest first."""
    import xml.etree.ElementTree as ET

    groups: dict[str, float] = {}
    for case in ET.fromstring(junit_xml).iter("testcase"):
        classname = case.get("classname", "")
        if ".ipynb" in classname or classname.startswith("notebooks"):
            group = "nbval " + classname.split(".")[1] if "." in classname else classname
        else:
            group = classname.replace(".", "/") + ".py" if classname else case.get("name", "?")
        groups[group] = groups.get(group, 0.0) + float(case.get("time", 0.0))
    return dict(sorted(groups.items(), key=lambda item: -item[1]))


def bench_tests(workers: int = 2) -> dict:
    """The whole suite as ``make test`` runs it (``workers`` xdist workers): wall seconds, and seconds per file."""
    notebooks = sorted(p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "notebooks").glob("[0-9]*.ipynb"))
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        seconds, code = _pytest(["-n", str(workers), "--nbval-lax", "--nbval-current-env", f"--junitxml={report}",
                                 "tests", *notebooks])
        groups = suite_groups(report.read_text()) if report.is_file() else {}
    return {"make_test_pytest_seconds": seconds, "make_test_workers": workers, "suite_seconds_per_file": groups,
            "test_failures": ["make test"] if code else []}


def markdown(results: dict) -> str:
    """The BENCHMARKS.md text for one run."""
    env = results["environment"]
    lines = [
        "# Benchmarks", "",
        "Written by `make bench` (`python -m helpers.offline.bench`); numbers from the run described below. "
        "Ratios are medians of repeated runs in one process; the T4 figure is an *estimate* computed "
        "from Gemma-2-2b's config (`helpers/offline/memory.py`), not a measurement.", "",
        f"Machine: {env['machine']}, {env['cpus']} CPU cores, torch {env['torch']}, transformers "
        f"{env['transformers']}, Python {env['python']}; date {env['date']}; repeats {env['repeats']}.", "",
        *host_speed_lines(env),
        "| measure | value | goal |", "|---|---|---|",
        f"| sampling_batched_speedup (20 samples, 1 call vs 20 calls, offline, CPU) | {results['sampling_batched_speedup']:.1f}× "
        f"({results['loop_s']:.2f} s vs {results['batched_s']:.2f} s) | ≥ 8 |",
        f"| attention rows, 20 tokens: homework's KV-cache loop ({results['attention_homework_forwards']} forwards with "
        f"attentions) / generate + {results['attention_one_pass_forwards']} forward with attentions, time ratio | "
        f"{results['attention_time_ratio']:.1f}× | |",
    ]
    if "make_test_pytest_seconds" in results:
        groups = results["suite_seconds_per_file"]
        lines.append(f"| make test's pytest run, {results['make_test_workers']} workers (wall) | "
                     f"{results['make_test_pytest_seconds']:.0f} s | < 300 s with the set-up |")
        lines.append(f"| the suite's test time, all workers together | {sum(groups.values()):.0f} s | |")
        nbval = sum(v for k, v in groups.items() if k.startswith("nbval "))
        lines.append(f"| of which nbval, every notebook | {nbval:.0f} s | |")
        for name, seconds in list(groups.items())[:12]:
            lines.append(f"| suite time: {name} | {seconds:.1f} s | |")
    if "grading_seconds_per_submission" in results:
        lines += [
            f"| grading_seconds_per_submission (all {len(list((REPO_ROOT / 'data' / 'grading').glob('[0-9]*.json')))} notebooks, "
            f"bubblewrap sandbox, median of {results['grading_submissions']}) | {results['grading_seconds_per_submission']:.1f} s | ≤ 30 s |",
            f"| grading throughput, {results['grading_submissions']} submissions with -j {results['grading_jobs']} | "
            f"{results['grading_wall_seconds']:.1f} s wall → {results['grading_class_hours_1000']:.1f} h for 1,000 students on one machine | |",
            f"| first grading run (instructor solutions on the hidden cases, then one submission) | "
            f"{results['grading_first_run_with_instructor_s']:.1f} s | |",
        ]
    t4 = results["t4"]
    lines += [
        f"| t4_peak_gb_estimate (Gemma-2-2b-it fp16 + cross-encoder + SAE, worst notebook) | {results['t4_peak_gb_estimate']:.2f} GB | < 8 GB (T4: 15 GB) |",
        "", "T4 estimate breakdown (GB): weights " f"{t4['weights_gb']:.2f}, cross-encoder {t4['cross_encoder_gb']:.2f}, "
        f"SAE + its activations {t4['sae_gb']:.2f}, worst workload '{t4['worst_workload']}' "
        f"{t4['workloads_gb'][t4['worst_workload']]:.2f}; CUDA context (~0.3–0.5 GB) not included.", "",
    ]
    if results.get("fullsize"):
        lines += ["## Full-size check (`make fullsize`)", "", "```", json.dumps(results["fullsize"], indent=2), "```", ""]
    lines += gpu_section(results.get("fullsize_gpu", []))
    return "\n".join(lines)


GPU_RUNS = REPO_ROOT / "data" / "benchmarks"


def gpu_runs() -> list[dict]:
    """The committed ``fullsize --workloads`` runs measured on a GPU (float16 first)."""
    return [json.loads(f.read_text()) for f in sorted(GPU_RUNS.glob("fullsize_*.json"), reverse=True)]


def gpu_section(runs: list[dict]) -> list[str]:
    """Markdown for full-size runs measured on a GPU (``fullsize --workloads`` JSON files kept in data/benchmarks)."""
    if not runs:
        return []
    lines = ["## Full-size Gemma-2-2b (random weights) measured on a GPU", "",
             "Measured with `python -m helpers.offline.fullsize --dtype D --workloads --new-tokens 32` on "
             f"{runs[0]['gpu']} (torch {runs[0]['torch']}); files in `data/benchmarks/`. Memory is what PyTorch "
             "allocates (`torch.cuda.max_memory_allocated`), so it carries over to a T4 (cuBLAS workspaces aside); times do not (an H100 is "
             "many times faster than a T4).", "",
             "| dtype | peak allocated (LM + SAE + steps) | course estimate (fp16, + cross-encoder) | s / token (greedy, batch 1) |",
             "|---|---|---|---|"]
    lines += [f"| {r['dtype']} | {r['cuda_max_memory_allocated_gb']:.2f} GB | {r['estimate_peak_gb_fp16_course']:.2f} GB | "
              f"{r['seconds_per_token'] * 1000:.0f} ms |" for r in runs]
    lines += ["", "Each notebook's largest step, above the weights (first run's dtype):", "",
              "| step | estimate | measured | seconds |", "|---|---|---|---|"]
    lines += [f"| {w['name']} | {w['estimate_gb'] * 1000:.0f} MB | {w['measured_gb'] * 1000:.0f} MB | {w['seconds']:.2f} |"
              for w in runs[0].get("workloads", [])]
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; write build/bench.json and BENCHMARKS.md."""
    import transformers

    parser = argparse.ArgumentParser(description="Course benchmarks on the offline backend.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-tests", action="store_true", help="skip the nbval/unit-test timings")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "bench.json")
    parser.add_argument("--markdown", type=Path, default=REPO_ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    speed_start = host_speed()
    torch.manual_seed(0)
    model, tokenizer = backend.load_lm("offline")
    results: dict = {}
    results.update(bench_sampling(model, tokenizer, args.repeats))
    results.update(bench_attention(model, tokenizer, args.repeats))
    results.update(bench_grading())
    if not args.skip_tests:
        results.update(bench_tests())
    t4 = memory.course_peak(memory.gemma2_2b_config())
    results["t4_peak_gb_estimate"], results["t4"] = t4["peak_gb"], t4
    fullsize = REPO_ROOT / "build" / "fullsize.json"
    if fullsize.is_file():
        results["fullsize"] = json.loads(fullsize.read_text())
    results["fullsize_gpu"] = gpu_runs()
    results["environment"] = {
        "machine": platform.machine(), "cpus": os.cpu_count(), "torch": torch.__version__,
        "transformers": transformers.__version__, "python": platform.python_version(),
        "date": datetime.date.today().isoformat(), "repeats": args.repeats,
        "host_speed_start": speed_start, "host_speed_end": host_speed(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results)
    args.markdown.write_text(text)
    print(text)
    return 1 if results.get("test_failures") or not results.get("grading_all_full_marks", True) else 0


if __name__ == "__main__":
    sys.exit(main())
