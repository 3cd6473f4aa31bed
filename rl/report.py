"""Evaluation summaries, the markdown report, the bar chart and the multi-run comparison.

Pure functions over per-sample records (the rows `rl.evaluate` writes to `samples.jsonl`):

    summary = summarize_task(records, metric="accuracy", scale=(0, 1), seed=0)
    md = render_report({"support_classification": summary, ...}, header={...})
    plot_scores(tasks, "scores.png")
    md = compare_runs([scores_a, scores_b], names=["base", "sft"])

A record is a dict with at least `metric_value` (float or None), `error` (str or None),
`difficulty`, `dimensions` ({name: 0-1 or None}) and `verdicts` ({check: {"status": ...}}).
Records with an error are counted in `errors` and excluded from every mean; records the
harness could not score (`metric_value` None, e.g. a dimension under its coverage floor) are
counted in `unscored` and excluded too, never turned into zeros.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rewards.evaluation import DIFFICULTIES, bootstrap_ci, paired_delta, summarize_task

__all__ = ["DIFFICULTIES", "bootstrap_ci", "compare_runs", "delta_cell", "plot_scores",
           "render_report", "summarize_task"]


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _ci(s: Mapping[str, Any]) -> str:
    if s.get("ci_low") is None:
        return "–"
    return f"[{s['ci_low']:.3f}, {s['ci_high']:.3f}]"


def task_table(tasks: Mapping[str, Mapping[str, Any]]) -> str:
    """The headline table: one row per task."""
    rows = ["| task | metric | value | 95% CI | easy | medium | hard | n | errors | unscored |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in tasks.items():
        diff = s.get("difficulty", {})
        cells = [_fmt((diff.get(d) or {}).get("value")) for d in DIFFICULTIES]
        lo, hi = s.get("scale", [0, 1])
        mark = " ⚠" if s.get("warnings") else ""
        rows.append(f"| {name} | {s['metric']} ({lo:g}–{hi:g}) | {_fmt(s['value'])}{mark} | "
                    f"{_ci(s)} | "
                    f"{' | '.join(cells)} | {s['n']} | {s['errors']} | {s.get('unscored', 0)} |")
    return "\n".join(rows)


def dimension_table(name: str, s: Mapping[str, Any]) -> str:
    """Per-dimension means (0-1) and per-check pass rates for one task."""
    lines = [f"### {name}", ""]
    if s.get("max_new_tokens") is not None:
        lines += [f"Completion budget {s['max_new_tokens']} tokens ({s.get('budget_from')}); "
                  f"{s.get('truncated_frac', 0):.0%} of completions ended on it.", ""]
    lines += [f"- ⚠ {w}" for w in s.get("warnings") or []]
    lines += [""] if s.get("warnings") else []
    lines += ["| dimension | mean (0–1) |", "|---|---|"]
    lines += [f"| {d} | {_fmt(v)} |" for d, v in s.get("dimensions", {}).items()]
    if s.get("checks"):
        lines += ["", "| check | pass rate | n |", "|---|---|---|"]
        lines += [f"| {c} | {_fmt(v['pass_rate'])} | {v['n']} |" for c, v in s["checks"].items()]
    return "\n".join(lines)


def render_report(tasks: Mapping[str, Mapping[str, Any]],
                  header: Mapping[str, Any] | None = None) -> str:
    """report.md: run facts, the headline table, then one section per task."""
    out = ["# Evaluation report", ""]
    for k, v in (header or {}).items():
        out.append(f"- **{k}**: {v}")
    out += ["", task_table(tasks), "",
            "Value: mean over scored samples; 95% CI: percentile bootstrap of the mean "
            "(1000 resamples, seeded). Errors (generation failures) and unscored samples "
            "(harness returned no score) are excluded from means, never counted as 0."
            + (" ⚠: the task's section below says what looks wrong (answers cut at the length "
               "limit, a check that never answers, ...)."
               if any(s.get("warnings") for s in tasks.values()) else ""), ""]
    for name, s in tasks.items():
        out += [dimension_table(name, s), ""]
    return "\n".join(out)


def plot_scores(tasks: Mapping[str, Mapping[str, Any]], path: str | Path,
                runs: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None) -> Path:
    """Bar chart of each task's value normalised to 0-1 by its scale, with CI whiskers.

    `runs` ({run name: tasks}) draws grouped bars, one colour per run (the compare view)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = runs or {"run": tasks}
    names = list(dict.fromkeys(t for r in runs.values() for t in r))
    width = 0.8 / max(1, len(runs))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.6 * len(names) * max(1, len(runs)) ** 0.5), 3.6))
    for k, (run, ts) in enumerate(runs.items()):
        vals, errs = [], [[], []]
        for t in names:
            s = ts.get(t) or {}
            lo_s, hi_s = (s.get("scale") or [0.0, 1.0])[:2]
            span = (hi_s - lo_s) or 1.0
            v = s.get("value")
            norm = (v - lo_s) / span if v is not None else 0.0
            vals.append(norm)
            lo = (s["ci_low"] - lo_s) / span if s.get("ci_low") is not None else norm
            hi = (s["ci_high"] - lo_s) / span if s.get("ci_high") is not None else norm
            errs[0].append(max(0.0, norm - lo))
            errs[1].append(max(0.0, hi - norm))
        xs = [i + (k - (len(runs) - 1) / 2) * width for i in range(len(names))]
        ax.bar(xs, vals, width, yerr=errs, capsize=3, label=run)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("value / scale max (0–1)")
    if len(runs) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _delta(v: float | None, base: float | None) -> str:
    if v is None or base is None:
        return ""
    return f" ({v - base:+.3f})"


def delta_cell(d: Mapping[str, Any] | None) -> str:
    """A paired delta {mean, ci_low, ci_high, n} as `+0.125 [+0.031, +0.219] n=64`."""
    if not d or d.get("mean") is None:
        return "–"
    return f"{d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] n={d['n']}"


def compare_runs(runs: Sequence[Mapping[str, Any]], names: Sequence[str],
                 records: Sequence[Sequence[Mapping[str, Any]]] | None = None) -> str:
    """One markdown table over runs (each a scores.json dict), deltas vs the first run.

    Rows: task x metric; columns: each run's value [CI] n/errors. A task missing from a run
    shows "–". Rubric hashes that differ from the first run's are flagged: the numbers are
    then not comparable. `records` (each run's samples.jsonl rows, same order as `runs`) adds
    a table of paired deltas vs the first run: the mean of (run - first) over the sample ids
    both scored, with a paired bootstrap 95% CI (rewards.evaluation.paired_delta)."""
    tasks = list(dict.fromkeys(t for r in runs for t in r.get("tasks", {})))
    head = "| task | metric | " + " | ".join(names) + " |"
    rows = [head, "|---|---|" + "---|" * len(names)]
    warnings = []
    for t in tasks:
        base = runs[0].get("tasks", {}).get(t) or {}
        metric = next((r["tasks"][t]["metric"] for r in runs if t in r.get("tasks", {})), "")
        cells = []
        for name, r in zip(names, runs, strict=True):
            s = r.get("tasks", {}).get(t)
            if not s:
                cells.append("–")
                continue
            cells.append(f"{_fmt(s['value'])}{_delta(s['value'], base.get('value')) if r is not runs[0] else ''}"
                         f" {_ci(s)} n={s['n']}" + (f" err={s['errors']}" if s["errors"] else ""))
            if base.get("rubric_hash") and s.get("rubric_hash") not in (None, base["rubric_hash"]):
                warnings.append(f"- {name}/{t}: rubric hash {s['rubric_hash'][:12]} differs from "
                                f"{names[0]}'s {base['rubric_hash'][:12]}; not comparable")
        rows.append(f"| {t} | {metric} | " + " | ".join(cells) + " |")
    out = ["# Comparison", "", f"Deltas are against **{names[0]}**.", "", *rows]
    paired = _paired_rows(tasks, names, records) if records else []
    if paired:
        out += ["", f"Paired deltas vs **{names[0]}** (mean over the sample ids both runs "
                "scored, paired bootstrap 95% CI, 1000 resamples, seed 0):", "",
                "| task | " + " | ".join(names[1:]) + " |", "|---|" + "---|" * (len(names) - 1),
                *paired]
    if warnings:
        out += ["", "Warnings:", *warnings]
    return "\n".join(out) + "\n"


def _paired_rows(tasks: Sequence[str], names: Sequence[str],
                 records: Sequence[Sequence[Mapping[str, Any]]]) -> list[str]:
    """One row per task where at least one run shares sample ids with the first."""
    rows = []
    for t in tasks:
        base = [r for r in records[0] if r.get("task") == t]
        cells = [delta_cell(paired_delta(base, [r for r in recs if r.get("task") == t]))
                 if base else "–" for recs in records[1:]]
        if any(c != "–" for c in cells):
            rows.append(f"| {t} | " + " | ".join(cells) + " |")
    return rows
