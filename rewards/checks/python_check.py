"""python: a user function by import path, sync or async: `func(sample, **params)`.

It may return a bool, a float in [0, 1] (pass when >= `threshold`), a Verdict, or a dict with
status/value/reason. Exceptions become abstains with the error as reason (never a crash of
the whole batch, unlike a raising TRL reward function).
"""

from __future__ import annotations

import importlib
import inspect
import math
from typing import Any, Literal

from pydantic import Field

from rewards.checks.base import REMOTE, Check, Params
from rewards.sample import Sample
from rewards.timebox import in_daemon_thread
from rewards.verdict import Verdict


class PythonParams(Params):
    function: str
    params: dict[str, Any] = {}
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    reads: list[Literal["id", "completion", "source", "reference", "meta", "prompt"]] = [
        "completion", "source", "reference", "meta", "prompt"]


def import_function(path: str):
    if ":" not in path:
        raise ValueError(f"function: expected 'module.path:name', got {path!r}")
    mod, name = path.split(":", 1)
    try:
        fn = getattr(importlib.import_module(mod), name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"function: cannot import {path!r}: {e}") from None
    if not callable(fn):
        raise ValueError(f"function: {path!r} is not callable")
    return fn


class PythonCheck(Check):
    kind = "python"
    Params = PythonParams
    cost = REMOTE  # unknown cost: run after cheap checks, cached, under the concurrency budget

    def __init__(self, spec, rubric_dir):
        super().__init__(spec, rubric_dir)
        self.fn = import_function(self.p.function)
        self.reads = tuple(self.p.reads)

    async def evaluate(self, sample: Sample, ctx: Any) -> Verdict:
        if inspect.iscoroutinefunction(self.fn):
            out = await self.fn(sample, **self.p.params)
        else:
            # a daemon thread: a function that never returns is abandoned at the time limit
            # instead of blocking the process exit (asyncio.to_thread's pool is joined)
            out = await in_daemon_thread(self.fn, sample, **self.p.params)
        return self._to_verdict(out)

    def _to_verdict(self, out: Any) -> Verdict:
        if isinstance(out, Verdict):
            out = {"status": out.status, "value": out.value, "reason": out.reason}
        if isinstance(out, bool):
            return Verdict("pass" if out else "fail", None, f"{self.p.function} -> {out}")
        if isinstance(out, int | float):
            v = float(out)
            if not math.isfinite(v):
                raise ValueError(f"{self.p.function} returned {v}; expected a finite number")
            return Verdict("pass" if v >= self.p.threshold else "fail", min(1.0, max(0.0, v)),
                           f"{self.p.function} -> {v:.3f}")
        if isinstance(out, dict) and out.get("status") in ("pass", "fail", "abstain"):
            value = out.get("value")
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or not math.isfinite(value)):
                raise ValueError(f"{self.p.function} returned value {value!r}; expected a finite "
                                 "number or None")
            return Verdict(out["status"], None if value is None else float(value),
                           str(out.get("reason", "")))
        raise TypeError(f"{self.p.function} returned {type(out).__name__}; expected bool, float, "
                        "Verdict or dict(status, value, reason)")
