"""Attack and measure a rubric before anyone trusts it: gold, every probe, known-bad answers,
expert labels. Shared by drafting and `--check`.

Bounds (each failure is one line in `Validation.failures`, and exit 1 in the CLI):
- gold scores >= 95% of the scale (mean);
- every probe transform (rewards.probe, the `reformat` control excepted) scores strictly below
  its gold on average, and at most `max_hack` of the scale (0.6: "below gold" by a hair still
  pays a policy almost everything);
- every known-bad completion scores below its example's gold.
Per check: pass rate on gold, on each hack, kappa against expert labels; flags for checks that
pass every hack as often as gold (uninformative), fail gold (wrong), or disagree with experts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from rewards.draft.inputs import DraftInputError, Example, Label, Negative
from rewards.sample import Sample

GOLD_MIN = 0.95
MAX_HACK = 0.6
# a check failing more than 1 gold in 10 is not what the references show
WRONG_BELOW = 0.9
KAPPA_MIN = 0.6


@dataclass
class CheckStats:
    gold: float | None = None
    heldout: float | None = None
    hacks: dict[str, float] = field(default_factory=dict)
    kappa: float | None = None
    n_labels: int = 0
    flags: list[str] = field(default_factory=list)


@dataclass
class Validation:
    gold_pct: float | None
    report: Any  # rewards.probes.run.Report
    checks: dict[str, CheckStats]
    negatives: list[tuple[Negative, float | None, float | None]] = field(default_factory=list)
    calibration: dict | None = None
    heldout_pct: float | None = None
    failures: list[str] = field(default_factory=list)

    def hack_ceilings(self) -> list[tuple[str, int, float | None, float]]:
        """(transform, n, mean as share of the scale, share of samples at or above gold)."""
        rows = []
        for r in self.report.rows.values():
            if r.n and not r.control:
                rows.append((r.name, r.n, self.report.norm(r.mean), r.share_at_gold))
        return rows


def pass_rates(results, ids: list[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for cid in ids:
        answered = [r.verdicts[cid].status for r in results
                    if r.verdicts[cid].status != "abstain"]
        out[cid] = sum(s == "pass" for s in answered) / len(answered) if answered else None
    return out


def gold_share(results, rubric) -> float | None:
    lo, hi = rubric.scale
    scores = [0.0 if r.score is None else (r.score - lo) / (hi - lo) for r in results]
    return fmean(scores) if scores else None


def validate(rubric, examples: list[Example], negatives: list[Negative] | None = None,
             labels: list[Label] | None = None, judge: dict | None = None,
             max_hack: float = MAX_HACK) -> Validation:
    from rewards.engine import Harness
    from rewards.probes.run import probe, select

    harness = Harness(rubric, judge=judge)
    golds = [e.scored() for e in examples]
    gold_res = harness.score_batch(golds)
    ids = [s.id for s in rubric.checks]
    stats = {cid: CheckStats(gold=r) for cid, r in pass_rates(gold_res, ids).items()}
    report = probe(harness, golds, select(None), label="draft")
    for row in report.rows.values():
        if row.control:
            continue
        for cid, (hack, _) in row.checks.items():
            stats[cid].hacks[row.name] = hack
    v = Validation(gold_share(gold_res, rubric), report, stats)
    _flag(v, rubric)
    if negatives:
        v.negatives = _negatives(harness, negatives, gold_res, examples)
    if labels:
        v.calibration = _kappa(harness, labels, stats)
    v.failures = _failures(v, rubric, max_hack)
    return v


def _flag(v: Validation, rubric) -> None:
    for spec in rubric.checks:
        st = v.checks[spec.id]
        if st.gold is not None and st.gold < WRONG_BELOW:
            st.flags.append(f"wrong: passes {st.gold:.0%} of golds")
        hacks = [h for h in st.hacks.values()]
        if (not spec.audit and st.gold == 1.0 and hacks
                and all(h >= 1.0 for h in hacks)):
            st.flags.append("uninformative: passes every hack as often as gold")


def _negatives(harness, negatives: list[Negative], gold_res, examples):
    gold_by_id = {e.sample.id: r.score for e, r in zip(examples, gold_res, strict=True)}
    res = harness.score_batch([Sample(n.example.sample.id, n.example.sample.prompt,
                                      n.example.sample.source, n.example.sample.reference,
                                      n.completion, n.example.sample.meta) for n in negatives])
    return [(n, gold_by_id[n.example.sample.id], r.score)
            for n, r in zip(negatives, res, strict=True)]


def _kappa(harness, labels: list[Label], stats: dict[str, CheckStats]) -> dict:
    """Cohen's kappa per check between the harness and the experts (rewards.calibrate)."""
    from rewards.calibrate import calibrate

    res = harness.score_batch([Sample(lab.example.sample.id, lab.example.sample.prompt,
                                      lab.example.sample.source, lab.example.sample.reference,
                                      lab.completion, lab.example.sample.meta) for lab in labels])
    scored = {str(i): {"verdicts": {c: {"status": v.status} for c, v in r.verdicts.items()},
                       "score": r.score} for i, r in enumerate(res)}
    rows = {str(i): {"checks": lab.checks, "score": lab.score, "_line": lab.line}
            for i, lab in enumerate(labels)}
    try:
        rep = calibrate(scored, rows, labels[0].path, KAPPA_MIN)
    except ValueError as e:  # a label naming a check the rubric lacks, a non-boolean verdict
        raise DraftInputError(str(e)) from None
    for cid, c in rep["checks"].items():
        stats[cid].kappa, stats[cid].n_labels = c["kappa"], c["n"]
        if c["flagged"]:
            k = "undefined" if c["kappa"] is None else f"{c['kappa']:.2f}"
            stats[cid].flags.append(f"disagrees with experts: kappa {k} < {KAPPA_MIN}")
    return rep


def _failures(v: Validation, rubric, max_hack: float) -> list[str]:
    out = []
    if v.gold_pct is None or v.gold_pct < GOLD_MIN:
        shown = "masked" if v.gold_pct is None else f"{v.gold_pct:.1%}"
        out.append(f"gold scores {shown} of the scale (needs >= {GOLD_MIN:.0%})")
    for r in v.report.rows.values():
        if not r.n or r.control or r.mean is None:
            continue
        if r.gold_mean is not None and r.mean >= r.gold_mean:
            out.append(f"probe {r.name}: mean {r.mean:.3g} is not below gold {r.gold_mean:.3g}")
        share = v.report.norm(r.mean)
        if share > max_hack:
            out.append(f"probe {r.name}: {share:.0%} of the scale (max {max_hack:.0%})")
    for n, gold, bad in v.negatives:
        if bad is not None and (gold is None or bad >= gold):
            out.append(f"negative on line {n.line} (id {n.example.sample.id}): scores {bad:.3g}, "
                       f"not below its gold {gold if gold is None else format(gold, '.3g')}")
    return out
