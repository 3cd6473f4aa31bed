"""What a benchmark task is: a seeded generator, prompts, a rubric, a metric, real-data adapters.

Each task module in this package defines one `Task` subclass instance named `TASK`; the
registry in `rewards/tasks/__init__.py` lists them. Generators must be byte-identical across
machines for the same seed: use `random.Random(seed)` only (never `hash()`, set iteration
order, numpy global state or the clock).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewards.sample import Sample, json_lines

RUBRIC_DIR = Path(__file__).parent / "rubrics"
SPLITS = ("train", "eval")
# train and eval draw from separate seed streams, and on top of that every generated example is
# assigned to a split by the hash of its content (1 bucket in 10 is eval): an example that lands
# in the other split's bucket is redrawn, so the splits never share a prompt for ANY n and seed,
# and `generate(split, n)` is a prefix of `generate(split, n + k)`.
_SPLIT_SALT = {"train": 0, "eval": 1_000_003}
_EVAL_BUCKETS = 10
# redraw budget per requested example; eval keeps ~1/10 of draws, so 50 is ample headroom and
# a generator whose content space is too small fails loudly instead of looping
_MAX_DRAWS_PER_EXAMPLE = 50

# a real-data adapter: dataset folder -> examples shaped like `make_example`'s output, each
# optionally with an "id" (the loader shuffles, splits and caps them)
Adapter = Callable[[Path], list[dict[str, Any]]]


def content_key(sample: Sample) -> str:
    """sha256 of what the model sees plus the source: two samples with equal keys are the same
    task instance whatever their ids."""
    blob = json.dumps([sample.prompt, sample.source], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def content_split(key: str) -> str:
    return "eval" if int(key[:8], 16) % _EVAL_BUCKETS == 0 else "train"


class TaskError(ValueError):
    """Bad task name, split, config or data path; the message says what was expected."""


def dataset_rows(path: str | Path, filename: str, adapter: str,
                 required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) of the JSONL `path/filename` of a real dataset; a missing file, a bad
    line or a row without a `required` key raises TaskError naming the file and line."""
    f = Path(path) / filename
    if not f.is_file():
        raise TaskError(f"{adapter} adapter: expected {f} (JSONL with {', '.join(required)})")
    for lineno, where, row in json_lines(f, TaskError):
        missing = [k for k in required if not isinstance(row, dict) or k not in row]
        if missing:
            raise TaskError(f"{where}: expected keys {', '.join(required)}; "
                            f"missing {', '.join(missing)}")
        yield lineno, row


@dataclass
class Task:
    name: str
    description: str
    # "accuracy" (classification), "score" (0-5 harness score), "sem_sim" (embedding cosine)
    metric: str
    scale: tuple[float, float]
    system_prompt: str
    user_template: str
    # real-data adapters: dataset folder name under shared/data/real -> Adapter
    adapters: dict[str, Adapter] = field(default_factory=dict)
    # adapter -> rubric file in rubrics/ for a dataset that cannot carry every field the suite
    # rubric requires (SROIE receipts print no invoice numbers): gold must stay the control
    adapter_rubrics: dict[str, str] = field(default_factory=dict)

    @property
    def rubric_path(self) -> Path:
        return RUBRIC_DIR / f"{self.name}.yaml"

    def rubric_path_for(self, adapter: str | None = None) -> Path:
        """The rubric for data from `adapter` (None: generated data)."""
        if adapter in self.adapter_rubrics:
            return RUBRIC_DIR / self.adapter_rubrics[adapter]
        return self.rubric_path

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

    def to_sample(self, ex: Mapping[str, Any], sid: str, split: str,
                  difficulty: str | None = None) -> Sample:
        """A Sample from a make_example/adapter example; meta gains task, split, difficulty."""
        meta = {"task": self.name, "split": split, **ex.get("meta", {})}
        if difficulty is not None:
            meta["difficulty"] = difficulty
        return Sample(id=sid, prompt=self.messages(ex["fields"]), source=ex.get("source"),
                      reference=ex.get("reference"), meta=meta)

    def generate(self, split: str, n: int, seed: int = 0) -> list[Sample]:
        if split not in SPLITS:
            raise TaskError(f"split must be one of {SPLITS}, got {split!r}")
        rng = random.Random(f"{self.name}:{seed + _SPLIT_SALT[split]}")
        levels, weights = zip(*self.difficulty_mix(), strict=True)
        out: list[Sample] = []
        seen: set[str] = set()
        for _ in range(_MAX_DRAWS_PER_EXAMPLE * n + 100):
            if len(out) >= n:
                break
            difficulty = rng.choices(levels, weights)[0]
            ex = self.make_example(rng, difficulty)
            sample = self.to_sample(ex, f"{self.name}-{split}-{seed}-{len(out):05d}", split,
                                    difficulty)
            key = content_key(sample)
            if content_split(key) != split or key in seen:
                continue
            seen.add(key)
            out.append(sample)
        if len(out) < n:
            raise TaskError(f"{self.name}: generator produced only {len(out)} distinct {split} "
                            f"examples of {n} requested; its content space is too small")
        return out
