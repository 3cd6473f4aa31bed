"""The completion budget (`max_new_tokens`) of a stage: the stage's own setting, else the
task's, else sized from the task's references.

    n, why = output_budget(cfg.sampling.max_new_tokens, "sampling.max_new_tokens", task,
                           count_tokens=lambda t: len(tokenizer.encode(t)))

A budget shorter than the answers makes every completion end on the length limit: a JSON
answer cut mid-object scores 0 on every check, and RL learns nothing from it (a receipt task
scored 0.000 at 8 tokens and 4.971/5 at 48 with the same adapter). So unless a stage or the
task sets one, the budget is FACTOR x the longest reference of the task's train and eval
splits in tokens, plus one token for the end of turn, within [FLOOR, CAP].
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from rewards.tasks.config import TaskError

# 1.5x the longest reference: room for a longer right answer than any seen (the suite's
# measured budgets are 1.2-1.5x their longest reference: benchmarks/efficacy.py)
FACTOR = 1.5
# a label plus the end-of-turn token fits in 16 with room to spare
FLOOR = 16
# 2048 completion tokens is already ~4x the longest suite reference (a clinical note: 512)
CAP = 2048
# no tokenizer at hand (a remote engine): English runs ~4 characters a token and JSON with
# numbers ~3 in the SmolLM2/Qwen tokenizers; 3 errs on the long side
CHARS_PER_TOKEN = 3.0


def reference_text(reference: Any) -> str:
    """The reference as the model would write it (JSON for dicts and lists)."""
    return reference if isinstance(reference, str) else json.dumps(reference, ensure_ascii=False)


def derived_budget(references: list[Any],
                   count_tokens: Callable[[str], int] | None = None) -> tuple[int, str]:
    """(budget, how it was derived) from the references; TaskError when there are none."""
    texts = [reference_text(r) for r in references if r is not None]
    if not texts:
        raise TaskError("no references to size the completion budget from; set "
                        "task.max_new_tokens (or the stage's max_new_tokens)")
    if count_tokens is None:
        longest = max(math.ceil(len(t) / CHARS_PER_TOKEN) for t in texts)
        unit = f"~{longest} tokens at {CHARS_PER_TOKEN:g} characters a token"
    else:
        longest = max(count_tokens(t) for t in texts)
        unit = f"{longest} tokens"
    n = min(CAP, max(FLOOR, math.ceil(FACTOR * longest) + 1))
    return n, (f"{FACTOR:g} x the longest of {len(texts)} references ({unit}) + 1, "
               f"within [{FLOOR}, {CAP}]")


def output_budget(stage_value: Any, stage_key: str, task: Any,
                  count_tokens: Callable[[str], int] | None = None) -> tuple[int, str]:
    """(max_new_tokens, where it came from) for a stage: `stage_value` when set, else
    `task.max_new_tokens`, else derived from the references of `task` (a ResolvedTask)."""
    for value, key in ((stage_value, stage_key), (task.cfg.get("max_new_tokens"),
                                                    "task.max_new_tokens")):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TaskError(f"{key} must be null (from the task) or an integer >= 1, "
                            f"got {value!r}")
        return value, key
    refs = [s.reference for split in ("train", "eval") for s in task.split(split)]
    try:
        return derived_budget(refs, count_tokens)
    except TaskError as e:
        raise TaskError(f"task {task.name!r}: {e}") from None
