"""Benchmark the reference SFT recipe on this machine and write a markdown report.

Default: the embedded smollm2-135m, LoRA r16 / alpha 32, 3 epochs, cosine, on the
support_classification train split (500 examples), with greedy accuracy on the 50-example
eval split before and after training (harness label match = the task's accuracy metric).
Reports wall time, training tokens/s, peak RSS, loss, accuracy, the machine and its load.

    OMP_NUM_THREADS=1 python -m benchmarks.sft_support                    # writes benchmarks/results/...
    OMP_NUM_THREADS=1 python -m benchmarks.sft_support --out /tmp/b.md train.max_steps=10   # quick look

Extra arguments are Hydra overrides of conf/sft.yaml, recorded in the report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import cpu_name, loadavg
from sft.errors import USER_ERROR_EXIT, UserInputError

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "sft_support_classification.md"
# the bench's own settings on top of the recipe: labels are <= 4 tokens, so 16 new tokens
# bound generation; W&B stays off so its start-up is not timed; micro-batches of 2 x 4
# accumulation keep the recipe's global batch of 8 at about half the activation memory (at
# 4 x 2 the first run reached 5-6.6 GB RSS and was OOM-killed on a shared 24 GiB machine)
BENCH_OVERRIDES = ["eval.enabled=true", "eval.before=true", "eval.max_new_tokens=16",
                   "logger=none", "train.resume=null", "train.progress=true",
                   "train.per_device_batch_size=2", "train.grad_accum=4"]


def machine() -> dict[str, Any]:
    import torch
    import transformers
    import trl

    cpu = cpu_name()
    mem = next((int(line.split()[1]) // 1024 ** 2 for line in
                Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), None) if Path("/proc/meminfo").exists() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": mem,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
            "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "trl": trl.__version__,
            "omp_threads": os.environ.get("OMP_NUM_THREADS", "unset")}


def report(s: dict[str, Any], m: dict[str, Any], command: str, overrides: list[str],
           load: tuple[tuple[float, ...], tuple[float, ...]]) -> str:
    def f(key, fmt="{:.3f}"):
        v = s.get(key)
        return "n/a" if v is None else fmt.format(v)

    return "\n".join([
        "# SFT benchmark: reference recipe on support_classification",
        "",
        f"Command: `{command}`",
        f"Hydra overrides applied by the bench: `{' '.join(overrides)}`",
        "",
        "## Machine",
        f"- CPU: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, GPU: {m['gpu']}",
        f"- Python {m['python']}, torch {m['torch']}, transformers {m['transformers']}, "
        f"trl {m['trl']}; OMP_NUM_THREADS={m['omp_threads']}",
        f"- load average (1/5/15 min) at start {load[0]}, at end {load[1]}: the machine was "
        "shared with other jobs, so timings are an upper bound",
        "",
        "## Result",
        "| metric | value |", "|---|---|",
        f"| model | {s.get('model')} + {s.get('adapter')} |",
        f"| trainable params | {s.get('params/trainable'):,} of {s.get('params/total'):,} |",
        f"| train rows x epochs | {s.get('train/rows')} x {f('train/epochs', '{:.2f}')} "
        f"({s.get('train/steps')} optimiser steps) |",
        f"| tokens seen (non-padding) | {s.get('perf/tokens_seen'):,} |",
        f"| tokens in the loss per epoch | {s.get('perf/loss_tokens_per_epoch'):,} |",
        f"| training wall time | {f('perf/wall_s', '{:.0f}')} s |",
        f"| training tokens/s | {f('perf/tokens_per_s', '{:.1f}')} |",
        f"| peak RSS | {f('perf/peak_rss_mb', '{:.0f}')} MB |",
        f"| loss first -> last logged | {f('loss/first')} -> {f('loss/last')} |",
        f"| eval accuracy before (greedy, n={s.get('eval_before/n')}) | "
        f"{f('eval_before/accuracy')} |",
        f"| eval accuracy after (greedy, n={s.get('eval/n')}) | {f('eval/accuracy')} |",
        f"| eval generation time before / after | {f('eval_before/gen_s', '{:.0f}')} s / "
        f"{f('eval/gen_s', '{:.0f}')} s |",
        f"| total bench wall time | {f('bench/wall_s', '{:.0f}')} s |",
        "",
        f"Checkpoint: `{s.get('checkpoint')}`",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sft_support",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown report path")
    parser.add_argument("--run-dir", default="runs/bench/sft_support_classification")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of conf/sft.yaml")
    args = parser.parse_args(argv)
    from sft.cli import compose
    from sft.train import run

    overrides = [*BENCH_OVERRIDES, f"run_dir={args.run_dir}", *args.overrides]
    cfg = compose("sft", overrides)
    load_start = loadavg()
    t0 = time.perf_counter()
    try:
        summary = run(cfg)
    except UserInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return USER_ERROR_EXIT
    summary["bench/wall_s"] = time.perf_counter() - t0
    summary["model"] = cfg.model.name
    summary["adapter"] = (f"LoRA r{cfg.lora.r} (alpha {cfg.lora.alpha}, "
                          f"{cfg.lora.target_modules})" if cfg.lora.enabled else "full fine-tune")
    load_end = loadavg()
    command = "OMP_NUM_THREADS={} python -m benchmarks.sft_support {}".format(
        os.environ.get("OMP_NUM_THREADS", ""), shlex.join(sys.argv[1:] if argv is None else argv))
    text = report(summary, machine(), command.strip(), overrides, (load_start, load_end))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    (Path(cfg.run_dir) / "bench_summary.json").write_text(
        json.dumps(summary, indent=2, default=str) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
