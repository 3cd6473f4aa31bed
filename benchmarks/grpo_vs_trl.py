"""Benchmark: our GRPO loop vs TRL 1.16 `GRPOTrainer`, side by side in one process.

Both get the same model and starting adapter, the same prompts in the same order, the same
group size, completion length, temperature, learning rate, loss (TRL loss_type=grpo ==
ours algo=grpo: group-normalised advantages, token-clipped ratio, per-sequence mean, beta 0)
and the same rubric harness as the reward (TRL through `rewards.integrations.
trl_reward_funcs`). TRL is configured for this CPU the way a careful user would (fp32 — its
bf16 default is ~6x slower on AVX2 —, no gradient checkpointing, dropout off as ours): the
comparison is of the loops, not of defaults.

Measured per step: wall seconds, completion tokens generated, and the training reward (mean
harness score of the step's sampled completions). tokens/s = completion tokens / step seconds.
The first step of each side is reported but left out of the medians (allocator warm-up).

    python -m benchmarks.grpo_vs_trl --adapter runs/local/pipeline-.../sft/checkpoints/step-00000024
    python -m benchmarks.grpo_vs_trl --model tiny-random --steps 3          # a quick self-check
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import load, machine, median

REPO = Path(__file__).resolve().parents[1]


def trl_side(args, prompts: list, harness) -> list[dict[str, Any]]:
    """TRL GRPOTrainer for `args.steps` steps; per-step seconds, tokens and reward."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from rewards.integrations import trl_reward_funcs
    from sft.model import load_adapter, load_model, load_tokenizer, setup_trainable

    model_cfg = {"name_or_path": args.model, "dtype": "float32"}
    tok = load_tokenizer(model_cfg)
    model = load_model(model_cfg)
    torch.manual_seed(args.seed)
    if args.adapter:
        model = load_adapter(model, args.adapter, trainable=True)
    else:
        from omegaconf import OmegaConf

        # the same LoRA conf/grpo.yaml builds (conf/lora/r16.yaml)
        model = setup_trainable(model, OmegaConf.load(REPO / "conf" / "lora" / "r16.yaml"))
    rows = [{"prompt": p.prompt, "id": p.id, "reference": p.reference,
             "meta": json.dumps(p.meta)} for p in prompts]
    funcs, weights = trl_reward_funcs(harness)
    cfg = GRPOConfig(
        output_dir=str(Path(args.out_dir) / "trl"), per_device_train_batch_size=args.batch,
        num_generations=args.g, max_completion_length=args.max_new_tokens,
        temperature=args.temperature, top_p=1.0, top_k=0, learning_rate=args.lr,
        lr_scheduler_type="constant", warmup_steps=0, beta=0.0, loss_type="grpo",
        scale_rewards="group", epsilon=0.2, max_steps=args.steps, logging_steps=1,
        save_strategy="no", report_to="none", use_cpu=True, bf16=False,
        gradient_checkpointing=False, disable_dropout=True, seed=args.seed,
        reward_weights=weights, shuffle_dataset=False, dataloader_num_workers=0,
        max_grad_norm=1.0, adam_beta1=0.9, adam_beta2=0.999, weight_decay=0.0)
    steps: list[dict[str, Any]] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            steps.append({"step": state.global_step, "step_s": time.perf_counter() - self.t0})

        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "reward" in logs and steps:
                steps[-1]["reward"] = logs["reward"]
                steps[-1]["gen_tokens"] = logs.get("completions/mean_length", 0) * args.batch

    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=cfg, processing_class=tok,
                          train_dataset=Dataset.from_list(rows), callbacks=[Timer()])
    trainer.train()
    return steps


def ours_config(args, n_prompts: int):
    """Our side's config, composed (and so checked) before either side runs: a bad
    `--ours-override` fails here, not after TRL's whole side. The hf engine's generate batch is
    set to the step's batch when the engine has one (rollout=vllm has no such key)."""
    from omegaconf import open_dict

    from sft.cli import compose

    cfg = compose("grpo", [
        f"model={'tiny-random' if args.model == 'tiny-random' else 'smollm2-135m'}",
        f"model.name_or_path={args.model}", "model.dtype=float32",
        f"model.adapter={args.adapter or 'null'}", "logger=none", "algo=grpo",
        f"run_dir={Path(args.out_dir) / 'ours'}", "train.resume=null",
        f"train.max_steps={args.steps}", f"train.batch_size={args.batch}",
        f"train.micro_batch_size={args.batch}", f"algo.num_generations={args.g}",
        f"optim.lr={args.lr}", f"sampling.max_new_tokens={args.max_new_tokens}",
        f"sampling.temperature={args.temperature}", f"seed={args.seed}",
        f"train.max_prompts={n_prompts}", "train.save_every=null", "train.progress=false",
        f"task.n_train={args.n_prompts}", *args.ours_override])
    if "batch_size" in cfg.rollout:
        with open_dict(cfg):
            cfg.rollout.batch_size = args.batch
    return cfg


def ours_side(cfg) -> list[dict[str, Any]]:
    from rl.grpo import train

    out = train(cfg)
    return [{"step": h["step"], "step_s": h["perf/step_s"], "reward": h.get("reward/total"),
             "gen_tokens": h["perf/tokens_per_s"] * h["perf/step_s"],
             "rollout_s": h["perf/rollout_s"], "train_s": h.get("perf/train_s", 0.0),
             "rows_computed": h.get("train/rows_computed", 0.0)} for h in out["history"]]


def summarize(runs: list[list[dict[str, Any]]]) -> dict[str, float]:
    """Over every repeat: median s/step and tokens/s without each run's first step
    (allocator and cache warm-up), mean training reward over all steps and the last third."""
    body = [x for steps in runs for x in (steps[1:] if len(steps) > 1 else steps)]
    s = [x["step_s"] for x in body]
    tok = sum(x.get("gen_tokens", 0) for x in body)
    rewards = [x["reward"] for steps in runs for x in steps if x.get("reward") is not None]
    last = [x["reward"] for steps in runs for x in steps[-max(1, len(steps) // 3):]
            if x.get("reward") is not None]
    return {"s_per_step": median(s), "tokens_per_s": tok / sum(s),
            "reward_mean": statistics.fmean(rewards) if rewards else float("nan"),
            "reward_last_third": statistics.fmean(last) if last else float("nan")}


def render(args, engine: str, ours: dict, trl: dict, ours_runs: list, trl_runs: list) -> str:
    ratio_s = trl["s_per_step"] / ours["s_per_step"]
    ratio_t = ours["tokens_per_s"] / trl["tokens_per_s"]
    lines = [
        "# GRPO: harnessrl loop vs TRL 1.16 GRPOTrainer", "",
        f"- **machine**: {machine()}, shared with other jobs, torch fp32, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')}; {args.load_before} before the first "
        f"side, {load()} after the last",
        f"- **command**: `python -m benchmarks.grpo_vs_trl {' '.join(sys.argv[1:])}`",
        f"- **setup**: model `{args.model}`, start adapter `{args.adapter or 'fresh LoRA r16'}`, "
        f"task support_classification (its rubric harness as reward), {args.steps} steps, "
        f"{args.batch} completions/step, G={args.g}, max {args.max_new_tokens} new tokens, "
        f"temperature {args.temperature}, lr {args.lr} constant, beta 0, loss grpo, seed "
        f"{args.seed}; {args.repeats} repeat(s), alternating which side runs first (the load "
        "from other jobs on this machine drifts over minutes)", "",
        "| | s/step (median, steps 2..N) | completion tokens/s | mean reward (all steps) | "
        "mean reward (last third) |", "|---|---|---|---|---|",
        f"| ours (`rl.grpo`, {engine} engine) | {ours['s_per_step']:.2f} | "
        f"{ours['tokens_per_s']:.2f} "
        f"| {ours['reward_mean']:.3f} | {ours['reward_last_third']:.3f} |",
        f"| TRL `GRPOTrainer` | {trl['s_per_step']:.2f} | {trl['tokens_per_s']:.2f} | "
        f"{trl['reward_mean']:.3f} | {trl['reward_last_third']:.3f} |",
        f"| **ratio ours/TRL** | **{ratio_s:.2f}x faster** | **{ratio_t:.2f}x** | | |", "",
        "Per step (seconds / reward); ours split into rollout and training seconds; rows "
        "trained = completions in groups with reward variance (flat groups have zero advantage "
        "and, with beta 0, zero gradient: ours skips their forward/backward, TRL computes it):",
        "", "| repeat | step | ours s (rollout + train) | ours reward | ours rows trained | "
        "TRL s | TRL reward |", "|---|---|---|---|---|---|---|"]
    for r, (ours_steps, trl_steps) in enumerate(zip(ours_runs, trl_runs, strict=True)):
        for a, b in zip(ours_steps, trl_steps, strict=False):
            lines.append(
                f"| {r + 1} | {a['step']} | {a['step_s']:.2f} ({a.get('rollout_s', 0):.1f} + "
                f"{a.get('train_s', 0):.1f}) | {a.get('reward', float('nan')):.3f} | "
                f"{a.get('rows_computed', 0):.0f}/{args.batch} | {b['step_s']:.2f} | "
                f"{b.get('reward', float('nan')):.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.grpo_vs_trl",
                                description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--adapter", default=None, help="SFT adapter dir both sides start from")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=8, help="completions per step")
    p.add_argument("--g", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=8)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-prompts", type=int, default=200)
    p.add_argument("--out-dir", default="runs/local/grpo_vs_trl")
    p.add_argument("--out", default=None, help="write the markdown table here")
    p.add_argument("--ours-override", action="append", default=[],
                   help="extra rl.grpo override for our side (ablations), repeatable")
    p.add_argument("--only", choices=("both", "ours"), default="both",
                   help="ours: time our side alone (ablations against a committed TRL run)")
    p.add_argument("--repeats", type=int, default=1,
                   help="runs per side; odd repeats run TRL first, even ones ours first")
    args = p.parse_args(argv)

    from rewards import Harness
    from rewards.tasks import get_task, load_split

    n_prompts = args.steps * args.batch // args.g
    prompts = load_split({"name": "support_classification", "n_train": args.n_prompts},
                         "train")
    # ours shuffles prompts by seed; hand TRL the same order so both see the same prompts
    import numpy as np

    order = np.random.RandomState(args.seed).permutation(min(n_prompts, len(prompts)))
    same = [prompts[i] for i in order]
    harness = Harness(get_task("support_classification").rubric())
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:  # before any side: a bad --ours-override stops here, not after TRL's whole side
        ours_cfg = ours_config(args, n_prompts)
    except (HydraException, OmegaConfBaseException) as e:
        print(f"error: --ours-override {args.ours_override}: {e}", file=sys.stderr)
        return 2
    args.load_before = load()
    results: dict[str, list] = {"ours": [], "trl": []}
    for r in range(args.repeats):
        for side in (("trl", "ours") if r % 2 == 0 else ("ours", "trl")):
            if args.only == "ours" and side == "trl":
                continue
            t0 = time.perf_counter()
            results[side].append(trl_side(args, same, harness) if side == "trl"
                                 else ours_side(ours_cfg))
            print(f"[bench] repeat {r + 1} {side}: {time.perf_counter() - t0:.1f} s",
                  file=sys.stderr, flush=True)
    ours = summarize(results["ours"])
    if args.only == "ours":
        print(json.dumps(ours, indent=2))
        return 0
    trl = summarize(results["trl"])
    engine = str(ours_cfg.rollout.get("_target_") or ours_cfg.rollout.engine)
    md = render(args, engine, ours, trl, results["ours"], results["trl"])
    print(md)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(md)
    (Path(args.out_dir) / "bench.json").write_text(json.dumps(
        {"ours": results["ours"], "trl": results["trl"], "summary": {"ours": ours, "trl": trl}},
        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
