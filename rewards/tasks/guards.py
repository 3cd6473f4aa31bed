"""Degenerate-answer guards shared by the suite rubrics (python checks).

Field and grounding checks pass vacuously on an answer that says nothing: an empty JSON
shell has no ungrounded numbers and claims no invoice number, so before these guards
`{"vendor": "", ..., "line_items": []}` scored 2.2/5 on invoice_extraction and an empty
product description 2.1/5 (rewards.probe, benchmarks/results/probes.md). Used as
`gate: global` (or as a weight-1 pitfall where the score must stay a single metric), they
score such answers 0.
"""

from __future__ import annotations

import re
from typing import Any

from rewards.normalize import MISSING, as_json, parse_json

# values a policy writes to look filled without committing to anything
PLACEHOLDERS = frozenset({"", "n/a", "na", "none", "null", "nil", "unknown", "tbd", "tba", "-",
                          "--", "...", "…", "?", "x", "xxx", "placeholder", "[placeholder]",
                          "not available", "not specified", "not provided", "not stated",
                          "<value>", "value", "string", "lorem ipsum"})


def is_filled(value: Any) -> bool:
    """A leaf that carries information: not None/0/"" and not a placeholder word; a list or
    object is filled when any of its members is."""
    if isinstance(value, dict):
        return any(is_filled(v) for v in value.values())
    if isinstance(value, list):
        return any(is_filled(v) for v in value)
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return value != 0
    if value is None:
        return False
    return re.sub(r"\s+", " ", str(value)).strip().lower().strip("[]<>") not in PLACEHOLDERS


def filled_fields(sample: Any, min_share: float = 0.5, keys: list[str] | None = None) -> dict:
    """Share of the expected top-level fields that the answer fills, >= `min_share`.

    Expected fields: those the reference fills (gold null stays allowed to be null), else
    `keys` (reference-free data such as MTSamples). Abstains when nothing is expected."""
    obj, why = parse_json(sample.completion)
    if obj is MISSING or not isinstance(obj, dict):
        return {"status": "fail", "value": 0.0, "reason": why or "not a JSON object"}
    ref = as_json(sample.reference)
    expected = ([k for k, v in ref.items() if is_filled(v)] if isinstance(ref, dict) and ref
                else list(keys or []))
    if not expected:
        return {"status": "abstain", "value": None, "reason": "no expected fields"}
    empty = [k for k in expected if not is_filled(obj.get(k))]
    share = 1 - len(empty) / len(expected)
    ok = share >= min_share
    reason = (f"{len(expected)} fields filled" if not empty else
              f"{len(empty)}/{len(expected)} expected fields empty: {', '.join(empty[:4])}")
    return {"status": "pass" if ok else "fail", "value": share, "reason": reason}


def min_words(sample: Any, min_words: int = 12) -> dict:
    """At least `min_words` words that are not placeholders ("TBD.", "N/A")."""
    ws = [w for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9'’-]*", sample.completion or "")
          if w.lower() not in PLACEHOLDERS]
    ok = len(ws) >= min_words
    return {"status": "pass" if ok else "fail", "value": 1.0 if ok else 0.0,
            "reason": f"{len(ws)} content words (need {min_words})"}


# a capitalised word inside a sentence (after a lower-case word or comma): a name or term
_MID_SENTENCE_NAME = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]{2,}")


def names_grounded(sample: Any, against: str = "source") -> dict:
    """Every capitalised word inside a sentence (a party, person, place, law) occurs in the
    source (`against: prompt`: in the prompt, for tasks whose input is the prompt itself): an
    invented name fails. Sentence-initial words are skipped (every sentence has one).
    Abstains without that text."""
    if against not in ("source", "prompt"):
        raise ValueError(f"against: expected 'source' or 'prompt', got {against!r}")
    grounding = (sample.source if against == "source"
                 else sample.prompt_text() if sample.prompt else None)
    if not grounding:
        return {"status": "abstain", "value": None, "reason": f"no {against}"}
    src = grounding.lower()
    names = _MID_SENTENCE_NAME.findall(sample.completion or "")
    new = sorted({n for n in names if not re.search(rf"\b{re.escape(n.lower())}", src)})
    ok = not new
    return {"status": "pass" if ok else "fail", "value": 1.0 if ok else 0.0,
            "reason": f"names all in the {against}" if ok
            else f"not in the {against}: {', '.join(new[:5])}"}


_STOP = frozenset("""about above after again against also because been before being below between
both could does doing down during each from further have having here into more most other over
same should some such than that their them then there these they this those through under until
very were what when where which while will with would your yours""".split())


def on_topic(sample: Any, min_share: float = 0.5) -> dict:
    """At least `min_share` of the answer's content words (4+ letters, not stop words) occur
    in the source, matched on their first 5 letters ("terminate" ~ "termination"): a short
    answer that is about something else ("Let me solve this step by step.") fails.
    Abstains without a source or content words."""
    if not sample.source:
        return {"status": "abstain", "value": None, "reason": "no source"}
    def stems(text: str) -> list[str]:
        return [w[:5] for w in re.findall(r"[a-z]{4,}", text.lower()) if w not in _STOP]
    mine, theirs = stems(sample.completion or ""), set(stems(sample.source))
    if not mine:
        return {"status": "fail", "value": 0.0, "reason": "no content words"}
    share = sum(w in theirs for w in mine) / len(mine)
    ok = share >= min_share
    return {"status": "pass" if ok else "fail", "value": share,
            "reason": f"{share:.0%} of content words from the source (need {min_share:.0%})"}


def copy_share(text: str, source: str, n: int = 5) -> float:
    """Share of the word n-grams of `text` that occur in `source` (0 when text is shorter)."""
    def grams(t: str) -> list[tuple[str, ...]]:
        w = re.findall(r"[a-z0-9]+", t.lower())
        return [tuple(w[i:i + n]) for i in range(len(w) - n + 1)]

    mine = grams(text)
    if not mine:
        return 0.0
    theirs = set(grams(source))
    return sum(g in theirs for g in mine) / len(mine)


def not_a_copy(sample: Any, n: int = 5, max_share: float = 0.6) -> dict[str, Any]:
    """The answer is not the source pasted back: at most `max_share` of its 5-grams occur in
    the source (generated gold notes: <= 0.09, ACI-Bench notes <= 0.39, product copy <= 0.17;
    a pasted transcript 1.0). Abstains without a source."""
    if not sample.source:
        return {"status": "abstain", "value": None, "reason": "no source"}
    share = copy_share(sample.completion or "", sample.source, n)
    ok = share <= max_share
    return {"status": "pass" if ok else "fail", "value": 1.0 if ok else 0.0,
            "reason": f"{share:.0%} of {n}-grams copied from the source"}
