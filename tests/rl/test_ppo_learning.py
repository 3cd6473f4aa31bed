"""PPO raises the harness reward (slow: the embedded default model, a toy task).

The toy task (conf/experiment/toy_brevity.yaml, as tests/rl/test_grpo_learning.py and
benchmarks/ppo_vs_grpo.py): short open questions ("Name a fruit.") and a rubric rewarding
answers of at most 20 characters. SmolLM2-135M-Instruct
answers chattily most of the time and briefly some of the time, so brevity is learnable in a
few steps. PPO here: one completion per prompt (the critic is the baseline), 2 epochs x 2
minibatches per batch. Measured at seed 0 (torch 2.13 CPU, fp32): rewards 0.00 0.00 0.06 0.00
0.12 0.00 0.12 0.31 0.19 0.25 0.25 0.31 (first three 0.02, last three 0.27); ~22 min on the
2-core machine under a load average of 5-9, so it is marked slow.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

pytest.importorskip("torch")

from rl import ppo  # noqa: E402


@pytest.mark.slow
def test_ppo_raises_reward_on_a_toy_task(tmp_path, conf_compose):
    out = ppo.train(conf_compose("ppo", ["experiment=toy_brevity", "logger=none",
                                         "train.progress=false", f"run_dir={tmp_path / 'run'}",
                                         "critic.lr=1e-3"]))
    rewards = [h["reward/total"] for h in out["history"]]
    first, last = statistics.fmean(rewards[:3]), statistics.fmean(rewards[-3:])
    print("rewards", rewards)
    print("explained_var", [round(h.get("value/explained_var", float("nan")), 3)
                            for h in out["history"]])
    assert last > first + 0.2, rewards
    assert Path(out["adapter"]).exists()
