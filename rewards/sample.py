"""The Sample contract (ARCHITECTURE.md): one JSON object per JSONL line.

`id`, `prompt` (chat messages or plain text), `source` (text the answer must be faithful to),
`reference` (gold answer), `completion` (the text being scored), `meta` (free dict: task,
split, difficulty, group id, ...). Readers name the file and line of every bad row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

Messages = list[dict[str, str]]


class SampleError(ValueError):
    """A row that does not follow the sample contract; the message names file and line."""


@dataclass
class Sample:
    id: str
    prompt: Messages | str = ""
    source: str | None = None
    reference: Any = None
    completion: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, row: Any, where: str = "sample") -> Sample:
        if not isinstance(row, dict):
            raise SampleError(f"{where}: expected a JSON object, got {type(row).__name__}")
        unknown = set(row) - {"id", "prompt", "source", "reference", "completion", "meta"}
        if unknown:
            # extra keys are kept in meta rather than lost: users' JSONL often carries columns
            row = {k: v for k, v in row.items() if k not in unknown} | {
                "meta": {**(row.get("meta") or {}), **{k: row[k] for k in unknown}}
            }
        if "id" not in row:
            raise SampleError(f"{where}: missing key 'id'")
        prompt = row.get("prompt", "")
        if not isinstance(prompt, str | list):
            raise SampleError(f"{where}: key 'prompt' must be a string or a list of messages")
        if isinstance(prompt, list):
            for i, m in enumerate(prompt):
                if not (isinstance(m, dict) and isinstance(m.get("role"), str)
                        and isinstance(m.get("content"), str)):
                    raise SampleError(
                        f"{where}: prompt[{i}] must be an object with string 'role' and 'content'")
        for key in ("source", "completion"):
            if row.get(key) is not None and not isinstance(row[key], str):
                raise SampleError(f"{where}: key '{key}' must be a string or null")
        meta = row.get("meta") or {}
        if not isinstance(meta, dict):
            raise SampleError(f"{where}: key 'meta' must be an object")
        return cls(id=str(row["id"]), prompt=prompt, source=row.get("source"),
                   reference=row.get("reference"), completion=row.get("completion"), meta=meta)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def prompt_text(self) -> str:
        """The prompt flattened to text (user-visible content only), for checks that read it."""
        if isinstance(self.prompt, str):
            return self.prompt
        return "\n".join(m["content"] for m in self.prompt)


def json_lines(path: str | Path, error: type[Exception] = SampleError,
               skip_invalid: bool = False) -> Iterator[tuple[int, str, Any]]:
    """(line number, "file:line", parsed value) for each non-blank line of a JSONL file.
    Invalid JSON raises `error` naming file, line and column (or is skipped)."""
    path = Path(path)
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                yield lineno, where, json.loads(line)
            except json.JSONDecodeError as e:
                if not skip_invalid:
                    raise error(f"{where}: invalid JSON ({e.msg} at column {e.colno})") from e


def iter_jsonl(path: str | Path, on_bad_line: str = "fail") -> Iterator[tuple[int, Sample]]:
    """Yield (line number, Sample); `on_bad_line='skip'` drops bad rows, 'fail' raises."""
    skip = on_bad_line == "skip"
    for lineno, where, row in json_lines(path, SampleError, skip_invalid=skip):
        try:
            yield lineno, Sample.from_dict(row, where)
        except SampleError:
            if not skip:
                raise


def read_jsonl(path: str | Path, on_bad_line: str = "fail") -> list[Sample]:
    return [s for _, s in iter_jsonl(path, on_bad_line)]


def write_jsonl_atomic(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write rows to `path` via a temp file + rename so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
