"""invoice_extraction: deterministic disjoint generator, gold scores ~5/5, each corruption kind
scores strictly lower, equivalent reformatting is free, the SROIE adapter yields valid samples."""

from __future__ import annotations

import copy
import datetime as dt
import json
import statistics

import pytest

from rewards import Harness
from rewards.tasks import get_task, load_split
from rewards.tasks.base import content_key
from rewards.tasks.invoice_extraction import sroie_date

TASK = get_task("invoice_extraction")


@pytest.fixture(scope="module")
def harness():
    return Harness(TASK.rubric())


@pytest.fixture(scope="module")
def pool():
    """Enough eval samples to include every hard feature (missing numbers, deposits, ...)."""
    return TASK.generate("train", 200, seed=11)


def test_default_splits_disjoint_and_mixed():
    train, ev = TASK.generate("train", 500, 0), TASK.generate("eval", 50, 0)
    assert not {content_key(s) for s in train} & {content_key(s) for s in ev}
    assert len({content_key(s) for s in train}) == 500
    assert {s.meta["difficulty"] for s in train} == {"easy", "medium", "hard"}
    assert len({s.meta["layout"] for s in train}) == 5
    assert len({s.meta["currency"] for s in train}) >= 8
    assert any(not s.meta["invoice_number_present"] for s in train)
    assert any(s.reference["date"] is None for s in train)
    lengths = [len(s.source) for s in train]
    assert 300 <= statistics.median(lengths) <= 1500


def test_gold_scores_near_top(harness, score):
    samples = TASK.generate("eval", 50, 0) + TASK.generate("train", 100, 0)
    scores = score(harness, samples, [s.reference for s in samples])
    assert None not in scores
    assert statistics.mean(scores) >= 0.9 * TASK.scale[1]


def _drop_total(ref, s):
    return {k: v for k, v in ref.items() if k != "total"}


def _change_total(ref, s):
    return {**ref, "total": round(ref["total"] + 13.17, 2)}


def _deposit_balance(ref, s):
    # net vs balance confusion: the balance left after a deposit is not the total
    return {**ref, "total": round(ref["total"] * 0.7, 2)} if "deposit" in s.meta["features"] else None


def _change_item_amount(ref, s):
    items = copy.deepcopy(ref["line_items"])
    items[0]["amount"] = round(items[0]["amount"] + 1.11, 2)
    return {**ref, "line_items": items}


def _drop_item(ref, s):
    return {**ref, "line_items": ref["line_items"][1:]} if len(ref["line_items"]) > 1 else None


def _invent_number(ref, s):
    return {**ref, "invoice_number": "INV-48213"} if ref["invoice_number"] is None else None


def _wrong_number(ref, s):
    return {**ref, "invoice_number": "A-31337"} if ref["invoice_number"] else None


def _wrong_date(ref, s):
    if ref["date"] is None:
        return None
    d = dt.date.fromisoformat(ref["date"]) + dt.timedelta(days=1)
    return {**ref, "date": d.isoformat()}


def _due_date_for_missing_date(ref, s):
    # an undated invoice: the due date printed on it is not the invoice date
    return {**ref, "date": "2024-01-31"} if ref["date"] is None else None


def _customer_as_vendor(ref, s):
    return {**ref, "vendor": "Riverside Primary School"}


def _prose(ref, s):
    return "Here is the extracted data:\n" + json.dumps(ref) + "\nLet me know if you need more."


def _fenced(ref, s):
    return "```json\n" + json.dumps(ref) + "\n```"


CORRUPTIONS = {
    "drop_field": _drop_total, "change_total": _change_total, "balance_as_total": _deposit_balance,
    "change_item_amount": _change_item_amount, "drop_line_item": _drop_item,
    "invent_invoice_number": _invent_number, "wrong_invoice_number": _wrong_number,
    "wrong_date": _wrong_date, "date_for_undated_invoice": _due_date_for_missing_date,
    "customer_as_vendor": _customer_as_vendor,
    "wrap_in_prose": _prose, "code_fence": _fenced,
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corruption_scores_lower(harness, pool, kind, score):
    pairs = [(s, CORRUPTIONS[kind](s.reference, s)) for s in pool]
    pairs = [(s, c) for s, c in pairs if c is not None][:20]
    assert pairs, f"no sample in the pool where {kind} applies"
    samples = [s for s, _ in pairs]
    gold = score(harness, samples, [s.reference for s in samples])
    bad = score(harness, samples, [c for _, c in pairs])
    assert all(b < g for b, g in zip(bad, gold, strict=True)), (kind, bad, gold)


def _key_order(ref, s):
    return json.dumps(dict(reversed(list(ref.items()))), indent=2)


def _string_money(ref, s):
    items = [{**i, "amount": f"{i['amount']:,.2f}", "unit_price": f"{i['unit_price']:,.2f}"}
             for i in ref["line_items"]]
    return {**ref, "total": f"{ref['total']:,.2f}", "line_items": items}


def _other_date_format(ref, s):
    if ref["date"] is None:
        return ref
    return {**ref, "date": dt.date.fromisoformat(ref["date"]).strftime("%d %B %Y")}


def _vendor_case(ref, s):
    return {**ref, "vendor": ref["vendor"].upper()}


EQUIVALENTS = {"key_order_whitespace": _key_order, "money_as_strings": _string_money,
               "date_format": _other_date_format, "vendor_upper_case": _vendor_case}


@pytest.mark.parametrize("kind", list(EQUIVALENTS))
def test_equivalent_reformatting_not_penalised(harness, pool, kind, score):
    samples = pool[:20]
    gold = score(harness, samples, [s.reference for s in samples])
    same = score(harness, samples, [EQUIVALENTS[kind](s.reference, s) for s in samples])
    assert same == pytest.approx(gold)


def test_sroie_dates_are_day_first():
    assert sroie_date("09/01/2019") == "2019-01-09"
    assert sroie_date("20/06/18") == "2018-06-20"
    assert sroie_date("02 APR 2018") == "2018-04-02"
    assert sroie_date("20180428") == "2018-04-28"


def test_sroie_adapter(real_data_dir, harness, score):
    cfg = {"name": "invoice_extraction", "source": "real", "path": str(real_data_dir / "sroie"),
           "n_train": 60, "n_eval": 20, "seed": 0}
    train, ev = load_split(cfg, "train"), load_split(cfg, "eval")
    assert len(train) == 60 and len(ev) == 20
    assert not {s.id for s in train} & {s.id for s in ev}
    for s in train + ev:
        assert s.source and s.prompt[-1]["content"].endswith(s.source)
        assert "invoice_number" not in s.reference and "line_items" not in s.reference
    # a perfect answer: known fields copied, the unknown ones null/empty -> their checks abstain
    answers = [{"invoice_number": None, "line_items": [], "date": None, **s.reference}
               for s in train]
    results = harness.score_batch([copy.deepcopy(s) for s in train])  # no completion: format fails
    assert all(r.score == 0 for r in results)
    scores = score(harness, train, answers)
    assert None not in scores
    assert statistics.mean(scores) >= 0.85 * TASK.scale[1]
