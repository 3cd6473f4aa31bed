"""The draft's inputs, read strictly: gold examples, known-bad completions, expert labels.

Every error is a DraftInputError naming the file, the line and the key, and what was
expected; the CLI turns it into exit 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewards.normalize import MISSING, parse_json
from rewards.sample import Sample, SampleError, iter_jsonl, json_lines

# half the examples fit the checks, the other half validates them: 4 + 4 is the least that
# says anything about a held-out gold
MIN_EXAMPLES = 8


class DraftInputError(ValueError):
    """Unusable input; the message names the file, line and key."""


@dataclass
class Example:
    """One gold example: the sample, its gold answer as text, and that text parsed as JSON
    (MISSING when it is not JSON)."""
    sample: Sample
    gold: str
    obj: Any = MISSING
    line: int = 0

    def scored(self) -> Sample:
        return Sample(self.sample.id, self.sample.prompt, self.sample.source,
                      self.sample.reference, self.gold, self.sample.meta)


def gold_of(reference: Any) -> str:
    import json

    return reference if isinstance(reference, str) else json.dumps(reference, ensure_ascii=False)


def read_examples(path: str) -> list[Example]:
    """Gold examples: sample rows with a `reference`, ids unique, at least MIN_EXAMPLES."""
    p = Path(path)
    if not p.is_file():
        raise DraftInputError(f"{path}: examples file not found")
    out: list[Example] = []
    seen: dict[str, int] = {}
    try:
        for lineno, s in iter_jsonl(p):
            where = f"{path}:{lineno}"
            if s.reference is None or (isinstance(s.reference, str) and not s.reference.strip()):
                raise DraftInputError(f"{where}: key 'reference': required (the gold answer "
                                      "the draft learns the output contract from)")
            if s.id in seen:
                raise DraftInputError(f"{where}: key 'id': {s.id!r} already used on line "
                                      f"{seen[s.id]}")
            seen[s.id] = lineno
            gold = gold_of(s.reference)
            obj, _ = parse_json(gold)
            out.append(Example(s, gold, obj, lineno))
    except SampleError as e:
        raise DraftInputError(str(e)) from None
    if len(out) < MIN_EXAMPLES:
        raise DraftInputError(f"{path}: {len(out)} examples; at least {MIN_EXAMPLES} are needed "
                              "(half fit the checks, half validate them)")
    return out


@dataclass
class Negative:
    """A known-bad completion for one example: it must score below that example's gold."""
    example: Example
    completion: str
    line: int


def read_negatives(path: str, examples: list[Example]) -> list[Negative]:
    """Rows {"id": <example id>, "completion": "<bad answer>"}; several per id allowed."""
    by_id = {e.sample.id: e for e in examples}
    out = []
    for lineno, where, row in _rows(path):
        ex = _example(row, where, by_id)
        completion = row.get("completion")
        if not isinstance(completion, str):
            raise DraftInputError(f"{where}: key 'completion': expected the bad answer as a "
                                  f"string, got {completion!r}"[:200])
        out.append(Negative(ex, completion, lineno))
    if not out:
        raise DraftInputError(f"{path}: no rows")
    return out


@dataclass
class Label:
    """An expert's verdicts on one completion of an example (the gold when none is given):
    {"id", "completion"?, "checks": {check id: true|false|"pass"|"fail"}, "score"?}."""
    example: Example
    completion: str
    checks: dict[str, Any] = field(default_factory=dict)
    score: float | None = None
    line: int = 0
    path: str = "labels"


def read_labels(path: str, examples: list[Example]) -> list[Label]:
    by_id = {e.sample.id: e for e in examples}
    out = []
    for lineno, where, row in _rows(path):
        ex = _example(row, where, by_id)
        completion = row.get("completion", ex.gold)
        if not isinstance(completion, str):
            raise DraftInputError(f"{where}: key 'completion': expected a string, "
                                  f"got {completion!r}"[:200])
        checks = row.get("checks", {})
        if not isinstance(checks, dict):
            raise DraftInputError(f"{where}: key 'checks': expected an object of check id -> "
                                  f"true/false, got {checks!r}"[:200])
        score = row.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
            raise DraftInputError(f"{where}: key 'score': expected a number, got {score!r}")
        if not checks and score is None:
            raise DraftInputError(f"{where}: key 'checks': a label row needs 'checks' or 'score'")
        out.append(Label(ex, completion, checks, score, lineno, path))
    if not out:
        raise DraftInputError(f"{path}: no rows")
    return out


def _rows(path: str):
    if not Path(path).is_file():
        raise DraftInputError(f"{path}: file not found")
    try:
        for lineno, where, row in json_lines(path, DraftInputError):
            if not isinstance(row, dict):
                raise DraftInputError(f"{where}: expected a JSON object")
            yield lineno, where, row
    except SampleError as e:
        raise DraftInputError(str(e)) from None


def _example(row: dict, where: str, by_id: dict[str, Example]) -> Example:
    rid = row.get("id")
    if isinstance(rid, bool) or not isinstance(rid, str | int):
        raise DraftInputError(f"{where}: key 'id': expected the id of an example, got {rid!r}")
    ex = by_id.get(str(rid))
    if ex is None:
        raise DraftInputError(f"{where}: key 'id': {rid!r} is not the id of any example")
    return ex
