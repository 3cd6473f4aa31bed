"""The benchmark suite: seven seed tasks plus `custom` (a user's JSONL, prompt and rubric).

    from rewards.tasks import get_task, list_tasks, load_split
    samples = load_split({"name": "support_classification", "n_train": 500}, "train")
"""

from __future__ import annotations

from rewards.tasks.base import Task
from rewards.tasks.config import TaskError
from rewards.tasks.loading import load_split
from rewards.tasks.registry import get_task, list_tasks
from rewards.tasks.resolver import ResolvedTask, resolve

__all__ = ["ResolvedTask", "Task", "TaskError", "get_task", "list_tasks", "load_split",
           "resolve"]
