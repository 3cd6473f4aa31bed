"""Evaluation throughput: HF `generate` vs vLLM in-process, side by side in one process.

Runs the real evaluation path (`rl.evaluate.evaluate_samples`: generate + harness scoring) on
one task's eval split with the embedded default model (smollm2-135m): every engine is started
first, then they take turns for `--repeats` rounds (so other load on a shared machine hits
them alike); medians give samples/s, completion tokens/s and the ratio to HF, plus engine
start-up time. Greedy decoding, so the backends do the same work and should produce the same
completions (counted against the HF row with the same adapter).

    python -m benchmarks.eval_throughput                                   # 50 support_classification
    python -m benchmarks.eval_throughput --n 50 --max-new-tokens 32 --out benchmarks/results/eval_throughput.md
    python -m benchmarks.eval_throughput --lora      # adds HF + PEFT and vLLM + LoRARequest, rank 16
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import load, machine, median, table


def _random_adapter(model_path: str, out: Path) -> Path:
    """A rank-16 all-linear LoRA adapter with random non-zero weights (the recipes' r16)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                            init_lora_weights=False))
    model.save_pretrained(out)
    return out


def run_once(engine, task, samples, sampling) -> dict[str, Any]:
    """One pass of the real evaluation path: generate + harness scoring."""
    from rewards import Harness
    from rl.evaluate import evaluate_samples
    from rl.report import summarize_task

    timings: dict[str, float] = {}
    recs = evaluate_samples(engine, task, samples, Harness(task.rubric()), sampling,
                            chunk_size=len(samples), progress=False, timings=timings)
    return {"generate_s": timings["generate_s"], "score_s": timings["score_s"],
            "tokens": sum(r["n_tokens"] for r in recs), "n": len(recs),
            "metric": summarize_task(recs, task.metric, task.scale)["value"],
            "completions": [r["completion"] for r in recs]}


def bench(makers: dict[str, Any], task, samples, sampling, repeats: int) -> list[dict]:
    """Start every engine, then run them in interleaved rounds (a, b, a, b, ...) so load
    from other processes on a shared machine hits every backend alike; medians per backend."""
    engines, start = {}, {}
    try:
        for name, make in makers.items():
            t0 = time.perf_counter()
            engines[name] = make()
            start[name] = time.perf_counter() - t0
        runs: dict[str, list[dict]] = {name: [] for name in engines}
        for _ in range(repeats):
            for name, engine in engines.items():
                runs[name].append(run_once(engine, task, samples, sampling))
    finally:
        for engine in engines.values():
            engine.close()
    rows = []
    for name, rs in runs.items():
        gen = median(r["generate_s"] for r in rs)
        score = median(r["score_s"] for r in rs)
        rows.append({"backend": name, "start_s": start[name], "generate_s": gen,
                     "generate_all_s": [round(r["generate_s"], 1) for r in rs],
                     "score_s": score, "samples_per_s": rs[0]["n"] / (gen + score),
                     "tokens_per_s": rs[0]["tokens"] / gen, "metric": rs[0]["metric"],
                     "completions": rs[0]["completions"]})
    return rows


def render(rows: list[dict[str, Any]], args: argparse.Namespace, before: str) -> str:
    by_name = {r["backend"]: r for r in rows}
    cells = []
    for r in rows:
        ref = by_name["hf + LoRA r16" if "LoRA" in r["backend"] else "hf"]
        same = sum(a == b for a, b in zip(r["completions"], ref["completions"], strict=True))
        each = ", ".join(f"{x:.1f}" for x in r["generate_all_s"])
        cells.append([r["backend"], f"{r['start_s']:.1f}", f"{r['generate_s']:.1f} ({each})",
                      f"{r['score_s']:.2f}", f"{r['samples_per_s']:.2f}",
                      f"{r['tokens_per_s']:.1f}",
                      f"{r['samples_per_s'] / ref['samples_per_s']:.2f}x",
                      f"{r['metric']:.3f}", f"{same}/{len(ref['completions'])}"])
    lines = [
        "# Evaluation throughput: HF generate vs vLLM in-process", "",
        f"- machine: {machine()}; {before} before, {load()} after",
        f"- command: `{' '.join(['python -m benchmarks.eval_throughput', *sys.argv[1:]])}`",
        f"- model: smollm2-135m (fp32), task: {args.task}, {args.n} eval samples, greedy, "
        f"max_new_tokens={args.max_new_tokens}, HF batch size {args.batch_size}, "
        "OMP_NUM_THREADS=1", "",
        *table(["backend", "start-up s", "generate s (median; each round)", "score s",
                "samples/s", "completion tok/s", "vs HF (same adapter)", "metric",
                "completions equal to HF's"], cells)]
    lines += ["", f"{args.repeats} interleaved rounds per backend, all engines alive at once; "
              "samples/s = samples / median (generate + score) seconds, engine start-up "
              "excluded (reported separately). Shared 2-core machine: trust ratios, not "
              "seconds.", ""]
    return "\n".join(lines)


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="support_classification")
    p.add_argument("--n", type=int, default=50, help="eval samples")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=16, help="HF sequences per batch")
    p.add_argument("--lora", action="store_true", help="also vLLM with a rank-16 LoRARequest")
    p.add_argument("--repeats", type=int, default=2, help="interleaved rounds per backend")
    p.add_argument("--out", default=None, help="write the markdown table here")
    args = p.parse_args()

    from rewards.tasks import get_task, load_split
    from rl.rollout.base import SamplingConfig
    from rl.rollout.hf_engine import HFEngine
    from rl.rollout.vllm_engine import VLLMEngine
    from sft.model import resolve_model_path

    model_cfg = {"name": "smollm2-135m", "name_or_path": "smollm2-135m", "dtype": "float32"}
    model_path = resolve_model_path(model_cfg)
    task = get_task(args.task)
    samples = load_split({"name": args.task, "n_eval": args.n}, "eval")[: args.n]
    sampling = SamplingConfig(max_new_tokens=args.max_new_tokens)
    cfg = {"model": model_cfg, "rollout": {"engine": "hf", "batch_size": args.batch_size,
                                           "device": "auto"}}
    makers = {"hf": lambda: HFEngine.from_cfg(cfg),
              "vllm": lambda: VLLMEngine(model_path, enable_lora=False)}
    if args.lora:
        import tempfile

        adapter = _random_adapter(model_path, Path(tempfile.mkdtemp()) / "r16")

        def with_adapter(make):
            def build():
                e = make()
                e.load_adapter(adapter, version=1)
                return e
            return build

        makers["hf + LoRA r16"] = with_adapter(lambda: HFEngine.from_cfg(cfg))
        makers["vllm + LoRA r16"] = with_adapter(
            lambda: VLLMEngine(model_path, enable_lora=True, max_lora_rank=16))
    before = load()
    rows = bench(makers, task, samples, sampling, args.repeats)
    md = render(rows, args, before)
    print(md)
    print(f"vLLM / HF samples/s ratio: {rows[1]['samples_per_s'] / rows[0]['samples_per_s']:.2f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(md)


if __name__ == "__main__":
    main()
