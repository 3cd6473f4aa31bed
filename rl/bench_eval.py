"""Evaluation throughput: HF `generate` vs vLLM in-process, side by side in one process.

Runs the real evaluation path (`rl.evaluate.evaluate_samples`: generate + harness scoring) on
one task's eval split with the embedded default model (smollm2-135m), once per backend, and
reports samples/s, completion tokens/s, engine start-up time and the vLLM/HF ratio. Greedy
decoding, so both backends do the same work (and should produce the same completions).

    python -m rl.bench_eval                                   # 50 support_classification
    python -m rl.bench_eval --n 50 --max-new-tokens 32 --out benchmarks/results/eval_throughput.md
    python -m rl.bench_eval --lora      # adds vLLM + a rank-16 LoRARequest (CPU path ~5x slower)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any


def _machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}"


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


def run_backend(name: str, make_engine, task, samples, sampling) -> dict[str, Any]:
    """Start the engine, evaluate `samples`, close it; timings and the task metric."""
    from rewards import Harness
    from rl.evaluate import evaluate_samples
    from rl.report import summarize_task

    t0 = time.perf_counter()
    engine = make_engine()
    start_s = time.perf_counter() - t0
    timings: dict[str, float] = {}
    try:
        recs = evaluate_samples(engine, task, samples, Harness(task.rubric()), sampling,
                                chunk_size=len(samples), progress=False, timings=timings)
    finally:
        engine.close()
    tokens = sum(r["n_tokens"] for r in recs)
    total = timings["generate_s"] + timings["score_s"]
    s = summarize_task(recs, task.metric, task.scale)
    return {"backend": name, "start_s": start_s, "generate_s": timings["generate_s"],
            "score_s": timings["score_s"], "samples_per_s": len(recs) / total,
            "tokens_per_s": tokens / timings["generate_s"], "tokens": tokens,
            "metric": s["value"], "errors": s["errors"],
            "completions": [r["completion"] for r in recs]}


def render(rows: list[dict[str, Any]], args: argparse.Namespace, machine: str) -> str:
    hf = next(r for r in rows if r["backend"] == "hf")
    lines = [
        "# Evaluation throughput: HF generate vs vLLM in-process", "",
        f"- machine: {machine}", f"- command: `{' '.join(['python -m rl.bench_eval', *sys.argv[1:]])}`",
        f"- model: smollm2-135m (fp32), task: {args.task}, {args.n} eval samples, greedy, "
        f"max_new_tokens={args.max_new_tokens}, HF batch size {args.batch_size}, "
        "OMP_NUM_THREADS=1", "",
        "| backend | start-up s | generate s | score s | samples/s | completion tok/s | "
        "vs HF | metric | completions equal to HF |",
        "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        same = sum(a == b for a, b in zip(r["completions"], hf["completions"], strict=True))
        lines.append(f"| {r['backend']} | {r['start_s']:.1f} | {r['generate_s']:.1f} | "
                     f"{r['score_s']:.2f} | {r['samples_per_s']:.2f} | {r['tokens_per_s']:.1f} | "
                     f"{r['samples_per_s'] / hf['samples_per_s']:.2f}x | {r['metric']:.3f} | "
                     f"{same}/{len(hf['completions'])} |")
    lines += ["", "samples/s = samples / (generate + score) seconds, engine start-up excluded "
              "(reported separately). Shared 2-core machine: trust ratios, not seconds.", ""]
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
    rows = [run_backend("hf", lambda: HFEngine.from_cfg(cfg), task, samples, sampling),
            run_backend("vllm", lambda: VLLMEngine(model_path, enable_lora=False),
                        task, samples, sampling)]
    if args.lora:
        import tempfile

        adapter = _random_adapter(model_path, Path(tempfile.mkdtemp()) / "r16")

        def lora_engine():
            e = VLLMEngine(model_path, enable_lora=True, max_lora_rank=16)
            e.load_adapter(adapter, version=1)
            return e

        rows.append(run_backend("vllm + LoRA r16", lora_engine, task, samples, sampling))
    md = render(rows, args, _machine())
    print(md)
    print(f"vLLM / HF samples/s ratio: {rows[1]['samples_per_s'] / rows[0]['samples_per_s']:.2f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(md)


if __name__ == "__main__":
    main()
