"""The transform registry: `@transform` registers a hack transform under a name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TransformFn = Callable[[str, Any, Any], "str | None"]


@dataclass(frozen=True)
class Transform:
    name: str
    fn: TransformFn
    description: str = ""
    # a control is an equivalent answer: it must stay near gold, it never trips the gate
    control: bool = False
    # empty/shell hacks: the bar is <= 10% of the scale, stricter than "below gold"
    degenerate: bool = False


TRANSFORMS: dict[str, Transform] = {}


def transform(name: str, *, description: str = "", control: bool = False,
              degenerate: bool = False) -> Callable[[TransformFn], TransformFn]:
    """Register `fn(gold, sample, rubric) -> str | None` under `name` (a later one replaces)."""
    def register(fn: TransformFn) -> TransformFn:
        doc = (fn.__doc__ or "").strip().split("\n")[0]
        TRANSFORMS[name] = Transform(name, fn, description or doc, control, degenerate)
        return fn
    return register
