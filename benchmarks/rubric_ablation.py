"""Rubric-aware vs scalar GRPO advantages (issue 22, item 4). The RL stage of a finished
efficacy run (`python -m benchmarks.efficacy`, preset cpu: scalar `algo.advantage=grpo`) is run
again from the same SFT checkpoint, with the same seeds and settings but
`grpo.algo.advantage=rubric` (each rubric dimension normalised within its group, then weighted:
rl/advantages.py); both RL checkpoints are graded greedily on the same eval examples and this
prints and writes the paired difference RL(rubric) − RL(grpo), overall and per dimension.

    python -m benchmarks.rubric_ablation --tasks medical_extraction,invoice_extraction \\
        --run-root runs/local/efficacy-cpu --out benchmarks/results/rubric_aware_ablation.md

The scalar run is `<run-root>/<task>`; the rubric-aware one goes to
`<run-root>/<task>-rubric_adv`, which starts from copies of the scalar run's finished
eval-base, sft and eval-sft stages (the pipeline reuses them: same config, same adapter
weights), so only its GRPO stage and that stage's evaluation run. Rows append to
`<out>.jsonl`; the markdown is re-rendered from them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from benchmarks.efficacy import append_row, commit
from benchmarks.measure import fmt_delta

STAGES = ("eval-base", "sft", "eval-sft")


def run_rubric_arm(task: str, run_root: Path) -> Path:
    """The rubric-aware arm's run dir, after its pipeline finished (re-runs resume)."""
    from rl import pipeline

    src, dst = run_root / task, run_root / f"{task}-rubric_adv"
    if not (src / "pipeline.json").is_file():
        raise SystemExit(f"error: {src} holds no finished efficacy run (pipeline.json); run "
                         f"python -m benchmarks.efficacy --tasks {task} --run-root {run_root}")
    for stage in STAGES:
        if not (dst / stage).exists():
            shutil.copytree(src / stage, dst / stage)
    cfg = pipeline.compose("pipeline", [f"experiment=efficacy_cpu_{task}",
                                        f"run_dir={pipeline._q(str(dst))}",
                                        "+grpo.algo.advantage=rubric"])
    pipeline.run(cfg)
    return dst


def records(run_dir: Path) -> list[dict]:
    from rl.evaluate import load_records

    return load_records(run_dir / "eval-rl")


def make_row(task: str, scalar: Path, rubric: Path, wall_s: float) -> dict:
    from rewards.evaluation import paired_delta

    facts = {arm: json.loads((d / "pipeline.json").read_text()) for arm, d in
             (("grpo", scalar), ("rubric", rubric))}
    return {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "task": task,
            "rl": {arm: f["evals"]["rl"]["value"] for arm, f in facts.items()},
            "sft": facts["grpo"]["evals"]["sft"]["value"],
            "rl_minus_sft": {arm: f["deltas"]["rl_minus_sft"] for arm, f in facts.items()},
            "rubric_minus_grpo": paired_delta(records(scalar), records(rubric), seed=0,
                                              dimensions=True),
            "scale": facts["grpo"]["evals"]["rl"].get("scale"), "wall_s": round(wall_s, 1),
            "load_avg": [round(x, 2) for x in os.getloadavg()], "commit": commit(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs"}


def render(rows: list[dict]) -> str:
    out = ["# Rubric-aware vs scalar GRPO advantages", "",
           "Written by `python -m benchmarks.rubric_ablation` (benchmarks/rubric_ablation.py). "
           "Both arms start from the same SFT checkpoint of a `benchmarks.efficacy` cpu-preset run "
           "and differ only in `grpo.algo.advantage` (grpo = the scalar harness score normalised "
           "in its group; rubric = each dimension normalised in its group, then weighted by the "
           "rubric). Greedy eval on the same examples; paired bootstrap 95% CI (1000 resamples, "
           "seed 0): ✓ = rubric-aware higher beyond resampling noise, ✗ = lower.", "",
           "| date | commit | task | SFT | RL grpo | RL rubric | RL − SFT (grpo) "
           "| RL − SFT (rubric) | rubric − grpo | n | arm wall s | load (1/5/15) | machine |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        d = r["rubric_minus_grpo"]
        out.append(f"| {r['date']} | {r.get('commit', '–')} | {r['task']} | {r['sft']:.3f} | "
                   f"{r['rl']['grpo']:.3f} | {r['rl']['rubric']:.3f} | "
                   f"{fmt_delta(r['rl_minus_sft']['grpo'])} | "
                   f"{fmt_delta(r['rl_minus_sft']['rubric'])} | {fmt_delta(d)} | {d.get('n')} | "
                   f"{r['wall_s']:.0f} | {' / '.join(f'{x:.1f}' for x in r['load_avg'])} | "
                   f"{r.get('machine', '–')} |")
    out += ["", "## Per dimension: rubric − grpo", "", "| date | task | dimension | rubric − grpo |",
            "|---|---|---|---|"]
    for r in rows:
        for dim, d in sorted((r["rubric_minus_grpo"].get("dimensions") or {}).items()):
            out.append(f"| {r['date']} | {r['task']} | {dim} | {fmt_delta(d)} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.rubric_ablation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", required=True, help="comma-separated suite tasks")
    p.add_argument("--run-root", default=f"runs/{os.environ.get('SLURM_JOB_ID', 'local')}/"
                   "efficacy-cpu", help="where benchmarks.efficacy put its runs")
    p.add_argument("--out", default="benchmarks/results/rubric_aware_ablation.md",
                   help="markdown re-rendered from the rows of <out>.jsonl, which each task appends to")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    root = Path(args.run_root)
    for task in [t.strip() for t in args.tasks.split(",") if t.strip()]:
        t0 = time.perf_counter()
        rubric = run_rubric_arm(task, root)
        row = make_row(task, root / task, rubric, time.perf_counter() - t0)
        append_row(Path(args.out), row, render)
        print(f"[ablation] {task}: rubric − grpo {fmt_delta(row['rubric_minus_grpo'])}",
              file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
