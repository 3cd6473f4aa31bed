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


def paired_bootstrap_ci(a: Sequence[float], b: Sequence[float], n_resamples: int = 1000,
                        ci: float = 0.95, seed: int = 0,
                        indices: np.ndarray | None = None) -> dict[str, Any]:
    """Paired percentile bootstrap of the mean difference b - a over the same examples.

    a, b: (n,) floats, a[i] and b[i] measured on example i. Each resample draws n example
    indices with replacement and averages d = b - a over them (both rows of an example move
    together, so the example-to-example spread that two unpaired CIs each carry cancels).
    `indices` (n_resamples, n) ints fixes the resample set (tests); by default it is drawn
    from `np.random.default_rng(seed)` like `bootstrap_ci`. Returns {mean, ci_low, ci_high,
    n}; mean and bounds are None for n = 0. Identical rows give [0, 0]; b = a + c gives
    [c, c].
    """
    x, y = (np.asarray(list(v), dtype=np.float64) for v in (a, b))
    if x.shape != y.shape:
        raise ValueError(f"paired_bootstrap_ci: a has {x.size} values, b has {y.size}")
    d = y - x  # (n,)
    if d.size == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
    if indices is None:
        if d.size == 1 or np.all(d == d[0]):
            return {"mean": float(d[0]), "ci_low": float(d[0]), "ci_high": float(d[0]),
                    "n": int(d.size)}
        indices = np.random.default_rng(seed).integers(0, d.size, size=(n_resamples, d.size))
    means = d[np.asarray(indices)].mean(axis=1)  # (n_resamples,)
    alpha = (1.0 - ci) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return {"mean": float(d.mean()), "ci_low": float(lo), "ci_high": float(hi),
            "n": int(d.size)}


def per_sample_values(records: Sequence[Mapping[str, Any]],
                      dimension: str | None = None) -> dict[str, float]:
    """{sample id: value}: the metric (or `dimension`'s score) averaged over that sample's
    scored completions. Errors and unscored completions are left out; a sample with none
    left is absent, so a pairing never turns a missing score into a 0."""
    acc: dict[str, list[float]] = {}
    for r in records:
        if r.get("error"):
            continue
        v = r.get("metric_value") if dimension is None else (r.get("dimensions") or {}).get(
            dimension)
        if v is not None:
            acc.setdefault(str(r["id"]), []).append(float(v))
    return {k: float(np.mean(v)) for k, v in acc.items()}


def paired_delta(records_a: Sequence[Mapping[str, Any]], records_b: Sequence[Mapping[str, Any]],
                 n_resamples: int = 1000, ci: float = 0.95, seed: int = 0,
                 dimensions: bool = False) -> dict[str, Any]:
    """B - A over the sample ids both runs scored: {mean, ci_low, ci_high, n} from
    `paired_bootstrap_ci`, matched by record `id` (the eval split's stable sample ids).
    `dimensions=True` adds {"dimensions": {name: {...}}} for every dimension either run has."""
    va, vb = per_sample_values(records_a), per_sample_values(records_b)
    ids = sorted(va.keys() & vb.keys())
    out = paired_bootstrap_ci([va[i] for i in ids], [vb[i] for i in ids], n_resamples, ci, seed)
    if dimensions:
        names = sorted({d for r in [*records_a, *records_b] for d in (r.get("dimensions") or {})})
        out["dimensions"] = {}
        for name in names:
            da, db = per_sample_values(records_a, name), per_sample_values(records_b, name)
            both = sorted(da.keys() & db.keys())
            out["dimensions"][name] = paired_bootstrap_ci(
                [da[i] for i in both], [db[i] for i in both], n_resamples, ci, seed)
    return out


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
                             # a check that did not run (no judge, moot after a failed gate)
                             | ({"skipped": True} if v.skipped else {})
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
