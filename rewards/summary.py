"""Batch statistics over harness results: what each check and dimension is doing.

`zero_var_frac` per check is the share of groups (GRPO groups: completions of one prompt) in
which the check gave every member the same value — a check that never varies inside a group
gives GRPO no learning signal, however important it looks in the rubric.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from statistics import fmean

from rewards.rubric import Rubric
from rewards.verdict import HarnessResult


def percentile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summarize(results: Sequence[HarnessResult], rubric: Rubric | None = None,
              group_ids: Sequence[object] | None = None) -> dict:
    """Per-check pass/abstain rates and mean values, per-dimension means, judge use (verdicts,
    cache hits, checks asked, errors and their rate over the checks asked, the commonest
    error), latency p50/p95 of the checks that ran (a judge check's own request time) and
    (given group ids) per-check zero-variance group share."""
    scores = [r.score for r in results if r.score is not None]
    out: dict = {"n": len(results), "n_scored": len(scores), "n_masked": len(results) - len(scores),
                 "score_mean": fmean(scores) if scores else None,
                 "normalized_mean": fmean([r.normalized for r in results if r.normalized is not None])
                 if scores else None,
                 "dimensions": {}, "checks": {}}
    # audit checks: scored like the rest, reported apart, never in score_mean (rubric.py)
    audits = [r.audit for r in results if r.audit is not None]
    out["audit_mean"] = fmean(audits) if audits else None
    dims = defaultdict(list)
    for r in results:
        for name, v in r.dimensions.items():
            if v is not None:
                dims[name].append(v)
    out["dimensions"] = {k: fmean(v) for k, v in dims.items()}
    check_ids = list(results[0].verdicts) if results else []
    latencies = []
    for cid in check_ids:
        vs = [r.verdicts[cid] for r in results]
        run = [v for v in vs if not v.skipped]
        answered = [v for v in run if v.status != "abstain"]
        latencies += [v.latency_s for v in run if not v.cached]
        out["checks"][cid] = {
            "pass_rate": sum(v.status == "pass" for v in answered) / len(answered) if answered else None,
            "abstain_rate": (len(run) - len(answered)) / len(run) if run else None,
            "skipped": len(vs) - len(run),
            "mean_value": fmean([v.score() for v in answered]) if answered else None,
        }
    if group_ids is not None:
        _zero_variance(results, group_ids, out["checks"])
    out["latency_p50_s"] = percentile(latencies, 0.5)
    out["latency_p95_s"] = percentile(latencies, 0.95)
    if rubric is not None:
        out["audit_checks"] = [c.id for c in rubric.checks if c.audit]
        judge_ids = [c.spec.id for c in rubric.built if c.needs_judge]
        run = [r.verdicts[c] for r in results for c in judge_ids if not r.verdicts[c].skipped]
        asked = [v for v in run if not v.cached]  # abstains are never cached
        errors = sum(v.status == "abstain" for v in asked)
        out |= {"judge_verdicts": len(run), "judge_cache_hits": len(run) - len(asked),
                "judge_asked": len(asked), "judge_errors": errors,
                "judge_error_rate": errors / len(asked) if asked else None,
                "judge_error": judge_error_reason(results, rubric.built)}
    return out


def judge_error_reason(results: Sequence[HarnessResult], checks: Sequence) -> str | None:
    """The commonest reason among the judge checks' error abstains (None: no judge check
    failed): what the CLI warning and the RL stop message name."""
    ids = [c.spec.id for c in checks if getattr(c, "needs_judge", False)]
    reasons = Counter(v.reason for r in results for cid in ids for v in [r.verdicts[cid]]
                      if v.status == "abstain" and not v.skipped and not v.cached)
    return reasons.most_common(1)[0][0] if reasons else None


def _zero_variance(results, group_ids, checks: dict) -> None:
    if len(group_ids) != len(results):
        raise ValueError(f"group_ids has {len(group_ids)} entries for {len(results)} results")
    groups = defaultdict(list)
    for r, g in zip(results, group_ids, strict=True):
        groups[g].append(r)
    for cid, stats in checks.items():
        flat = counted = 0
        for members in groups.values():
            values = [m.verdicts[cid].score() for m in members]
            values = [v for v in values if v is not None]
            if len(values) < 2:
                continue
            counted += 1
            flat += max(values) - min(values) < 1e-9
        stats["zero_var_frac"] = flat / counted if counted else None


def format_summary(s: dict) -> str:
    """A plain-text table for terminals."""
    def f(x, pct=False):
        return "-" if x is None else (f"{100 * x:5.1f}%" if pct else f"{x:.3f}")

    lines = [f"samples {s['n']}  scored {s['n_scored']}  masked {s['n_masked']}  "
             f"mean score {f(s['score_mean'])}  (normalised {f(s['normalized_mean'])})"]
    if s.get("audit_mean") is not None:
        lines.append(f"audit score mean {f(s['audit_mean'])} (not in the reward; checks: "
                     f"{', '.join(s.get('audit_checks') or [])})")
    if s.get("judge_verdicts"):
        reqs = f" in {s['judge_requests']} requests" if "judge_requests" in s else ""
        lines.append(f"judge verdicts {s['judge_verdicts']}: {s['judge_cache_hits']} from the "
                     f"cache, {s['judge_asked']} asked{reqs}; errors {s['judge_errors']} "
                     f"({f(s['judge_error_rate'], True).strip()} of asked)")
    queue = ""
    if s.get("judge_queue_p95_s") is not None:
        queue = (f"  (judge checks queued for the judge budget: p50 "
                 f"{f(s['judge_queue_p50_s'])}s  p95 {f(s['judge_queue_p95_s'])}s)")
    lines.append(f"latency p50 {f(s['latency_p50_s'])}s  p95 {f(s['latency_p95_s'])}s{queue}")
    lines.append("")
    lines.append(f"{'dimension':<32}{'mean':>8}")
    lines += [f"{k:<32}{f(v):>8}" for k, v in s["dimensions"].items()]
    lines.append("")
    has_zv = any("zero_var_frac" in c for c in s["checks"].values())
    head = f"{'check':<32}{'pass':>8}{'abstain':>9}{'skipped':>9}{'value':>8}"
    lines.append(head + (f"{'zero-var':>10}" if has_zv else ""))
    for cid, c in s["checks"].items():
        row = (f"{cid[:31]:<32}{f(c['pass_rate'], True):>8}{f(c['abstain_rate'], True):>9}"
               f"{c['skipped']:>9}{f(c['mean_value']):>8}")
        if has_zv:
            row += f"{f(c.get('zero_var_frac'), True):>10}"
        lines.append(row)
    return "\n".join(lines)
