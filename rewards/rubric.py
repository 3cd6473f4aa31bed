"""Rubric files: typed, validated on load, hashed in canonical form.

    version: 1
    scale: [0, 5]
    dimensions:
      source_fidelity: {weight: 1.0, min_coverage: 0.5}
    checks:
      - {id: json_ok, kind: json_valid, dimension: source_fidelity, weight: 1, gate: true}

Every error names the file, the key path (`checks[3].kind`) and what was expected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewards.checks import KINDS
from rewards.safe_yaml import load_yaml_file
from rewards.spec import CHECK_COMMON as _CHECK_COMMON
from rewards.spec import CheckSpec, Dimension, RubricError
from rewards.validate import finite, strict_bool

__all__ = ["CheckSpec", "Dimension", "Rubric", "RubricError", "load_rubric"]


@dataclass
class Rubric:
    checks: list[CheckSpec]
    dimensions: dict[str, Dimension]
    scale: tuple[float, float] = (0.0, 1.0)
    version: int | str = 1
    judge: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    hash: str = ""
    # built check objects, in rubric order (set by load_rubric)
    built: list[Any] = field(default_factory=list, repr=False)

    def check(self, check_id: str):
        for c in self.built:
            if c.spec.id == check_id:
                return c
        raise KeyError(check_id)

    def canonical(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "scale": list(self.scale),
            "dimensions": {n: {"weight": d.weight, "min_coverage": d.min_coverage}
                           for n, d in sorted(self.dimensions.items())},
            "checks": [{"id": c.id, "kind": c.kind, "dimension": c.dimension, "weight": c.weight,
                        "gate": c.gate, "pitfall": c.pitfall, "params": c.params}
                       # only when set, so rubrics without audit checks keep their hash
                       | ({"audit": True} if c.audit else {})
                       for c in self.checks],
        }


def _err(where: str, path: str, msg: str) -> RubricError:
    return RubricError(f"{where}: {path}: {msg}")


def _number(where, path, value, *, positive=False, lo=None, hi=None) -> float:
    try:
        return float(finite(value, positive=positive, lo=lo, hi=hi))
    except ValueError as e:
        raise _err(where, path, str(e)) from None


def _bool(where, path, value) -> bool:
    try:
        return strict_bool(value)
    except ValueError as e:
        raise _err(where, path, str(e)) from None


# weights and timeouts beyond these are typos, and 1e308-sized ones overflow the sums to inf
_MAX_WEIGHT = 1e6
_MAX_TIMEOUT_S = 86_400.0
_MAX_SCALE = 1e12


def _parse_dimensions(where: str, raw: Any) -> dict[str, Dimension]:
    if not isinstance(raw, Mapping) or not raw:
        raise _err(where, "dimensions", "expected a non-empty mapping of name -> {weight, min_coverage}")
    dims = {}
    for name, d in raw.items():
        if not isinstance(name, str) or not name:
            raise _err(where, f"dimensions.{name!r}", "expected a non-empty string name")
        d = {} if d is None else d
        if not isinstance(d, Mapping):
            raise _err(where, f"dimensions.{name}", "expected a mapping with weight/min_coverage")
        unknown = set(d) - {"weight", "min_coverage", "description"}
        if unknown:
            raise _err(where, f"dimensions.{name}.{sorted(unknown)[0]}",
                       "unknown key; expected weight, min_coverage, description")
        dims[str(name)] = Dimension(
            str(name),
            _number(where, f"dimensions.{name}.weight", d.get("weight", 1.0), positive=True,
                    hi=_MAX_WEIGHT),
            _number(where, f"dimensions.{name}.min_coverage", d.get("min_coverage", 0.5), lo=0, hi=1),
        )
    return dims


def _parse_check(where: str, i: int, raw: Any, dims: Mapping[str, Dimension]) -> CheckSpec:
    path = f"checks[{i}]"
    if not isinstance(raw, Mapping):
        raise _err(where, path, "expected a mapping with id, kind, dimension")
    for key in ("id", "kind", "dimension"):
        if not isinstance(raw.get(key), str) or not raw.get(key):
            raise _err(where, f"{path}.{key}", "required string is missing" + _typo(raw, key))
    path = f"checks[{i}] ({raw['id']})"
    if raw["kind"] not in KINDS:
        raise _err(where, f"{path}.kind",
                   f"unknown kind {raw['kind']!r}; known kinds: {', '.join(sorted(KINDS))}")
    if raw["dimension"] not in dims:
        raise _err(where, f"{path}.dimension",
                   f"names missing dimension {raw['dimension']!r}; declared: {', '.join(dims)}")
    gate = raw.get("gate", False)
    if not (isinstance(gate, bool) or gate == "global"):
        raise _err(where, f"{path}.gate", f"expected true, false or 'global', got {gate!r}")
    pitfall = _bool(where, f"{path}.pitfall", raw.get("pitfall", False))
    weight = _number(where, f"{path}.weight", raw.get("weight", 1.0), positive=True,
                     hi=_MAX_WEIGHT)
    if pitfall and weight > 1:
        raise _err(where, f"{path}.weight",
                   f"a pitfall's weight is the share of its dimension it removes: expected (0, 1], got {weight}")
    audit = raw.get("audit", False)
    if not isinstance(audit, bool):
        raise _err(where, f"{path}.audit", f"expected true or false, got {audit!r}")
    if audit and gate:
        raise _err(where, f"{path}.gate", "an audit check is never part of the reward, so it "
                   "cannot gate it; drop `gate` or `audit`")
    timeout = raw.get("timeout_s")
    if timeout is not None:
        timeout = _number(where, f"{path}.timeout_s", timeout, positive=True, hi=_MAX_TIMEOUT_S)
    cache = raw.get("cache")
    if cache is not None:
        cache = _bool(where, f"{path}.cache", cache)
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise _err(where, f"{path}.description", f"expected a string, got {description!r}")
    params = {k: v for k, v in raw.items() if k not in _CHECK_COMMON}
    return CheckSpec(id=raw["id"], kind=raw["kind"], dimension=raw["dimension"], weight=weight,
                     gate=gate, pitfall=pitfall, timeout_s=timeout, cache=cache,
                     description=description, params=params, audit=audit)


def _typo(raw: Mapping[str, Any], key: str) -> str:
    """`; found 'dimenson' (a typo of 'dimension'?)` when a key present looks like `key`."""
    import difflib

    close = difflib.get_close_matches(key, [k for k in raw if isinstance(k, str) and k != key],
                                      n=1, cutoff=0.75)
    return f"; found {close[0]!r} (a typo of {key!r}?)" if close else ""


def load_rubric(src: str | Path | Mapping[str, Any] | Rubric) -> Rubric:
    """Load and validate a rubric from a YAML path or a dict; builds the check objects."""
    if isinstance(src, Rubric):
        return src
    if isinstance(src, Mapping):
        raw, where, base = dict(src), "<rubric dict>", Path.cwd()
    else:
        p = Path(src).expanduser()
        raw = load_yaml_file(p, "rubric file", RubricError)
        where, base = str(p), p.resolve().parent
    if not isinstance(raw, Mapping):
        raise RubricError(f"{where}: expected a mapping with checks, dimensions, scale")
    if not all(isinstance(k, str) for k in raw):
        raise RubricError(f"{where}: top-level keys must be strings")
    unknown = set(raw) - {"version", "scale", "dimensions", "checks", "judge", "description", "name"}
    if unknown:
        raise _err(where, sorted(unknown)[0],
                   "unknown top-level key; expected version, scale, dimensions, checks, judge")
    dims = _parse_dimensions(where, raw.get("dimensions"))
    scale = _scale(where, raw.get("scale", [0, 1]))
    version = raw.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int | str):
        raise _err(where, "version", f"expected an integer or string, got {version!r}")
    raw_checks = raw.get("checks")
    if not isinstance(raw_checks, list) or not raw_checks:
        raise _err(where, "checks", "expected a non-empty list of checks")
    specs = [_parse_check(where, i, c, dims) for i, c in enumerate(raw_checks)]
    seen: set[str] = set()
    for i, s in enumerate(specs):
        if s.id in seen:
            raise _err(where, f"checks[{i}].id", f"duplicate check id {s.id!r}")
        seen.add(s.id)
    if all(s.audit for s in specs):
        raise _err(where, "checks", "every check is `audit: true`: nothing is left to reward")
    for name in dims:
        if not any(s.dimension == name for s in specs):
            raise _err(where, f"dimensions.{name}", "dimension has no checks")
    judge = _judge_block(where, raw.get("judge"))
    rubric = Rubric(checks=specs, dimensions=dims, scale=scale, version=version, judge=judge,
                    path=None if isinstance(src, Mapping) else Path(src))
    rubric.hash = hashlib.sha256(
        json.dumps(rubric.canonical(), sort_keys=True, default=str).encode()).hexdigest()[:16]
    rubric.built = [_build(where, i, s, base) for i, s in enumerate(specs)]
    return rubric


def _scale(where: str, scale: Any) -> tuple[float, float]:
    if (not isinstance(scale, list | tuple) or len(scale) != 2
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in scale)):
        raise _err(where, "scale", f"expected [low, high] with low < high, got {scale!r}")
    lo, hi = (_number(where, f"scale[{i}]", x, lo=-_MAX_SCALE, hi=_MAX_SCALE)
              for i, x in enumerate(scale))
    if lo >= hi:
        raise _err(where, "scale", f"expected [low, high] with low < high, got {scale!r}")
    return lo, hi


def _judge_block(where: str, raw: Any) -> dict[str, Any]:
    from rewards.checks.judge import JudgeConfigError, check_judge_block

    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _err(where, "judge", "expected a mapping (base_url, model, api_key_env)")
    try:
        return check_judge_block(raw)
    except JudgeConfigError as e:
        raise _err(where, f"judge.{e.key}", str(e)) from None


def _build(where: str, i: int, spec: CheckSpec, base: Path):
    from pydantic import ValidationError

    cls = KINDS[spec.kind]
    try:
        return cls(spec, base)
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(x) for x in first["loc"]) or "params"
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] not in ("value_error", "extra_forbidden", "missing"):
            msg += f", got {first.get('input')!r}"[:200]
        raise _err(where, f"checks[{i}] ({spec.id}).{key}", msg) from None
    except (ValueError, TypeError, OSError, RecursionError) as e:
        # kinds prefix messages about one parameter with "<param>: " -> report it as a key path
        key, sep, msg = str(e).partition(": ")
        if sep and key in spec.params:
            raise _err(where, f"checks[{i}] ({spec.id}).{key}", msg) from None
        raise _err(where, f"checks[{i}] ({spec.id})", str(e)) from None
