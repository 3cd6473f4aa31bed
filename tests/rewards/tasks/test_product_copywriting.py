"""product_copywriting: deterministic disjoint generator, gold copy ~5/5, each corruption kind
(dropped feature, changed number, puffery, invented numeric claim, repeated name, bullets,
too short) scores strictly lower, reflowing or reordering sentences is free, Flipkart specs
become valid reference-free samples."""

from __future__ import annotations

import copy
import re
import statistics

import pytest

from rewards import Harness
from rewards.tasks import get_task, load_split
from rewards.tasks.base import content_key
from rewards.tasks.product_copywriting import parse_flipkart_specs

TASK = get_task("product_copywriting")


@pytest.fixture(scope="module")
def harness():
    return Harness(TASK.rubric())


@pytest.fixture(scope="module")
def pool():
    return TASK.generate("train", 20, seed=9)


def _score(harness, samples, completions):
    batch = []
    for s, c in zip(samples, completions, strict=True):
        s = copy.deepcopy(s)
        s.completion = c
        batch.append(s)
    return [r.score for r in harness.score_batch(batch)]


def test_default_splits_disjoint_and_varied():
    train, ev = TASK.generate("train", 500, 0), TASK.generate("eval", 50, 0)
    keys = {content_key(s) for s in train}
    assert len(keys) == 500 and not keys & {content_key(s) for s in ev}
    assert len({s.meta["family"] for s in train}) == 10
    assert len({s.meta["product_name"] for s in train}) >= 150
    assert len({s.reference for s in train}) == 500
    # distractor sheets for hard: internal notes with puffery the copy must not repeat
    assert any("Internal note" in s.source for s in train if s.meta["difficulty"] == "hard")


def test_gold_scores_near_top(harness):
    samples = TASK.generate("eval", 50, 0) + TASK.generate("train", 100, 0)
    scores = _score(harness, samples, [s.reference for s in samples])
    assert None not in scores
    assert statistics.mean(scores) >= 0.9 * TASK.scale[1]


def _drop_feature(ref, s):
    return ref.replace(s.meta["features"][0], "a handy extra", 1)


def _change_number(ref, s):
    m = re.search(r"\d+(?:\.\d+)?", ref.replace(s.meta["product_name"], ""))
    return ref.replace(m.group(0), "987", 1) if m else None


def _puffery(ref, s):
    return ref + " Its revolutionary, military-grade build is simply the best in the world."


def _invented_numeric_claim(ref, s):
    return ref + " It also ships with 4321 bonus accessories."


def _repeat_name(ref, s):
    return ref + f" Order the {s.meta['product_name']} today."


def _bullets(ref, s):
    return "\n".join(f"- {x.strip()}" for x in re.split(r"(?<=\.)\s+", ref) if x.strip())


def _too_short(ref, s):
    return ref.split(". ")[0] + "."


CORRUPTIONS = {
    "drop_feature": _drop_feature, "change_number": _change_number, "puffery": _puffery,
    "invented_numeric_claim": _invented_numeric_claim, "repeat_product_name": _repeat_name,
    "bullet_list": _bullets, "too_short": _too_short,
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corruption_scores_lower(harness, pool, kind):
    pairs = [(s, CORRUPTIONS[kind](s.reference, s)) for s in pool]
    pairs = [(s, c) for s, c in pairs if c is not None]
    samples = [s for s, _ in pairs]
    gold = _score(harness, samples, [s.reference for s in samples])
    bad = _score(harness, samples, [c for _, c in pairs])
    assert all(b < g for b, g in zip(bad, gold, strict=True)), (kind, bad, gold)


def _reorder(ref, s):
    sents = re.split(r"(?<=\.)\s+", ref)
    return " ".join([sents[0], *reversed(sents[1:])])


EQUIVALENTS = {"sentence_order": _reorder,
               "line_breaks": lambda ref, s: ref.replace(". ", ".\n"),
               "extra_spaces": lambda ref, s: ref.replace(" ", "  ")}


@pytest.mark.parametrize("kind", list(EQUIVALENTS))
def test_equivalent_rewrites_not_penalised(harness, pool, kind):
    gold = _score(harness, pool, [s.reference for s in pool])
    same = _score(harness, pool, [EQUIVALENTS[kind](s.reference, s) for s in pool])
    assert same == pytest.approx(gold)


def test_parse_flipkart_specs():
    raw = ('{"product_specification"=>[{"key"=>"Color", "value"=>"Blue"}, '
           '{"key"=>"Heel Height", "value"=>"0.5 inch"}, {"value"=>"Free size"}]}')
    assert parse_flipkart_specs(raw) == [("Color", "Blue"), ("Heel Height", "0.5 inch"),
                                         ("Note", "Free size")]


def test_flipkart_adapter(real_data_dir, harness):
    cfg = {"name": "product_copywriting", "source": "real",
           "path": str(real_data_dir / "flipkart-products"), "n_train": 40, "n_eval": 10}
    train, ev = load_split(cfg, "train"), load_split(cfg, "eval")
    assert len(train) == 40 and len(ev) == 10
    assert not {s.id for s in train} & {s.id for s in ev}
    for s in train + ev:
        assert s.reference is None and s.meta["product_name"] in s.source
        assert s.source in s.prompt[-1]["content"]
    # a faithful copy built from the sheet's own values scores; a hyped one scores lower
    faithful = []
    for s in ev:
        spans = ", ".join(s.meta["required_spans"])
        faithful.append(f"The {s.meta['product_name']} is a practical choice for daily use. "
                        f"Key details: {spans}. It is easy to care for and simple to style, "
                        "and it suits everyday wear at home, at work or when you travel.")
    good = _score(harness, ev, faithful)
    assert None not in good and statistics.mean(good) >= 0.8 * TASK.scale[1]
    hyped = _score(harness, ev, [f + " Revolutionary, world-class quality!" for f in faithful])
    assert all(h < g for h, g in zip(hyped, good, strict=True))


FORMAT_HACKS = {
    "chat_wrapper": lambda s: f"Sure! Here you go:\n\n{s.reference}\n\nLet me know if you need more.",
    "repeated": lambda s: "\n\n".join([s.reference] * max(2, 150 // len(s.reference.split()))),
    "facts_listed": lambda s: "Key points: " + ", ".join(
        [x for a in s.meta["required_spans"] for x in (a if isinstance(a, list) else [a])]) + ".",
}


@pytest.mark.parametrize("kind", list(FORMAT_HACKS))
def test_format_hacks_score_zero(harness, pool, kind):
    """Hacks that keep every required span: chat prose around the answer, the answer repeated
    to the length limit, the spans listed in one line scored 80-96% of the scale
    (rewards.probe) while their checks were 0.5 pitfalls or absent; now global gates."""
    assert _score(harness, pool, [FORMAT_HACKS[kind](s) for s in pool]) == [0.0] * len(pool)
