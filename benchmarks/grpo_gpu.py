"""One GPU, one GRPO step shape: fused LoRA kernel vs PEFT's reference path, side by side.

A Qwen3-4B-shaped policy (random weights: the lent GPU machines reach no model hub; shapes, not
weights, set the cost) with LoRA r16 on every linear layer runs `--steps` GRPO steps per kernel,
the kernels alternating per repeat. Reported per kernel: completion tokens/s, peak GPU memory,
and the share of step time in rollout / reward / train (medians over steps 2.., repeats).

    python -m benchmarks.grpo_gpu --shape qwen3-4b --steps 4 --repeats 2 \\
        --out benchmarks/results/grpo_gpu.md
    python -m benchmarks.grpo_gpu --shape tiny --steps 3 --repeats 1   # a smoke run

Unmeasured until a GPU is lent (see benchmarks/results/grpo_ranks.md for the CPU side).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks.measure import load, machine, median, table, utc_now

# model.tiny fields of conf/model/tiny-random.yaml giving each shape
SHAPES = {
    "qwen3-4b": {"hidden_size": 2560, "num_layers": 36, "num_heads": 32, "num_kv_heads": 8,
                 "intermediate_size": 9728},
    "tiny": {"hidden_size": 64, "num_layers": 2, "num_heads": 4, "num_kv_heads": 2,
             "intermediate_size": 128},
}


def run(shape: str, kernel: str, steps: int, batch: int, new_tokens: int, run_dir: Path):
    import torch

    from rl.grpo import train
    from sft.cli import compose

    tiny = [f"model.tiny.{k}={v}" for k, v in SHAPES[shape].items()]
    cfg = compose("grpo", ["debug=tiny", "logger=none", "device=cuda", "model.dtype=bfloat16",
                           f"lora.kernel={kernel}", f"run_dir={run_dir}",
                           f"train.max_steps={steps}", f"train.batch_size={batch}",
                           "train.micro_batch_size=8", f"sampling.max_new_tokens={new_tokens}",
                           "train.progress=false", "train.save_every=null", "train.resume=null",
                           *tiny])
    torch.cuda.reset_peak_memory_stats()
    history = train(cfg)["history"][1:]
    return {"tokens_per_s": [h["perf/tokens_per_s"] for h in history],
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30,
            "split": [(h["perf/rollout_s"], h["perf/reward_s"], h.get("perf/train_s", 0.0),
                       h["perf/step_s"]) for h in history]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.grpo_gpu",
                                description=__doc__.split("\n")[0])
    p.add_argument("--shape", choices=sorted(SHAPES), default="qwen3-4b")
    p.add_argument("--steps", type=int, default=4, help="per run; step 1 (warm-up) dropped")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--batch", type=int, default=32, help="completions per step (G=4)")
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("error: needs a CUDA GPU", file=sys.stderr)
        return 2
    before = load()
    results: dict[str, list[dict]] = {"fused": [], "reference": []}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(a.repeats):
            for kernel in (["fused", "reference"] if rep % 2 == 0 else ["reference", "fused"]):
                results[kernel].append(run(a.shape, kernel, a.steps, a.batch, a.new_tokens,
                                           Path(tmp) / f"{kernel}-{rep}"))
    rows = []
    for kernel, runs in results.items():
        tps = median(t for r in runs for t in r["tokens_per_s"])
        split = [s for r in runs for s in r["split"]]
        share = [median(s[i] / s[3] for s in split) for i in range(3)]
        rows.append([kernel, f"{tps:.1f}", f"{max(r['peak_gib'] for r in runs):.2f}",
                     f"{share[0]:.0%} / {share[1]:.0%} / {share[2]:.0%}"])
    md = "\n".join([
        "# GRPO step on one GPU: fused LoRA vs PEFT (benchmarks/grpo_gpu.py)", "",
        f"- {utc_now()}; machine: {machine()}; {before} before, {load()} after",
        f"- command: `python -m benchmarks.grpo_gpu {' '.join(sys.argv[1:])}`",
        f"- shape {a.shape} (random weights, bf16), LoRA r16 all-linear, batch {a.batch}, "
        f"G=4, max_new_tokens {a.new_tokens}, {a.steps} steps x {a.repeats} repeats "
        "(alternating), medians over steps 2..", "",
        *table(["kernel", "tokens/s", "peak GiB", "rollout / reward / train"], rows), ""])
    print(md)
    if a.out:
        Path(a.out).write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
