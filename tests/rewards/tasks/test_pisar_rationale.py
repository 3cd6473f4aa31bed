"""pisar_rationale: deterministic disjoint generator, the harness score is the MiniLM cosine
(gold ~1.0, share >= 0.7 is the sem_sim pass rate), an unrelated rationale scores lower,
whitespace changes are free, and the PiSAR adapter reads JSONL and CSV files."""

from __future__ import annotations

import copy
import csv
import json
import re
import statistics

import pytest

from rewards import Harness
from rewards.sample import Sample
from rewards.tasks import get_task, load_split
from rewards.tasks.base import TaskError, content_key

TASK = get_task("pisar_rationale")


@pytest.fixture(scope="module")
def harness():
    return Harness(TASK.rubric())


@pytest.fixture(scope="module")
def pool():
    return TASK.generate("train", 30, seed=4)


@pytest.fixture(scope="module")
def scored(harness, pool):
    """gold, unrelated and whitespace-padded rationales scored in one batch (one MiniLM pass)."""
    variants = {
        "gold": [s.reference for s in pool],
        "unrelated": [_unrelated(pool, i) for i in range(len(pool))],
        "whitespace": ["  " + s.reference.replace(" ", "  ") + "\n" for s in pool],
        # hacks that keep most of the cosine (rewards.probe): 0.82-0.95 before the pitfalls
        "wrapped": [f"Sure! Here is the rationale.\n\n{s.reference}\n\nI hope this helps."
                    for s in pool],
        "repeated": [f"{s.reference} {s.reference}" for s in pool],
        "invented": [re.sub(r"\b\d+\b", lambda m: str(int(m.group()) + 23), s.reference)
                     for s in pool],
    }
    res = _results(harness, pool * len(variants), [c for v in variants.values() for c in v])
    n = len(pool)
    return {k: res[i * n:(i + 1) * n] for i, k in enumerate(variants)} | {"pool": pool}


def _results(harness, samples, completions):
    batch = []
    for s, c in zip(samples, completions, strict=True):
        s = copy.deepcopy(s)
        s.completion = c
        batch.append(s)
    return harness.score_batch(batch)


def test_default_splits_disjoint_and_varied():
    train, ev = TASK.generate("train", 500, 0), TASK.generate("eval", 50, 0)
    keys = {content_key(s) for s in train}
    assert len(keys) == 500 and not keys & {content_key(s) for s in ev}
    assert len({s.meta["rationale_type"] for s in train}) == 20
    assert len({s.meta["app"] for s in train}) >= 40
    assert len({s.reference for s in train}) >= 400


def test_score_is_the_similarity_and_gold_is_top(scored):
    res = scored["gold"]
    for r in res:
        v = r.verdicts["sem_sim"]
        # score == normalized == cosine: the study's metric, unchanged by aggregation
        assert r.score == pytest.approx(v.value) == pytest.approx(r.normalized)
        assert v.status == "pass"
    assert statistics.mean(r.score for r in res) >= 0.9 * TASK.scale[1]


def _unrelated(pool, i):
    """The reference of the next sample with a different rationale type."""
    kind = pool[i].meta["rationale_type"]
    j = next(k for k in range(i + 1, i + len(pool)) if
             pool[k % len(pool)].meta["rationale_type"] != kind)
    return pool[j % len(pool)].reference


def test_unrelated_rationale_scores_lower(scored):
    gold, bad = scored["gold"], scored["unrelated"]
    for g, b in zip(gold, bad, strict=True):
        assert b.score < g.score
    assert statistics.mean(b.score for b in bad) < 0.6
    # the share >= 0.7 the study reports is the sem_sim pass rate
    share = statistics.mean(b.verdicts["sem_sim"].status == "pass" for b in bad)
    assert share == statistics.mean(b.score >= 0.7 for b in bad) and share < 0.1


def test_hacks_that_keep_the_similarity_lose_the_pitfalls(scored):
    """Chat prose around the rationale or the rationale said twice scores 0; a number the
    review and profile never mention removes half the similarity. Passing rationales keep
    exactly their cosine (test above)."""
    for k in ("wrapped", "repeated"):
        assert [r.score for r in scored[k]] == [0.0] * len(scored[k]), k
    changed = [(g, b) for g, b, s in zip(scored["gold"], scored["invented"], scored["pool"],
                                         strict=True) if re.search(r"\b\d+\b", s.reference)]
    assert len(changed) >= 5
    for g, b in changed:
        assert b.verdicts["numbers_grounded"].status == "fail"
        assert b.score <= g.score - 0.5 + 1e-9


def test_whitespace_is_free(scored):
    assert [r.score for r in scored["whitespace"]] == pytest.approx(
        [r.score for r in scored["gold"]], abs=1e-4)


def test_adapter_reads_jsonl_and_csv(tmp_path):
    rows = [
        {"id": "u1", "review": "Too pricey now, cancelled.", "rationale": "The user is a "
         "student on a budget and cancelled after the price rose.",
         "profile": {"age": 20, "occupation": "student"}, "app": "CalmNest", "rating": 1},
        {"review": "Love the streaks", "profile": "Age: 25\nHobbies: chess"},
    ]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with (tmp_path / "b.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["review", "profile", "rationale"])
        w.writeheader()
        w.writerow({"review": "Ads everywhere", "profile": json.dumps({"age": 17}),
                    "rationale": "The teenager tolerates ads because the app is free."})
    examples = TASK.adapters["pisar"](tmp_path)
    assert [e["id"] for e in examples] == ["pisar-a-u1", "pisar-a-2", "pisar-b-1"]
    samples = [TASK.to_sample(e, e["id"], "eval") for e in examples]
    for s in samples:
        Sample.from_dict(json.loads(json.dumps(s.to_dict())))
    assert "age: 20\noccupation: student" in samples[0].prompt[1]["content"]
    assert samples[1].reference is None and "Hobbies: chess" in samples[1].prompt[1]["content"]
    assert samples[2].reference.startswith("The teenager") and "age: 17" in \
        samples[2].prompt[1]["content"]
    # a single file works too, and the loader's real path picks the only adapter
    assert len(TASK.adapters["pisar"](tmp_path / "b.csv")) == 1
    cfg = {"name": "pisar_rationale", "source": "real", "path": str(tmp_path), "n_train": 2,
           "n_eval": 1, "seed": 0}
    assert len(load_split(cfg, "train")) + len(load_split(cfg, "eval")) == 3


def test_adapter_rejects_rows_without_review(tmp_path):
    (tmp_path / "bad.jsonl").write_text(json.dumps({"profile": "Age: 30"}) + "\n")
    with pytest.raises(TaskError, match="review"):
        TASK.adapters["pisar"](tmp_path)
