"""Efficacy benchmark over the suite: does the harness, used as the RL reward, make a better
specialist than SFT alone? For each task: the main job (rl.pipeline: evaluate base, SFT,
evaluate, GRPO, evaluate) under the task's preset, then the harness score of base / SFT / RL
with bootstrap CIs, the paired deltas SFT - base and RL - SFT (and RL - base) with paired
bootstrap 95% CIs, overall and per rubric dimension; plus a real-data transfer row wherever
the task has a real-data adapter and its folder is present: the same three checkpoints
(trained on generated data) evaluated on the real dataset's split (`task.source=real
task.path=<real root>/<dataset>`).

Every finished row is appended, dated and stamped with the commit, to `<out>.jsonl` (one JSON
object per row) and the markdown `<out>` is re-rendered from all rows, so a run killed after any
task keeps what it finished; a re-run resumes each pipeline after its last finished stage
(rl.pipeline: finished SFT/RL stages and evaluations are reused, never redone).

Presets:
- `cpu` (default): `experiment=efficacy_cpu_<task>` (conf/experiment/): the CPU efficacy
  protocol of conf/experiment/efficacy_cpu.yaml — SFT on 32 labelled answers, GRPO on the
  train prompts SFT never saw with the harness as the only signal and a KL anchor to the SFT
  policy, >= 64 eval examples through vLLM — sized per task to ~75 min on a 2-core CPU.
  support_classification's row is the main job itself (its preset says so).
- `main`: conf/pipeline.yaml's own defaults, i.e. the main job (`--tasks
  support_classification_short --preset main` is `python -m rl.pipeline` plus transfer rows).
- `gpu`: the published recipe, conf/experiment/efficacy_qwen3_4b.yaml (Qwen3-4B, 500
  examples, 3 epochs of LoRA r16 SFT, then GRPO), one GPU (unmeasured).

    python -m benchmarks.efficacy                                   # all tasks, cpu preset
    python -m benchmarks.efficacy --tasks medical_extraction,invoice_extraction
    python -m benchmarks.efficacy --preset gpu --out benchmarks/results/efficacy_gpu.md
    python -m benchmarks.efficacy --tasks invoice_extraction -- grpo.train.max_steps=40
    python -m benchmarks.efficacy --no-real                         # generated-data rows only
    python -m benchmarks.efficacy --transfer-only --run-root R      # transfer rows of finished runs
Task names are conf/task options. Trailing arguments after `--` are pipeline overrides for
every task.
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

from benchmarks.measure import fmt_delta

SUITE = ("support_classification", "invoice_extraction", "medical_extraction",
         "product_copywriting", "legal_rewrite", "pisar_rationale", "clinical_scribe")

PRESETS = ("cpu", "gpu", "main")


def task_overrides(task: str, preset: str) -> list[str]:
    """The pipeline overrides of one task row."""
    if preset == "cpu":
        return [f"experiment=efficacy_cpu_{task}"]
    if preset == "gpu":
        return [f"task={task}", "experiment=efficacy_qwen3_4b"]
    return [f"task={task}"]


def real_datasets(task_cfg: Any, real_root: Path) -> list[Path]:
    """Dataset folders under `real_root` that one of the task's real-data adapters reads."""
    from rewards.tasks import resolve

    task = resolve(task_cfg).task
    return [real_root / name for name in task.adapters if (real_root / name).is_dir()]


def _stage_summary(s: dict[str, Any]) -> dict[str, Any]:
    keep = ("metric", "scale", "value", "ci_low", "ci_high", "n", "n_scored", "errors",
            "unscored", "dimensions", "rubric_hash")
    return {k: s.get(k) for k in keep}


def commit() -> str:
    """HEAD's short hash, `+dirty` when tracked files differ from it (the row's code)."""
    import subprocess

    def git(*a: str) -> str:
        return subprocess.run(["git", *a], capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def alarms(stage_dir: Path) -> list[str]:
    """The Goodhart alarms an RL stage raised (its alerts.jsonl), one line each."""
    path = stage_dir / "alerts.jsonl"
    if not path.is_file():
        return []
    return [json.loads(x)["text"] for x in path.read_text().splitlines() if x.strip()]


def make_row(task: str, data: str, preset: str, cfg: Any, evals: dict[str, Any],
             deltas: dict[str, Any], wall_s: float, run_dir: Path,
             facts: dict[str, Any] | None = None) -> dict[str, Any]:
    facts = facts or {}
    return {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "task": task,
            "data": data, "train_data": "generated", "preset": preset, "commit": commit(),
            "model": str(cfg.model.name), "evals": {k: _stage_summary(v) for k, v in evals.items()},
            "deltas": deltas, "wall_s": round(wall_s, 1),
            "stage_walls": facts.get("walls"), "cpu_s": facts.get("cpu_s"),
            "alarms": facts.get("alarms", []),
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
    facts["alarms"] = alarms(run_dir / str(cfg.rl))
    row = make_row(task, "generated", preset, cfg, out["evals"], out["deltas"],
                   time.perf_counter() - t0, run_dir, facts)
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
    from rl.evaluate import load_records
    from rl.pipeline import evaluate_once

    scores = evaluate_once(ecfg)
    (name, summary), = scores["tasks"].items()
    return dict(summary) | {"records": load_records(ecfg.run_dir, name)}


# --- the markdown -----------------------------------------------------------------------------
def _v(s: dict | None) -> str:
    if not s or s.get("value") is None:
        return "–"
    ci = "" if s.get("ci_low") is None else f" [{s['ci_low']:.2f}, {s['ci_high']:.2f}]"
    return f"{s['value']:.3f}{ci}"


def render(rows: list[dict]) -> str:
    """efficacy.md from every row so far (newest run of a task/data pair last)."""
    out = ["# Efficacy benchmark: base / SFT / RL over the suite", "",
           "Written by `python -m benchmarks.efficacy` (benchmarks/efficacy.py); one row per task and "
           "eval data, dated, appended as each finishes (raw rows: `efficacy.jsonl`). Scores are "
           "the task's rubric harness on its eval split, greedy; [..] = bootstrap 95% CI. Deltas "
           "are paired over the same eval examples (paired bootstrap 95% CI, 1000 resamples): "
           "✓ = CI above 0, ✗ = below 0. Transfer rows (`real: ...`) evaluate the checkpoints "
           "trained on generated data on the real dataset's split.", "",
           "| date | commit | task | eval data | model (preset) | metric | base | SFT | RL "
           "| SFT − base | RL − SFT | n | wall s | CPU s | load (1/5/15) | alarms |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        e, d = r["evals"], r["deltas"]
        first = e.get("base") or next(iter(e.values()))
        lo, hi = first.get("scale") or (0, 1)
        cpu = (r.get("cpu_s") or {}).get("total")
        out.append(f"| {r['date']} | {r.get('commit', '–')} | {r['task']} | {r['data']} | "
                   f"{r['model']} "
                   f"({r.get('preset', '?')}) | "
                   f"{first.get('metric')} ({lo:g}–{hi:g}) | {_v(e.get('base'))} | "
                   f"{_v(e.get('sft'))} | {_v(e.get('rl'))} | {fmt_delta(d.get('sft_minus_base'))} | "
                   f"{fmt_delta(d.get('rl_minus_sft'))} | {first.get('n')} | {r['wall_s']:.0f} | "
                   f"{'–' if cpu is None else f'{cpu:.0f}'} | "
                   f"{' / '.join(f'{x:.1f}' for x in r.get('load_avg', []))} | "
                   f"{len(r['alarms']) if 'alarms' in r else '–'} |")
    out += ["", "## Per-dimension paired deltas", "",
            "| date | task | eval data | dimension | SFT − base | RL − SFT | RL − base |",
            "|---|---|---|---|---|---|---|"]
    for r in rows:
        d = r["deltas"]
        dims = sorted({k for x in d.values() for k in (x.get("dimensions") or {})})
        for dim in dims:
            cells = [fmt_delta((d.get(k) or {}).get("dimensions", {}).get(dim))
                     for k in ("sft_minus_base", "rl_minus_sft", "rl_minus_base")]
            out.append(f"| {r['date']} | {r['task']} | {r['data']} | {dim} | "
                       + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def summary(rows: list[dict], tasks: list[str], preset: str) -> str:
    """The suite table: per task (in `tasks` order) its newest `preset` row on generated data,
    then its newest transfer rows; deltas with their paired CIs, commit and machine."""
    newest: dict[tuple[str, str], dict] = {}
    for r in rows:
        if r.get("preset") == preset:
            newest[(r["task"], r["data"])] = r
    out = ["| task | eval data | metric | n | base | SFT | RL | SFT − base | RL − SFT | commit |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for task in tasks:
        keys = sorted((k for k in newest if k[0] == task), key=lambda k: k[1] != "generated")
        if not keys:
            out.append(f"| {task} | – | – | – | – | – | – | – | – | no {preset} row yet |")
        for key in keys:
            r = newest[key]
            e, d = r["evals"], r["deltas"]
            lo, hi = e["base"].get("scale") or (0, 1)
            out.append(f"| {task} | {r['data']} | {e['base']['metric']} ({lo:g}–{hi:g}) | "
                       f"{e['base']['n']} | " + " | ".join(
                           "–" if e[k].get("value") is None else f"{e[k]['value']:.3f}"
                           for k in ("base", "sft", "rl"))
                       + f" | {fmt_delta(d.get('sft_minus_base'))} | {fmt_delta(d.get('rl_minus_sft'))} | "
                       f"{r.get('commit', '–')} |")
    return "\n".join(out)


def append_row(out: Path, row: dict, render=render) -> None:
    """Append `row` to <out>.jsonl and re-render <out> from all rows with `render`, keeping
    the hand-written notes below NOTES_MARK (also benchmarks.rubric_ablation's writer)."""
    jsonl = out.with_suffix(".jsonl")
    jsonl.parent.mkdir(parents=True, exist_ok=True)
    with jsonl.open("a") as f:
        f.write(json.dumps(row, default=str) + "\n")
    rows = [json.loads(x) for x in jsonl.read_text().splitlines() if x.strip()]
    text = out.read_text() if out.is_file() else ""
    notes = text.split(NOTES_MARK, 1)[1] if NOTES_MARK in text else ""
    out.write_text(render(rows) + (NOTES_MARK + notes if notes else ""))
    what = row["task"] + (f" / {row['data']}" if "data" in row else "")
    print(f"[{out.stem}] row appended: {what} -> {out}", file=sys.stderr, flush=True)


# hand-written notes below this line in the markdown survive re-rendering
NOTES_MARK = "\n<!-- notes -->\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(prog="python -m benchmarks.efficacy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default=",".join(SUITE), help="comma-separated conf/task options")
    p.add_argument("--preset", choices=PRESETS, default="cpu")
    p.add_argument("--out", default="benchmarks/results/efficacy.md")
    p.add_argument("--run-root", default=None, help="default runs/<job id|local>/efficacy-<preset>")
    p.add_argument("--real-root", default="../shared/data/real",
                   help="folder holding the real datasets (transfer rows); absent = skipped")
    p.add_argument("--no-real", action="store_true", help="generated-data rows only")
    p.add_argument("--transfer-only", action="store_true",
                   help="only the transfer rows, from each task's finished run under --run-root")
    p.add_argument("--summary", action="store_true",
                   help="print the suite table (newest row per task and eval data of <out>.jsonl, "
                   "the README's table) and exit")
    args = p.parse_args(argv)
    if args.summary:
        rows = [json.loads(x) for x in Path(args.out).with_suffix(".jsonl").read_text()
                .splitlines() if x.strip()]
        print(summary(rows, [t.strip() for t in args.tasks.split(",") if t.strip()],
                      args.preset))
        return 0
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
