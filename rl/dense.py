"""Dense harness rewards (PPO `reward.dense=true`): which completion tokens a failed check
blames, and what that failure costs.

A check kind that can point at the text responsible implements `Check.locate(sample)` ->
character spans of the completion:

| kind | locates | why / why not |
|---|---|---|
| regex (must_match: false, target: completion) | every forbidden match | the match is the offence |
| no_repetition (n-gram rule) | each repeat beyond the allowed count | the repeats are the offence |
| every other kind | no | a missing field/span/label, a length, a reading grade, an embedding distance, a judge's yes/no or a python check has no tokens to blame |

The cost of a failed, located check is what the harness score would gain if that check passed
(the same aggregation, that one verdict flipped); rl.advantages.blame_tokens moves exactly
that much of the last-token reward onto the blamed tokens, so a row's return is unchanged.
"""

from __future__ import annotations

from typing import Any

from rewards.aggregate import aggregate
from rewards.verdict import Verdict


def token_ends(tokenizer: Any, token_ids: list[int]) -> list[int]:
    """Character offset in the decoded completion where each token ends (prefix decodes:
    exact for byte-level BPE, where a token can complete a multi-byte character)."""
    return [len(tokenizer.decode(token_ids[:i + 1], skip_special_tokens=True))
            for i in range(len(token_ids))]


def spans_to_tokens(spans: list[tuple[int, int]], ends: list[int]) -> list[int]:
    """Indices of the tokens overlapping any [start, end) character span."""
    out = []
    for i, end in enumerate(ends):
        start = ends[i - 1] if i else 0
        if end > start and any(s < end and e > start for s, e in spans):
            out.append(i)
    return out


def blame(rubric: Any, sample: Any, result: Any, token_ids: list[int],
          tokenizer: Any) -> list[tuple[list[int], float]]:
    """(token indices, cost) for each failed check of `result` that can locate its failure."""
    if result.score is None:
        return []
    out, ends = [], None
    for check in rubric.built:
        verdict = result.verdicts.get(check.spec.id)
        if verdict is None or verdict.status != "fail" or check.spec.audit:
            continue
        spans = check.locate(sample)
        if not spans:
            continue
        flipped = dict(result.verdicts) | {check.spec.id: Verdict("pass", 1.0, "as if passed")}
        better = aggregate(rubric, flipped)[0]
        cost = (better - result.score) if better is not None else 0.0
        ends = ends if ends is not None else token_ends(tokenizer, token_ids)
        tokens = spans_to_tokens(spans, ends)
        if tokens and cost > 0:
            out.append((tokens, float(cost)))
    return out
