"""Recipe configs checked up front, every value against its documented domain, before any model
loads: `train.batch_size=0`, `sampling.temperature=0` or a NaN learning rate stop the run in a
second with exit 2 naming the key, the value and what was expected, instead of a traceback or
a run that learns nothing (exit 0) minutes later.

    check(cfg, GRPO_RULES)      # raises UserInputError: "train.batch_size=0: expected ..."
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from sft.errors import UserInputError

# a rule: (key path, predicate on the value, what is expected — in the error message)
Rule = tuple[str, Callable[[Any], bool], str]
_MISSING = object()


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def int_at_least(lo: int) -> Callable[[Any], bool]:
    return lambda v: _int(v) and v >= lo


def optional(pred: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or pred(v)


def positive(v: Any) -> bool:
    return _num(v) and v > 0


def non_negative(v: Any) -> bool:
    return _num(v) and v >= 0


def share(v: Any) -> bool:
    return _num(v) and 0 <= v <= 1


def boolean(v: Any) -> bool:
    return isinstance(v, bool)


OPTIM_RULES: list[Rule] = [
    ("optim.lr", positive, "a finite number > 0"),
    ("optim.eps", positive, "a finite number > 0"),
    ("optim.weight_decay", non_negative, "a finite number >= 0"),
    ("optim.warmup_ratio", share, "a share of the steps in [0, 1]"),
    ("optim.max_grad_norm", optional(positive), "null (no clipping) or a number > 0"),
]

GRPO_RULES: list[Rule] = OPTIM_RULES + [
    ("seed", _int, "an integer"),
    ("train.max_steps", int_at_least(1), "an integer >= 1"),
    ("train.batch_size", int_at_least(1), "an integer >= 1 (completions per step)"),
    ("train.micro_batch_size", int_at_least(1), "an integer >= 1"),
    ("train.save_every", optional(int_at_least(1)), "null or an integer >= 1"),
    ("train.keep_last", optional(int_at_least(1)), "null (keep all) or an integer >= 1"),
    ("train.table_every", optional(int_at_least(1)), "null or an integer >= 1"),
    ("train.max_unscored_steps", int_at_least(1), "an integer >= 1"),
    ("train.progress", boolean, "true or false"),
    ("train.allow_resume_changes", boolean, "true or false"),
    ("train.gradient_checkpointing", boolean, "true or false"),
    ("sampling.temperature", positive,
     "a number > 0: RL samples (at 0 every completion of a group is the same, so every "
     "advantage is 0 and nothing is learned)"),
    ("sampling.top_p", lambda v: _num(v) and 0 < v <= 1, "a number in (0, 1]"),
    ("sampling.max_new_tokens", optional(int_at_least(1)),
     "null (the task's budget) or an integer >= 1"),
    ("train.allow_no_signal", boolean, "true or false"),
    ("train.max_truncated_frac", lambda v: _num(v) and 0 <= v <= 1, "a share in [0, 1]"),
    ("algo.beta", non_negative, "a finite number >= 0"),
    ("algo.eps_low", non_negative, "a finite number >= 0"),
    ("algo.eps_high", non_negative, "a finite number >= 0"),
    ("algo.num_iterations", int_at_least(1), "an integer >= 1"),
    ("reward.concurrency", int_at_least(1), "an integer >= 1"),
    ("rollout.async", boolean, "true or false"),
    ("rollout.stream_scoring", lambda v: v == "auto" or isinstance(v, bool),
     "auto (on when the engine can stream), true or false"),
    ("reference", lambda v: v in ("start", "base"),
     "start (the KL anchor is the policy the run started from) or base (adapters disabled)"),
]

SFT_RULES: list[Rule] = OPTIM_RULES + [
    ("seed", _int, "an integer"),
    ("train.epochs", positive, "a number of passes > 0"),
    ("train.max_steps", lambda v: _int(v) and (v == -1 or v >= 1), "-1 (all epochs) or >= 1"),
    ("train.per_device_batch_size", int_at_least(1), "an integer >= 1"),
    ("train.grad_accum", int_at_least(1), "an integer >= 1"),
    ("train.logging_steps", int_at_least(1), "an integer >= 1"),
    ("train.save_steps", optional(int_at_least(1)), "null or an integer >= 1"),
    ("train.keep_last", optional(int_at_least(1)), "null (keep all) or an integer >= 1"),
    ("data.max_length", int_at_least(1), "an integer >= 1 (tokens)"),
    ("data.max_examples", optional(int_at_least(1)), "null (all) or an integer >= 1"),
    ("lora.dropout", lambda v: _num(v) and 0 <= v < 1, "a probability in [0, 1)"),
]


def check(cfg: Any, rules: list[Rule]) -> None:
    """Raise UserInputError for the first key whose value is outside its domain (keys a
    config does not have are skipped: a rule list serves several recipes)."""
    from omegaconf import OmegaConf

    for key, ok, expected in rules:
        value = OmegaConf.select(cfg, key, default=_MISSING)
        if value is _MISSING:
            continue
        if not ok(value):
            raise UserInputError(f"{key}={value!r}: expected {expected}")
