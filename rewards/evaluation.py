"""The evaluator every stage shares: completions -> harness -> per-sample records -> summary.

SFT's in-training evaluation, `rl.evaluate` (the benchmark suite) and the pipeline all grade
through `score_completions` + `summarize_task`, so a number means the same wherever it came
from. Generation stays with the caller (an RL rollout engine, or SFT's in-memory model); this
module only needs each completion's `text` (and optionally `token_ids`, `finish_reason`,
`error`).

A record is a dict with at least `metric_value` (float or None), `error` (str or None),
`difficulty`, `dimensions` ({name: 0-1 or None}) and `verdicts` ({check: {"status": ...}}).
Records with an error are counted in `errors` and excluded from every mean; records the
harness could not score (`metric_value` None, e.g. a dimension under its coverage floor) are
counted in `unscored` and excluded too, never turned into zeros.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rewards.sample import Sample

DIFFICULTIES = ("easy", "medium", "hard")


def bootstrap_ci(values: Sequence[float], n_resamples: int = 1000, ci: float = 0.95,
                 seed: int = 0) -> tuple[float | None, float | None]:
    """Percentile bootstrap CI of the mean: (lo, hi); (None, None) for no values.

    values: (n,) floats. Resamples n with replacement `n_resamples` times from
    `np.random.default_rng(seed)`, so the same inputs always give the same interval.
    """
    x = np.asarray(list(values), dtype=np.float64)
    if x.size == 0:
        return None, None
    if x.size == 1 or np.all(x == x[0]):
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_resamples, x.size))
    means = x[idx].mean(axis=1)  # (n_resamples,)
    alpha = (1.0 - ci) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def _mean(xs: Sequence[float]) -> float | None:
    return float(np.mean(xs)) if len(xs) else None


def summarize_task(records: Sequence[Mapping[str, Any]], metric: str,
                   scale: Sequence[float] = (0.0, 1.0), n_resamples: int = 1000,
                   ci: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """One task's numbers: metric mean + CI, per-dimension and per-difficulty means,
    per-check pass rates, n, errors, unscored."""
    ok = [r for r in records if not r.get("error")]
    scored = [r for r in ok if r.get("metric_value") is not None]
    values = [float(r["metric_value"]) for r in scored]
    lo, hi = bootstrap_ci(values, n_resamples, ci, seed)
    dims: dict[str, list[float]] = {}
    checks: dict[str, list[int]] = {}
    for r in ok:
        for name, v in (r.get("dimensions") or {}).items():
            if v is not None:
                dims.setdefault(name, []).append(float(v))
        for cid, v in (r.get("verdicts") or {}).items():
            status = v.get("status") if isinstance(v, Mapping) else v
            if status in ("pass", "fail"):
                checks.setdefault(cid, []).append(int(status == "pass"))
    by_diff = {}
    for d in sorted({r.get("difficulty") for r in records if r.get("difficulty")},
                    key=lambda d: (DIFFICULTIES.index(d) if d in DIFFICULTIES else 9, d)):
        vs = [float(r["metric_value"]) for r in scored if r.get("difficulty") == d]
        by_diff[d] = {"value": _mean(vs), "n": len(vs)}
    return {
        "metric": metric, "scale": [float(scale[0]), float(scale[1])],
        "value": _mean(values), "ci_low": lo, "ci_high": hi, "ci": ci,
        "n": len(records), "n_scored": len(scored), "errors": len(records) - len(ok),
        "unscored": len(ok) - len(scored),
        "dimensions": {k: _mean(v) for k, v in sorted(dims.items())},
        "difficulty": by_diff,
        "checks": {k: {"pass_rate": _mean(v), "n": len(v)} for k, v in sorted(checks.items())},
    }


def record(task_name: str, sample: Sample, j: int, gen: Any, result: Any) -> dict[str, Any]:
    """One per-sample row: the sample, completion `j` of it (`gen`), and its harness result
    (None when the generation failed). The metric value is the harness score: every suite
    rubric puts its task's metric on the task's scale."""
    row: dict[str, Any] = {
        "id": sample.id, "task": task_name, "sample_index": j,
        "difficulty": (sample.meta or {}).get("difficulty"),
        "prompt": sample.prompt, "reference": sample.reference, "completion": gen.text,
        "finish_reason": getattr(gen, "finish_reason", None),
        "n_tokens": len(getattr(gen, "token_ids", None) or []),
        "error": getattr(gen, "error", None),
        "metric_value": None, "score": None, "normalized": None, "dimensions": {},
        "verdicts": {}, "failed_checks": {}, "rubric_hash": None}
    if result is not None:
        row |= {"metric_value": result.score, "score": result.score,
                "normalized": result.normalized, "dimensions": dict(result.dimensions),
                "verdicts": {k: {"status": v.status, "value": v.value, "reason": v.reason}
                             for k, v in result.verdicts.items()},
                "failed_checks": result.failed_checks(), "rubric_hash": result.rubric_hash}
    return row


def score_completions(task_name: str, samples: Sequence[Sample], gens: Sequence[Sequence[Any]],
                      harness: Any) -> list[dict[str, Any]]:
    """Score `gens[i][j]` (completion j of sample i) with `harness`; one record per completion,
    in sample order. Failed generations (`error` set) are recorded, not scored."""
    todo = []
    for i, (s, row) in enumerate(zip(samples, gens, strict=True)):
        for j, g in enumerate(row):
            if getattr(g, "error", None) is None:
                sid = s.id if len(row) == 1 else f"{s.id}#{j}"
                todo.append(((i, j), Sample(id=sid, prompt=s.prompt, source=s.source,
                                            reference=s.reference, completion=g.text,
                                            meta=dict(s.meta or {}))))
    results = dict(zip([k for k, _ in todo], harness.score_batch([s for _, s in todo]),
                       strict=True)) if todo else {}
    return [record(task_name, s, j, g, results.get((i, j)))
            for i, (s, row) in enumerate(zip(samples, gens, strict=True))
            for j, g in enumerate(row)]
