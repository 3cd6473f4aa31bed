"""review.md: what a person reads before trusting a drafted (or edited) rubric.

Per check: kind, dimension, weight, role (gate/pitfall/audit), why, pass rate on gold (and
on the held-out half), on each hack, kappa against expert labels, flags. Then the dimension
table, the hack ceilings, known-bad answers, left-out checks and dropped judge questions.
"""

from __future__ import annotations

from rewards.draft.validate import GOLD_MIN, Validation


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _role(spec) -> str:
    parts = []
    if spec.gate:
        parts.append("gate" if spec.gate is True else "global gate")
    if spec.pitfall:
        parts.append("pitfall")
    if spec.audit:
        parts.append("audit")
    return ", ".join(parts) or "-"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def verdict_lines(v: Validation, max_hack: float) -> list[str]:
    worst = max((c for c in v.hack_ceilings() if c[2] is not None), key=lambda c: c[2],
                default=None)
    lines = [f"- gold: **{_pct(v.gold_pct)}** of the scale (bound >= {GOLD_MIN:.0%})"]
    if v.heldout_pct is not None:
        lines.append(f"- held-out gold (checks fitted on the other half): "
                     f"**{_pct(v.heldout_pct)}**")
    if worst:
        lines.append(f"- worst hack: **{worst[0]} {_pct(worst[2])}** of the scale "
                     f"(bounds: below gold, <= {max_hack:.0%})")
    lines.append("- **PASS**" if not v.failures else
                 "- **FAIL**: " + "; ".join(v.failures))
    return lines


def checks_table(rubric, v: Validation, why: dict[str, str], flags: dict[str, list[str]]
                 ) -> list[str]:
    hacks = [r.name for r in v.report.rows.values() if r.n and not r.control]
    heldout = any(st.heldout is not None for st in v.checks.values())
    labelled = any(st.n_labels for st in v.checks.values())
    head = ["check", "kind", "dimension", "weight", "role", "why", "gold"]
    head += ["held-out"] if heldout else []
    head += ["hack it passes most"] + (["kappa"] if labelled else []) + ["flags"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for spec in rubric.checks:
        st = v.checks[spec.id]
        passes = [(st.hacks[h], h) for h in hacks if h in st.hacks]
        worst = max(passes, default=None)
        row = [f"`{spec.id}`", spec.kind, spec.dimension, f"{spec.weight:g}", _role(spec),
               _cell(why.get(spec.id, "-")), _pct(st.gold)]
        row += [_pct(st.heldout)] if heldout else []
        row += [f"{worst[1]} {_pct(worst[0])}" if worst else "-"]
        row += [("-" if st.kappa is None else f"{st.kappa:.2f} (n={st.n_labels})")] \
            if labelled else []
        row += [_cell("; ".join(flags.get(spec.id) or st.flags) or "-")]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def hack_matrix(rubric, v: Validation) -> list[str]:
    """Pass rate of every check on every hack (gold first): where each hack gets caught."""
    hacks = [r.name for r in v.report.rows.values() if r.n and not r.control]
    lines = ["| check | gold | " + " | ".join(hacks) + " |", "|---|---:|" + "---:|" * len(hacks)]
    for spec in rubric.checks:
        st = v.checks[spec.id]
        lines.append(f"| `{spec.id}` | {_pct(st.gold)} | "
                     + " | ".join(_pct(st.hacks.get(h)) for h in hacks) + " |")
    return lines


def render(title: str, intro: list[str], rubric, v: Validation, why: dict[str, str],
           max_hack: float, flags: dict[str, list[str]] | None = None,
           extra: list[str] | None = None) -> str:
    flags = flags or {}
    out = [f"# {title}", "", *intro, "", "## Verdict", "", *verdict_lines(v, max_hack), "",
           "## Checks", "", *checks_table(rubric, v, why, flags), "",
           "## Dimensions", "", "| dimension | weight | min coverage | checks |",
           "|---|---:|---:|---|"]
    for name, d in rubric.dimensions.items():
        ids = ", ".join(f"`{s.id}`" for s in rubric.checks if s.dimension == name)
        out.append(f"| {name} | {d.weight:g} | {d.min_coverage:g} | {ids} |")
    out += ["", "## Hack ceilings", "",
            "Every probe transform of `rewards.probe` applied to each gold answer; mean score "
            "as a share of the scale, and the share of samples where the hack reached its gold.",
            "", "| transform | n | mean (% of scale) | share >= gold |", "|---|---:|---:|---:|"]
    for name, n, share, at_gold in sorted(v.hack_ceilings(), key=lambda c: -(c[2] or 0)):
        out.append(f"| {name} | {n} | {_pct(share)} | {_pct(at_gold)} |")
    ctrl = v.report.rows.get("reformat")
    if ctrl and ctrl.n:
        out.append(f"| reformat (control: must stay at gold) | {ctrl.n} | "
                   f"{_pct(v.report.norm(ctrl.mean))} | {_pct(ctrl.share_at_gold)} |")
    out += ["", "### Pass rate of each check on each hack", "", *hack_matrix(rubric, v)]
    if v.negatives:
        out += ["", "## Known-bad answers", "", "| line | id | score | its gold | below gold |",
                "|---:|---|---:|---:|---|"]
        for n, gold, bad in v.negatives:
            below = bad is None or (gold is not None and bad < gold)
            out.append(f"| {n.line} | {n.example.sample.id} | {_num(bad)} | {_num(gold)} | "
                       f"{'yes' if below else '**no**'} |")
    if v.calibration:
        o = v.calibration["overall"]
        out += ["", f"Expert labels: overall score Spearman {_num(o['spearman'])} "
                    f"(n={o['n']}); checks under kappa {v.calibration['kappa_threshold']}: "
                    + (", ".join(v.calibration["flagged"]) or "none")]
    return "\n".join(out + (extra or [])) + "\n"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"
