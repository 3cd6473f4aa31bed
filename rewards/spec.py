"""The typed pieces of a rubric that check kinds need: its error type and one check's spec.

Kept apart from rubric.py (which builds the check objects) so that `rewards.checks` can depend
on these without importing the loader that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CHECK_COMMON = {"id", "kind", "dimension", "weight", "gate", "pitfall", "timeout_s", "cache",
                "description", "audit"}


class RubricError(ValueError):
    """Invalid rubric; the message names the file, key path and the expectation."""


@dataclass(frozen=True)
class Dimension:
    name: str
    weight: float = 1.0
    # share of the dimension's (run) check weight that must be answered; below it the sample's
    # score is None (masked in RL) instead of a fake 0
    min_coverage: float = 0.5


@dataclass
class CheckSpec:
    id: str
    kind: str
    dimension: str
    weight: float = 1.0
    gate: bool | str = False  # True: zeroes its dimension on fail; "global": zeroes the total
    pitfall: bool = False
    timeout_s: float | None = None
    cache: bool | None = None  # None: the kind's default (expensive kinds are cached)
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    # scored and reported (HarnessResult.audit) on every batch, never part of the reward: a
    # held-out signal the policy cannot optimise, for the Goodhart alarm (rl/goodhart.py)
    audit: bool = False

    @property
    def is_global_gate(self) -> bool:
        return self.gate == "global"
