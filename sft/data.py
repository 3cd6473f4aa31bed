"""SFT data: chat-message rows from a suite task or a custom JSONL.

A row is `{"messages": [{"role": ..., "content": ...}, ...]}` with at least one assistant turn
(the loss covers assistant turns only). From a task, each Sample's prompt (system + user) is
followed by its reference as the assistant turn (non-string references, e.g. extraction
targets, are serialised with json.dumps, keys in their given order).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sft.errors import UserInputError

Messages = list[dict[str, str]]
ROLES = ("system", "user", "assistant", "tool")


def reference_text(reference: Any) -> str:
    return reference if isinstance(reference, str) else json.dumps(reference, ensure_ascii=False)


def sample_messages(sample: Any, task: Any = None) -> Messages:
    """Prompt messages + the reference as the assistant turn, for a rewards Sample (of the
    resolved `task`, which the error names)."""
    prompt = sample.prompt
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if sample.reference is None:
        raise UserInputError(f"sample {sample.id!r}{_where(sample, task)} has no reference to "
                             "train on: SFT needs a gold answer per train row; set "
                             "task.reference_field to the column holding it (columns here: "
                             f"{', '.join(k for k in sample.meta if k not in _OURS) or 'none'})")
    return [*messages, {"role": "assistant", "content": reference_text(sample.reference)}]


# meta keys the task loaders add (not the user's columns)
_OURS = ("task", "split", "line", "labels", "difficulty")


def _where(sample: Any, task: Any) -> str:
    path = task.cfg.get("path") if task is not None else None
    line = sample.meta.get("line")
    return f" ({path}:{line}, task {task.name!r})" if path and line else ""


def validate_messages(messages: Any, where: str) -> Messages:
    if not isinstance(messages, list) or not messages:
        raise UserInputError(f"{where}: 'messages' must be a non-empty list of "
                             '{"role": ..., "content": ...} objects')
    for i, m in enumerate(messages):
        if not (isinstance(m, dict) and m.get("role") in ROLES
                and isinstance(m.get("content"), str)):
            raise UserInputError(f"{where}: messages[{i}] must be an object with 'role' in "
                                 f"{ROLES} and a string 'content', got {json.dumps(m)[:120]}")
    if not any(m["role"] == "assistant" for m in messages):
        raise UserInputError(f"{where}: no assistant message, so nothing to train on")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def read_messages_jsonl(path: str | Path) -> list[Messages]:
    """Rows of a chat JSONL; every bad row is an error naming the file and line."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserInputError(f"data.path={str(path)!r}: no such file")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserInputError(f"{where}: invalid JSON ({e.msg}, column {e.colno})") from e
            if not isinstance(row, dict) or "messages" not in row:
                raise UserInputError(f"{where}: row has no 'messages' key "
                                     '(expected {"messages": [{"role": ..., "content": ...}]})')
            rows.append(validate_messages(row["messages"], where))
    if not rows:
        raise UserInputError(f"data.path={str(path)!r}: file has no rows")
    return rows


def task_samples(task: Any, split: str) -> list[Any]:
    """The resolved task's samples for `split`, with task errors turned into user errors."""
    from rewards.tasks import TaskError

    try:
        return list(task.split(split))
    except TaskError as e:
        raise UserInputError(f"task {task.name!r}: {e}") from e


def load_train_rows(cfg: Any, task: Any) -> tuple[list[Messages], str]:
    """(rows, description) for the SFT train set: data.path if set, else the train split of
    `task` (the resolved task, rewards.tasks.resolve)."""
    data = cfg.get("data") or {}
    if data.get("path"):
        rows, what = read_messages_jsonl(data.path), str(data.path)
    else:
        rows = [sample_messages(s, task) for s in task_samples(task, "train")]
        what = f"task {task.name} (train)"
    limit = data.get("max_examples")
    return (rows[:int(limit)] if limit else rows), what
