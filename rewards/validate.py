"""Domain checks shared by the rubric, check-parameter, sample and judge-config readers.

Each helper raises ValueError with a message that says what was expected; the callers prefix
the file and key path. Types are strict on purpose: YAML and JSON already give real booleans
and numbers, so a string "false" where a boolean belongs is a mistake (`bool("false")` is
True: it silently turned a check into a pitfall), and NaN/inf propagate into every score.
"""

from __future__ import annotations

import math
import re
import string
from typing import Any

# `a.b[0].c`, `items[*].name`; "", "$" and "*" mean the whole value
_PATH = re.compile(r"(?:[^.\[\]\s]+|\[(?:\d+|\*)\])(?:\.[^.\[\]\s]+|\[(?:\d+|\*)\])*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# shapes of API keys seen in the wild: OpenAI/Anthropic `sk-…`, GitHub `ghp_…`, HF `hf_…`,
# Slack `xox?-…`, AWS `AKIA…`, Google `AIza…`, and JWTs; plus any `Bearer <token>`
_KEY_SHAPES = re.compile(
    r"(?:\bsk-[A-Za-z0-9_\-]{8,}|\bgh[pousr]_[A-Za-z0-9]{20,}|\bhf_[A-Za-z0-9]{20,}"
    r"|\bxox[abprs]-[A-Za-z0-9\-]{10,}|\bAKIA[0-9A-Z]{16}\b|\bAIza[0-9A-Za-z_\-]{30,}"
    r"|\beyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]*)")
_BEARER = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=\-]{4,}")
# config keys whose value would be a credential: refuse them, name the variable instead
SECRET_KEYS = re.compile(r"(?i)(^|_|-)(api_?key|key|token|secret|password|passwd|auth"
                         r"|authorization|credentials?|bearer)($|_|-)")
MAX_JSON_DEPTH = 64


def strict_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r} ({type(value).__name__})")
    return value


def finite(value: Any, *, lo: float | None = None, hi: float | None = None,
           positive: bool = False, integer: bool = False) -> float:
    """A real number (bools refused), finite, optionally > 0 / within [lo, hi] / integral."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r} ({type(value).__name__})")
    if integer and not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"expected a positive number, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if positive and lo is None:
            raise ValueError(f"expected a number in (0, {hi:g}], got {value!r}")
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        raise ValueError(f"expected a number in [{lo_s}, {hi_s}], got {value!r}")
    return value


def field_path(value: str) -> str:
    """A JSON field path as `get_path` reads it; garbage there silently matched nothing."""
    if value in ("", "$", "*") or _PATH.fullmatch(value):
        return value
    raise ValueError(f"expected a field path like `a.b[0].c` or `items[*].name`, got {value!r}")


def meta_path(value: str) -> str:
    """`meta.a.b` or `a.b`: dot-separated non-empty names."""
    parts = value.removeprefix("meta.").split(".")
    if not value or any(not p or p.strip() != p for p in parts):
        raise ValueError(f"expected a dotted meta key like `meta.spans`, got {value!r}")
    return value


def template_fields(template: str, allowed: set[str]) -> str:
    """A str.format template using only `{name}` placeholders from `allowed` (no attribute
    or index access: `{completion.__class__}` would reach into Python objects)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ValueError(f"malformed template ({e}); write literal braces as {{{{ and }}}}") from None
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if name not in allowed or spec or conv:
            shown = "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
            raise ValueError(f"unknown placeholder {shown}; allowed: "
                             + ", ".join("{" + a + "}" for a in sorted(allowed)))
    return template


def json_depth_ok(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Nesting depth ≤ limit, without recursion (a 100,000-deep list must not crash us)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return False
            stack.extend((c, depth + 1) for c in (node.values() if isinstance(node, dict) else node))
    return True


def has_lone_surrogate(value: Any) -> bool:
    """A JSON `\\ud800` escape decodes to a str that cannot be encoded as UTF-8: it breaks the
    SQLite cache and the UTF-8 output file, so rows carrying one are refused on read."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def has_key_shape(value: str) -> bool:
    """A known credential shape (`sk-…`, `hf_…`, `ghp_…`, `Bearer …`, a JWT): stricter than
    looks_like_secret, for free-form values such as command-line overrides, where a long
    hex revision or hash must still pass."""
    return bool(_KEY_SHAPES.search(value) or _BEARER.search(value))


def looks_like_secret(value: str) -> bool:
    """A credential-shaped string: a known key prefix, `Bearer …`, or a 32+ character token
    of mixed letters and digits with no underscore (environment variable names have them
    or are short)."""
    if _KEY_SHAPES.search(value) or _BEARER.search(value):
        return True
    return (len(value) >= 32 and "_" not in value and any(c.isdigit() for c in value)
            and any(c.isalpha() for c in value))


def env_var_name(value: Any) -> str:
    """The NAME of an environment variable; a key pasted here instead is refused without
    echoing it (it would otherwise be sent nowhere and logged everywhere)."""
    if not isinstance(value, str):
        raise ValueError(f"expected the name of an environment variable, got {type(value).__name__}")
    if looks_like_secret(value) or not _ENV_NAME.fullmatch(value):
        shape = "looks like a key itself" if looks_like_secret(value) else "is not a valid name"
        raise ValueError(f"expected the NAME of an environment variable holding the key (e.g. "
                         f"OPENAI_API_KEY), but the value given {shape} (not shown); put the key "
                         "in an environment variable and name that variable here")
    return value


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with every given secret value, `Bearer …` credential and key-shaped token
    replaced by `[redacted]` — for server error bodies that echo request headers."""
    text = _BEARER.sub(lambda m: f"{m.group(1)} [redacted]", text)
    text = _KEY_SHAPES.sub("[redacted]", text)
    for s in secrets:  # after the shapes, so `sk-proj-<value>` goes whole, prefix included
        if s and len(s) >= 4:
            text = text.replace(s, "[redacted]")
    return text
