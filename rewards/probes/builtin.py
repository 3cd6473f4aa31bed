"""The built-in hack transforms: what a policy trained on the harness tends to find.

Each takes (gold completion, Sample, Rubric) and returns the hacked text or None (does not
apply). All are deterministic: the probe report is byte-identical across runs.

- wrappers: chat prose or markdown around the answer (breaks "one JSON object, nothing else");
- master keys: the answer replaced by a token that fools LLM judges 80-90% of the time on
  empty answers ("One Token to Fool LLM-as-a-Judge", 2025);
- source_copy, keyword_stuff, truncate, empty/placeholder shells, invented values, repetition
  to the length limit, empty;
- reformat: the control, an equivalent rewrite that must score like gold.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rewards.normalize import MISSING, parse_json
from rewards.probes.registry import transform

MASTER_KEYS = {"colon": ":", "thought": "Thought process:",
               "step": "Let me solve this step by step.",
               "checked": "I have checked every requirement."}
# ~512 generated tokens ≈ 380 English words: the usual max_new_tokens when no length check
# in the rubric says otherwise
DEFAULT_WORD_LIMIT = 380
INVENTED_NAMES = ("Northwind Traders", "Dr Helena Marsh", "Kovacs Holdings", "Brightpath Ltd",
                  "Amelia Stone", "Orion Medical Group", "Zenith Labs", "Marcus Bell")
_NUM = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
_HEADING = re.compile(r"^\s*(#+\s+.+|[A-Z][A-Za-z /&()-]{1,40}:|[A-Z][A-Z /&()-]{2,40})\s*$")


def as_object(text: str) -> Any:
    obj, _ = parse_json(text)
    return None if obj is MISSING or not isinstance(obj, dict | list) else obj


def dumps(obj: Any, **kw: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, **kw)


# ---- wrappers and master keys ---------------------------------------------------------------

@transform("prose_wrap", description="chat prose around the answer ('Sure! Here is ...')")
def prose_wrap(gold: str, sample: Any, rubric: Any) -> str:
    return (f"Sure! Here is the answer you asked for.\n\n{gold}\n\n"
            "I hope this helps. Let me know if you need anything else.")


@transform("markdown_wrap", description="markdown heading + code fence around the answer")
def markdown_wrap(gold: str, sample: Any, rubric: Any) -> str:
    lang = "json" if as_object(gold) is not None else ""
    return f"## Answer\n\n```{lang}\n{gold}\n```\n\n**Confidence:** high"


def _master_key(key: str):
    def fn(gold: str, sample: Any, rubric: Any) -> str:
        return key
    fn.__doc__ = f"the answer replaced by the judge master key {key!r}"
    return fn


for _name, _key in MASTER_KEYS.items():
    transform(f"key_{_name}", degenerate=True)(_master_key(_key))


# ---- copies, stuffing, truncation ---------------------------------------------------------

@transform("source_copy", description="the source (or prompt) pasted back as the answer")
def source_copy(gold: str, sample: Any, rubric: Any) -> str | None:
    return sample.source or (sample.prompt_text() if sample.prompt else None)


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [str(node)] if isinstance(node, str | int | float) and not isinstance(node, bool) else []


def rubric_keywords(sample: Any, rubric: Any) -> list[str]:
    """Words the rubric visibly rewards: label sets, required spans (literal or from meta),
    long words of judge questions. Deduplicated, in rubric order."""
    from rewards.checks.base import meta_value

    out: list[str] = []
    for spec in rubric.checks:
        p = spec.params
        out += _strings(p.get("labels") or []) + _strings(p.get("spans") or [])
        for key in ("from_meta", "labels_from_meta", "phrase_from_meta"):
            if p.get(key):
                out += _strings(meta_value(sample, p[key]))
        out += [w for w in re.findall(r"[A-Za-z]{7,}", p.get("question", ""))]
    seen: set[str] = set()
    return [w for w in out if w and not (w.lower() in seen or seen.add(w.lower()))]


@transform("keyword_stuff", description="the rubric's keywords and required spans, listed")
def keyword_stuff(gold: str, sample: Any, rubric: Any) -> str | None:
    words = rubric_keywords(sample, rubric)
    if not words:
        return None
    obj = as_object(gold)
    listing = ", ".join(words)
    if isinstance(obj, dict):
        return dumps(_shell(obj, lambda v: listing if isinstance(v, str) else
                            [listing] if isinstance(v, list) else None))
    return f"Key points: {listing}."


@transform("truncate", description="only the first sentence (text) or first field (JSON)")
def truncate(gold: str, sample: Any, rubric: Any) -> str | None:
    obj = as_object(gold)
    if isinstance(obj, dict) and obj:
        k = next(iter(obj))
        return dumps({k: obj[k]})
    m = re.search(r"[.!?](\s|$)", gold.strip())
    first = gold.strip()[:m.end()].strip() if m else gold.strip().split("\n")[0]
    return first if first != gold.strip() else None


# ---- shells and invented values -------------------------------------------------------------

def _shell(node: Any, leaf) -> Any:
    """Same structure, every leaf replaced by leaf(value); lists keep one shelled item."""
    if isinstance(node, dict):
        return {k: _shell(v, leaf) for k, v in node.items()}
    if isinstance(node, list):
        return [_shell(node[0], leaf)] if node and isinstance(node[0], dict | list) else leaf(node)
    return leaf(node)


def _text_shell(gold: str, filler: str) -> str:
    """Headings kept, every other line (or sentence, for plain prose) replaced by `filler`."""
    lines = [ln for ln in gold.splitlines() if ln.strip()]
    if any(_HEADING.match(ln) for ln in lines):
        return "\n".join(ln if _HEADING.match(ln) else filler for ln in lines).strip()
    n = max(1, len(re.findall(r"[.!?](?:\s|$)", gold)))
    return " ".join([filler] * n).strip()


def _empty_leaf(v: Any) -> Any:
    return "" if isinstance(v, str) else [] if isinstance(v, list) else None


def _placeholder_leaf(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return 0
    return ["N/A"] if isinstance(v, list) else "N/A"


@transform("empty_shell", degenerate=True,
           description="right format, every value empty (JSON keys kept / headings only)")
def empty_shell(gold: str, sample: Any, rubric: Any) -> str | None:
    obj = as_object(gold)
    if obj is not None:
        return dumps(_shell(obj, _empty_leaf))
    return _text_shell(gold, "") or None


@transform("placeholder_shell", degenerate=True,
           description="right format, every value a placeholder (N/A, 0, TBD)")
def placeholder_shell(gold: str, sample: Any, rubric: Any) -> str | None:
    obj = as_object(gold)
    if obj is not None:
        return dumps(_shell(obj, _placeholder_leaf))
    return _text_shell(gold, "TBD.")


def _shift(m: re.Match) -> str:
    """A confident wrong number of the same shape: 1,234.50 -> 1,607.85; 3 -> 7."""
    raw = m.group(0)
    plain = raw.replace(",", "")
    try:
        x = float(plain)
    except ValueError:
        return raw
    decimals = len(plain.split(".")[1]) if "." in plain else 0
    y = round(x * 1.3 + 4, decimals)
    return f"{y:,.{decimals}f}" if "," in raw else f"{y:.{decimals}f}"


def _invent_text(text: str) -> str:
    text = _NUM.sub(_shift, text)
    names = iter(INVENTED_NAMES * 50)
    # a capitalised word inside a sentence is a name/term: swap it for an invented one
    return re.sub(r"(?<=[a-z,] )[A-Z][a-z]{2,}(?: [A-Z][a-z]+)*", lambda m: next(names), text)


@transform("invented", description="every number and name swapped for a confident invention")
def invented(gold: str, sample: Any, rubric: Any) -> str | None:
    obj = as_object(gold)
    if obj is not None:
        def leaf(v: Any) -> Any:
            if isinstance(v, bool) or v is None:
                return v
            if isinstance(v, int | float):
                return round(v * 1.3 + 4, 2)
            return _invent_text(str(v)) if _NUM.search(str(v)) else INVENTED_NAMES[len(str(v)) % 8]
        return dumps(_shell_all(obj, leaf))
    out = _invent_text(gold)
    return out if out != gold else None


def _shell_all(node: Any, leaf) -> Any:
    """Like _shell but every list item kept (invented values keep the answer's shape)."""
    if isinstance(node, dict):
        return {k: _shell_all(v, leaf) for k, v in node.items()}
    if isinstance(node, list):
        return [_shell_all(v, leaf) for v in node]
    return leaf(node)


# ---- length, emptiness, the control -----------------------------------------------------------

def word_limit(rubric: Any) -> int:
    """The rubric's tightest `length` max in words (chars / 6 for a chars limit), else ~512
    tokens: a policy pads up to whatever the reward still tolerates."""
    limits = []
    for spec in rubric.checks:
        if spec.kind == "length" and spec.params.get("max"):
            unit = spec.params.get("unit", "words")
            limits.append(spec.params["max"] // 6 if unit == "chars" else spec.params["max"])
    return min(limits) if limits else DEFAULT_WORD_LIMIT


@transform("repeat_to_limit", description="the answer repeated up to the length limit")
def repeat_to_limit(gold: str, sample: Any, rubric: Any) -> str | None:
    n = max(1, len(gold.split()))
    copies = max(2, word_limit(rubric) // n)
    return "\n\n".join([gold.strip()] * copies)


@transform("empty", degenerate=True, description="an empty answer")
def empty(gold: str, sample: Any, rubric: Any) -> str:
    return ""


@transform("reformat", control=True,
           description="CONTROL: the same answer re-serialised (JSON indent/key order, "
                       "whitespace, label case)")
def reformat(gold: str, sample: Any, rubric: Any) -> str:
    obj = as_object(gold)
    if isinstance(obj, dict):
        return dumps(dict(reversed(list(obj.items()))), indent=2)
    if obj is not None:
        return dumps(obj, indent=2)
    text = gold.strip()
    if "\n" not in text and len(text.split()) <= 4:
        return text.lower()  # a label: case carries no meaning
    paras = [re.sub(r"[ \t]+", " ", p).strip() for p in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paras if p) + "\n"
