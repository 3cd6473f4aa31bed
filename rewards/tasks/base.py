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
from rewards.tasks.config import TaskError, count, require, seed_of

RUBRIC_DIR = Path(__file__).parent / "rubrics"
SPLITS = ("train", "eval")
DEFAULT_N = {"train": 500, "eval": 50}
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


# task.prompt: full = the published prompt; short = Task.short_messages (tasks that have one)
PROMPT_STYLES = ("full", "short")


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

    # data sources this task can load (`task.source`); the first is the default
    sources: tuple[str, ...] = ("generated", "real")

    @property
    def rubric_path(self) -> Path:
        return RUBRIC_DIR / f"{self.name}.yaml"

    def rubric_path_for(self, cfg: Mapping[str, Any]) -> Path:
        """The rubric that scores this task config: `task.rubric` when set, else the task's
        own — its real-data variant when the config loads a dataset whose adapter has one."""
        if cfg.get("rubric"):
            p = Path(str(cfg["rubric"])).expanduser()
            if not p.is_file():
                raise TaskError(f"task.rubric: {p} is not a file")
            return p
        if cfg.get("source") == "real" and cfg.get("path"):
            path = Path(str(cfg["path"])).expanduser()
            return self.adapter_rubric_path(pick_adapter(self, path, cfg.get("adapter")))
        return self.rubric_path

    def adapter_rubric_path(self, adapter: str | None = None) -> Path:
        """The rubric for data from `adapter` (None: generated data)."""
        if adapter in self.adapter_rubrics:
            return RUBRIC_DIR / self.adapter_rubrics[adapter]
        return self.rubric_path

    def load_split(self, cfg: Mapping[str, Any], split: str) -> list[Sample]:
        """Samples of `split` for a plain task config: `generated` (the seeded generator,
        `n_<split>` examples) or `real` (the adapter for the dataset folder `path`), in the
        prompt style `task.prompt` (full | short; see `short_messages`)."""
        style = cfg.get("prompt") or "full"
        if style not in PROMPT_STYLES:
            raise TaskError(f"task.prompt must be one of {', '.join(PROMPT_STYLES)}, "
                            f"got {style!r}")
        samples = self._load_split(cfg, split)
        share = cfg.get("label_variants") or 0
        if share:
            if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
                raise TaskError(f"task.label_variants must be a share in [0, 1], got {share!r}")
            if split == "train":
                samples = self.label_variants(samples, float(share), seed_of(cfg))
        if style == "short":
            samples = [Sample(id=s.id, prompt=self.short_messages(s), source=s.source,
                              reference=s.reference, completion=s.completion, meta=s.meta)
                       for s in samples]
        return samples

    def short_messages(self, sample: Sample) -> list[dict[str, str]]:
        """`task.prompt=short`: the same example under a compact prompt, for CPU-sized runs
        where prompt tokens are nearly all the compute. Same ids, data, splits and rubric as
        the full prompt (the splits are drawn on the full prompt, so they stay disjoint); a
        number is comparable only with numbers from the same prompt style."""
        raise TaskError(f"task.prompt: task {self.name!r} has no short prompt; use "
                        "task.prompt=full")

    def label_variants(self, samples: list[Sample], share: float, seed: int) -> list[Sample]:
        """`task.label_variants`: re-present a `share` of the train prompts under another
        spelling, order and size of the output vocabulary, with the reference spelled as that
        prompt lists it, so a policy learns to answer from the list it is given rather than
        from one memorised spelling (real data brings its own: Bitext's ACCOUNT, PAYMENT, ...).
        Eval splits are never varied, so their numbers stay comparable."""
        raise TaskError(f"task.label_variants: task {self.name!r} has no label vocabulary to "
                        "vary; remove the key")

    def _load_split(self, cfg: Mapping[str, Any], split: str) -> list[Sample]:
        seed = seed_of(cfg)
        if (cfg.get("source") or self.sources[0]) == "generated":
            return self.generate(split, count(cfg, split, DEFAULT_N[split]) or 0, seed)
        path = Path(str(require(cfg, "path", "when task.source=real (the dataset folder)")))
        path = path.expanduser()
        if not path.is_dir():
            raise TaskError(f"task.path: {path} is not a folder (task.source=real expects the "
                            f"dataset folder, e.g. ../shared/data/real/<dataset>)")
        return load_real(self, path, split, count(cfg, "train", None), count(cfg, "eval", 50),
                         seed, cfg.get("adapter"))

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
