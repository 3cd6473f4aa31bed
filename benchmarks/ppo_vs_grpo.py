"""Benchmark: PPO vs GRPO on one toy task and budget, and PPO's memory with the critic on the
shared base model vs a separate critic copy.

The toy task (conf/experiment/toy_brevity.yaml, also tests/rl/test_ppo_learning.py's): short
open questions ("Name a fruit.") and a rubric rewarding answers of at most 20 characters; SmolLM2-135M-Instruct (fp32) answers
chattily most of the time, so brevity is learnable in a few steps. Same budget on both sides:
16 completions per step (GRPO: 4 prompts x G=4; PPO: 16 prompts x 1), max 12 new tokens,
policy lr 1e-4 constant, LoRA r16, hf engine, the same seeds. PPO: 2 epochs x 2 minibatches,
beta 0.05, critic lr 1e-3.

Every run is its own process (`--worker`), so its peak RSS (`ru_maxrss`) is its own; the load
average (`os.getloadavg`, what `uptime` prints) is recorded before each run, because the two
CPU cores are shared with other jobs and seconds drift with their load. s/step is the median
over steps 2..N (step 1 carries allocator warm-up).

    OMP_NUM_THREADS=1 python -m benchmarks.ppo_vs_grpo --steps 10 --seeds 0 \\
        --out benchmarks/results/ppo_vs_grpo.md
    OMP_NUM_THREADS=1 python -m benchmarks.ppo_vs_grpo --steps 2 --mem-steps 1      # a quick self-check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import machine, median

# conf/experiment/toy_brevity.yaml: the toy task and the shared budget
EXPERIMENT = "experiment=toy_brevity"

# per side, on top of the experiment: the same 16 completions per step
SIDES = {"grpo": ("grpo", ["algo.num_generations=4"]),
         "ppo": ("ppo", ["critic.lr=1e-3"]),
         "ppo_separate_critic": ("ppo", ["critic.lr=1e-3", "critic.separate_model=smollm2-135m"])}


def worker(side: str, seed: int, steps: int, out_dir: Path) -> dict[str, Any]:
    """One training run in this process: per-step reward and seconds, and the peak RSS."""
    from rl import grpo, ppo
    from sft.cli import compose

    primary, extra = SIDES[side]
    cfg = compose(primary, [EXPERIMENT, "logger=none", "train.progress=false",
                            f"run_dir={out_dir / 'run'}", f"train.max_steps={steps}", *extra,
                            f"seed={seed}"])
    out = (grpo if primary == "grpo" else ppo).train(cfg)
    return {"side": side, "seed": seed,
            "steps": [{"step": h["step"], "reward": h.get("reward/total"),
                       "step_s": h["perf/step_s"], "rollout_s": h["perf/rollout_s"],
                       "train_s": h.get("perf/train_s", 0.0),
                       "explained_var": h.get("value/explained_var")} for h in out["history"]],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def spawn(side: str, seed: int, steps: int, out_dir: Path) -> dict[str, Any]:
    result = out_dir / f"{side}-seed{seed}-{steps}.json"
    load = os.getloadavg()
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "benchmarks.ppo_vs_grpo", "--worker", side, "--seed", str(seed),
                    "--steps", str(steps), "--out-dir", str(out_dir / f"{side}-{seed}-{steps}"),
                    "--result", str(result)], check=True,
                   env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
                        "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1"})
    r = json.loads(result.read_text())
    r |= {"load_before": load, "wall_s": time.perf_counter() - t0}
    print(f"[bench] {side} seed {seed}: {r['wall_s']:.0f} s, load {load[0]:.2f}",
          file=sys.stderr, flush=True)
    return r


def summarize(run: dict[str, Any]) -> dict[str, float]:
    steps = run["steps"]
    body = steps[1:] if len(steps) > 1 else steps
    rewards = [s["reward"] for s in steps]
    k = max(1, min(3, len(steps) // 3))
    return {"first": statistics.fmean(rewards[:k]), "last": statistics.fmean(rewards[-k:]),
            "k": k, "s_step": median(s["step_s"] for s in body),
            "rollout_s": median(s["rollout_s"] for s in body),
            "train_s": median(s["train_s"] for s in body)}


def render(args, runs: list[dict], mem: dict[str, dict]) -> str:
    lines = [
        "# PPO vs GRPO on the toy brevity task (harness reward), and PPO's critic memory", "",
        f"- **machine**: {machine()}, shared with other engineers' jobs, torch fp32, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} (one thread per run; "
        "runs are sequential). Load average (1 min, from `os.getloadavg`, as `uptime`) "
        "before each run is in the tables: seconds are only comparable at similar load.",
        f"- **command**: `OMP_NUM_THREADS=1 python -m benchmarks.ppo_vs_grpo {' '.join(sys.argv[1:])}`",
        "- **task/budget**: SmolLM2-135M-Instruct, fresh LoRA r16, 64 toy prompts (16 questions "
        "x 4), rubric: answer <= 20 characters (score 0/1); 16 completions per step, max 12 "
        "new tokens, temperature 1, lr 1e-4; GRPO: 4 prompts x G=4, beta 0, 1 optimizer step "
        "per batch; PPO: 16 prompts x 1, 2 epochs x 2 minibatches (4 optimizer steps per "
        "batch), beta 0.05 fixed, gamma 1, lambda 0.95, critic lr 1e-3, whitened advantages. "
        f"Seeds: {', '.join(map(str, args.seeds))}; {args.steps} steps per run.", "",
        "| algorithm | seed | reward, first k steps | reward, last k steps (k) | s/step "
        "(median, steps 2..N) | rollout s | train s | peak RSS MiB | load before |",
        "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        s = summarize(r)
        lines.append(f"| {r['side']} | {r['seed']} | {s['first']:.3f} | {s['last']:.3f} "
                     f"({s['k']}) | {s['s_step']:.2f} | {s['rollout_s']:.2f} | "
                     f"{s['train_s']:.2f} | {r['peak_rss_mb']:.0f} | "
                     f"{r['load_before'][0]:.2f} |")
    lines += ["", "Per-step training reward (mean harness score of the step's 16 samples):", "",
              "| algorithm | seed | rewards by step | PPO value/explained_var by step |",
              "|---|---|---|---|"]
    for r in runs:
        rw = " ".join(f"{s['reward']:.2f}" for s in r["steps"])
        ev = " ".join("-" if s["explained_var"] is None else f"{s['explained_var']:.2f}"
                      for s in r["steps"]) if r["side"] != "grpo" else ""
        lines.append(f"| {r['side']} | {r['seed']} | {rw} | {ev} |")
    if mem:
        shared, sep = mem["ppo"], mem["ppo_separate_critic"]
        lines += ["", f"Memory: peak RSS of the whole training process (`ru_maxrss`), PPO "
                  f"for {args.mem_steps} step(s), same config otherwise:", "",
                  "| critic | peak RSS (MiB) | s/step (median) | load before |",
                  "|---|---|---|---|",
                  f"| second LoRA adapter + value head on the policy's base (default) | "
                  f"{shared['peak_rss_mb']:.0f} | {summarize(shared)['s_step']:.2f} | "
                  f"{shared['load_before'][0]:.2f} |",
                  f"| separate critic copy (`critic.separate_model=smollm2-135m`) | "
                  f"{sep['peak_rss_mb']:.0f} | {summarize(sep)['s_step']:.2f} | "
                  f"{sep['load_before'][0]:.2f} |",
                  f"| **difference** | **{sep['peak_rss_mb'] - shared['peak_rss_mb']:+.0f}** | | |"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ppo_vs_grpo",
                                description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--mem-steps", type=int, default=2,
                   help="steps of the two PPO memory runs (0 = skip them)")
    p.add_argument("--out-dir", default="runs/local/ppo_vs_grpo")
    p.add_argument("--out", default=None, help="write the markdown here")
    p.add_argument("--worker", choices=sorted(SIDES), help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--result", default=None, help=argparse.SUPPRESS)
    p.add_argument("--render", default=None, metavar="BENCH_JSON",
                   help="re-render the markdown from a finished run's bench.json (no runs)")
    p.add_argument("--notes", default=None, help="a markdown file appended as the Notes")
    args = p.parse_args(argv)
    out_dir = Path(args.out_dir)
    if args.worker:
        r = worker(args.worker, args.seed, args.steps, out_dir)
        Path(args.result).write_text(json.dumps(r) + "\n")
        return 0
    if args.render:
        saved = json.loads(Path(args.render).read_text())
        return _write(args, render(args, saved["runs"], saved["mem"]))
    runs = []
    for i, seed in enumerate(args.seeds):  # alternate the order: load drifts over minutes
        for side in (("grpo", "ppo") if i % 2 == 0 else ("ppo", "grpo")):
            runs.append(spawn(side, seed, args.steps, out_dir))
    mem = {side: spawn(side, args.seeds[0], args.mem_steps, out_dir)
           for side in ("ppo", "ppo_separate_critic")} if args.mem_steps else {}
    (out_dir / "bench.json").write_text(json.dumps({"runs": runs, "mem": mem}, indent=1) + "\n")
    return _write(args, render(args, runs, mem))


def _write(args, md: str) -> int:
    if args.notes:
        md += "\n## Notes\n\n" + Path(args.notes).read_text()
    print(md)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
