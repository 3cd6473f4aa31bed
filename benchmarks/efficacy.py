"""Efficacy benchmark over the suite: does the harness, used as the RL reward, make a better
specialist than SFT alone? For each task: the main job (rl.pipeline: evaluate base, SFT,
evaluate, GRPO, evaluate), then the harness score of base / SFT / RL with bootstrap CIs, the
paired deltas SFT - base and RL - SFT (and RL - base) with paired bootstrap 95% CIs, overall
and per rubric dimension; plus a real-data transfer row wherever the task has a real-data
adapter and its folder is present: the same three checkpoints (trained on generated data)
evaluated on the real dataset's split (`task.source=real task.path=<real root>/<dataset>`).

Every finished row is appended, dated, to `<out>.jsonl` (one JSON object per row) and the
markdown `<out>` is re-rendered from all rows, so a run killed after any task keeps what it
finished, and later runs add rows instead of replacing them.

Presets:
- `cpu` (default): smollm2-135m (the embedded default), 32 eval examples, SFT 40 steps of 4,
  GRPO 20 steps of 8 completions (G=4), a completion budget per task (CPU_NEW_TOKENS). Sized
  to finish in hours on a 2-core CPU (long-output tasks, e.g. clinical_scribe, dominate).
- `main`: conf/pipeline.yaml's own defaults, i.e. the main job (`--tasks
  support_classification_short --preset main` is `python -m rl.pipeline` plus transfer rows).
- `gpu`: the published recipe, conf/experiment/efficacy_qwen3_4b.yaml (Qwen3-4B, 500
  examples, 3 epochs of LoRA r16 SFT, then GRPO), one GPU; expected memory and time per
  stage are in that file (arithmetic, unmeasured).

    python -m rl.bench_efficacy                                   # all tasks, cpu preset
    python -m rl.bench_efficacy --tasks support_classification_short,medical_extraction
    python -m rl.bench_efficacy --preset gpu --out benchmarks/results/efficacy_gpu.md
    python -m rl.bench_efficacy --tasks invoice_extraction -- grpo.train.max_steps=40
    python -m rl.bench_efficacy --no-real                         # generated-data rows only
    python -m rl.bench_efficacy --transfer-only --run-root R      # transfer rows of finished runs
Task names are conf/task options (so `support_classification_short`, the main job's short
prompt, works too). Trailing arguments after `--` are pipeline overrides for every task.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

SUITE = ("support_classification", "invoice_extraction", "medical_extraction",
         "product_copywriting", "legal_rewrite", "pisar_rationale", "clinical_scribe")

# completion budget per task on the cpu preset: ~1.2-1.5x the longest generated reference in
# smollm2 tokens (measured on 30 eval examples: label 2, invoice JSON 308, copy 116, medical
# 76, legal 206, rationale 49, clinical note 512), so a right answer is never cut
CPU_NEW_TOKENS = {"support_classification": 8, "support_classification_short": 8,
                  "invoice_extraction": 384, "medical_extraction": 112,
                  "product_copywriting": 160, "legal_rewrite": 256, "pisar_rationale": 64,
                  "clinical_scribe": 640}

# every task on the cpu preset: a few steps of each stage, no W&B, no progress bars
CPU_OVERRIDES = [
    "logger=none", "evaluate.eval.max_examples=32", "evaluate.eval.progress=false",
    "sft.train.max_steps=40", "sft.train.progress=false", "sft.data.max_length=2048",
    "grpo.train.max_steps=20", "grpo.train.batch_size=8", "grpo.train.micro_batch_size=4",
    "grpo.train.progress=false"]

# main = the main job exactly as conf/pipeline.yaml sets it (python -m rl.pipeline)
PRESETS = {"cpu": CPU_OVERRIDES, "gpu": ["experiment=efficacy_qwen3_4b"], "main": []}


def task_overrides(task: str, preset: str) -> list[str]:
    """The pipeline overrides of one task row."""
    out = [f"task={task}", *PRESETS[preset]]
    if preset == "cpu":
        n = CPU_NEW_TOKENS.get(task, 256)
        out += [f"evaluate.sampling.max_new_tokens={n}", f"grpo.sampling.max_new_tokens={n}"]
    return out


def real_datasets(task_cfg: Any, real_root: Path) -> list[Path]:
    """Dataset folders under `real_root` that one of the task's real-data adapters reads."""
    from rewards.tasks import resolve

    task = resolve(task_cfg).task
    return [real_root / name for name in task.adapters if (real_root / name).is_dir()]


def _stage_summary(s: dict[str, Any]) -> dict[str, Any]:
    keep = ("metric", "scale", "value", "ci_low", "ci_high", "n", "n_scored", "errors",
            "unscored", "dimensions", "rubric_hash")
    return {k: s.get(k) for k in keep}


def make_row(task: str, data: str, preset: str, cfg: Any, evals: dict[str, Any],
             deltas: dict[str, Any], wall_s: float, run_dir: Path) -> dict[str, Any]:
    return {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "task": task,
            "data": data, "train_data": "generated", "preset": preset,
            "model": str(cfg.model.name), "evals": {k: _stage_summary(v) for k, v in evals.items()},
            "deltas": deltas, "wall_s": round(wall_s, 1),
            "load_avg": [round(x, 2) for x in os.getloadavg()], "run_dir": str(run_dir),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs"}


def task_config(task: str, preset: str, run_root: Path, extra: list[str]) -> Any:
    """The composed pipeline config of one task row (its run dir: <run_root>/<task>)."""
    from rl import pipeline

    return pipeline.compose("pipeline", [*task_overrides(task, preset), *extra,
                                         f"run_dir={pipeline._q(run_root / task)}"])


def run_task(task: str, preset: str, run_root: Path, extra: list[str]) -> tuple[dict, Any, dict]:
    """The main job on one task: (row, composed pipeline cfg, pipeline.json facts)."""
    from rl import pipeline

    run_dir = run_root / task
    cfg = task_config(task, preset, run_root, extra)
    t0 = time.perf_counter()
    out = pipeline.run(cfg)
    facts = json.loads((run_dir / "pipeline.json").read_text())
    row = make_row(task, "generated", preset, cfg, out["evals"], out["deltas"],
                   time.perf_counter() - t0, run_dir)
    return row, cfg, facts


def run_transfer(task: str, preset: str, cfg: Any, facts: dict, dataset: Path) -> dict:
    """Base, SFT and RL checkpoints of the generated-data run, evaluated on `dataset`'s eval
    split (its adapter's rubric variant where it has one)."""
    from rl import pipeline

    run_dir = Path(cfg.run_dir) / f"transfer-{dataset.name}"
    over = f"++task_overrides={{source:real,path:{pipeline._q(str(dataset))}}}"
    t0 = time.perf_counter()
    evals = {}
    for stage, adapter in (("base", None), ("sft", facts["sft_checkpoint"]),
                           ("rl", facts["rl_checkpoint"])):
        ecfg = pipeline.stage_config(cfg, "eval", cfg.evaluate, run_dir / f"eval-{stage}",
                                     f"{cfg.run_name}-{dataset.name}-{stage}",
                                     [f"adapter={pipeline._q(adapter)}", over])
        evals[stage] = _evaluate_with_records(ecfg)
    deltas = pipeline.paired_deltas(evals)
    return make_row(task, f"real: {dataset.name}", preset, cfg, evals, deltas,
                    time.perf_counter() - t0, run_dir)


def _evaluate_with_records(ecfg: Any) -> dict[str, Any]:
    from rl.evaluate import evaluate, load_records

    scores = evaluate(ecfg)
    (name, summary), = scores["tasks"].items()
    return dict(summary) | {"records": load_records(ecfg.run_dir, name)}


# --- the markdown -----------------------------------------------------------------------------
def _v(s: dict | None) -> str:
    if not s or s.get("value") is None:
        return "–"
    ci = "" if s.get("ci_low") is None else f" [{s['ci_low']:.2f}, {s['ci_high']:.2f}]"
    return f"{s['value']:.3f}{ci}"


def _d(d: dict | None) -> str:
    if not d or d.get("mean") is None:
        return "–"
    star = " ✓" if d["ci_low"] > 0 else (" ✗" if d["ci_high"] < 0 else "")
    return f"{d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]{star}"


def render(rows: list[dict]) -> str:
    """efficacy.md from every row so far (newest run of a task/data pair last)."""
    out = ["# Efficacy benchmark: base / SFT / RL over the suite", "",
           "Written by `python -m rl.bench_efficacy` (rl/bench_efficacy.py); one row per task and "
           "eval data, dated, appended as each finishes (raw rows: `efficacy.jsonl`). Scores are "
           "the task's rubric harness on its eval split, greedy; [..] = bootstrap 95% CI. Deltas "
           "are paired over the same eval examples (paired bootstrap 95% CI, 1000 resamples): "
           "✓ = CI above 0, ✗ = below 0. Transfer rows (`real: ...`) evaluate the checkpoints "
           "trained on generated data on the real dataset's split.", "",
           "| date | task | eval data | model (preset) | metric | base | SFT | RL | SFT − base "
           "| RL − SFT | n | wall s | load (1/5/15) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        e, d = r["evals"], r["deltas"]
        first = e.get("base") or next(iter(e.values()))
        lo, hi = first.get("scale") or (0, 1)
        out.append(f"| {r['date']} | {r['task']} | {r['data']} | {r['model']} "
                   f"({r.get('preset', '?')}) | "
                   f"{first.get('metric')} ({lo:g}–{hi:g}) | {_v(e.get('base'))} | "
                   f"{_v(e.get('sft'))} | {_v(e.get('rl'))} | {_d(d.get('sft_minus_base'))} | "
                   f"{_d(d.get('rl_minus_sft'))} | {first.get('n')} | {r['wall_s']:.0f} | "
                   f"{' / '.join(f'{x:.1f}' for x in r.get('load_avg', []))} |")
    out += ["", "## Per-dimension paired deltas", "",
            "| date | task | eval data | dimension | SFT − base | RL − SFT | RL − base |",
            "|---|---|---|---|---|---|---|"]
    for r in rows:
        d = r["deltas"]
        dims = sorted({k for x in d.values() for k in (x.get("dimensions") or {})})
        for dim in dims:
            cells = [_d((d.get(k) or {}).get("dimensions", {}).get(dim))
                     for k in ("sft_minus_base", "rl_minus_sft", "rl_minus_base")]
            out.append(f"| {r['date']} | {r['task']} | {r['data']} | {dim} | "
                       + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def append_row(out: Path, row: dict) -> None:
    jsonl = out.with_suffix(".jsonl")
    jsonl.parent.mkdir(parents=True, exist_ok=True)
    with jsonl.open("a") as f:
        f.write(json.dumps(row, default=str) + "\n")
    rows = [json.loads(x) for x in jsonl.read_text().splitlines() if x.strip()]
    notes = out.read_text().split(NOTES_MARK, 1)[1] if out.is_file() and NOTES_MARK in \
        out.read_text() else ""
    out.write_text(render(rows) + (NOTES_MARK + notes if notes else ""))
    print(f"[bench_efficacy] row appended: {row['task']} / {row['data']} -> {out}",
          file=sys.stderr, flush=True)


# hand-written notes below this line in the markdown survive re-rendering
NOTES_MARK = "\n<!-- notes -->\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(prog="python -m rl.bench_efficacy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default=",".join(SUITE), help="comma-separated conf/task options")
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    p.add_argument("--out", default="benchmarks/results/efficacy.md")
    p.add_argument("--run-root", default=None, help="default runs/<job id|local>/efficacy-<preset>")
    p.add_argument("--real-root", default="../shared/data/real",
                   help="folder holding the real datasets (transfer rows); absent = skipped")
    p.add_argument("--no-real", action="store_true", help="generated-data rows only")
    p.add_argument("--transfer-only", action="store_true",
                   help="only the transfer rows, from each task's finished run under --run-root")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    run_root = Path(args.run_root or f"runs/{os.environ.get('SLURM_JOB_ID', 'local')}/"
                    f"efficacy-{args.preset}")
    out = Path(args.out)
    for task in [t.strip() for t in args.tasks.split(",") if t.strip()]:
        if args.transfer_only:
            cfg = task_config(task, args.preset, run_root, extra)
            facts = json.loads((Path(cfg.run_dir) / "pipeline.json").read_text())
        else:
            row, cfg, facts = run_task(task, args.preset, run_root, extra)
            append_row(out, row)
        if args.no_real:
            continue
        for ds in real_datasets(cfg.task, Path(args.real_root)):
            append_row(out, run_transfer(task, args.preset, cfg, facts, ds))
    return 0


if __name__ == "__main__":
    from sft.cli import user_errors
    from sft.errors import USER_ERROR_EXIT

    try:
        sys.exit(main())
    except user_errors() as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)
