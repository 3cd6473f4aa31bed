"""Nothing silently empty (rl/no_signal.py): the receipts rubric on rows whose receipt column
is not named as the source — the case that trained on zero gradient without a word — and the
other ways a reward or an evaluation carries no information."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

from rewards import Harness
from rewards.evaluation import record
from rewards.tasks import resolve
from rewards.tasks.loading import load_task_file
from rl.no_signal import diagnose, eval_warnings, no_signal
from rl.rollout.base import Generation

REPO = Path(__file__).resolve().parents[2]


def _records(monkeypatch, drop=(), answer=lambda s: json.dumps(s.reference),
             finish="stop"):
    monkeypatch.chdir(REPO)
    cfg = load_task_file(REPO / "examples" / "receipts" / "task" / "receipts.yaml")
    task = resolve({k: v for k, v in cfg.items() if k not in drop})
    samples = task.split("eval")
    results = Harness(task.rubric).score_batch([replace(s, completion=answer(s))
                                                for s in samples])
    return task, [record(task.name, s, 0, Generation(text=answer(s), finish_reason=finish), r)
                  for s, r in zip(samples, results, strict=True)]


def test_a_source_column_nobody_named_is_called_out(monkeypatch):
    task, recs = _records(monkeypatch, drop=("source_field",))
    found = diagnose(recs, task.rubric)
    assert found["abstain:total_grounded"] == (
        "check 'total_grounded' abstains on every sample (no source to ground numbers in): "
        "rows have no `source`; set task.source_field to the column holding the input text")
    assert "dimension 'grounding' is under its coverage floor (min_coverage 1) on every sample" \
        in found["floor:grounding"]
    assert found["masked"].startswith("the reward is masked (score None) for 100% of 10 samples:"
                                      " dimension grounding under its floor")
    # the same rows with the source named: nothing abstains or is masked (every gold answer
    # scores 5, a flat batch, which only RL minds)
    task, recs = _records(monkeypatch)
    assert set(diagnose(recs, task.rubric, max_truncated_frac=0.1)) == {"flat"}
    assert eval_warnings(recs, task.rubric, 0.1) == []


def test_answers_cut_at_the_budget_and_a_flat_reward(monkeypatch):
    task, recs = _records(monkeypatch, answer=lambda s: json.dumps(s.reference)[:8],
                          finish="length")
    found = diagnose(recs, task.rubric, max_truncated_frac=0.1,
                     budget_key="sampling.max_new_tokens")
    assert found["truncated"].startswith("100% of 10 completions ended on the length limit")
    assert "raise sampling.max_new_tokens" in found["truncated"]
    assert found["flat"].startswith("the reward is flat at 0 over all 10 scored samples")
    assert "json_ok fails on every sample (not JSON" in found["flat"]
    # an evaluation reports the cut answers but not the flat 0: a base model that never
    # answers in the format scores 0 everywhere, and that is its number
    warned = eval_warnings(recs, task.rubric, 0.1)
    assert len(warned) == 1 and "length limit" in warned[0]


def test_no_signal_is_every_sample_masked_or_every_group_flat():
    nan = math.nan
    assert no_signal([nan] * 4, [[nan]] * 4, 2) == "every sample is masked (score None)"
    assert no_signal([0.0, 0.0, 1.0, 1.0], [[0.0], [0.0], [1.0], [1.0]], 2).startswith(
        "every group's rewards are equal")
    assert no_signal([0.0, 1.0, 1.0, 1.0], [[0.0], [1.0], [1.0], [1.0]], 2) == ""
    # equal totals, different dimensions: rubric-aware advantages still differ
    assert no_signal([1.0, 1.0], [[0.0, 1.0], [1.0, 0.0]], 2) == ""
    # groups of one (PPO): the whole batch is the group
    assert no_signal([0.5, 0.5, nan], [[0.5], [0.5], [nan]], 1) != ""
    assert no_signal([0.5, 0.2], [[0.5], [0.2]], 1) == ""
