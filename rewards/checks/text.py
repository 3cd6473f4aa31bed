"""Text checks: regex, length, numbers_grounded, spans_preserved, no_repetition, readability."""

from __future__ import annotations

import re
from collections import Counter
from typing import Literal

from pydantic import Field, field_validator, model_validator

from rewards.checks.base import Check, Params, meta_value
from rewards.normalize import (
    MISSING,
    as_json,
    contains_span,
    find_numbers,
    get_path,
    normalize_text,
    numbers_equal,
    parse_json,
)
from rewards.sample import Sample
from rewards.timebox import FLAGS, compile_pattern, search
from rewards.validate import field_path, meta_path
from rewards.verdict import Verdict, abstain, failed, passed


def _share():
    return Field(1.0, ge=0.0, le=1.0)
_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
# dots that end an abbreviation, not a sentence: "Acme Inc. shall", "e.g. rent", "B.V. and"
_ABBREV_DOT = re.compile(
    r"\b(?:inc|ltd|co|corp|llc|plc|pty|gmbh|no|nos|art|sec|para|cl|mr|mrs|ms|dr|st|vs|etc|"
    r"approx|dept|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.(?=\s)"
    r"|\b(?:[a-z]\.){2,}(?=\s)", re.I)


class RegexParams(Params):
    pattern: str
    must_match: bool = True
    flags: list[Literal["IGNORECASE", "MULTILINE", "DOTALL"]] = []
    target: Literal["completion", "source", "reference"] = "completion"


class Regex(Check):
    kind = "regex"
    Params = RegexParams

    def __init__(self, spec, rubric_dir):
        super().__init__(spec, rubric_dir)
        flags = 0
        for f in self.p.flags:
            flags |= FLAGS[f]
        try:
            self.rx = compile_pattern(self.p.pattern, flags)
        except ValueError as e:
            raise ValueError(f"pattern: {e}") from None
        self.reads = (self.p.target,)

    def evaluate_sync(self, sample: Sample) -> Verdict:
        text = getattr(sample, self.p.target)
        if text is None:
            return abstain(f"no {self.p.target}")
        m = search(self.rx, str(text), self.time_limit_s)
        if self.p.must_match:
            return passed("pattern found") if m else failed("required pattern not found")
        return failed(f"forbidden text {m.group(0)[:60]!r}") if m else passed("no forbidden text")

    def locate(self, sample: Sample) -> list[tuple[int, int]] | None:
        """A forbidden pattern in the completion: where each match is (first 64)."""
        if self.p.must_match or self.p.target != "completion":
            return None
        text, spans, pos = sample.completion or "", [], 0
        while len(spans) < 64:
            m = search(self.rx, text[pos:], self.time_limit_s)
            if m is None or m.end() == 0:
                break
            spans.append((pos + m.start(), pos + m.end()))
            pos += max(m.end(), 1)
        return spans


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9][A-Za-z0-9'’-]*", text)


def sentences(text: str) -> list[str]:
    text = _ABBREV_DOT.sub(lambda m: m.group(0).replace(".", ""), text.strip())
    return [s for s in _SENTENCE_END.split(text) if words(s)]


class LengthParams(Params):
    unit: Literal["chars", "words", "sentences"] = "words"
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _order(self):
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} > max {self.max}: no text can pass")
        return self


class Length(Check):
    kind = "length"
    Params = LengthParams

    def evaluate_sync(self, sample: Sample) -> Verdict:
        text = sample.completion or ""
        n = {"chars": len(text.strip()), "words": len(words(text)),
             "sentences": len(sentences(text))}[self.p.unit]
        if self.p.min is not None and n < self.p.min:
            return failed(f"{n} {self.p.unit} < min {self.p.min}")
        if self.p.max is not None and n > self.p.max:
            return failed(f"{n} {self.p.unit} > max {self.p.max}")
        return passed(f"{n} {self.p.unit}")


class NumbersGroundedParams(Params):
    source_field: str = "source"
    path: str | None = None
    ignore: list[float] = []
    min_share: float = _share()

    @field_validator("source_field")
    @classmethod
    def _source(cls, v: str) -> str:
        return v if v in ("source", "prompt") else meta_path(v)

    @field_validator("path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        return None if v is None else field_path(v)


def _collect_strings(node) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _collect_strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _collect_strings(v)]
    return [] if node is None or isinstance(node, bool) else [str(node)]


class NumbersGrounded(Check):
    kind = "numbers_grounded"
    Params = NumbersGroundedParams
    reads = ("completion", "source", "prompt", "meta")

    def _source_text(self, sample: Sample) -> str | None:
        f = self.p.source_field
        if f == "source":
            return sample.source
        if f == "prompt":
            return sample.prompt_text()
        value = meta_value(sample, f)
        return None if value is None else " ".join(_collect_strings(value))

    def evaluate_sync(self, sample: Sample) -> Verdict:
        source = self._source_text(sample)
        if source is None:
            return abstain(f"no {self.p.source_field} to ground numbers in")
        text = sample.completion or ""
        if self.p.path:
            obj, why = parse_json(text, allow_fence=True)
            if obj is MISSING:
                return failed(why)
            node = get_path(obj, self.p.path)
            text = "" if node is MISSING else " ".join(_collect_strings(node))
        found = find_numbers(text)
        allowed = find_numbers(source) + list(self.p.ignore)
        ungrounded = [n for n in found if not any(numbers_equal(n, a) for a in allowed)]
        if not found:
            return passed("no numbers to ground", 1.0)
        share = 1 - len(ungrounded) / len(found)
        if share >= self.p.min_share and not (self.p.min_share >= 1 and ungrounded):
            return passed(f"{len(found)} numbers grounded", share)
        shown = ", ".join(f"{n:g}" for n in ungrounded[:5])
        return failed(f"{len(ungrounded)}/{len(found)} numbers not in source: {shown}", share)


class SpansPreservedParams(Params):
    spans: list[str] = []
    from_meta: str | None = None
    from_reference: str | None = None
    case_sensitive: bool = False
    min_share: float = _share()

    @field_validator("from_meta")
    @classmethod
    def _meta(cls, v: str | None) -> str | None:
        return None if v is None else meta_path(v)

    @field_validator("from_reference")
    @classmethod
    def _ref(cls, v: str | None) -> str | None:
        return None if v is None else field_path(v)


class SpansPreserved(Check):
    """Required phrases present. A required item may be a list of alternatives (any counts)."""

    kind = "spans_preserved"
    Params = SpansPreservedParams
    reads = ("completion", "reference", "meta")

    def _required(self, sample: Sample) -> list[list[str]] | None:
        items: list = list(self.p.spans)
        if self.p.from_meta:
            v = meta_value(sample, self.p.from_meta)
            if v is None:
                return None
            items += v if isinstance(v, list) else [v]
        if self.p.from_reference:
            if sample.reference is None:
                return None
            ref = sample.reference if self.p.from_reference in ("*", "$") else get_path(
                as_json(sample.reference), self.p.from_reference)
            if ref is MISSING:
                return None
            items += _collect_strings(ref) if isinstance(ref, dict | list) else [ref]
        return [[str(a) for a in i] if isinstance(i, list) else [str(i)] for i in items
                if i not in (None, "", [])]

    def evaluate_sync(self, sample: Sample) -> Verdict:
        required = self._required(sample)
        if required is None:
            return abstain("no required spans for this sample")
        if not required:
            return passed("nothing required", 1.0)
        text = sample.completion or ""
        missing = [alts[0] for alts in required
                   if not any(contains_span(text, a, self.p.case_sensitive) for a in alts)]
        share = 1 - len(missing) / len(required)
        ok = share >= self.p.min_share and not (self.p.min_share >= 1 and missing)
        reason = (f"{len(required)} spans present" if not missing else
                  f"missing {len(missing)}/{len(required)}: " + "; ".join(m[:40] for m in missing[:4]))
        return Verdict("pass" if ok else "fail", share, reason)


class NoRepetitionParams(Params):
    # n-grams longer than 100 words never repeat in a completion: a typo, not a setting
    ngram: int = Field(4, ge=1, le=100)
    # the most times any one n-gram may occur (null: no such limit)
    max_ngram_repeats: int | None = Field(2, ge=1)
    # the largest share of the n-grams that repeat an earlier one (null: no such limit). Text
    # said twice is >= 50% repeats; real visit notes that restate boilerplate per problem
    # ("patient education and counseling ...", ACI-Bench) stay under 5% at n=8
    max_repeat_share: float | None = Field(None, ge=0.0, le=1.0)
    phrase_from_meta: str | None = None
    max_phrase_count: int = Field(1, ge=0)

    @field_validator("phrase_from_meta")
    @classmethod
    def _meta(cls, v: str | None) -> str | None:
        return None if v is None else meta_path(v)


class NoRepetition(Check):
    kind = "no_repetition"
    Params = NoRepetitionParams
    reads = ("completion", "meta")

    def evaluate_sync(self, sample: Sample) -> Verdict:
        text = sample.completion or ""
        if self.p.phrase_from_meta:
            phrase = meta_value(sample, self.p.phrase_from_meta)
            if phrase:
                count = normalize_text(text).count(normalize_text(phrase))
                if count > self.p.max_phrase_count:
                    return failed(f"{phrase!r} repeated {count} times (max {self.p.max_phrase_count})")
        toks = [w.lower() for w in words(text)]
        seq = [tuple(toks[i:i + self.p.ngram]) for i in range(len(toks) - self.p.ngram + 1)]
        grams = Counter(seq)
        if grams and self.p.max_ngram_repeats is not None:
            gram, count = grams.most_common(1)[0]
            if count > self.p.max_ngram_repeats:
                return failed(f"{' '.join(gram)!r} appears {count} times")
        if seq and self.p.max_repeat_share is not None:
            share = 1 - len(grams) / len(seq)
            if share > self.p.max_repeat_share:
                return failed(f"{share:.0%} of the {self.p.ngram}-grams repeat an earlier one "
                              f"(max {self.p.max_repeat_share:.0%})")
        return passed("no repetition")

    def locate(self, sample: Sample) -> list[tuple[int, int]] | None:
        """The repeats of an n-gram beyond `max_ngram_repeats` (the allowed first ones are not
        blamed; with only a share limit, every repeat after the first); None for the
        meta-phrase rule (a count, not a place)."""
        text = sample.completion or ""
        found = list(re.finditer(r"[A-Za-z0-9][A-Za-z0-9'’-]*", text))
        n, seen, spans = self.p.ngram, Counter(), []
        allowed = 1 if self.p.max_ngram_repeats is None else self.p.max_ngram_repeats
        for i in range(len(found) - n + 1):
            gram = tuple(m.group(0).lower() for m in found[i:i + n])
            seen[gram] += 1
            if seen[gram] > allowed:
                spans.append((found[i].start(), found[i + n - 1].end()))
        return spans


def syllables(word: str) -> int:
    """Vowel-group heuristic (silent final e dropped): within ~1 syllable on common words."""
    w = word.lower().strip("'’-")
    groups = re.findall(r"[aeiouy]+", w)
    n = len(groups)
    if w.endswith("e") and not w.endswith(("le", "ee", "ye")) and n > 1:
        n -= 1
    return max(1, n)


def flesch_kincaid_grade(text: str) -> tuple[float, float]:
    """(grade, average words per sentence) by Kincaid et al. 1975."""
    ws, ss = words(text), sentences(text) or [text]
    if not ws:
        return 0.0, 0.0
    wps = len(ws) / len(ss)
    spw = sum(syllables(w) for w in ws) / len(ws)
    return 0.39 * wps + 11.8 * spw - 15.59, wps


class ReadabilityParams(Params):
    max_grade: float | None = None
    min_grade: float | None = None
    max_avg_sentence_words: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _order(self):
        if (self.min_grade is not None and self.max_grade is not None
                and self.min_grade > self.max_grade):
            raise ValueError(f"min_grade {self.min_grade} > max_grade {self.max_grade}")
        return self


class Readability(Check):
    kind = "readability"
    Params = ReadabilityParams

    def evaluate_sync(self, sample: Sample) -> Verdict:
        text = sample.completion or ""
        if not words(text):
            return failed("empty text")
        grade, wps = flesch_kincaid_grade(text)
        desc = f"FK grade {grade:.1f}, {wps:.1f} words/sentence"
        if self.p.max_grade is not None and grade > self.p.max_grade:
            return failed(f"{desc} > max grade {self.p.max_grade}")
        if self.p.min_grade is not None and grade < self.p.min_grade:
            return failed(f"{desc} < min grade {self.p.min_grade}")
        if self.p.max_avg_sentence_words is not None and wps > self.p.max_avg_sentence_words:
            return failed(f"{desc} > max {self.p.max_avg_sentence_words} words/sentence")
        return passed(desc)


# English function words: prose needs them to join its content words; a keyword list has
# almost none ("Key points: rounded corners, 5 kg, ..." - 0-4% vs 16-46% in gold product
# copy, legal rewrites, rationales and visit notes; rewards.probe keyword_stuff)
FUNCTION_WORDS = frozenset("""a an the and or but nor if so yet of to in on at by for with
from as into onto over under about after before between through during without within per
than then that this these those it its is are was were be been being am has have had do does
did not no can could may might must should shall will would you your they their them he she
his her him we our us i my me who whom whose which what when where while because also each
both all any some such there here only just very more most""".split())


class ProseParams(Params):
    min_function_word_share: float | None = Field(None, ge=0.0, le=1.0)
    max_comma_rate: float | None = Field(None, gt=0.0)
    # below this many words the text is too short to tell a sentence from a list ("None.",
    # "Billing"): the check passes and length/substance checks judge it instead
    min_words: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _some_bound(self):
        if self.min_function_word_share is None and self.max_comma_rate is None:
            raise ValueError("prose needs min_function_word_share or max_comma_rate")
        return self


def prose_stats(text: str) -> tuple[int, float, float]:
    """(words, share of function words, commas and semicolons per word)."""
    ws = [w.lower() for w in words(text)]
    if not ws:
        return 0, 0.0, 0.0
    return (len(ws), sum(w in FUNCTION_WORDS for w in ws) / len(ws),
            len(re.findall(r"[,;]", text)) / len(ws))


class Prose(Check):
    """Written as sentences, not as a keyword list: enough function words, few commas.

    A list of the rubric's required spans passes every span and grounding check; what it
    lacks is the grammar between them (function words) and it has a comma every 2 words."""

    kind = "prose"
    Params = ProseParams

    def evaluate_sync(self, sample: Sample) -> Verdict:
        n, fw, commas = prose_stats(sample.completion or "")
        if n < self.p.min_words:
            return passed(f"{n} words: too short to tell prose from a list")
        desc = f"{fw:.0%} function words, {commas:.2f} commas/word"
        low = self.p.min_function_word_share
        if low is not None and fw < low:
            return failed(f"{desc}: under {low:.0%} function words reads as a list")
        if self.p.max_comma_rate is not None and commas > self.p.max_comma_rate:
            return failed(f"{desc}: over {self.p.max_comma_rate:.2f} commas/word reads as a list")
        return passed(desc)
