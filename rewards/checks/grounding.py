"""Grounding checks that rubric drafts (rewards.draft) propose from references:

- values_grounded: every string value at a JSON path of the completion occurs in the source
  (an extracted vendor, symptom or party that the document never mentions is invented);
- copied_spans: the names and numbers the reference copies from the source are in the
  completion too (a rewrite that drops or changes them lost a fact).

Both are graded (value = share found) and compare with `contains_span` (case, punctuation,
whitespace and number formats ignored: "1,200" matches "1200.00").
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import field_validator

from rewards.checks.base import Check, Params, meta_value
from rewards.checks.text import FUNCTION_WORDS, _collect_strings, _share
from rewards.normalize import MISSING, as_json, contains_span, get_path, parse_json
from rewards.sample import Sample
from rewards.validate import field_path, meta_path
from rewards.verdict import Verdict, abstain, failed, passed


def source_text(sample: Sample, field: str) -> str | None:
    """The text to ground in: the source, the prompt, or a meta value (lists joined)."""
    if field == "source":
        return sample.source
    if field == "prompt":
        return sample.prompt_text() if sample.prompt else None
    value = meta_value(sample, field)
    return None if value is None else " ".join(_collect_strings(value))


class GroundingParams(Params):
    """What both checks ground in (`source_text`) and the share of spans that must be there."""

    source_field: str = "source"
    min_share: float = _share()

    @field_validator("source_field")
    @classmethod
    def _source(cls, v: str) -> str:
        return v if v in ("source", "prompt") else meta_path(v)


class ValuesGroundedParams(GroundingParams):
    path: str
    allow_fence: bool = False

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return field_path(v)


class ValuesGrounded(Check):
    kind = "values_grounded"
    Params = ValuesGroundedParams
    reads = ("completion", "source", "prompt", "meta")

    def evaluate_sync(self, sample: Sample) -> Verdict:
        source = source_text(sample, self.p.source_field)
        if not source:
            return abstain(f"no {self.p.source_field} to ground values in")
        obj, why = parse_json(sample.completion, self.p.allow_fence)
        if obj is MISSING:
            return failed(why)
        node = get_path(obj, self.p.path)
        # every leaf but null and booleans, numbers as written ("5457.98" ~ "5,457.98")
        values = [] if node is MISSING else [v for v in _collect_strings(node) if v.strip()]
        if not values:
            return passed(f"no values at {self.p.path!r} to ground", 1.0)
        missing = [v for v in values if not contains_span(source, v)]
        share = 1 - len(missing) / len(values)
        ok = share >= self.p.min_share and not (self.p.min_share >= 1 and missing)
        reason = (f"{len(values)} values found in the {self.p.source_field}" if not missing else
                  f"{len(missing)}/{len(values)} not in the {self.p.source_field}: "
                  + "; ".join(m[:40] for m in missing[:3]))
        return Verdict("pass" if ok else "fail", share, reason)


_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
# a capitalised word, or a run of them: names, places, products, months
_NAME = re.compile(r"\b[A-Z][A-Za-z'’-]{2,}(?:\s+[A-Z][A-Za-z'’-]{2,})*")


def copied_from(reference: str, source: str, what: list[str]) -> list[str]:
    """The numbers and names of `reference` that also occur in `source`, in order, unique."""
    spans: list[str] = []
    if "numbers" in what:
        spans += _NUMBER.findall(reference)
    if "names" in what:
        spans += [m for m in _NAME.findall(reference) if m.lower() not in FUNCTION_WORDS]
    seen: set[str] = set()
    out = []
    for s in spans:
        if s.lower() not in seen and contains_span(source, s):
            seen.add(s.lower())
            out.append(s)
    return out


class CopiedSpansParams(GroundingParams):
    what: list[Literal["numbers", "names"]] = ["numbers", "names"]


class CopiedSpans(Check):
    """The reference's names and numbers that come from the source, kept by the completion."""

    kind = "copied_spans"
    Params = CopiedSpansParams
    reads = ("completion", "source", "prompt", "reference", "meta")

    def evaluate_sync(self, sample: Sample) -> Verdict:
        source = source_text(sample, self.p.source_field)
        ref = as_json(sample.reference)
        if not source or ref is None:
            return abstain(f"no reference or no {self.p.source_field}")
        ref_text = ref if isinstance(ref, str) else " ".join(_collect_strings(ref))
        required = copied_from(ref_text, source, self.p.what)
        if not required:
            return passed(f"the reference copies no {'/'.join(self.p.what)} from the "
                          f"{self.p.source_field}", 1.0)
        text = sample.completion or ""
        missing = [s for s in required if not contains_span(text, s)]
        share = 1 - len(missing) / len(required)
        ok = share >= self.p.min_share and not (self.p.min_share >= 1 and missing)
        reason = (f"{len(required)} copied spans kept" if not missing else
                  f"missing {len(missing)}/{len(required)}: " + "; ".join(missing[:4]))
        return Verdict("pass" if ok else "fail", share, reason)
