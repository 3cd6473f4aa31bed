"""The check interface: one small class per kind, one async `evaluate` returning a Verdict.

A kind declares its parameters as a pydantic model (validated when the rubric loads, so a
typo fails at load time with the key path), which sample fields it reads (the cache key), and
its cost tier (the fan-out engine runs cheap tiers first and skips moot expensive ones).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from rewards.sample import Sample
from rewards.spec import CheckSpec
from rewards.verdict import Verdict

CHEAP, SEMANTIC, REMOTE = 0, 1, 2


# a cheap check takes microseconds; one still running after this many seconds is pathological
# (a backtracking regex: `^(a+)+$` on 31 characters ran 44 s) and abstains instead
CHEAP_TIMEOUT_S = 5.0


class Params(BaseModel):
    # strict: YAML already yields real booleans and numbers, so "false" for a bool or "3" for
    # an int is a mistake, not something to coerce (bool("false") is True); NaN/inf refused
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Check:
    kind: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = Params
    # which Sample fields the verdict depends on: the content-hash cache keys on exactly these
    reads: ClassVar[tuple[str, ...]] = ("completion",)
    cost: ClassVar[int] = CHEAP
    # batchable kinds implement evaluate_many and are called once per batch
    batched: ClassVar[bool] = False
    # asks the configured LLM judge: skipped when none is configured, counted in judge
    # metrics, and its cached verdicts are keyed by the judge's identity
    needs_judge: ClassVar[bool] = False
    # kinds that apply their own time limit inside evaluate (the judge: after its semaphore)
    self_timed: ClassVar[bool] = False

    def __init__(self, spec: CheckSpec, rubric_dir: Path):
        self.spec = spec
        self.rubric_dir = rubric_dir
        self.p = self.Params(**spec.params)

    def __reduce__(self):
        # pickled as its spec and rebuilt on load: some kinds hold unpicklable state (a
        # jsonschema validator class); the reward service ships rubrics to check workers
        return type(self), (self.spec, self.rubric_dir)

    @property
    def time_limit_s(self) -> float:
        """The limit a cheap kind enforces itself (its engine or worker must support one)."""
        return self.spec.timeout_s or CHEAP_TIMEOUT_S

    @property
    def cacheable(self) -> bool:
        # deterministic checks cost microseconds: a cache round-trip would cost more
        return self.spec.cache if self.spec.cache is not None else self.cost > CHEAP

    def cache_inputs(self, sample: Sample) -> dict[str, Any]:
        return {f: getattr(sample, f) for f in self.reads}

    def locate(self, sample: Sample) -> list[tuple[int, int]] | None:
        """Character spans of the completion that make this check fail, for dense (per-token)
        RL rewards; None when the kind cannot point at the text responsible (most cannot: a
        missing field or span, a length, a judge's yes/no have no tokens to blame)."""
        return None

    def scorer_identity(self, judge: Any) -> dict[str, Any] | None:
        """What else decides the verdict besides the rubric and the inputs: the judge's
        identity for judge-backed kinds (a different judge never reuses verdicts)."""
        return judge.identity() if self.needs_judge and judge is not None else None

    async def evaluate(self, sample: Sample, ctx: Any) -> Verdict:
        return self.evaluate_sync(sample)

    def evaluate_sync(self, sample: Sample) -> Verdict:
        raise NotImplementedError

    async def evaluate_many(self, samples: list[Sample], ctx: Any) -> list[Verdict]:
        raise NotImplementedError


def meta_value(sample: Sample, key: str) -> Any:
    """`meta.a.b` style lookup into sample.meta (None when absent)."""
    node: Any = sample.meta
    for part in key.removeprefix("meta.").split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
