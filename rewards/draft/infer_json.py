"""Drafting for JSON answers: validity gate, inferred schema, enums, per-field matches,
values grounded in the source, a filled-fields gate.

Everything is read off the references: a key every reference has is required; a type seen
is allowed (null included); a string field with few values that repeat is an enum; a field
whose values the source contains in (almost) every example is grounded.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rewards.draft.inputs import Example
from rewards.draft.proposal import Proposal, ratio
from rewards.normalize import MISSING, contains_span, get_path, parse_date

# an enum needs few values (<= 6) seen several times each (>= 2): otherwise the next example
# brings a value the list does not have (the half-split validation catches exactly that)
ENUM_MAX_VALUES, ENUM_MIN_REPEATS = 6, 2
# grounded: the source contains the values in >= 90% of the references
GROUNDED_SHARE = 0.9


def type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(v)]


def infer_schema(values: list[Any]) -> dict[str, Any]:
    """A JSON schema admitting exactly the observed shapes: the union of types (null makes a
    field nullable), object properties with `required` = keys present in every object, array
    `items` = the schema of all items together."""
    types = sorted({type_name(v) for v in values})
    schema: dict[str, Any] = {"type": types[0] if len(types) == 1 else types}
    objs = [v for v in values if isinstance(v, dict)]
    if objs:
        keys = list(dict.fromkeys(k for o in objs for k in o))
        schema["properties"] = {k: infer_schema([o[k] for o in objs if k in o]) for k in keys}
        required = [k for k in keys if all(k in o for o in objs)]
        if required:
            schema["required"] = required
    items = [x for v in values if isinstance(v, list) for x in v]
    if items:
        schema["items"] = infer_schema(items)
    return schema


def leaf_paths(objs: list[dict]) -> list[tuple[str, list[Any]]]:
    """(path, values over the references) for every scalar or scalar-list field: top-level
    keys, `key.sub` of objects and `key[*].sub` of object lists (one level down)."""
    out: list[tuple[str, list[Any]]] = []
    for k in dict.fromkeys(k for o in objs for k in o):
        vals = [o[k] for o in objs if k in o]
        present = [v for v in vals if v is not None]
        if present and all(isinstance(v, dict) for v in present):
            for sub in dict.fromkeys(s for v in present for s in v):
                out.append((f"{k}.{sub}", [v.get(sub) for v in present if sub in v]))
        elif present and all(isinstance(v, list) for v in present) and any(
                isinstance(x, dict) for v in present for x in v):
            items = [x for v in present for x in v if isinstance(x, dict)]
            for sub in dict.fromkeys(s for x in items for s in x):
                out.append((f"{k}[*].{sub}", [x.get(sub) for x in items if sub in x]))
        else:
            out.append((k, vals))
    return out


def _scalars(values: list[Any]) -> list[Any]:
    return [x for v in values for x in (v if isinstance(v, list) else [v]) if x is not None]


def match_mode(values: list[Any]) -> tuple[str, str]:
    """(field_match mode, evidence) for a field's reference values."""
    xs = _scalars(values)
    n = len(xs)
    if xs and all(isinstance(x, bool) for x in xs):
        return "exact", f"boolean in {ratio(n, n)} values"
    if xs and all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs):
        return "numeric", f"a number in {ratio(n, n)} values (1,234.50 = 1234.5)"
    strs = [x for x in xs if isinstance(x, str)]
    dates = sum(parse_date(x) is not None and any(c.isdigit() for c in x) for x in strs)
    if strs and dates == len(strs):
        return "date", f"a date in {ratio(dates, n)} values (any written format compares)"
    words = sorted(len(x.split()) for x in strs) or [0]
    if words[len(words) // 2] <= 3 and words[-1] <= 6:
        return "normalized", (f"short text ({words[-1]} words at most): compared ignoring case, "
                              "punctuation and spacing")
    return "fuzzy", (f"free text (median {words[len(words) // 2]} words): similarity >= 0.8 "
                     "to the reference")


def _grounded(ex: Example, path: str) -> bool | None:
    """Whether every leaf of the reference at `path` occurs in the source (None: no values)."""
    node = get_path(ex.obj, path)
    leaves = [] if node is MISSING else [str(x) for x in _scalars([node])
                                         if not isinstance(x, bool) and str(x).strip()]
    if not leaves or not ex.sample.source:
        return None
    return all(contains_span(ex.sample.source, x) for x in leaves)


def _slug(path: str) -> str:
    return path.replace("[*].", "_").replace(".", "_")


def propose_json(examples: list[Example]) -> list[Proposal]:
    n = len(examples)
    objs = [e.obj for e in examples]
    out = [Proposal("json_ok", "json_valid", "format", gate="global", weight=1.0,
                    why=f"{ratio(n, n)} references are one bare JSON value: prose or a code "
                        "fence around it is a format failure (the answer scores 0)")]
    out.append(Proposal("schema", "json_schema", "format", params={"schema": infer_schema(objs)},
                        why="types and required keys as the references show them (a type seen "
                            "in any reference is allowed; null makes a field nullable)"))
    dicts = [o for o in objs if isinstance(o, dict)]
    if not dicts:
        return out
    paths = leaf_paths(dicts)
    for path, vals in paths:
        out += _enum(path, vals)
    filled = [sum(1 for v in o.values() if v not in (None, "", [], {})) for o in dicts]
    keys = list(dict.fromkeys(k for o in dicts for k in o))
    if sum(filled) / len(dicts) >= 2:
        out.append(Proposal(
            "fields_filled", "python", "format", gate="global", weight=0.5,
            params={"function": "rewards.tasks.guards:filled_fields",
                    "params": {"min_share": 0.5, "keys": keys},
                    "reads": ["completion", "reference"]},
            why=f"references fill {sum(filled) / len(dicts):.1f} of {len(keys)} fields on "
                "average; an empty or N/A shell would pass the schema (scores 0 under half)"))
    for path, vals in paths:
        mode, ev = match_mode(vals)
        params: dict[str, Any] = {"path": path, "mode": mode}
        if mode == "fuzzy":
            params["threshold"] = 0.8
        out.append(Proposal(f"match_{_slug(path)}", "field_match", "fidelity", params=params,
                            why=f"{path}: {ev}"))
    for path, _ in paths:
        verdicts = [g for g in (_grounded(e, path) for e in examples) if g is not None]
        k = sum(verdicts)
        if verdicts and k >= GROUNDED_SHARE * len(verdicts):
            out.append(Proposal(
                f"grounded_{_slug(path)}", "values_grounded", "fidelity", weight=0.5,
                params={"path": path},
                why=f"{path} values appear in the source in {ratio(k, len(verdicts))} "
                    "references: a value the source lacks is invented"))
    return out


def _enum(path: str, vals: list[Any]) -> list[Proposal]:
    strs = [x for x in _scalars(vals) if isinstance(x, str)]
    counts = Counter(strs)
    if (not strs or len(strs) != len(_scalars(vals)) or len(counts) > ENUM_MAX_VALUES
            or min(counts.values()) < ENUM_MIN_REPEATS or len(counts) == len(strs)):
        return []
    node: dict[str, Any] = {"enum": sorted(counts)}
    for part in reversed(path.replace("[*].", ".[*].").split(".")):
        node = {"items": node} if part == "[*]" else {"properties": {part: node}}
    shown = ", ".join(f"{v} ({c})" for v, c in counts.most_common())
    return [Proposal(f"values_{_slug(path)}", "json_schema", "format", weight=0.5,
                     params={"schema": node},
                     why=f"{path} takes {len(counts)} values in {len(strs)} references: {shown}")]
