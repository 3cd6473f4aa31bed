"""Samples for a split from a `task` config (conf/task/*.yaml), whatever the data source.

    load_split({"name": "invoice_extraction", "source": "generated", "n_eval": 50}, "eval")
    load_split({"name": "invoice_extraction", "source": "real",
                "path": "../shared/data/real/sroie"}, "train")
    load_split({"name": "custom", "source": "custom", "path": "mine.jsonl",
                "rubric": "mine.yaml"}, "train")

`source`:
- `generated`: the task's seeded generator, `n_train`/`n_eval` examples, `seed`.
- `real`: the task's adapter for the dataset folder `path` (picked by folder name, or by the
  optional `adapter` key). Rows are de-duplicated by content, shuffled with `seed`, and the
  first `n_eval` (at most half the rows) form eval, the next `n_train` train: disjoint by
  construction and identical on every machine.
- `custom`: a user's JSONL (rewards/tasks/custom.py).

Every bad config raises TaskError naming the key (`task.path`, `task.source`, ...).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rewards.sample import Sample
from rewards.tasks.base import SPLITS, Task, TaskError, content_key

SOURCES = ("generated", "real", "custom")
DEFAULT_N = {"train": 500, "eval": 50}


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


def load_split(task_cfg: Any, split: str) -> list[Sample]:
    """Samples of `split` ("train" | "eval") for the task config."""
    cfg = plain_config(task_cfg)
    if split not in SPLITS:
        raise TaskError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    name = require(cfg, "name", "(a task from `python -m rewards.tasks list`, or custom)")
    source = cfg.get("source") or ("custom" if name == "custom" else "generated")
    if source not in SOURCES:
        raise TaskError(f"task.source: unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    if source == "custom" or name == "custom":
        from rewards.tasks.custom import load_custom_split

        return load_custom_split(cfg, split)
    from rewards.tasks import get_task

    task = get_task(str(name))
    seed = seed_of(cfg)
    if source == "generated":
        return task.generate(split, count(cfg, split, DEFAULT_N[split]) or 0, seed)
    path = Path(str(require(cfg, "path", "when task.source=real (the dataset folder)"))).expanduser()
    if not path.is_dir():
        raise TaskError(f"task.path: {path} is not a folder (task.source=real expects the "
                        f"dataset folder, e.g. ../shared/data/real/<dataset>)")
    return load_real(task, path, split, count(cfg, "train", None), count(cfg, "eval", 50),
                     seed, cfg.get("adapter"))


def pick_adapter(task: Task, path: Path, adapter: str | None) -> str:
    if not task.adapters:
        raise TaskError(f"task {task.name!r} has no real-data adapter; use task.source=generated")
    names = ", ".join(task.adapters)
    if adapter:
        if adapter not in task.adapters:
            raise TaskError(f"task.adapter: {task.name} has no adapter {adapter!r}; it has: {names}")
        return adapter
    if path.name in task.adapters:
        return path.name
    if len(task.adapters) == 1:
        return next(iter(task.adapters))
    raise TaskError(f"task.path: folder {path.name!r} matches none of {task.name}'s adapters "
                    f"({names}); set task.adapter")


def load_real(task: Task, path: Path, split: str, n_train: int | None, n_eval: int | None,
              seed: int, adapter: str | None = None) -> list[Sample]:
    """Adapter rows -> de-duplicated, seeded shuffle -> eval first, train after."""
    name = pick_adapter(task, path, adapter)
    examples = task.adapters[name](path)
    samples, seen = [], set()
    for i, ex in enumerate(examples):
        s = task.to_sample(ex, str(ex.get("id") or f"{task.name}-{name}-{i:05d}"), split)
        key = content_key(s)
        if key not in seen:  # a repeated row in both splits would leak eval into train
            seen.add(key)
            s.meta |= {"dataset": name, "source_kind": "real"}
            samples.append(s)
    if not samples:
        raise TaskError(f"task.path: adapter {name!r} found no usable rows in {path}")
    random.Random(f"{task.name}:real:{seed}").shuffle(samples)
    k = min(n_eval if n_eval is not None else 50, len(samples) // 2)
    chosen = samples[:k] if split == "eval" else samples[k:]
    if split == "train" and n_train is not None:
        chosen = chosen[:n_train]
    return chosen


def rubric_path_for(task_cfg: Any) -> Path:
    """The rubric that scores this task config: `task.rubric` when set (required for custom),
    else the suite task's own rubric (its real-data variant for an adapter that has one)."""
    cfg = plain_config(task_cfg)
    if cfg.get("rubric"):
        p = Path(str(cfg["rubric"])).expanduser()
        if not p.is_file():
            raise TaskError(f"task.rubric: {p} is not a file")
        return p
    if cfg.get("name") == "custom" or cfg.get("source") == "custom":
        raise TaskError("task.rubric is required for custom data (a rubric YAML path)")
    from rewards.tasks import get_task

    task = get_task(str(require(cfg, "name", "(a task name)")))
    if cfg.get("source") == "real" and cfg.get("path"):
        path = Path(str(cfg["path"])).expanduser()
        return task.rubric_path_for(pick_adapter(task, path, cfg.get("adapter")))
    return task.rubric_path
