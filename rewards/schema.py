"""JSON schemas from rubrics, checked on load and matched under a time limit.

`Draft202012Validator.check_schema` catches malformed keywords but not a `$ref` that points
nowhere (it failed later, on every sample, as an abstain) nor a `pattern` that backtracks
for minutes. Here: the schema itself is validated (SchemaError → ValueError naming the
keyword path), every `$ref` must resolve inside the schema (no network look-ups), every
`pattern` must compile, and `pattern` is matched with the timeout-capable engine.
`patternProperties` keys still use jsonschema's `re` (object keys are short).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import jsonschema
from jsonschema import validators
from jsonschema.exceptions import ValidationError

from rewards.timebox import compile_pattern, search


def _walk(node: Any, path: str = ""):
    """(json pointer, dict) for every object in the schema."""
    stack = [(node, path)]
    while stack:
        n, p = stack.pop()
        if isinstance(n, dict):
            yield p, n
            stack.extend((v, f"{p}/{k}") for k, v in n.items())
        elif isinstance(n, list):
            stack.extend((v, f"{p}/{i}") for i, v in enumerate(n))


def _resolve(root: Any, ref: str, anchors: set[str]) -> bool:
    if not ref.startswith("#"):
        return False
    frag = unquote(ref[1:])
    if frag and not frag.startswith("/"):
        return frag in anchors
    node = root
    for part in frag.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def check_schema(schema: Any) -> None:
    if not isinstance(schema, dict | bool):
        raise ValueError(f"expected a JSON schema object, got {type(schema).__name__}")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        where = "/".join(str(x) for x in e.absolute_path) or "<root>"
        raise ValueError(f"invalid JSON schema at {where}: {e.message[:200]}") from None
    objs = list(_walk(schema))
    anchors = {n["$anchor"] for _, n in objs if isinstance(n.get("$anchor"), str)}
    for where, n in objs:
        ref = n.get("$ref")
        if isinstance(ref, str) and not _resolve(schema, ref, anchors):
            raise ValueError(f"unknown $ref {ref!r} at {where or '<root>'}: only references "
                             "inside the schema (#/$defs/…) are supported")
        for pat in [n.get("pattern")] + list(n.get("patternProperties") or {}):
            if isinstance(pat, str):
                try:
                    compile_pattern(pat)
                except ValueError as e:
                    raise ValueError(f"pattern at {where or '<root>'}: {e}") from None


def build_validator(schema: Any, limit_s: Callable[[], float]):
    """A validator for `schema` whose `pattern` keyword stops after limit_s() seconds."""
    check_schema(schema)

    def pattern(validator, patrn, instance, _schema):
        if validator.is_type(instance, "string") and not search(
                compile_pattern(patrn), instance, limit_s()):
            yield ValidationError(f"{instance[:60]!r} does not match {patrn!r}")

    cls = validators.extend(jsonschema.Draft202012Validator, {"pattern": pattern})
    return cls(schema)
