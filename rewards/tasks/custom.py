"""The `custom` task: a user's own JSONL, prompt and rubric (conf/task/custom.yaml).

Rows are either
- Sample-contract rows (`prompt` as text or chat messages, optional `id`, `source`,
  `reference`, `meta`), used as they are; or
- free-field rows ({"ticket": "...", "label": "..."}) rendered through `prompt_template`
  ("Classify: {ticket}") with optional `system_prompt`; `reference_field` names the gold column,
  a `source` column becomes the sample's source, and every other column lands in `meta`
  so rubric checks can read it (`from_meta`, `labels_from_meta`, `phrase_from_meta`).

Without `eval_path`, the train file is split like real data: de-duplicated, shuffled with
`seed`, the first `n_eval` rows (at most half) are eval. Errors name the file and line.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rewards.sample import Sample, SampleError, json_lines
from rewards.tasks.base import Task, content_key
from rewards.tasks.config import TaskError, count, require, seed_of


def template_fields(template: str) -> list[str]:
    """The `{field}` names a template uses; TaskError on a malformed template."""
    try:
        return [f for _, f, _, _ in string.Formatter().parse(template) if f]
    except ValueError as e:
        raise TaskError(f"task.prompt_template: {e} (use {{field}} placeholders, {{{{ for a brace)") from e


def _render(template: str, row: Mapping[str, Any], where: str) -> str:
    missing = [f for f in template_fields(template) if f not in row]
    if missing:
        raise TaskError(f"{where}: prompt_template needs field {missing[0]!r}, which this row "
                        f"lacks (row fields: {', '.join(row) or 'none'})")
    try:
        return template.format_map({k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                                    for k, v in row.items()})
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        raise TaskError(f"{where}: cannot render prompt_template ({e}); use plain {{field}} "
                        "placeholders") from e


def row_to_sample(row: Any, cfg: Mapping[str, Any], where: str, sid: str, split: str) -> Sample:
    """One JSONL row -> Sample, as a contract row or through the prompt template."""
    if not isinstance(row, dict):
        raise TaskError(f"{where}: expected a JSON object, got {type(row).__name__}")
    system = cfg.get("system_prompt")
    ref_field = cfg.get("reference_field")
    if "prompt" in row:
        try:
            s = Sample.from_dict({"id": sid, **row}, where)
        except SampleError as e:
            raise TaskError(str(e)) from e
        if system:
            msgs = [{"role": "user", "content": s.prompt}] if isinstance(s.prompt, str) else s.prompt
            if not any(m["role"] == "system" for m in msgs):
                s.prompt = [{"role": "system", "content": system}, *msgs]
        if ref_field and ref_field in s.meta:
            s.reference = s.meta.pop(ref_field)
    else:
        template = cfg.get("prompt_template")
        if not template:
            raise TaskError(f"{where}: row has no 'prompt' and task.prompt_template is not set; "
                            "add a prompt column or a template such as \"Classify: {text}\"")
        user = _render(str(template), row, where)
        prompt = ([{"role": "system", "content": str(system)}] if system else []) + [
            {"role": "user", "content": user}]
        reference = row.get(ref_field) if ref_field else row.get("reference")
        extra = {k: v for k, v in row.items() if k not in ("id", "source", "reference", ref_field)}
        s = Sample(id=str(row.get("id", sid)), prompt=prompt, source=row.get("source"),
                   reference=reference, meta=extra)
        if s.source is not None and not isinstance(s.source, str):
            raise TaskError(f"{where}: field 'source' must be a string")
    s.meta = {**s.meta, "task": "custom", "split": split, "line": where.rsplit(":", 1)[-1]}
    s.completion = None
    return s


def read_rows(path: Path, cfg: Mapping[str, Any], split: str, key: str) -> list[Sample]:
    if not path.is_file():
        raise TaskError(f"task.{key}: {path} is not a file (expected JSONL, one object per line)")
    out = [row_to_sample(row, cfg, where, f"custom-{path.stem}-{lineno}", split)
           for lineno, where, row in json_lines(path, TaskError)]
    if not out:
        raise TaskError(f"task.{key}: {path} has no rows")
    return out


def load_custom_split(cfg: Mapping[str, Any], split: str) -> list[Sample]:
    path = Path(str(require(cfg, "path", "for custom data (your train JSONL)"))).expanduser()
    require(cfg, "rubric", "for custom data (the rubric YAML that scores it)")
    if cfg.get("prompt_template"):
        template_fields(str(cfg["prompt_template"]))  # a broken template fails before any row
    n_train, n_eval = count(cfg, "train", None), count(cfg, "eval", 50)
    if cfg.get("eval_path"):
        if split == "eval":
            rows = read_rows(Path(str(cfg["eval_path"])).expanduser(), cfg, split, "eval_path")
            return rows[:n_eval] if n_eval is not None else rows
        rows = read_rows(path, cfg, split, "path")
        return rows[:n_train] if n_train is not None else rows
    rows, seen = [], set()
    for s in read_rows(path, cfg, split, "path"):
        key = content_key(s)
        if key not in seen:  # a duplicate row in both splits would leak eval into train
            seen.add(key)
            rows.append(s)
    random.Random(f"custom:{seed_of(cfg)}").shuffle(rows)
    k = min(n_eval if n_eval is not None else 50, len(rows) // 2)
    chosen = rows[:k] if split == "eval" else rows[k:]
    return chosen[:n_train] if split == "train" and n_train is not None else chosen


class CustomTask(Task):
    """The user's data and rubric as one more Task: loads `source: custom` rows and is scored
    by the rubric the config names (`task.rubric`, required)."""

    def rubric_path_for(self, cfg: Mapping[str, Any]) -> Path:
        require(cfg, "rubric", "for custom data (the rubric YAML that scores it)")
        return super().rubric_path_for(cfg)

    def load_split(self, cfg: Mapping[str, Any], split: str) -> list[Sample]:
        return load_custom_split(cfg, split)


TASK = CustomTask(
    name="custom", description="your JSONL + rubric: see conf/task/custom.yaml",
    metric="score", scale=(0.0, 1.0), system_prompt="", user_template="{prompt}",
    sources=("custom",))
