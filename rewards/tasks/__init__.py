"""The benchmark suite: seven seed tasks plus `custom` (a user's JSONL, prompt and rubric).

    from rewards.tasks import get_task, list_tasks, load_split
    samples = load_split({"name": "support_classification", "n_train": 500}, "train")
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from rewards.tasks.base import Task
from rewards.tasks.config import TaskError

# task name -> module in this package defining TASK
_MODULES = {
    "support_classification": "support_classification",
    "invoice_extraction": "invoice_extraction",
    "product_copywriting": "product_copywriting",
    "medical_extraction": "medical_extraction",
    "legal_rewrite": "legal_rewrite",
    "pisar_rationale": "pisar_rationale",
    "clinical_scribe": "clinical_scribe",
}
# not a benchmark task: the user's own data and rubric, registered like one
_EXTRA = {"custom": "custom"}


def list_tasks() -> list[str]:
    """The seven benchmark tasks (generated data; `custom` is not listed)."""
    return list(_MODULES)


def get_task(name: str) -> Task:
    module = _MODULES.get(name) or _EXTRA.get(name)
    if module is None:
        raise TaskError(f"unknown task {name!r}; valid tasks: {', '.join(_MODULES)} (or 'custom')")
    return importlib.import_module(f"rewards.tasks.{module}").TASK


def load_split(task_cfg: Mapping[str, Any], split: str):
    """Samples for `split` ("train"|"eval") from a `task` config (conf/task/*.yaml)."""
    from rewards.tasks.loading import load_split as _load

    return _load(task_cfg, split)


def resolve(task_cfg: Any, rubric: Any = None):
    """The one task resolver every stage calls: see rewards/tasks/resolver.py."""
    from rewards.tasks.resolver import resolve as _resolve

    return _resolve(task_cfg, rubric)


__all__ = ["Task", "TaskError", "get_task", "list_tasks", "load_split", "resolve"]
