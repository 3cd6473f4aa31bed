"""The Sample contract (ARCHITECTURE.md): one JSON object per JSONL line.

`id`, `prompt` (chat messages or plain text), `source` (text the answer must be faithful to),
`reference` (gold answer), `completion` (the text being scored), `meta` (free dict: task,
split, difficulty, group id, ...). Readers name the file and line of every bad row.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rewards.safe_yaml import LoadError, decode_utf8
from rewards.validate import MAX_JSON_DEPTH, has_lone_surrogate, json_depth_ok

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
        meta = row.get("meta")
        if meta is not None and not isinstance(meta, dict):
            raise SampleError(f"{where}: key 'meta' must be an object, got {type(meta).__name__}")
        unknown = set(row) - {"id", "prompt", "source", "reference", "completion", "meta"}
        if unknown:
            # extra keys are kept in meta rather than lost: users' JSONL often carries columns
            row = {k: v for k, v in row.items() if k not in unknown} | {
                "meta": {**(meta or {}), **{k: row[k] for k in unknown}}
            }
        if "id" not in row:
            raise SampleError(f"{where}: missing key 'id'")
        if isinstance(row["id"], bool) or not isinstance(row["id"], str | int) \
                or row["id"] == "":
            # an empty id cannot name a sample in reports, caches or paired deltas
            raise SampleError(f"{where}: key 'id' must be a non-empty string or an integer, "
                              f"got {row['id']!r}"[:200])
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
        return cls(id=str(row["id"]), prompt=prompt, source=row.get("source"),
                   reference=row.get("reference"), completion=row.get("completion"), meta=meta)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def prompt_text(self) -> str:
        """The prompt flattened to text (user-visible content only), for checks that read it."""
        if isinstance(self.prompt, str):
            return self.prompt
        return "\n".join(m["content"] for m in self.prompt)


def _refuse_constant(name: str) -> Any:
    # NaN/Infinity are not JSON (RFC 8259); Python accepts them and would score with them
    raise ValueError(f"{name} is not valid JSON")


def parse_line(raw: bytes, where: str, offset: int) -> Any:
    """One JSONL line → value; ValueError names what is wrong (decoding, syntax, limits)."""
    try:
        text = decode_utf8(raw, where.rsplit(":", 1)[0], int(where.rsplit(":", 1)[1]), offset)
    except LoadError as e:
        raise ValueError(str(e).split(": ", 1)[1]) from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        # json's own messages can end in "at" ("Invalid control character at")
        raise ValueError(f"invalid JSON ({e.msg.removesuffix(' at')} at column {e.colno})") \
            from None
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as e:  # ints over Python's 4300-digit limit, NaN/Infinity
        raise ValueError(f"invalid JSON value: {str(e).splitlines()[0][:120]}") from None
    if not json_depth_ok(value):
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if has_lone_surrogate(value):
        raise ValueError("a string holds a lone UTF-16 surrogate escape (e.g. \\ud800): "
                         "not valid Unicode text")
    return value


def json_lines(path: str | Path, error: type[Exception] = SampleError,
               skip_invalid: bool = False,
               skipped: list[tuple[int, str]] | None = None) -> Iterator[tuple[int, str, Any]]:
    """(line number, "file:line", parsed value) for each non-blank line of a JSONL file.
    A bad line (not UTF-8, invalid JSON, too deep) raises `error` naming file, line and
    column or byte offset — or, with `skip_invalid`, is appended to `skipped` as
    (line number, reason) and left out."""
    path = Path(path)
    offset = 0
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            start, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                value = parse_line(raw, where, start)
            except ValueError as e:
                if not skip_invalid:
                    raise error(f"{where}: {e}") from None
                if skipped is not None:
                    skipped.append((lineno, str(e)))
                continue
            yield lineno, where, value


def iter_jsonl(path: str | Path, on_bad_line: str = "fail",
               skipped: list[tuple[int, str]] | None = None) -> Iterator[tuple[int, Sample]]:
    """Yield (line number, Sample); `on_bad_line='skip'` drops bad rows (recorded in
    `skipped` as (line, reason) when given), 'fail' raises."""
    skip = on_bad_line == "skip"
    for lineno, where, row in json_lines(path, SampleError, skip, skipped):
        try:
            yield lineno, Sample.from_dict(row, where)
        except SampleError as e:
            if not skip:
                raise
            if skipped is not None:
                skipped.append((lineno, str(e).removeprefix(f"{where}: ")))


def read_jsonl(path: str | Path, on_bad_line: str = "fail",
               skipped: list[tuple[int, str]] | None = None) -> list[Sample]:
    return [s for _, s in iter_jsonl(path, on_bad_line, skipped)]


def _temp_beside(path: Path) -> Path:
    """A fresh temp file in the target's directory (same filesystem: the rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def write_atomic_many(files: dict[Path, str]) -> None:
    """Write several files so that either all are replaced or none is: every temp file is
    written first, then all are renamed; on any failure every temp file is removed."""
    tmps: dict[Path, Path] = {}
    try:
        for path, text in files.items():
            tmps[path] = _temp_beside(Path(path))
            with tmps[path].open("w", encoding="utf-8") as fh:
                fh.write(text)
        for path, tmp in tmps.items():
            tmp.replace(path)
    finally:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)


def jsonl_text(rows: list[dict[str, Any]], strict: bool = True) -> str:
    """JSON lines; `strict`: NaN/Infinity raise here instead of reaching strict readers."""
    return "".join(json.dumps(r, ensure_ascii=False, allow_nan=not strict) + "\n" for r in rows)


def write_jsonl_atomic(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write rows to `path` via a temp file + rename so a crash never leaves half a file."""
    write_atomic_many({Path(path): jsonl_text(rows, strict=False)})
