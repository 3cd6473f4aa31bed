"""Slow: the main job's default GRPO stage (conf/pipeline.yaml, embedded smollm2-135m) raises
its training reward at a fixed seed. Runs the default SFT stage, then the default GRPO stage
from its adapter, exactly as `python -m rl.pipeline` does (~10 min of CPU on 2 cores; no
evaluations), and compares the mean sampled reward of the first and last thirds of the steps.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("hydra")

from rl import pipeline  # noqa: E402


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "measured 2026-12-05 with these defaults (KL to the SFT policy, 16x4, T 0.7, vLLM async; "
    "run v2 in benchmarks/results/pipeline.md): per-step reward first third 0.451, last third "
    "0.477 (+0.026, under this test's +0.05) while greedy eval went 0.609 -> 0.641 (paired "
    "+0.031 [-0.031, +0.109]). Remove this marker when it passes"))
def test_default_grpo_stage_raises_training_reward(tmp_path):
    cfg = pipeline.compose("pipeline", [f"run_dir={tmp_path}", "logger=none",
                                        "sft.train.progress=false", "grpo.train.progress=false"])
    adapter, _ = pipeline.run_sft(cfg)
    out = pipeline.run_rl(cfg, adapter)
    history = pipeline.rl_history(tmp_path / str(cfg.rl))
    assert out["adapter"] and len(history) == cfg.grpo.train.max_steps
    rewards = [h["reward/total"] for h in history]
    third = len(rewards) // 3
    first, last = rewards[:third], rewards[-third:]
    assert sum(last) / third > sum(first) / third + 0.05, rewards
