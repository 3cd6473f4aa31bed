"""Hack transforms for rubric probes: a registry of one function each.

A transform turns a gold completion into what a reward-hacking policy might emit instead:

    from rewards.probes import transform

    @transform("shout", description="gold in upper case")
    def shout(gold: str, sample: Sample, rubric: Rubric) -> str | None:
        return gold.upper()

It returns the hacked completion, or None where it does not apply to this sample (a probe
that would return the gold text unchanged counts as not applicable too). `control=True`
marks an equivalent rewrite that must score like gold instead of below it. Load your own
transforms with `python -m rewards.probe --plugin my_module` (importing the module runs its
`@transform` decorators). The built-ins live in rewards/probes/builtin.py.
"""

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


def registry() -> dict[str, Transform]:
    """All registered transforms, built-ins first."""
    import rewards.probes.builtin  # noqa: F401  (registers on import)

    return TRANSFORMS


__all__ = ["TRANSFORMS", "Transform", "registry", "transform"]
