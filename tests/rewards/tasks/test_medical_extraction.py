"""medical_extraction: deterministic disjoint generator with chronic/routine balance, gold ~5/5,
each corruption kind (swapped follow-up, dropped/denied/invented symptom, blank treatment,
changed dose, prose, missing field) scores strictly lower, equivalent JSON is free, MTSamples
notes score through the reference-free checks."""

from __future__ import annotations

import collections
import json
import statistics

import pytest

from rewards import Harness
from rewards.tasks import get_task, load_split
from rewards.tasks.base import content_key
from rewards.tasks.medical_extraction import clean_mtsamples, expand

TASK = get_task("medical_extraction")


@pytest.fixture(scope="module")
def harness():
    return Harness(TASK.rubric())


@pytest.fixture(scope="module")
def pool():
    return TASK.generate("train", 20, seed=13)


def test_default_splits_disjoint_and_realistic():
    train, ev = TASK.generate("train", 500, 0), TASK.generate("eval", 50, 0)
    keys = {content_key(s) for s in train}
    assert len(keys) == 500 and not keys & {content_key(s) for s in ev}
    follow = collections.Counter(s.reference["follow_up"] for s in train)
    assert min(follow.values()) >= 200
    assert len({s.meta["condition"] for s in train}) == 20
    words = [len(s.source.split()) for s in train]
    assert statistics.median(words) >= 200
    for s in train:  # gold symptoms are the note's own words
        assert all(expand(x) in expand(s.source) for x in s.reference["symptoms"])


def test_gold_scores_near_top(harness, score):
    samples = TASK.generate("eval", 50, 0) + TASK.generate("train", 100, 0)
    scores = score(harness, samples, [s.reference for s in samples])
    assert None not in scores
    assert statistics.mean(scores) >= 0.9 * TASK.scale[1]


def _swap_follow_up(ref, s):
    return {**ref, "follow_up": "no" if ref["follow_up"] == "yes" else "yes"}


def _drop_symptom(ref, s):
    return {**ref, "symptoms": ref["symptoms"][1:]}


def _add_denied_symptom(ref, s):
    # "fever" is denied in every generated note's review of systems or HPI
    return {**ref, "symptoms": [*ref["symptoms"], "fever"]} if "fever" in s.source else None


def _invent_symptom(ref, s):
    return {**ref, "symptoms": [*ref["symptoms"], "hair loss"]}


def _blank_treatment(ref, s):
    return {**ref, "recommended_treatment": ""}


def _change_dose(ref, s):
    t = ref["recommended_treatment"]
    digits = [w for w in t.split() if w.replace(".", "").isdigit()]
    return {**ref, "recommended_treatment": t.replace(digits[0], "7777", 1)} if digits else None


def _prose(ref, s):
    return "Sure! Based on the note, here is the summary: " + json.dumps(ref)


def _missing_field(ref, s):
    return {k: v for k, v in ref.items() if k != "follow_up"}


def _wrong_concern(ref, s):
    return {**ref, "patient_concern": "annual physical examination"}


CORRUPTIONS = {
    "swap_follow_up": _swap_follow_up, "drop_symptom": _drop_symptom,
    "add_denied_symptom": _add_denied_symptom, "invent_symptom": _invent_symptom,
    "blank_treatment": _blank_treatment, "change_dose": _change_dose,
    "wrap_in_prose": _prose, "missing_field": _missing_field, "wrong_concern": _wrong_concern,
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corruption_scores_lower(harness, pool, kind, score):
    pairs = [(s, CORRUPTIONS[kind](s.reference, s)) for s in pool]
    pairs = [(s, c) for s, c in pairs if c is not None]
    assert len(pairs) >= 5, f"too few samples where {kind} applies"
    samples = [s for s, _ in pairs]
    gold = score(harness, samples, [s.reference for s in samples])
    bad = score(harness, samples, [c for _, c in pairs])
    assert all(b < g for b, g in zip(bad, gold, strict=True)), (kind, bad, gold)


EQUIVALENTS = {
    "key_order_whitespace": lambda ref: json.dumps(dict(reversed(list(ref.items()))), indent=4),
    "symptom_order": lambda ref: {**ref, "symptoms": list(reversed(ref["symptoms"]))},
    "capitalised_flag": lambda ref: {**ref, "follow_up": ref["follow_up"].capitalize()},
}


@pytest.mark.parametrize("kind", list(EQUIVALENTS))
def test_equivalent_json_not_penalised(harness, pool, kind, score):
    gold = score(harness, pool, [s.reference for s in pool])
    same = score(harness, pool, [EQUIVALENTS[kind](s.reference) for s in pool])
    assert same == pytest.approx(gold)


def test_abbreviations_expand_both_ways():
    assert expand("SOB on exertion") == "shortness of breath on exertion"
    assert expand("Pt c/o b/l LE swelling") == "patient complains of bilateral lower extremity swelling"


def test_clean_mtsamples_restores_sections():
    raw = "SUBJECTIVE:,  Cough for 3 days.,PLAN:,  Rest and fluids."
    assert clean_mtsamples(raw) == "SUBJECTIVE: Cough for 3 days.\n\nPLAN: Rest and fluids."


def test_mtsamples_adapter(real_data_dir, harness, score):
    cfg = {"name": "medical_extraction", "source": "real", "path": str(real_data_dir / "mtsamples"),
           "n_train": 40, "n_eval": 10}
    train, ev = load_split(cfg, "train"), load_split(cfg, "eval")
    assert len(train) == 40 and len(ev) == 10
    assert not {s.id for s in train} & {s.id for s in ev}
    for s in train + ev:
        assert s.reference is None and len(s.source.split()) > 50
        assert s.source in s.prompt[-1]["content"]
    # no gold: a note-faithful answer scores through the reference-free checks alone
    planned = [s for s in train if s.meta["has_treatment"]][:10]
    answer = {"patient_concern": "follow-up visit", "symptoms": [],
              "recommended_treatment": "as per plan", "follow_up": "yes"}
    scores = score(harness, planned, [answer] * len(planned))
    assert None not in scores and min(scores) > 0
    blank = score(harness, planned, [{**answer, "recommended_treatment": ""}] * len(planned))
    assert all(b < g for b, g in zip(blank, scores, strict=True))
