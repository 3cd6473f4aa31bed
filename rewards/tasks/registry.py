"""The task registry: name -> the module in this package that defines `TASK`."""

from __future__ import annotations

import importlib

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
