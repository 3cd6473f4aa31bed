"""GRPO raises the harness reward (slow: the embedded default model, a toy task).

The toy task (conf/experiment/toy_brevity.yaml): short open questions ("Name a fruit."), and
a rubric rewarding answers of at most 20 characters. SmolLM2-135M-Instruct answers chattily
("Sure! Here's a fruit: ...") most of the time and briefly some of the time, so groups have
reward variance and brevity is learnable in a few steps. Prompts are ~40 tokens, so a step
costs seconds, not minutes.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

pytest.importorskip("torch")

from rl import grpo  # noqa: E402


@pytest.mark.slow
def test_grpo_raises_reward_on_a_toy_task(tmp_path, conf_compose):
    cfg = conf_compose("grpo", ["experiment=toy_brevity", "logger=none", "train.progress=false",
                                f"run_dir={tmp_path / 'run'}"])
    out = grpo.train(cfg)
    rewards = [h["reward/total"] for h in out["history"]]
    first, last = statistics.fmean(rewards[:3]), statistics.fmean(rewards[-3:])
    print("rewards", rewards)
    assert last > first + 0.2, rewards
    assert Path(out["adapter"]).exists()
