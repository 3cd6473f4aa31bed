"""support_classification: deterministic disjoint generator with the hard cases present, gold
accuracy 1.0, wrong or wordy labels score 0, harmless formatting is free, Bitext keeps its own
label set."""

from __future__ import annotations

import collections
import statistics

import pytest

from rewards import Harness
from rewards.tasks import get_task, load_split
from rewards.tasks.base import content_key
from rewards.tasks.support_classification import LABELS

TASK = get_task("support_classification")


@pytest.fixture(scope="module")
def harness():
    return Harness(TASK.rubric())


@pytest.fixture(scope="module")
def pool():
    return TASK.generate("train", 60, seed=5)


def test_default_splits_disjoint_balanced_and_varied():
    train, ev = TASK.generate("train", 500, 0), TASK.generate("eval", 50, 0)
    keys = {content_key(s) for s in train}
    assert len(keys) == 500 and not keys & {content_key(s) for s in ev}
    counts = collections.Counter(s.reference for s in train)
    assert set(counts) == set(LABELS) and min(counts.values()) >= 60
    kinds = collections.Counter(s.meta["hard_kind"] for s in train)
    assert kinds["confusable"] >= 30 and kinds["multi_issue"] >= 30
    # near-unique messages: templates are not reused verbatim
    assert len({s.source for s in train}) >= 495
    assert statistics.mean(len(s.source) for s in train) >= 120


def test_prompt_lists_categories_and_message():
    s = TASK.generate("eval", 1, 0)[0]
    user = s.prompt[-1]["content"]
    assert all(lab in user for lab in LABELS) and s.source in user
    assert s.prompt[0]["role"] == "system"


def test_gold_is_perfect(harness, score):
    samples = TASK.generate("eval", 50, 0) + TASK.generate("train", 100, 0)
    scores = score(harness, samples, [s.reference for s in samples])
    assert statistics.mean(scores) == 1.0


def _other(label):
    return LABELS[(LABELS.index(label) + 1) % len(LABELS)]


CORRUPTIONS = {
    "wrong_label": lambda ref: _other(ref),
    "label_with_explanation": lambda ref: f"{ref} - the customer mentions a charge.",
    "prefixed_answer": lambda ref: f"Category: {ref}",
    "two_labels": lambda ref: f"{ref}, {_other(ref)}",
    "empty": lambda ref: "",
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corruption_scores_zero(harness, pool, kind, score):
    scores = score(harness, pool, [CORRUPTIONS[kind](s.reference) for s in pool])
    assert scores == [0.0] * len(pool)


EQUIVALENTS = {"lower_case": str.lower, "trailing_period": lambda r: r + ".",
               "whitespace": lambda r: f"  {r}\n"}


@pytest.mark.parametrize("kind", list(EQUIVALENTS))
def test_equivalent_formatting_not_penalised(harness, pool, kind, score):
    assert score(harness, pool, [EQUIVALENTS[kind](s.reference) for s in pool]) == [1.0] * len(pool)


def test_bitext_adapter_uses_its_own_labels(real_data_dir, harness, score):
    cfg = {"name": "support_classification", "source": "real",
           "path": str(real_data_dir / "bitext-support"), "n_train": 200, "n_eval": 50}
    train, ev = load_split(cfg, "train"), load_split(cfg, "eval")
    assert len(train) == 200 and len(ev) == 50
    assert not {content_key(s) for s in train} & {content_key(s) for s in ev}
    labels = set(train[0].meta["labels"])
    assert len(labels) == 11 and "ACCOUNT" in labels
    for s in train + ev:
        assert s.reference in labels and s.source in s.prompt[-1]["content"]
    assert score(harness, ev, [s.reference for s in ev]) == [1.0] * len(ev)
    wrong = [sorted(labels - {s.reference})[0] for s in ev]
    assert score(harness, ev, wrong) == [0.0] * len(ev)
    # a generated label is not in the Bitext set: "not an allowed label"
    assert score(harness, ev[:5], ["Billing"] * 5) == [0.0] * 5


@pytest.mark.parametrize("prompt", ["full", "short"])
def test_label_variants_vary_train_prompts_only_and_gold_still_scores_1(harness, prompt, score):
    cfg = {"name": "support_classification", "n_train": 200, "n_eval": 20, "prompt": prompt}
    plain = load_split(cfg, "train")
    varied = load_split(cfg | {"label_variants": 0.5}, "train")
    # same messages, ids and order; about half re-presented under another vocabulary
    assert [(s.id, s.source) for s in varied] == [(s.id, s.source) for s in plain]
    changed = [v for v, p in zip(varied, plain, strict=True) if v.prompt != p.prompt]
    assert 70 <= len(changed) <= 130
    for v in changed:
        listed = v.meta["labels"]
        assert v.reference in listed and v.reference in v.prompt[-1]["content"]
        assert v.meta["canonical_label"] in LABELS and 5 <= len(listed) <= 8
    # every variant's gold is still the one right answer under the same rubric
    assert score(harness, changed, [v.reference for v in changed]) == [1.0] * len(changed)
    # the canonical label is wrong where the prompt spells the category otherwise
    renamed = [v for v in changed if v.reference.lower() != v.meta["canonical_label"].lower()]
    assert renamed and set(score(harness, renamed, [v.meta["canonical_label"]
                                                     for v in renamed])) == {0.0}
    # the eval split is never varied: its numbers stay comparable
    assert load_split(cfg | {"label_variants": 0.5}, "eval") == load_split(cfg, "eval")
    # seeded by (seed, id): the same config gives the same prompts
    assert load_split(cfg | {"label_variants": 0.5}, "train") == varied


def test_label_variants_need_a_share_and_a_task_with_labels():
    from rewards.tasks import TaskError

    with pytest.raises(TaskError, match="task.label_variants"):
        load_split({"name": "support_classification", "n_train": 4, "label_variants": 2},
                   "train")
    with pytest.raises(TaskError, match="task.label_variants"):
        load_split({"name": "medical_extraction", "n_train": 4, "label_variants": 0.5},
                   "train")
