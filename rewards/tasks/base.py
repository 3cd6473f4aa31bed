"""What a benchmark task is: a seeded generator, prompts, a rubric, a metric, real-data adapters.

Each task module in this package defines one `Task` subclass instance named `TASK`; the
registry in `rewards/tasks/__init__.py` lists them. Generators must be byte-identical across
machines for the same seed: use `random.Random(seed)` only (never `hash()`, set iteration
order, numpy global state or the clock).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewards.sample import Sample

RUBRIC_DIR = Path(__file__).parent / "rubrics"
SPLITS = ("train", "eval")
# eval rows come from a disjoint seed stream so the splits never overlap for any n
_SPLIT_SALT = {"train": 0, "eval": 1_000_003}


class TaskError(ValueError):
    """Bad task name, split, config or data path; the message says what was expected."""


@dataclass
class Task:
    name: str
    description: str
    # "accuracy" (classification), "score" (0-5 harness score), "sem_sim" (embedding cosine)
    metric: str
    scale: tuple[float, float]
    system_prompt: str
    user_template: str
    # real-data adapters: dataset folder name under shared/data/real -> loader
    adapters: dict[str, Any] = field(default_factory=dict)

    @property
    def rubric_path(self) -> Path:
        return RUBRIC_DIR / f"{self.name}.yaml"

    def rubric(self):
        from rewards.rubric import load_rubric

        return load_rubric(self.rubric_path)

    # --- to implement per task -------------------------------------------------------------
    def make_example(self, rng: random.Random, difficulty: str) -> dict[str, Any]:
        """One example: {"fields": {...} for the user template, "source": str|None,
        "reference": gold answer, "meta": {...}}."""
        raise NotImplementedError

    def difficulty_mix(self) -> tuple[tuple[str, float], ...]:
        return (("easy", 0.3), ("medium", 0.4), ("hard", 0.3))

    # --- shared machinery ------------------------------------------------------------------
    def messages(self, fields: Mapping[str, Any]) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": self.user_template.format(**fields)},
        ]

    def generate(self, split: str, n: int, seed: int = 0) -> list[Sample]:
        if split not in SPLITS:
            raise TaskError(f"split must be one of {SPLITS}, got {split!r}")
        rng = random.Random(f"{self.name}:{seed + _SPLIT_SALT[split]}")
        levels, weights = zip(*self.difficulty_mix(), strict=True)
        out = []
        for i in range(n):
            difficulty = rng.choices(levels, weights)[0]
            ex = self.make_example(rng, difficulty)
            meta = {"task": self.name, "split": split, "difficulty": difficulty, **ex.get("meta", {})}
            out.append(Sample(id=f"{self.name}-{split}-{seed}-{i:05d}",
                              prompt=self.messages(ex["fields"]), source=ex.get("source"),
                              reference=ex.get("reference"), meta=meta))
        return out
