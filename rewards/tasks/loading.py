"""Samples for a split from a `task` config (conf/task/*.yaml), whatever the data source.

    load_split({"name": "invoice_extraction", "source": "generated", "n_eval": 50}, "eval")
    load_split({"name": "invoice_extraction", "source": "real",
                "path": "../shared/data/real/sroie"}, "train")
    load_split({"name": "custom", "source": "custom", "path": "mine.jsonl",
                "rubric": "mine.yaml"}, "train")

The config names a registered task (`rewards.tasks.get_task`); each task declares the sources
it can load (`Task.sources`) and loads them itself (`Task.load_split`):
- `generated`: the task's seeded generator, `n_train`/`n_eval` examples, `seed`.
- `real`: the task's adapter for the dataset folder `path` (picked by folder name, or by the
  optional `adapter` key). Rows are de-duplicated by content, shuffled with `seed`, and the
  first `n_eval` (at most half the rows) form eval, the next `n_train` train: disjoint by
  construction and identical on every machine.
- `custom`: a user's JSONL (rewards/tasks/custom.py); any task name may use it, so a custom
  task can carry its own name into run names.

Every bad config raises TaskError naming the key (`task.path`, `task.source`, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rewards.sample import Sample
from rewards.tasks.base import SPLITS, Task
from rewards.tasks.config import TaskError, plain_config, require
from rewards.tasks.custom import TASK as CUSTOM
from rewards.tasks.registry import get_task


def task_for(cfg: dict[str, Any]) -> Task:
    """The task object a plain task config names; `source: custom` data is the custom task's
    whatever the name (the name then only labels runs)."""
    name = require(cfg, "name", "(a task from `python -m rewards.tasks list`, or custom)")
    source = cfg.get("source")
    task = CUSTOM if source in CUSTOM.sources else get_task(str(name))
    if source is not None and source not in task.sources:
        raise TaskError(f"task.source: unknown source {source!r} for task {task.name!r}; "
                        f"expected one of {', '.join(task.sources)}")
    return task


def load_split(task_cfg: Any, split: str) -> list[Sample]:
    """Samples of `split` ("train" | "eval") for the task config."""
    cfg = plain_config(task_cfg)
    if split not in SPLITS:
        raise TaskError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    return task_for(cfg).load_split(cfg, split)


def rubric_path_for(task_cfg: Any) -> Path:
    """The rubric that scores this task config: `task.rubric` when set (required for custom
    data), else the suite task's own rubric (its real-data variant for an adapter that has
    one)."""
    cfg = plain_config(task_cfg)
    return task_for(cfg).rubric_path_for(cfg)
