"""Drafting for label answers and free text, from the references' own statistics.

Labels: the label set (from a meta list that holds each reference's label when there is one)
and an exact-label check behind a label-only gate.

Free text: every bound comes from the references' spread with a margin (half the smallest,
1.5x the largest, ...), so a held-out gold lands inside it; the degenerate answers a policy
finds (a chat wrapper, the answer said twice, a keyword list, the source pasted back, a
stub) are pitfall + global gates, because as weighted checks they left those hacks at
80-96% of the scale on the suite rubrics (benchmarks/results/probes.md).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from statistics import median

from rewards.checks.grounding import copied_from
from rewards.checks.text import flesch_kincaid_grade, prose_stats, sentences, words
from rewards.draft.inputs import Example
from rewards.draft.proposal import Proposal, ratio
from rewards.normalize import find_numbers, numbers_equal
from rewards.tasks.guards import PLACEHOLDERS, copy_share, names_grounded

# chat boilerplate, a code fence or an "Answer:" label around the text (the suite rubrics'
# no_chat_wrapper pattern)
CHAT_WRAPPER = (r"(^\s*(sure|certainly|of course|absolutely|great question)\b|"
                r"^\s*here('s| is| are)\b.*:\s*$|\b(i hope this helps|let me know if|"
                r"feel free to|as an ai)\b|```|^\s*[*_]*(confidence|answer|final answer)[*_]*"
                r"\s*:|^\s*#+\s*(answer|response)\b)")
_WRAPPER_RX = re.compile(CHAT_WRAPPER, re.I | re.M)
_HEADING = re.compile(r"^\s*(?:#+\s+(.+?)|([A-Z][A-Z /&()-]{2,40})|([A-Z][A-Za-z /&()-]{1,40}):)"
                      r"\s*$")
# the label contract: short one-line answers that repeat across examples
LABEL_MAX_WORDS, LABEL_MAX_CHARS, LABEL_MAX_VALUES = 5, 40, 50


def is_label_task(golds: list[str]) -> bool:
    vals = [g.strip() for g in golds]
    return (all("\n" not in v and 0 < len(words(v)) <= LABEL_MAX_WORDS
                and len(v) <= LABEL_MAX_CHARS for v in vals)
            and len(set(vals)) < len(vals) and len(set(vals)) <= LABEL_MAX_VALUES)


def propose_labels(examples: list[Example]) -> list[Proposal]:
    golds = [e.gold.strip() for e in examples]
    counts = Counter(golds)
    meta_key = next((k for k, v in examples[0].sample.meta.items()
                     if isinstance(v, list) and all(
                         isinstance(e.sample.meta.get(k), list) and e.gold.strip()
                         in e.sample.meta[k] for e in examples)), None)
    labels = sorted(set(golds) | ({x for e in examples for x in e.sample.meta[meta_key]
                                   if isinstance(x, str)} if meta_key else set()))
    shown = ", ".join(f"{v} ({c})" for v, c in counts.most_common())
    n = len(examples)
    alt = "|".join(re.escape(lab) for lab in sorted(labels, key=len, reverse=True))
    out = [Proposal("label_only", "regex", "format", gate="global",
                    params={"pattern": rf"^\s*(?:{alt})\s*\.?\s*$", "flags": ["IGNORECASE"]},
                    why=f"{ratio(n, n)} references are a bare label ({len(labels)} labels): "
                        "anything around it is a format failure (the answer scores 0)")]
    params = ({"labels_from_meta": meta_key} if meta_key else {"labels": labels})
    src = (f"meta.{meta_key} lists the reference label in {ratio(n, n)} examples"
           if meta_key else f"the label set is the references' {len(labels)} values")
    out.append(Proposal("label", "label_match", "fidelity", params=params,
                        why=f"exact label (case and punctuation ignored); {src}: {shown}"))
    return out


def _floor(x: float, step: float = 0.01) -> float:
    return round(math.floor(x / step) * step, 4)


def _ceil(x: float, step: float = 0.01) -> float:
    return round(math.ceil(x / step) * step, 4)


def repeat_share(text: str, n: int = 8) -> float:
    ws = [w.lower() for w in words(text)]
    grams = [tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def headings(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            out.append(next(g for g in m.groups() if g).strip())
    return out


def grounding_field(examples: list[Example]) -> str | None:
    """Where the answer's facts come from: the source when every example has one, else the
    prompt (a task whose input is the prompt itself), else nowhere."""
    if all(e.sample.source for e in examples):
        return "source"
    if all(e.sample.prompt for e in examples):
        return "prompt"
    return None


def _text(e: Example, field: str) -> str:
    from rewards.checks.grounding import source_text

    return source_text(e.scored(), field) or ""


def numbers_field(examples: list[Example], field: str) -> tuple[str | None, int, int]:
    """Where the references' numbers come from: the source (or prompt), else a meta value
    that lists them (a transcript's spoken numbers in digits): (field, references whose every
    number is there, references with numbers); field None under 90%."""
    meta = [f"meta.{k}" for k, v in examples[0].sample.meta.items()
            if any(ch.isdigit() for ch in str(v))]
    with_numbers = sum(bool(find_numbers(e.gold)) for e in examples)
    if not with_numbers:
        return None, 0, 0
    best = (None, -1)
    for f in [field, *meta]:
        k = sum(all(any(numbers_equal(x, y) for y in find_numbers(_text(e, f)))
                    for x in find_numbers(e.gold)) for e in examples)
        if k > best[1]:
            best = (f, k)
    f, k = best
    return (f if k >= 0.9 * len(examples) else None), k, with_numbers


def propose_text(examples: list[Example], encoder=None) -> list[Proposal]:
    return (_format_checks(examples) + _fidelity_checks(examples, encoder)
            + _coverage_checks(examples) + _style_checks(examples))


def _format_checks(examples: list[Example]) -> list[Proposal]:
    golds, n = [e.gold for e in examples], len(examples)
    # content words as guards.min_words counts them (placeholders such as "None" excluded)
    nw = sorted(len([w for w in words(g) if w.lower() not in PLACEHOLDERS]) for g in golds)
    out = []
    if nw[0] >= 2:
        out.append(Proposal("substantive", "python", "format", gate="global", weight=0.5,
                            params={"function": "rewards.tasks.guards:min_words",
                                    "params": {"min_words": nw[0] // 2},
                                    "reads": ["completion"]},
                            why=f"references have {nw[0]}-{nw[-1]} content words: under "
                                f"{nw[0] // 2} (half the shortest) is not an answer (scores 0)"))
    wrapped = sum(bool(_WRAPPER_RX.search(g)) for g in golds)
    if not wrapped:
        out.append(Proposal("no_chat_wrapper", "regex", "format", pitfall=True, gate="global",
                            weight=0.5, params={"pattern": CHAT_WRAPPER, "must_match": False,
                                                "flags": ["IGNORECASE", "MULTILINE"]},
                            why=f"0/{n} references open with chat boilerplate, a code fence or "
                                "an 'Answer:' label: a wrapper scores 0"))
    rep = max(repeat_share(g) for g in golds)
    limit = max(0.2, _ceil(2 * rep))
    out.append(Proposal("no_padding", "no_repetition", "format", pitfall=True, gate="global",
                        weight=0.5, params={"ngram": 8, "max_ngram_repeats": None,
                                            "max_repeat_share": limit},
                        why=f"at most {rep:.0%} of a reference's 8-word runs repeat an earlier "
                            f"one; text said twice repeats >= 50%: over {limit:.0%} scores 0"))
    stats = [prose_stats(g) for g in golds]
    fw = min(s[1] for s in stats)
    commas = max(s[2] for s in stats)
    if fw >= 0.1:
        lo, hi = _floor(fw / 2), max(0.2, _ceil(2 * commas))
        out.append(Proposal("reads_as_prose", "prose", "format", pitfall=True, gate="global",
                            weight=0.5, params={"min_function_word_share": lo,
                                                "max_comma_rate": hi},
                            why=f"references have {fw:.0%}+ function words and <= {commas:.2f} "
                                f"commas per word: a keyword list (under {lo:.0%}, over "
                                f"{hi:.2f}) scores 0"))
    field = grounding_field(examples)
    if field:
        shares = [copy_share(e.gold, _text(e, field)) for e in examples]
        if max(shares) <= 0.6:
            cap = _ceil(max(0.5, max(shares) + 0.2), 0.05)
            out.append(Proposal(
                "not_a_copy", "python", "format", gate="global", weight=0.5,
                params={"function": "rewards.tasks.guards:not_a_copy",
                        "params": {"n": 5, "max_share": cap, "against": field},
                        "reads": ["completion", "source"] if field == "source" else
                        ["completion", "prompt"]},
                why=f"references copy at most {max(shares):.0%} of their 5-word runs from the "
                    f"{field}: over {cap:.0%} is the {field} pasted back (scores 0)"))
    firsts = [len(words(sentences(g)[0])) / max(1, len(words(g))) if sentences(g) else 1.0
              for g in golds]
    cut = sum(f < 0.35 for f in firsts)
    out.append(Proposal("not_truncated", "length", "format", pitfall=True, gate="global",
                        weight=0.5, params={"unit": "words", "min_ratio": 0.35},
                        why=f"an answer under 35% of its reference's words dropped most of it "
                            f"(the first sentence alone is under that in {ratio(cut, n)} "
                            "references): scores 0"))
    out += _heading_check(examples)
    return out


def _heading_check(examples: list[Example]) -> list[Proposal]:
    n = len(examples)
    per = [set(headings(e.gold)) for e in examples]
    common = Counter(h for hs in per for h in hs)
    shared = [h for h in dict.fromkeys(h for e in examples for h in headings(e.gold))
              if common[h] >= 0.9 * n]
    if len(shared) < 2:
        return []
    k = min(common[h] for h in shared)
    return [Proposal("headings", "spans_preserved", "format",
                     params={"spans": shared, "case_sensitive": True},
                     why=f"{len(shared)} headings appear in >= {ratio(k, n)} references: "
                         + ", ".join(shared[:8]))]


def _fidelity_checks(examples: list[Example], encoder) -> list[Proposal]:
    out: list[Proposal] = []
    n = len(examples)
    if encoder is not None and n >= 2:
        golds = [e.gold for e in examples]
        others = golds[1:] + golds[:1]  # each reference against another example's
        cos = sorted(encoder(golds, others))
        p95 = cos[min(len(cos) - 1, int(0.95 * len(cos)))]
        t = round(min(0.8, max(0.5, p95 + 0.1)), 2)
        out.append(Proposal("similar_to_reference", "semantic_similarity", "fidelity",
                            weight=2.0, params={"threshold": t},
                            why=f"another example's reference scores cosine {median(cos):.2f} "
                                f"(median, p95 {p95:.2f}): pass from {t}, value = cosine"))
    field = grounding_field(examples)
    if not field:
        return out
    nfield, k, with_numbers = numbers_field(examples, field)
    if nfield:
        params = {} if nfield == "source" else {"source_field": nfield}
        full = k == len(examples)
        out.append(Proposal("numbers_grounded", "numbers_grounded", "fidelity", params=params,
                            gate=full, why=f"every number of the reference is in the {nfield} "
                            f"in {ratio(k, len(examples))} examples ({with_numbers} have "
                            "numbers): value = share of the answer's numbers found there"
                            + ("; one that is not zeroes fidelity" if full else "")))
    named = [names_grounded(e.scored(), against=field)["status"] for e in examples]
    if named.count("pass") >= 0.95 * n:
        out.append(Proposal(
            "names_grounded", "python", "fidelity", pitfall=True, weight=0.5,
            params={"function": "rewards.tasks.guards:names_grounded",
                    "params": {"against": field}, "reads": ["completion", field]},
            why=f"capitalised names inside sentences are all in the {field} in "
                f"{ratio(named.count('pass'), n)} references: an invented name costs half "
                "the dimension"))
    return out


def _coverage_checks(examples: list[Example]) -> list[Proposal]:
    field = grounding_field(examples)
    if not field:
        return []
    n = len(examples)
    nfield = numbers_field(examples, field)[0] or field
    out = []
    for what, f in (("numbers", nfield), ("names", field)):
        spans = [copied_from(e.gold, _text(e, f), [what]) for e in examples]
        k = sum(bool(s) for s in spans)
        if k >= 0.5 * n:
            params = {"what": [what]} | ({} if f == "source" else {"source_field": f})
            out.append(Proposal(f"copied_{what}", "copied_spans", "coverage", params=params,
                                why=f"{ratio(k, n)} references copy {what} from the {f} "
                                    f"(median {median(len(s) for s in spans):g}): the answer "
                                    "keeps them (value = share kept)"))
    return out


def _style_checks(examples: list[Example]) -> list[Proposal]:
    golds = [e.gold for e in examples]
    nw = sorted(len(words(g)) for g in golds)
    lo, hi = nw[0] // 2, math.ceil(1.5 * nw[-1])
    out = [Proposal("length", "length", "style", params={"unit": "words", "min": lo, "max": hi},
                    why=f"references have {nw[0]}-{nw[-1]} words (median {median(nw):g}): "
                        f"{lo}-{hi} allowed (half the shortest to 1.5x the longest)")]
    fk = [flesch_kincaid_grade(g) for g in golds]
    grades = sorted(g for g, _ in fk)
    wps = max(w for _, w in fk)
    params = {"max_grade": _ceil(grades[-1] + 2, 0.5),
              "max_avg_sentence_words": _ceil(1.5 * wps, 1)}
    if grades[0] - 2 > 0:
        params["min_grade"] = _floor(grades[0] - 2, 0.5)
    out.append(Proposal("readability", "readability", "style", weight=0.5, params=params,
                        why=f"references read at Flesch-Kincaid grade {grades[0]:.1f}-"
                            f"{grades[-1]:.1f}, <= {wps:.0f} words per sentence: a band 2 "
                            "grades wider, 1.5x the sentence length"))
    return out
