"""legal_rewrite: deterministic disjoint generator, gold rewrites score ~5/5, each corruption
kind (dropped obligation / condition / deadline / qualifier / party, changed number, legalese,
the clause copied verbatim, a one-line gist) scores strictly lower, whitespace and number-format changes are
free, and the CUAD / plain-English adapters yield scorable samples."""

from __future__ import annotations

import copy
import json
import re
import statistics

import pytest

from rewards import Harness
from rewards.sample import Sample
from rewards.tasks import get_task, load_split
from rewards.tasks.base import content_key
from rewards.tasks.legal_rewrite import extract_facts

TASK = get_task("legal_rewrite")


@pytest.fixture(scope="module")
def harness():
    return Harness(TASK.rubric())


@pytest.fixture(scope="module")
def pool():
    return TASK.generate("eval", 60, seed=3)


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
    assert {s.meta["difficulty"] for s in train} == {"easy", "medium", "hard"}
    assert len({p for s in train for p in s.meta["provisions"]}) >= 25
    assert len({s.meta["family"] for s in train}) == 6
    # nearly every clause is a distinct text (names, numbers and phrasings vary)
    assert len({s.reference for s in train}) >= 495


def test_gold_scores_near_top(harness):
    samples = TASK.generate("eval", 50, 0) + TASK.generate("train", 250, 0)
    scores = _score(harness, samples, [s.reference for s in samples])
    assert None not in scores
    assert statistics.mean(scores) >= 0.9 * TASK.scale[1]


def _sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+", text)


def _drop_sentences_with(text: str, alts: list[str]) -> str:
    return " ".join(x for x in _sentences(text) if not any(a.lower() in x.lower() for a in alts))


def _remove_all(text: str, alts: list[str]) -> str:
    for a in sorted(alts, key=len, reverse=True):
        text = re.sub(re.escape(a), "", text, flags=re.I)
    return text


def _drop_obligation(s):
    return _drop_sentences_with(s.reference, s.meta["obligations"][-1])


def _drop_condition(s):
    conds = s.meta["conditions"]
    return _remove_all(s.reference, conds[0]) if conds else None


def _drop_deadline(s):
    dl = s.meta["deadlines"]
    return _remove_all(s.reference, dl[0]) if dl else None


def _drop_qualifier(s):
    q = s.meta["qualifiers"]
    return _remove_all(s.reference, q[0]) if q else None


def _drop_party(s):
    return _remove_all(s.reference, s.meta["parties"][0])


def _change_number(s):
    nums = re.findall(r"\d[\d,]*(?:\.\d+)?", s.reference)
    if not nums:
        return None
    n = nums[0]
    return s.reference.replace(n, str(int(float(n.replace(",", ""))) + 7), 1)


def _legalese(s):
    return "Notwithstanding the foregoing, " + s.reference.replace(" must ", " shall ")


def _copy_clause(s):
    return s.source


def _one_line_gist(s):
    return "The parties agree to some terms."


CORRUPTIONS = {
    "drop_obligation": _drop_obligation, "drop_condition": _drop_condition,
    "drop_deadline": _drop_deadline, "drop_qualifier": _drop_qualifier,
    "drop_party": _drop_party, "change_number": _change_number, "legalese": _legalese,
    "copy_clause": _copy_clause, "one_line_gist": _one_line_gist,
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corruption_scores_strictly_lower(harness, pool, kind):
    pairs = [(s, CORRUPTIONS[kind](s)) for s in pool]
    pairs = [(s, c) for s, c in pairs if c is not None and c != s.reference]
    assert len(pairs) >= 10, f"{kind} applies to too few samples"
    samples = [s for s, _ in pairs]
    gold = _score(harness, samples, [s.reference for s in samples])
    bad = _score(harness, samples, [c for _, c in pairs])
    for g, b, s in zip(gold, bad, samples, strict=True):
        assert b < g, f"{kind} not penalised on {s.id}: {g} -> {b}"


def _reformat(text: str) -> str:
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 3,000,000 -> 3000000
    return "\n\n  ".join(_sentences(text)) + "\n"


def test_equivalent_reformatting_is_free(harness, pool):
    changed = [s for s in pool if _reformat(s.reference) != s.reference]
    gold = _score(harness, changed, [s.reference for s in changed])
    same = _score(harness, changed, [_reformat(s.reference) for s in changed])
    # "12500" is one word where "12,500" was two, so the graded grade level may only improve
    assert all(b >= g - 1e-9 for g, b in zip(gold, same, strict=True)), (gold, same)


def test_extract_facts_reads_real_clause_language():
    f = extract_facts('Licensee shall pay Licensor a royalty of 5% within thirty (30) days and '
                      'shall maintain insurance of $1,000,000, at its sole cost and expense. '
                      'Licensor grants a non-exclusive, irrevocable license.')
    assert ["30 days"] in f["deadlines"]
    assert ["1,000,000"] in f["amounts"] and ["5%", "5 percent"] in f["amounts"]
    flat = [q[0] for q in f["qualifiers"]]
    assert "non-exclusive" in flat and "irrevocabl" in flat and "own cost" in flat
    assert ["licensor"] in f["parties"] and ["licensee"] in f["parties"]
    assert ["pay"] in f["obligations"] and ["maintain", "keep"] in f["obligations"]


def _check_real(harness, examples, prefix):
    assert examples and all(e["id"].startswith(prefix) for e in examples)
    samples = [TASK.to_sample(e, e["id"], "eval") for e in examples[:150]]
    for s in samples:
        Sample.from_dict(json.loads(json.dumps(s.to_dict())))  # valid contract rows
        assert s.source and "clause" not in s.meta
    return samples


def test_cuad_adapter(harness, real_data_dir):
    examples = TASK.adapters["cuad-clauses"](real_data_dir / "cuad-clauses")
    assert len(examples) > 3000
    samples = _check_real(harness, examples, "cuad-")
    assert all(s.reference is None and "<omitted>" not in s.source for s in samples)
    # the clause copied verbatim is scorable and scores below a plain-English gold's ~5
    scores = _score(harness, samples, [s.source for s in samples])
    assert sum(x is not None for x in scores) >= 0.9 * len(scores)
    assert statistics.mean(x for x in scores if x is not None) < 4.5


def test_legal_plain_english_adapter(harness, real_data_dir):
    examples = TASK.adapters["legal-plain-english"](real_data_dir / "legal-plain-english")
    assert len(examples) == 446
    samples = _check_real(harness, examples, "legalsum-")
    assert all(isinstance(s.reference, str) for s in samples)
    scores = _score(harness, samples, [s.reference for s in samples])
    assert sum(x is not None for x in scores) >= 0.9 * len(scores)


def test_load_split_real(real_data_dir):
    cfg = {"name": "legal_rewrite", "source": "real",
           "path": str(real_data_dir / "legal-plain-english"), "n_train": 30, "n_eval": 10}
    train, ev = load_split(cfg, "train"), load_split(cfg, "eval")
    assert len(train) == 30 and len(ev) == 10
    assert not {content_key(s) for s in train} & {content_key(s) for s in ev}


FORMAT_HACKS = {
    "chat_wrapper": lambda s: f"Sure! Here you go:\n\n{s.reference}\n\nLet me know if you need more.",
    "repeated": lambda s: "\n\n".join([s.reference] * max(2, 450 // len(s.reference.split()))),
    "facts_listed": lambda s: "Key points: " + ", ".join(
        [x for k in ("obligations", "conditions", "parties", "qualifiers") for a in s.meta[k] for x in (a if isinstance(a, list) else [a])]) + ".",
}


@pytest.mark.parametrize("kind", list(FORMAT_HACKS))
def test_format_hacks_score_zero(harness, pool, kind):
    """Hacks that keep every required span: chat prose around the answer, the answer repeated
    to the length limit, the spans listed in one line scored 80-96% of the scale
    (rewards.probe) while their checks were 0.5 pitfalls or absent; now global gates."""
    assert _score(harness, pool, [FORMAT_HACKS[kind](s) for s in pool]) == [0.0] * len(pool)
