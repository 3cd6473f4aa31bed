"""Verdicts → dimension scores → one harness score. Pure functions, no I/O.

Per dimension (checks that did not run — `skipped` — are left out entirely):
- coverage = answered weight / run weight (pitfalls included); abstains are excluded and the
  weighted mean re-normalises over answered checks, so an abstain never counts as a fail;
- a failed gate zeroes the dimension (a failed `gate: global` zeroes the total);
- below `min_coverage` the dimension is None, and so is the sample's score (the RL loop masks
  it) — never a fake 0;
- score = weighted mean of answered non-pitfall checks, minus each failed pitfall's weight
  (a pitfall's weight is the share of the dimension it removes), clamped to [0, 1].
Total = scale_lo + (scale_hi - scale_lo) · Σ_d w_d·s_d / Σ_d w_d over dimensions that ran.
Audit checks (`audit: true`) take no part in any of this; `audit_score` is their plain mean.
"""

from __future__ import annotations

from collections.abc import Mapping

from rewards.rubric import CheckSpec, Rubric
from rewards.verdict import Verdict


def dimension_score(specs: list[CheckSpec], verdicts: Mapping[str, Verdict],
                    min_coverage: float) -> tuple[float | None, float, bool]:
    """(score in [0,1] or None, coverage, ran). `ran` is False when every check was skipped."""
    run = [s for s in specs if not verdicts[s.id].skipped]
    if not run:
        return None, 0.0, False
    if any(s.gate and verdicts[s.id].status == "fail" for s in run):
        return 0.0, _coverage(run, verdicts), True
    coverage = _coverage(run, verdicts)
    if coverage < min_coverage or coverage == 0.0:
        return None, coverage, True
    positive = [s for s in run if not s.pitfall and verdicts[s.id].status != "abstain"]
    has_positive = any(not s.pitfall for s in run)
    if has_positive and not positive:
        return None, coverage, True
    total_w = sum(s.weight for s in positive)
    base = sum(s.weight * verdicts[s.id].score() for s in positive) / total_w if positive else 1.0
    penalty = sum(s.weight * (1.0 - verdicts[s.id].score()) for s in run
                  if s.pitfall and verdicts[s.id].status == "fail")
    return min(1.0, max(0.0, base - penalty)), coverage, True


def _coverage(run: list[CheckSpec], verdicts: Mapping[str, Verdict]) -> float:
    total = sum(s.weight for s in run)
    return sum(s.weight for s in run if verdicts[s.id].status != "abstain") / total


def global_gate_failed(rubric: Rubric, verdicts: Mapping[str, Verdict]) -> bool:
    """A `gate: global` check failed: the total is 0 whatever the dimensions score."""
    return any(s.is_global_gate and (v := verdicts.get(s.id)) is not None and v.status == "fail"
               for s in rubric.checks)


def aggregate(rubric: Rubric, verdicts: Mapping[str, Verdict]):
    """→ (score on scale | None, normalised | None, {dim: score|None}, {dim: coverage})."""
    dims: dict[str, float | None] = {}
    coverage: dict[str, float] = {}
    ran: dict[str, bool] = {}
    for name, dim in rubric.dimensions.items():
        specs = [s for s in rubric.checks if s.dimension == name and not s.audit]
        dims[name], coverage[name], ran[name] = dimension_score(specs, verdicts, dim.min_coverage)
    active = [n for n in dims if ran[n]]
    if global_gate_failed(rubric, verdicts):
        norm: float | None = 0.0
    elif not active or any(dims[n] is None for n in active):
        norm = None
    else:
        w = sum(rubric.dimensions[n].weight for n in active)
        norm = sum(rubric.dimensions[n].weight * dims[n] for n in active) / w
    lo, hi = rubric.scale
    return (None if norm is None else lo + (hi - lo) * norm), norm, dims, coverage


def audit_score(rubric: Rubric, verdicts: Mapping[str, Verdict]) -> float | None:
    """Mean value of the answered audit checks in [0, 1] (pass = 1, a passing pitfall = 1);
    None when the rubric has none or all abstained."""
    values = [verdicts[s.id].score() for s in rubric.checks if s.audit]
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None
