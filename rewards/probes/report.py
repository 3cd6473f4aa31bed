"""Probe reports as Markdown: one table per rubric, plus a hack x task matrix for several."""

from __future__ import annotations

from collections.abc import Sequence

from rewards.probes.run import Report


def _f(x: float | None, fmt: str = ".2f") -> str:
    return "-" if x is None else format(x, fmt)


def _checks(items: list[tuple[str, float, float]]) -> str:
    return ", ".join(f"{c} {h:.0%}/{g:.0%}" for c, h, g in items) or "-"


def rubric_table(rep: Report, max_share: float, strict: bool,
                 max_ceiling: float | None = None) -> str:
    lo, hi = rep.scale
    lines = [f"### {rep.label or rep.rubric_path}",
             "",
             f"rubric `{rep.rubric_path}` (hash `{rep.rubric_hash}`), {rep.n} gold samples, "
             f"gold mean **{_f(rep.gold_mean)}** on [{lo:g}, {hi:g}]",
             "",
             "| transform | n | mean | gold | % of scale | share ≥ gold | checks fooled "
             "(pass on hack / on gold) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in rep.rows.values():
        if r.n == 0:
            lines.append(f"| {r.name} | 0 | - | - | - | - | not applicable |")
            continue
        name = f"{r.name} (control)" if r.control else r.name
        checks = (("failed vs gold: " + _checks(r.broken())) if r.control
                  else _checks(r.fooled()))
        pct = rep.norm(r.mean)
        lines.append(f"| {name} | {r.n} | {_f(r.mean)} | {_f(r.gold_mean)} | "
                     f"{_f(None if pct is None else 100 * pct, '.0f')}% | "
                     f"{r.share_at_gold:.0%} | {checks} |")
    fails = rep.failures(max_share, strict, max_ceiling)
    lines += ["", "**FAIL**: " + "; ".join(fails) if fails else "**PASS**", ""]
    return "\n".join(lines)


def matrix(reports: Sequence[Report]) -> str:
    """Rows: transforms; columns: rubrics; cells: mean as % of scale / share >= gold."""
    names: list[str] = []
    for rep in reports:
        names += [n for n in rep.rows if n not in names]
    head = "| transform | " + " | ".join(r.label for r in reports) + " |"
    lines = [head, "|---|" + "---:|" * len(reports)]
    gold = [f"{100 * rep.norm(rep.gold_mean):.0f}%" if rep.gold_mean is not None else "-"
            for rep in reports]
    lines.append("| **gold** | " + " | ".join(gold) + " |")
    for n in names:
        cells = []
        for rep in reports:
            r = rep.rows.get(n)
            if r is None or r.n == 0:
                cells.append("n/a")
                continue
            pct = rep.norm(r.mean)
            cells.append(f"{_f(None if pct is None else 100 * pct, '.0f')}% / {r.share_at_gold:.0%}")
        control = any(rep.rows.get(n) and rep.rows[n].control for rep in reports)
        lines.append(f"| {n}{' (control)' if control else ''} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(reports: Sequence[Report], max_share: float, strict: bool,
             header: str = "", max_ceiling: float | None = None) -> str:
    parts = [header] if header else []
    if len(reports) > 1:
        parts += ["## Hack x task (mean score as % of scale / share of samples ≥ gold)", "",
                  matrix(reports), ""]
    parts += ["## Per rubric", ""] + [rubric_table(r, max_share, strict, max_ceiling)
                                       for r in reports]
    return "\n".join(parts)
