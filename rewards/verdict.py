"""Verdicts and per-sample harness results (the contracts in ARCHITECTURE.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "abstain"]


@dataclass
class Verdict:
    """One check's answer for one sample.

    `value` is an optional graded score in [0, 1] (fuzzy ratio, cosine, P(yes)); when None the
    status stands for 1.0 (pass) or 0.0 (fail). `skipped` marks checks that did not run
    (judge unconfigured, or a failed gate made them moot): they are excluded from coverage.
    """

    status: Status
    value: float | None = None
    reason: str = ""
    latency_s: float = 0.0
    skipped: bool = False
    cached: bool = False

    def score(self) -> float | None:
        """The number this verdict contributes: None for abstain."""
        if self.status == "abstain":
            return None
        if self.value is not None:
            return min(1.0, max(0.0, float(self.value)))
        return 1.0 if self.status == "pass" else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["latency_s"] = round(d["latency_s"], 6)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        return cls(**{k: d[k] for k in ("status", "value", "reason", "latency_s", "skipped",
                                         "cached") if k in d})


def passed(reason: str = "", value: float | None = None) -> Verdict:
    return Verdict("pass", value, reason)


def failed(reason: str, value: float | None = None) -> Verdict:
    return Verdict("fail", value, reason)


def abstain(reason: str) -> Verdict:
    return Verdict("abstain", None, reason)


@dataclass
class HarnessResult:
    """Per-sample result: total on the rubric scale (None when a dimension is under its
    coverage floor), normalised total in [0, 1], per-dimension scores in [0, 1]."""

    sample_id: str
    score: float | None
    normalized: float | None
    dimensions: dict[str, float | None]
    coverage: dict[str, float]
    verdicts: dict[str, Verdict]
    rubric_hash: str
    meta: dict[str, Any] = field(default_factory=dict)
    # mean of the audit checks' values (rewards.aggregate.audit_score); never in `score`
    audit: float | None = None

    def audit_verdicts(self, rubric) -> dict[str, Verdict]:
        return {c.id: self.verdicts[c.id] for c in rubric.checks if c.audit}

    def failed_checks(self) -> dict[str, str]:
        return {cid: v.reason for cid, v in self.verdicts.items() if v.status == "fail"}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.sample_id,
            "score": self.score,
            "normalized": self.normalized,
            "dimensions": self.dimensions,
            "coverage": self.coverage,
            "verdicts": {k: v.to_dict() for k, v in self.verdicts.items()},
            "rubric_hash": self.rubric_hash,
            "audit": self.audit,
        }
