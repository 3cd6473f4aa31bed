"""A proposed check with its evidence, the rubric they make, and that rubric as commented YAML.

The YAML carries each check's `why` (and any flag) as comments right above it, so a person
edits the draft in place; `why_comments` reads them back for `--check`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

# name -> (weight, min_coverage, what it means). Fidelity weighs most: a well-formed answer
# that is wrong is worth little. Floors are low where checks abstain by design (a field the
# reference lacks, a reference that copies nothing from the source).
DIMENSIONS: dict[str, tuple[float, float, str]] = {
    "format": (1.0, 0.5, "the answer has the shape the references have, and nothing around it"),
    "fidelity": (2.0, 0.3, "what it says matches the reference and comes from the source"),
    "coverage": (1.0, 0.3, "it keeps what the references keep"),
    "style": (0.5, 0.5, "length and reading level within the references' spread"),
}


@dataclass
class Proposal:
    id: str
    kind: str
    dimension: str
    why: str
    params: dict[str, Any] = field(default_factory=dict)
    weight: float = 1.0
    gate: bool | str = False
    pitfall: bool = False
    audit: bool = False
    # "pending" for judge questions nobody has reviewed yet (they land as audit checks)
    review: str | None = None
    flags: list[str] = field(default_factory=list)

    def spec(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "kind": self.kind, "dimension": self.dimension}
        if self.weight != 1.0:
            d["weight"] = self.weight
        if self.gate:
            d["gate"] = self.gate
        if self.pitfall:
            d["pitfall"] = True
        if self.audit:
            d["audit"] = True
        return d | self.params


def ratio(k: int, n: int) -> str:
    return f"{k}/{n}"


def rubric_dict(proposals: list[Proposal], judge: dict | None = None) -> dict[str, Any]:
    """The rubric as a plain mapping (what load_rubric takes): dimensions that have checks,
    in DIMENSIONS order; scale [0, 1]."""
    used = [d for d in DIMENSIONS if any(p.dimension == d and not p.audit for p in proposals)]
    used += [d for d in DIMENSIONS if d not in used and any(p.dimension == d for p in proposals)]
    out: dict[str, Any] = {"version": 1, "scale": [0, 1],
                           "dimensions": {d: {"weight": DIMENSIONS[d][0],
                                              "min_coverage": DIMENSIONS[d][1]} for d in used},
                           "checks": [p.spec() for p in proposals]}
    if judge:
        out["judge"] = judge
    return out


def _comment(text: str, indent: str = "") -> str:
    lines = []
    for raw in text.splitlines() or [""]:
        words, cur = raw.split(), ""
        for w in words:
            if cur and len(cur) + len(w) > 92:
                lines.append(cur)
                cur = w
            else:
                cur = f"{cur} {w}".strip()
        lines.append(cur)
    return "".join(f"{indent}# {ln}".rstrip() + "\n" for ln in lines)


def to_yaml(proposals: list[Proposal], header: str, judge: dict | None = None) -> str:
    """Commented YAML of the rubric: the header, each dimension's meaning, each check's why,
    flags and review state above it."""
    data = rubric_dict(proposals, judge)
    out = [_comment(header), "version: 1\n", "scale: [0, 1]\n"]
    if judge:
        out.append(yaml.safe_dump({"judge": judge}, sort_keys=False))
    out.append("dimensions:\n")
    for name, d in data["dimensions"].items():
        out.append(_comment(DIMENSIONS[name][2], "  "))
        out.append(f"  {name}: {{weight: {d['weight']}, min_coverage: {d['min_coverage']}}}\n")
    out.append("checks:\n")
    for p in proposals:
        note = f"why: {p.why}"
        if p.review:
            note += f"\nreview: {p.review} (an audit check: scored and reported, never part of "
            note += "the reward; delete `audit: true` once a person agrees with it)"
        for f in p.flags:
            note += f"\nflag: {f}"
        out.append(_comment(note, "  "))
        body = yaml.safe_dump([p.spec()], sort_keys=False, width=100, allow_unicode=True)
        out.append("".join(f"  {ln}\n" for ln in body.splitlines()))
    return "".join(out)


_CHECK_ID = re.compile(r"^\s*-\s+id:\s*['\"]?([^'\"\s#]+)")


def why_comments(text: str) -> dict[str, str]:
    """check id -> the `# why:` comment above it in a drafted YAML (what --check reports
    beside each check after a person edited the file)."""
    out: dict[str, str] = {}
    pending: list[str] = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#"):
            pending.append(s.lstrip("#").strip())
            continue
        m = _CHECK_ID.match(line)
        if m:
            why = " ".join(pending)
            if "why:" in why:
                out[m.group(1)] = why.split("why:", 1)[1].split(" review:")[0].split(
                    " flag:")[0].strip()
        pending = []
    return out
