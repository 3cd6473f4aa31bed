"""The `custom` task: a user's own JSONL, prompt and rubric (conf/task/custom.yaml).

Rows are either
- Sample-contract rows (`prompt` as text or chat messages, optional `id`, `source`,
  `reference`, `meta`), used as they are; or
- free-field rows ({"ticket": "...", "label": "..."}) rendered through `prompt_template`
  ("Classify: {ticket}") with optional `system_prompt`.

Every column role has a named key, so no column must carry a magic name: `id_field` (the
sample id, default `id`), `source_field` (the text the answer must be faithful to: what
`numbers_grounded`, `spans_preserved` and judges read as the source, default `source`),
`reference_field` (the gold answer, default `reference`); `labels` (the task's label set)
lands in every sample's `meta.labels` and in the template as `{labels}`. Every other column
lands in `meta`, so rubric checks can read it (`from_meta`, `labels_from_meta`,
`phrase_from_meta`). A field the config names but a row lacks is an error naming file and line.

Without `eval_path`, the train file is split like real data: de-duplicated, shuffled with
`seed`, the first `n_eval` rows (at most half) are eval — a file too small for `n_eval` says
so on stderr. Errors name the file and line.
"""

from __future__ import annotations

import json
import random
import string
import sys
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


def _text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def _render(template: str, row: Mapping[str, Any], where: str) -> str:
    missing = [f for f in template_fields(template) if f not in row]
    if missing:
        raise TaskError(f"{where}: prompt_template needs field {missing[0]!r}, which this row "
                        f"lacks (row fields: {', '.join(row) or 'none'})")
    try:
        return template.format_map({k: _text(v) for k, v in row.items()})
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        raise TaskError(f"{where}: cannot render prompt_template ({e}); use plain {{field}} "
                        "placeholders") from e


def column_roles(cfg: Mapping[str, Any]) -> dict[str, str]:
    """{role: column name} for the id, source and reference columns (`task.<role>_field`,
    defaulting to the Sample contract's own names)."""
    roles = {}
    for role in ("id", "source", "reference"):
        col = cfg.get(f"{role}_field") or role
        if not isinstance(col, str):
            raise TaskError(f"task.{role}_field must be a column name (a string), got {col!r}")
        roles[role] = col
    return roles


def task_labels(cfg: Mapping[str, Any]) -> list[str] | None:
    labels = cfg.get("labels")
    if labels is None:
        return None
    if (not isinstance(labels, list | tuple) or not labels
            or not all(isinstance(x, str) and x for x in labels)):
        raise TaskError(f"task.labels must be a non-empty list of strings, got {labels!r}")
    return list(labels)


def _named_column(row: Mapping[str, Any], cfg: Mapping[str, Any], role: str, col: str,
                  where: str) -> Any:
    """A role's column of a row; a column the config names explicitly must be there."""
    if col not in row and cfg.get(f"{role}_field"):
        raise TaskError(f"{where}: task.{role}_field={col!r} but this row has no {col!r} "
                        f"(row fields: {', '.join(row) or 'none'})")
    return row.get(col)


def row_to_sample(row: Any, cfg: Mapping[str, Any], where: str, sid: str, split: str) -> Sample:
    """One JSONL row -> Sample, as a contract row or through the prompt template."""
    if not isinstance(row, dict):
        raise TaskError(f"{where}: expected a JSON object, got {type(row).__name__}")
    roles, labels = column_roles(cfg), task_labels(cfg)
    system = cfg.get("system_prompt")
    if "prompt" in row:
        row = dict(row)
        for role, col in roles.items():  # a named column takes its role's contract key
            if col != role and col in row:
                row[role] = row.pop(col)
        try:
            s = Sample.from_dict({"id": sid, **row}, where)
        except SampleError as e:
            raise TaskError(str(e)) from e
        if system:
            msgs = [{"role": "user", "content": s.prompt}] if isinstance(s.prompt, str) else s.prompt
            if not any(m["role"] == "system" for m in msgs):
                s.prompt = [{"role": "system", "content": system}, *msgs]
    else:
        template = cfg.get("prompt_template")
        if not template:
            raise TaskError(f"{where}: row has no 'prompt' and task.prompt_template is not set; "
                            "add a prompt column or a template such as \"Classify: {text}\"")
        view = {**({"labels": ", ".join(labels)} if labels else {}), **row}
        user = _render(str(template), view, where)
        prompt = ([{"role": "system", "content": str(system)}] if system else []) + [
            {"role": "user", "content": user}]
        if _named_column(row, cfg, "id", roles["id"], where) is not None:
            sid = row[roles["id"]]
        if sid == "" or isinstance(sid, bool) or not isinstance(sid, str | int):
            raise TaskError(f"{where}: column {roles['id']!r} (the sample id) must be a "
                            f"non-empty string or an integer, got {sid!r}")
        source = _named_column(row, cfg, "source", roles["source"], where)
        if source is not None and not isinstance(source, str):
            raise TaskError(f"{where}: column {roles['source']!r} (the source text) must be a "
                            f"string, got {type(source).__name__}")
        s = Sample(id=str(sid), prompt=prompt, source=source,
                   reference=_named_column(row, cfg, "reference", roles["reference"], where),
                   meta={k: v for k, v in row.items() if k not in roles.values()})
    if labels and "labels" not in s.meta:
        s.meta["labels"] = labels
    s.meta = {**s.meta, "task": str(cfg.get("name") or "custom"), "split": split,
              "line": where.rsplit(":", 1)[-1]}
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


# messages already printed by this process: every stage loads both splits, often twice
_WARNED: set[str] = set()


def _warn_small_split(path: Path, n_rows: int, n_eval: int, k: int) -> None:
    msg = (f"task.n_eval={n_eval} but {path} has {n_rows} distinct rows: eval takes {k} "
           f"(at most half), train the other {n_rows - k}; set task.n_eval, or give "
           "task.eval_path")
    if msg not in _WARNED:
        _WARNED.add(msg)
        print(f"warning: {msg}", file=sys.stderr, flush=True)


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
    want = n_eval if n_eval is not None else 50
    k = min(want, len(rows) // 2)
    if k < want:
        _warn_small_split(path, len(rows), want, k)
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
