"""Acceptance benchmark of rewards.draft: can a rubric drafted from 50 references stand in for
the hand-written suite rubric?

For each suite task (and the real datasets SROIE, Bitext, MTS-Dialog when present): draft from
the task's 50 eval references (seed 0, no endpoint), then report
- gold: the draft's score of those references (and of the held-out half, fitted on the other);
- hacks: every rewards.probe transform's mean score as a share of the scale (worst shown), and
  whether every probe lands strictly below gold;
- agreement: Spearman between the draft's and the suite rubric's scores (no judge) over the
  gold answers, every probe output, and the base/SFT/RL completions of a pipeline run when one
  is found under --runs (`<runs>/<task>/eval-{base,sft,rl}/samples.jsonl`, joined to the
  eval split by id for source and meta); the table says which outputs each row used;
- seconds: wall and CPU time of the draft (probes and held-out validation included).

Writes benchmarks/results/draft.md and benchmarks/results/drafts/<task>.{md,yaml} (the review
and the drafted rubric).

    python -m benchmarks.draft                                   # every task, gold + probes
    python -m benchmarks.draft --runs /work/exp/eff              # + pipeline outputs found
    python -m benchmarks.draft --tasks pisar_rationale --no-real
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

REAL = {"invoice_extraction": "sroie", "support_classification": "bitext-support",
        "clinical_scribe": "mts-dialog"}
STAGES = ("base", "sft", "rl")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks.draft",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default="all", help="comma-separated suite tasks (default all)")
    p.add_argument("--n", type=int, default=50, help="references to draft from (default 50)")
    p.add_argument("--seed", type=int, default=0, help="task generator / split seed")
    p.add_argument("--runs", help="pipeline run root: <runs>/<task>/eval-{base,sft,rl}/")
    p.add_argument("--real-root", default="../shared/data/real",
                   help="real datasets folder (default ../shared/data/real)")
    p.add_argument("--no-real", action="store_true", help="generated data only")
    p.add_argument("--no-semantic", action="store_true",
                   help="drafts without the embedding-similarity check (no torch in the "
                        "drafts; the pisar suite rubric still loads MiniLM to rank)")
    p.add_argument("--out", default="benchmarks/results/draft.md")
    p.add_argument("--drafts-dir", default="benchmarks/results/drafts")
    return p.parse_args(argv)


def examples_of(samples):
    from rewards.draft.inputs import Example, gold_of
    from rewards.normalize import parse_json

    out = []
    for s in samples:
        if s.reference is not None:
            gold = gold_of(s.reference)
            out.append(Example(s, gold, parse_json(gold)[0]))
    return out


def run_outputs(runs: str | None, task: str, split) -> tuple[list, list[str]]:
    """Completions of the pipeline run's eval stages, as samples of the eval split (the
    samples.jsonl rows carry id, prompt, reference and completion, not source or meta)."""
    if not runs:
        return [], []
    by_id = {s.id: s for s in split}
    out, stages = [], []
    for stage in STAGES:
        path = Path(runs) / task / f"eval-{stage}" / "samples.jsonl"
        if not path.is_file():
            continue
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        got = [replace(by_id[r["id"]], completion=r.get("completion") or "")
               for r in rows if r.get("id") in by_id]
        if got:
            out += got
            stages.append(f"{stage} {len(got)}")
    return out, stages


def probe_outputs(golds, rubric):
    from rewards.probes import registry

    out = []
    for s in golds:
        for t in registry().values():
            text = t.fn(s.completion, s, rubric)
            if text is not None and text != s.completion:
                out.append(replace(s, id=f"{s.id}::{t.name}", completion=text))
    return out


def agreement(draft_rubric, suite_rubric, samples) -> tuple[float | None, int]:
    from rewards.calibrate import spearman
    from rewards.engine import Harness

    a = Harness(draft_rubric, judge=None).score_batch(samples)
    b = Harness(suite_rubric, judge=None).score_batch(samples)
    # a masked score (coverage floor) is no reward at all: rank it with the lowest
    pairs = [(x.normalized or 0.0, y.normalized or 0.0) for x, y in zip(a, b, strict=True)]
    return spearman([x for x, _ in pairs], [y for _, y in pairs]), len(pairs)


def one(task: str, cfg: dict, args, label: str) -> dict:
    from rewards.draft.proposal import to_yaml
    from rewards.draft.review import render
    from rewards.rubric import load_rubric
    from rewards.tasks import get_task
    from rewards.tasks.loading import load_split, rubric_path_for

    split = load_split(cfg, "eval")
    examples = examples_of(split)[:args.n]
    desc = get_task(task).description
    w, c = time.perf_counter(), time.process_time()
    from rewards.draft.workbench import draft

    o = draft(examples, desc, encoder=None if args.no_semantic else "default")
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    golds = [e.scored() for e in examples]
    suite = load_rubric(rubric_path_for(cfg))
    runs, stages = run_outputs(args.runs, task, split) if cfg.get("source") != "real" else ([], [])
    outputs = golds + probe_outputs(golds, suite) + runs
    rho, n = agreement(o.rubric, suite, outputs)
    v = o.validation
    worst = max(v.hack_ceilings(), key=lambda h: h[2] or 0.0)
    below = not any(f.startswith("probe ") and "not below" in f for f in v.failures)
    drafts = Path(args.drafts_dir)
    drafts.mkdir(parents=True, exist_ok=True)
    intro = [f"Task: {desc}", "", f"{label}: {len(examples)} references (eval split, seed "
             f"{args.seed}); drafted in {wall:.1f} s wall, {cpu:.1f} s CPU. Contract: "
             f"**{o.contract}**."]
    (drafts / f"{label}.md").write_text(render(f"Draft for {label}", intro, o.rubric, v,
                                               {p.id: p.why for p in o.proposals}, 0.6,
                                               {p.id: p.flags for p in o.proposals}))
    (drafts / f"{label}.yaml").write_text(to_yaml(o.proposals, f"Drafted by rewards.draft from "
                                                  f"{len(examples)} references of {label}."))
    return {"label": label, "contract": o.contract, "checks": len(o.proposals),
            "gold": v.gold_pct, "heldout": v.heldout_pct, "worst": (worst[0], worst[2]),
            "below": below, "rho": rho, "n": n, "stages": stages,
            "wall": wall, "cpu": cpu, "left_out": [p.id for p in o.left_out]}


def table(rows: list[dict]) -> list[str]:
    def pct(x):
        return "-" if x is None else f"{100 * x:.1f}%"

    out = ["| task | contract | checks | gold | held-out gold | worst hack | every probe "
           "below gold | Spearman vs suite (n) | outputs ranked | seconds (wall / CPU) |",
           "|---|---|---:|---:|---:|---|---|---:|---|---:|"]
    for r in rows:
        rho = "-" if r["rho"] is None else f"{r['rho']:.2f}"
        out.append(f"| {r['label']} | {r['contract']} | {r['checks']} | {pct(r['gold'])} | "
                   f"{pct(r['heldout'])} | {r['worst'][0]} {pct(r['worst'][1])} | "
                   f"{'yes' if r['below'] else '**no**'} | {rho} ({r['n']}) | "
                   f"{', '.join(['gold', 'probes', *r['stages']])}"
                   f"{'' if r['stages'] else ' (no pipeline run)'} | "
                   f"{r['wall']:.1f} / {r['cpu']:.1f} |")
    return out


def write(args, argv, load, rows, done: bool) -> None:
    """The results file, rewritten after every task: a run stopped early keeps its rows."""
    cmd = " ".join(argv if argv is not None else sys.argv[1:])
    text = [
        "# rewards.draft: drafted vs hand-written rubrics", "",
        f"{dt.date.today().isoformat()}, {platform.machine()} {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load average {load[0]:.1f} at the start (shared machine:"
        " wall seconds are noisy, CPU seconds less so), one run per task, seed "
        f"{args.seed}: `python -m benchmarks.draft {cmd}`"
        + ("" if done else " (still running: the rows so far)"), "",
        "Each draft is fitted on the task's eval references with no endpoint; gold is its score "
        "of those references, held-out gold the score of half of them under checks fitted on "
        "the other half. Worst hack: the highest mean of any rewards.probe transform, as a "
        "share of the scale (bound 60%). Spearman: the draft's vs the suite rubric's scores "
        "(judge checks skipped) over gold, every probe output and, where a pipeline run was "
        "found, its base/SFT/RL completions (a masked score ranks as 0)."
        + (" Drafts without the similarity check (--no-semantic)." if args.no_semantic else ""),
        "",
        *table(rows), ""]
    left = [f"- {r['label']}: left out after the half-split: {', '.join(r['left_out'])}"
            for r in rows if r["left_out"]]
    if left:
        text += ["Checks the half-split validation left out:", "", *left, ""]
    Path(args.out).write_text("\n".join(text))


def main(argv=None) -> int:
    from rewards.tasks import list_tasks

    args = parse_args(argv)
    tasks = list_tasks() if args.tasks == "all" else args.tasks.split(",")
    load = os.getloadavg()
    rows = []
    for t in tasks:
        jobs = [({"name": t, "seed": args.seed, "n_eval": args.n}, t)]
        real = Path(args.real_root) / REAL.get(t, "")
        if not args.no_real and t in REAL and real.is_dir():
            jobs.append(({"name": t, "seed": args.seed, "n_eval": args.n, "source": "real",
                          "path": str(real)}, f"{t}.{REAL[t]}"))
        for cfg, label in jobs:
            rows.append(one(t, cfg, args, label))
            print(table(rows)[-1], flush=True)
            write(args, argv, load, rows, done=False)
    write(args, argv, load, rows, done=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
