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

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rewards.sample import Sample
from rewards.tasks.base import SPLITS, Task
from rewards.tasks.config import TaskError, plain_config, require
from rewards.tasks.custom import TASK as CUSTOM
from rewards.tasks.registry import get_task, list_tasks


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


def load_task_file(path: str | Path) -> dict[str, Any]:
    """A task YAML as the recipes compose it (conf/task/*.yaml, or the user's own
    `<config dir>/task/NAME.yaml`), for tools outside Hydra (`rewards.probe --task-config`).

    Its `defaults` may name `custom` (the user's data: `source: custom`) or one suite task
    (its name is the base), and `_self_`; relative paths stay relative to the working
    directory, as they are for the recipes."""
    from rewards.safe_yaml import load_yaml_file

    p = Path(path).expanduser()
    raw = load_yaml_file(p, "task file", TaskError)
    if not isinstance(raw, Mapping):
        raise TaskError(f"{p}: expected a mapping of task keys (name, path, rubric, ...)")
    base: dict[str, Any] = {}
    defaults = raw.get("defaults") or []
    for entry in defaults if isinstance(defaults, list) else [defaults]:
        if entry == "_self_":
            continue
        if entry == "custom":
            base |= {"name": "custom", "source": "custom"}
        elif entry in list_tasks():
            base |= {"name": entry}
        else:
            raise TaskError(f"{p}: defaults: {entry!r} is not `custom`, `_self_` or a suite "
                            f"task ({', '.join(list_tasks())})")
    return base | {k: (None if v == "???" else v) for k, v in raw.items() if k != "defaults"}
