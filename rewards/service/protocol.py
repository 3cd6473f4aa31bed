"""Request bodies of the reward service -> Samples, with 4xx errors that name the key or row.

Native (`POST /v1/score`):
    {"samples": [{id?, prompt?, source?, reference?, completion, meta?}, ...],
     "rubric": "name"?, "rubric_hash": "16 hex"?}
    -> {"results": [per sample exactly what `python -m rewards.score` writes], "rubric": name,
        "rubric_hash": ..., "stats": {judge_calls, judge_requests, judge_errors, judge_error,
                                      cache_hits, cache_misses, seconds}}
A row without `id` gets its index. Unknown sample keys land in `meta` (as in the CLI).

OpenRLHF (`POST /get_reward[?rubric=name]`, its `--remote_rm_url` convention):
    {"query": [prompt + response, ...], "prompts": [prompt, ...], "labels": [label, ...],
     "metas": [dict, ...]?}  ->  {"rewards": [...], "scores": [...], "extra_logs": {...}}
The completion is `query` minus its `prompts` prefix; `labels` is the reference; a meta's
`source` (if any) becomes the sample's source.

Hostile bodies are 400/422 naming the problem, never 500: JSON nested deeper than the parser
allows (RecursionError), an integer over Python's 4,300-digit limit (ValueError), a value
nested deeper than MAX_DEPTH inside a row, a lone surrogate in any string (the response could
not be encoded: UnicodeEncodeError). Each of these answered 500 before.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rewards.sample import Sample, SampleError

NATIVE_KEYS = ("samples", "rubric", "rubric_hash")
# nesting allowed inside one row (prompt messages are 2 deep; meta is free-form): deeper
# values reach recursive code downstream (pickling to the check workers, the cache key)
MAX_DEPTH = 32
OPENRLHF_KEYS = ("query", "prompts", "labels", "metas")


class RequestError(Exception):
    """A request the service refuses; `status` is the HTTP code, the message names the key."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _type(x: Any) -> str:
    return "null" if x is None else type(x).__name__


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except RecursionError:
        raise RequestError(400, "body: JSON nested too deeply to parse") from None
    except UnicodeDecodeError as e:
        raise RequestError(400, f"body: invalid UTF-8 ({e.reason} at byte {e.start})") from None
    except ValueError as e:  # JSONDecodeError, or an integer past the int digit limit
        if "integer string conversion" in str(e):
            raise RequestError(400, f"body: a number with more than "
                                    f"{sys.get_int_max_str_digits()} digits") from None
        raise RequestError(400, f"body: invalid JSON ({e})") from None
    if not isinstance(data, dict):
        raise RequestError(400, f"body: expected a JSON object, got {_type(data)}")
    return data


def _check_keys(data: dict, allowed: tuple[str, ...]) -> None:
    for k in data:
        if k not in allowed:
            raise RequestError(422, f"{k}: unknown key; expected {', '.join(allowed)}")


def _check_batch(n: int, where: str, max_batch: int) -> None:
    if n == 0:
        raise RequestError(422, f"{where}: expected at least one sample")
    if n > max_batch:
        raise RequestError(413, f"{where}: {n} samples exceed the batch limit of {max_batch}; "
                                "split the request")


def check_value(value: Any, where: str) -> None:
    """422 naming the key path when `value` nests deeper than MAX_DEPTH or holds a string
    (or key) with a lone surrogate; iterative, so depth cannot overflow the stack here."""
    stack = [(value, where, 0)]
    while stack:
        x, path, depth = stack.pop()
        if isinstance(x, str):
            try:
                x.encode("utf-8")
            except UnicodeEncodeError as e:
                raise RequestError(422, f"{path}: invalid Unicode (a lone surrogate "
                                        f"U+{ord(x[e.start]):04X} at character {e.start})") from None
        elif isinstance(x, dict | list):
            if depth >= MAX_DEPTH:
                raise RequestError(422, f"{path}: nested deeper than {MAX_DEPTH} levels")
            if isinstance(x, list):
                stack += [(v, f"{path}[{j}]", depth + 1) for j, v in enumerate(x)]
            else:
                for k, v in x.items():
                    check_value(k, f"{path} (a key)")
                    stack.append((v, f"{path}.{k}", depth + 1))


def sample_from_row(row: Any, where: str, index: int) -> Sample:
    """One row of `samples` -> Sample; errors read `samples[3].completion: expected a string`."""
    if not isinstance(row, dict):
        raise RequestError(422, f"{where}: expected an object, got {_type(row)}")
    check_value(row, where)
    if "completion" not in row:
        raise RequestError(422, f"{where}.completion: missing (the text to score)")
    for key in ("completion", "source"):
        if key in row and not isinstance(row[key], str) and not (key == "source" and row[key] is None):
            raise RequestError(422, f"{where}.{key}: expected a string, got {_type(row[key])}")
    sid = row.get("id", index)
    if isinstance(sid, bool) or not isinstance(sid, str | int):
        raise RequestError(422, f"{where}.id: expected a string or an integer, got {_type(sid)}")
    prompt = row.get("prompt", "")
    if isinstance(prompt, list):
        for j, m in enumerate(prompt):
            if not (isinstance(m, dict) and isinstance(m.get("role"), str)
                    and isinstance(m.get("content"), str)):
                raise RequestError(422, f"{where}.prompt[{j}]: expected an object with string "
                                        "'role' and 'content'")
    elif not isinstance(prompt, str):
        raise RequestError(422, f"{where}.prompt: expected a string or a list of messages, "
                                f"got {_type(prompt)}")
    if row.get("meta") is not None and not isinstance(row["meta"], dict):
        raise RequestError(422, f"{where}.meta: expected an object, got {_type(row['meta'])}")
    try:
        return Sample.from_dict({**row, "id": sid}, where)
    except SampleError as e:  # anything the contract adds later still names the row
        raise RequestError(422, str(e)) from None


def parse_score_request(data: dict[str, Any], max_batch: int) -> tuple[list[Sample], dict]:
    """Native body -> (samples, {"rubric": name|None, "rubric_hash": hash|None})."""
    _check_keys(data, NATIVE_KEYS)
    rows = data.get("samples")
    if not isinstance(rows, list):
        raise RequestError(422, f"samples: expected a list of samples, got {_type(rows)}")
    _check_batch(len(rows), "samples", max_batch)
    select = {}
    for key in ("rubric", "rubric_hash"):
        v = data.get(key)
        if v is not None and not isinstance(v, str):
            raise RequestError(422, f"{key}: expected a string, got {_type(v)}")
        select[key] = v
    return [sample_from_row(r, f"samples[{i}]", i) for i, r in enumerate(rows)], select


def parse_openrlhf(data: dict[str, Any], max_batch: int) -> list[Sample]:
    """OpenRLHF remote-RM body -> samples (see the module docstring)."""
    _check_keys(data, OPENRLHF_KEYS)
    queries = data.get("query")
    if not isinstance(queries, list):
        raise RequestError(422, f"query: expected a list of strings, got {_type(queries)}")
    _check_batch(len(queries), "query", max_batch)
    n = len(queries)
    cols = {}
    for key in ("prompts", "labels", "metas"):
        col = data.get(key)
        if col is None:
            cols[key] = [None] * n
        elif not isinstance(col, list) or len(col) != n:
            raise RequestError(422, f"{key}: expected a list of {n} items (one per query), got "
                                    f"{len(col) if isinstance(col, list) else _type(col)}")
        else:
            cols[key] = col
    for key in ("query", *cols):
        check_value(data.get(key), key)
    out = []
    for i, q in enumerate(queries):
        if not isinstance(q, str):
            raise RequestError(422, f"query[{i}]: expected a string, got {_type(q)}")
        p = cols["prompts"][i]
        if p is not None and not isinstance(p, str):
            raise RequestError(422, f"prompts[{i}]: expected a string, got {_type(p)}")
        meta = cols["metas"][i] or {}
        if not isinstance(meta, dict):
            raise RequestError(422, f"metas[{i}]: expected an object, got {_type(meta)}")
        source = meta.get("source")
        completion = q[len(p):] if p and q.startswith(p) else q
        out.append(Sample(id=str(meta.get("id", i)), prompt=p or "",
                          source=source if isinstance(source, str) else None,
                          reference=cols["labels"][i], completion=completion, meta=dict(meta)))
    return out
