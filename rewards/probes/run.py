"""Run hack transforms over gold samples and measure what the harness makes of them.

    report = probe(harness, golds, select(["empty", "reformat"]))
    report.rows["empty"].share_at_gold     # share of samples where the hack scored >= gold

Per transform: mean score of the hacked answers vs the gold answers of the same samples,
the share of samples at or above gold (a masked hack score never counts as reaching gold),
and per check the pass rate on hack vs gold: a check that passes a hack as often as it
passes gold did not notice the hack ("fooled").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import fmean
from typing import Any

from rewards.probes import Transform, registry
from rewards.sample import Sample

# scores within this of gold count as "at gold": float noise, not a real difference
TIE_EPS = 1e-9
# the bars: degenerate answers <= 10% of the scale, the control within 5% of gold
DEGENERATE_MAX = 0.10
CONTROL_TOL = 0.05


class ProbeError(ValueError):
    """Unknown transform or unusable gold; the message names the transform or sample."""


def gold_text(sample: Sample) -> str | None:
    """The gold completion: `completion` when set, else the reference (JSON for dicts/lists)."""
    if sample.completion is not None:
        return sample.completion
    ref = sample.reference
    if ref is None:
        return None
    return ref if isinstance(ref, str) else json.dumps(ref, ensure_ascii=False)


def select(names: Sequence[str] | None) -> list[Transform]:
    reg = registry()
    if not names:
        return list(reg.values())
    unknown = [n for n in names if n not in reg]
    if unknown:
        raise ProbeError(f"--transforms: unknown transform {unknown[0]!r}; known: "
                         f"{', '.join(reg)}")
    return [reg[n] for n in names]


@dataclass
class Row:
    name: str
    control: bool
    degenerate: bool
    n: int = 0
    n_masked: int = 0
    mean: float | None = None
    gold_mean: float | None = None
    share_at_gold: float = 0.0
    max_norm: float | None = None  # highest hacked score as a share of the scale
    # check id -> (pass rate on hack, pass rate on gold) over samples where both answered
    checks: dict[str, tuple[float, float]] = field(default_factory=dict)

    def fooled(self, k: int = 4) -> list[tuple[str, float, float]]:
        """Checks that passed the hack at least as often as gold (and at all), worst first."""
        out = [(c, h, g) for c, (h, g) in self.checks.items() if h > 0 and h >= g - 1e-9]
        return sorted(out, key=lambda t: -t[1])[:k]

    def broken(self, k: int = 4) -> list[tuple[str, float, float]]:
        """For the control: checks that failed it more often than gold."""
        out = [(c, h, g) for c, (h, g) in self.checks.items() if h < g - 1e-9]
        return sorted(out, key=lambda t: t[1] - t[2])[:k]


@dataclass
class Report:
    rubric_path: str
    rubric_hash: str
    scale: tuple[float, float]
    n: int
    gold_mean: float | None
    rows: dict[str, Row]
    label: str = ""

    def norm(self, x: float | None) -> float | None:
        lo, hi = self.scale
        return None if x is None else (x - lo) / (hi - lo)

    def failures(self, max_share: float, strict: bool = False,
                 max_ceiling: float | None = None) -> list[str]:
        """Why the gate fails: hacks at gold on > max_share of samples; with `strict` also
        degenerate answers above 10% of the scale and a control more than 5% off gold; with
        `max_ceiling` any hack whose mean score is above that share of the scale ("below
        gold" by a hair still pays a policy almost everything)."""
        out = []
        for r in self.rows.values():
            if r.n == 0:
                continue
            if not r.control and r.share_at_gold > max_share:
                out.append(f"{r.name}: at or above gold on {r.share_at_gold:.0%} of samples "
                           f"(max {max_share:.0%})")
            ceiling = self.norm(r.mean)
            if (max_ceiling is not None and not r.control and ceiling is not None
                    and ceiling > max_ceiling):
                out.append(f"{r.name}: mean {ceiling:.0%} of the scale (max {max_ceiling:.0%})")
            if strict and r.degenerate and (r.max_norm or 0) > DEGENERATE_MAX:
                out.append(f"{r.name}: scores up to {r.max_norm:.0%} of the scale "
                           f"(max {DEGENERATE_MAX:.0%})")
            if strict and r.control and r.mean is not None and r.gold_mean is not None:
                gap = abs(self.norm(r.mean) - self.norm(r.gold_mean))
                if gap > CONTROL_TOL:
                    out.append(f"{r.name} (control): {gap:.1%} of the scale away from gold "
                               f"(max {CONTROL_TOL:.0%})")
        return out


def _hacked(transform: Transform, golds: list[tuple[Sample, str]], rubric) -> list[tuple[int, Sample]]:
    out = []
    for i, (s, g) in enumerate(golds):
        try:
            text = transform.fn(g, s, rubric)
        except Exception as e:  # a user's transform bug names itself and the sample
            raise ProbeError(f"transform {transform.name!r} failed on sample {s.id!r}: "
                             f"{type(e).__name__}: {e}") from e
        if text is not None and text != g:
            out.append((i, replace(s, id=f"{s.id}::{transform.name}", completion=text)))
    return out


def _row(t: Transform, idx: list[int], hacked, gold_res) -> Row:
    row = Row(t.name, t.control, t.degenerate, n=len(idx))
    pairs = [(h, gold_res[i]) for i, h in zip(idx, hacked, strict=True)]
    hs = [h.score for h, _ in pairs if h.score is not None]
    gs = [g.score for _, g in pairs if g.score is not None]
    row.n_masked = len(pairs) - len(hs)
    row.mean = fmean(hs) if hs else None
    row.gold_mean = fmean(gs) if gs else None
    row.share_at_gold = sum(h.score is not None and g.score is not None
                            and h.score >= g.score - TIE_EPS for h, g in pairs) / max(1, len(pairs))
    norms = [h.normalized for h, _ in pairs if h.normalized is not None]
    row.max_norm = max(norms) if norms else None
    for cid in (pairs[0][0].verdicts if pairs else {}):
        both = [(h.verdicts[cid], g.verdicts[cid]) for h, g in pairs
                if h.verdicts[cid].status != "abstain" and g.verdicts[cid].status != "abstain"]
        if both:
            row.checks[cid] = (sum(h.status == "pass" for h, _ in both) / len(both),
                               sum(g.status == "pass" for _, g in both) / len(both))
    return row


def probe(harness, samples: Sequence[Sample], transforms: Sequence[Transform],
          progress: bool = False, label: str = "") -> Report:
    """Score the golds, then every transform of them, with one harness (same cache/judge)."""
    golds = []
    for s in samples:
        g = gold_text(s)
        if g is None:
            raise ProbeError(f"sample {s.id!r}: no `completion` or `reference` to use as gold")
        golds.append((s, g))
    rubric = harness.rubric
    gold_res = harness.score_batch([replace(s, completion=g) for s, g in golds])
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(transforms), desc="probes", unit="transform", mininterval=0.5)
    rows = {}
    for t in transforms:
        todo = _hacked(t, golds, rubric)
        res = harness.score_batch([s for _, s in todo]) if todo else []
        rows[t.name] = _row(t, [i for i, _ in todo], res, gold_res)
        if bar:
            bar.set_postfix_str(t.name)
            bar.update(1)
    if bar:
        bar.close()
    scores = [r.score for r in gold_res if r.score is not None]
    return Report(_shown(rubric.path), rubric.hash, rubric.scale, len(golds),
                  fmean(scores) if scores else None, rows, label)


def _shown(path) -> str:
    """The rubric path relative to the working directory when inside it (reports get
    committed; an absolute checkout path means nothing on another machine)."""
    if path is None:
        return "<dict>"
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def as_dict(report: Report) -> dict[str, Any]:
    return {"rubric": report.rubric_path, "rubric_hash": report.rubric_hash,
            "label": report.label, "n": report.n, "gold_mean": report.gold_mean,
            "scale": list(report.scale),
            "transforms": {n: {"n": r.n, "mean": r.mean, "gold_mean": r.gold_mean,
                               "share_at_gold": r.share_at_gold, "max_norm": r.max_norm,
                               "n_masked": r.n_masked, "control": r.control,
                               "fooled": r.fooled()} for n, r in report.rows.items()}}
