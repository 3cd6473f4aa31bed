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

from rewards.probes.registry import TRANSFORMS, Transform, TransformFn, transform


def registry() -> dict[str, Transform]:
    """All registered transforms, built-ins first."""
    import rewards.probes.builtin  # noqa: F401  (registers on import)

    return TRANSFORMS


__all__ = ["TRANSFORMS", "Transform", "TransformFn", "registry", "transform"]
