"""Judge questions proposed by an LLM, parsed strictly.

The model (any OpenAI-compatible endpoint) gets the task description and a few examples and
is asked for a JSON array of {"question", "dimension"} objects. A question is kept only when
it is one yes/no question about one fact: it starts with an auxiliary verb, ends with its only
question mark, has 4-40 words, joins no two clauses with "and"/"or"/";", holds no braces (the
judge template would read them as fields), names a known dimension, and is not a near-copy
of one kept before. Everything else is dropped with the reason. Kept questions land as
`audit: true` judge checks marked `review: pending`: scored and reported, never part of the
reward until a person deletes `audit: true`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from rewards.draft.inputs import Example
from rewards.draft.proposal import DIMENSIONS, Proposal

MAX_QUESTIONS = 8
_AUX = re.compile(r"^(is|are|does|do|did|has|have|can|could|will|would|should|was|were)\b",
                  re.I)
_FENCE = re.compile(r"^```(?:json)?\s*\n(.*)\n```\s*$", re.S)
_SYSTEM = ("You write grading rubrics. Reply with a JSON array only, no prose: each item an "
           'object {"question": "...", "dimension": "fidelity"|"coverage"|"format"|"style"}. '
           "Each question is a yes/no question about ONE fact of a good answer, answerable "
           "from the RESPONSE and the SOURCE, where yes means the answer is good.")


@dataclass
class Dropped:
    text: str
    reason: str


def _words(q: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", q.lower()))


def _problem(q: str, dim: Any) -> str | None:
    n = len(q.split())
    if not 4 <= n <= 40:
        return f"{n} words (expected 4-40)"
    if not _AUX.match(q):
        return "not a yes/no question (must start with Is/Does/Are/Has/...)"
    if not q.endswith("?") or q.count("?") != 1:
        return "not exactly one question (one '?', at the end)"
    m = re.search(r"\s(and|or)\s|;", q, re.I)
    if m:
        return f"asks more than one thing ({m.group(0).strip()!r})"
    if "{" in q or "}" in q:
        return "contains braces (the judge template would read them as fields)"
    if dim is not None and dim not in DIMENSIONS:
        return f"unknown dimension {dim!r} (expected one of {', '.join(DIMENSIONS)})"
    return None


def parse_questions(reply: str, max_questions: int = MAX_QUESTIONS
                    ) -> tuple[list[tuple[str, str]], list[Dropped]]:
    """(kept (question, dimension) pairs, dropped items with reasons) from a model reply."""
    text = (reply or "").strip()
    m = _FENCE.match(text)
    if m:
        text = m.group(1).strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        return [], [Dropped(reply[:120], f"reply is not JSON ({e.msg})")]
    if isinstance(data, dict) and isinstance(data.get("questions"), list):
        data = data["questions"]
    if not isinstance(data, list):
        return [], [Dropped(reply[:120], "reply is not a JSON array of questions")]
    kept: list[tuple[str, str]] = []
    dropped: list[Dropped] = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            dropped.append(Dropped(json.dumps(item)[:120],
                                   "expected an object with a string 'question'"))
            continue
        q, dim = " ".join(item["question"].split()), item.get("dimension")
        why = _problem(q, dim)
        if why is None:
            dup = next((i for i, (k, _) in enumerate(kept)
                        if len(_words(q) & _words(k)) / len(_words(q) | _words(k)) >= 0.8), None)
            why = None if dup is None else f"duplicate of question {dup + 1}"
        if why is None and len(kept) >= max_questions:
            why = f"over the limit of {max_questions} questions"
        if why:
            dropped.append(Dropped(q[:120], why))
        else:
            kept.append((q, dim or "fidelity"))
    return kept, dropped


# two examples of 400 characters a side keep the request (~600 tokens with the reply's 400)
# inside a 1024-token context: small local judges serve no more
EXAMPLES, EXAMPLE_CHARS, MAX_TOKENS = 2, 400, 400


def request_prompt(description: str, examples: list[Example]) -> str:
    shown = []
    for e in examples[:EXAMPLES]:
        src = (e.sample.source or e.sample.prompt_text())[:EXAMPLE_CHARS]
        shown.append(f"INPUT:\n{src}\nGOOD ANSWER:\n{e.gold[:EXAMPLE_CHARS]}")
    return (f"Task: {description}\n\n" + "\n\n".join(shown)
            + f"\n\nPropose up to {MAX_QUESTIONS} questions as the JSON array.")


def propose_questions(cfg, description: str, examples: list[Example], timeout_s: float = 120.0
                      ) -> tuple[list[Proposal], list[Dropped], str | None]:
    """Ask the endpoint once (temperature 0). Returns (proposals, dropped, error): an endpoint
    failure is reported, not raised: the deterministic draft stands without questions."""
    import httpx

    from rewards.validate import redact

    if cfg.missing_key():
        return [], [], cfg.missing_key()
    body = {"model": cfg.model, "temperature": 0.0, "max_tokens": MAX_TOKENS,
            "messages": [{"role": "system", "content": _SYSTEM},
                         {"role": "user", "content": request_prompt(description, examples)}]}
    url = cfg.base_url.rstrip("/") + "/chat/completions"
    try:
        r = httpx.post(url, json=body, headers=cfg.headers(), timeout=timeout_s)
        r.raise_for_status()
        reply = r.json()["choices"][0]["message"]["content"] or ""
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as e:
        return [], [], redact(f"judge endpoint: {type(e).__name__}: {e}"[:300], cfg.secrets())
    kept, dropped = parse_questions(reply)
    props = [Proposal(f"judge_q{i + 1}", "judge", dim, params={"question": q}, audit=True,
                      review="pending", why=f"proposed by {cfg.model} from the task description")
             for i, (q, dim) in enumerate(kept)]
    return props, dropped, None
