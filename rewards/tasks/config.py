"""Reading a `task` config (conf/task/*.yaml): plain dict, required keys, counts, seed.

Every error is a TaskError naming the key (`task.path`, `task.n_train`, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class TaskError(ValueError):
    """Bad task name, split, config or data path; the message says what was expected."""


def plain_config(task_cfg: Any) -> dict[str, Any]:
    """A task config as a plain dict: OmegaConf nodes resolved, mandatory `???` kept as None
    so the checks below can name the missing key instead of OmegaConf raising deep inside."""
    if hasattr(task_cfg, "_metadata"):  # an OmegaConf container, without importing omegaconf
        from omegaconf import OmegaConf

        task_cfg = OmegaConf.to_container(task_cfg, resolve=True, throw_on_missing=False)
    if not isinstance(task_cfg, Mapping):
        raise TaskError(f"task config must be a mapping with a `name`, got {type(task_cfg).__name__}")
    return {k: (None if v == "???" else v) for k, v in task_cfg.items()}


def require(cfg: Mapping[str, Any], key: str, what: str) -> Any:
    value = cfg.get(key)
    if value in (None, ""):
        raise TaskError(f"task.{key} is required {what} (set task.{key}=...)")
    return value


def count(cfg: Mapping[str, Any], split: str, default: int | None) -> int | None:
    key = f"n_{split}"
    n = cfg.get(key, default)
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise TaskError(f"task.{key} must be a non-negative integer, got {n!r}")
    return n


def seed_of(cfg: Mapping[str, Any]) -> int:
    seed = cfg.get("seed", 0)
    if seed is None:
        return 0
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TaskError(f"task.seed must be an integer, got {seed!r}")
    return seed

