"""GRPO scaling over ranks: seconds per step for one global batch on 1 rank vs N ranks.

Each repeat runs `torchrun --nproc_per_node=1` and `--nproc_per_node=N` on the same config
(debug=tiny, the same global batch and seed), in alternating order, and reads perf/step_s
from each run's metrics.jsonl (step 1, which pays for warm-up, is left out). Prints and writes
a markdown table: median s/step per rank count, speed-up and scaling efficiency
(speed-up / N). Ranks run with OMP_NUM_THREADS=1, so N ranks use N cores. `--dists ddp fsdp`
times the N-rank run once per layout (dist=ddp: every rank holds the base; dist=fsdp: it is
sharded, every forward all-gathers).

    python -m benchmarks.grpo_ranks --ranks 2 --steps 5 --repeats 3 --dists ddp fsdp \\
        --out benchmarks/results/grpo_ranks.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.measure import load, machine, median, table, utc_now

REPO = Path(__file__).resolve().parents[1]


def run_once(nproc: int, steps: int, batch: int, new_tokens: int, run_dir: Path,
             dist: str = "ddp") -> list[float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", "-m", "rl.grpo", "debug=tiny", "logger=none",
           f"dist={dist}", f"run_dir={run_dir}", f"train.max_steps={steps}",
           f"train.batch_size={batch}", f"sampling.max_new_tokens={new_tokens}",
           "train.progress=false", "train.save_every=null", "train.resume=null"]
    subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True, text=True)
    rows = [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["perf/step_s"] for r in rows if r["step"] > 1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.grpo_ranks",
                                description=__doc__.split("\n")[0])
    p.add_argument("--ranks", type=int, default=2, help="N to compare with 1 rank")
    p.add_argument("--steps", type=int, default=5, help="GRPO steps per run (step 1 dropped)")
    p.add_argument("--repeats", type=int, default=3, help="runs per rank count")
    p.add_argument("--batch", type=int, default=16, help="global completions per step")
    p.add_argument("--new-tokens", type=int, default=16, help="sampling.max_new_tokens")
    p.add_argument("--dists", nargs="+", default=["ddp"], help="N-rank layouts: ddp fsdp")
    p.add_argument("--out", default=None, help="markdown file to write")
    a = p.parse_args(argv)
    runs = [(1, "ddp")] + [(a.ranks, d) for d in a.dists]
    times: dict[tuple[int, str], list[float]] = {r: [] for r in runs}
    before = load()
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(a.repeats):
            for n, d in (runs if rep % 2 == 0 else runs[::-1]):
                times[n, d] += run_once(n, a.steps, a.batch, a.new_tokens,
                                        Path(tmp) / f"r{rep}-n{n}-{d}", d)
    one = median(times[1, "ddp"])
    rows = []
    for n, d in runs:
        med = median(times[n, d])
        rows.append([n, d if n > 1 else "none", f"{med:.3f}", f"{one / med:.2f}x",
                     f"{one / med / n:.0%}", len(times[n, d])])
    md = "\n".join([
        "# GRPO scaling over ranks (benchmarks/grpo_ranks.py)", "",
        f"- date: {utc_now()}; machine: {machine()}",
        f"- {before} before, {load()} after; OMP_NUM_THREADS=1 per rank, gloo",
        f"- command: `python -m benchmarks.grpo_ranks {' '.join(sys.argv[1:])}`",
        f"- config: debug=tiny (tiny-random), seed 0, global batch {a.batch} completions, "
        f"max_new_tokens {a.new_tokens}, {a.steps} steps per run (step 1 dropped), "
        f"{a.repeats} runs per layout in alternating order; median over all measured steps; "
        f"wall {time.time() - t0:.0f} s", "",
        *table(["ranks", "dist", "median s/step", "speed-up", "efficiency", "steps measured"],
               rows), "",
        "Speed-up = 1-rank s/step / this s/step; efficiency = speed-up / ranks.", ""])
    print(md)
    if a.out:
        Path(a.out).write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
