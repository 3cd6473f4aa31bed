"""GRPO raises the harness reward (slow: the embedded default model, a toy task).

The toy task: short open questions ("Name a fruit."), and a rubric rewarding answers of at
most 20 characters. SmolLM2-135M-Instruct answers chattily ("Sure! Here's a fruit: ...")
most of the time and briefly some of the time, so groups have reward variance and brevity
is learnable in a few steps. Prompts are ~40 tokens, so a step costs seconds, not minutes.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

pytest.importorskip("torch")

from rl import grpo  # noqa: E402
from rl.pipeline import compose  # noqa: E402

QUESTIONS = ["Name a fruit.", "Name a color.", "Name an animal.", "Name a country.",
             "Name a planet.", "Name a vegetable.", "Name a musical instrument.",
             "Name a sport.", "Name a city.", "Name a flower.", "Name a metal.",
             "Name a tree.", "Name a bird.", "Name a fish.", "Name a drink.", "Name a tool."]

RUBRIC = """
version: 1
scale: [0, 1]
dimensions:
  brevity: {weight: 1.0, min_coverage: 1.0}
checks:
  - id: short
    kind: length
    dimension: brevity
    unit: chars
    max: 20
"""


@pytest.mark.slow
def test_grpo_raises_reward_on_a_toy_task(tmp_path):
    data = tmp_path / "toy.jsonl"
    data.write_text("".join(json.dumps({"id": f"q{i}", "prompt": q}) + "\n"
                            for i, q in enumerate(QUESTIONS * 4)))
    (tmp_path / "rubric.yaml").write_text(RUBRIC)
    cfg = compose("grpo", [
        "model=smollm2-135m", "task=custom", f"task.path={data}",
        f"task.rubric={tmp_path / 'rubric.yaml'}", "task.n_eval=0", "logger=none",
        f"run_dir={tmp_path / 'run'}", "train.resume=null", "train.max_steps=12",
        "train.batch_size=16", "train.micro_batch_size=16", "optim.lr=1e-4",
        "sampling.max_new_tokens=12", "train.progress=false", "train.save_every=null"])
    out = grpo.train(cfg)
    rewards = [h["reward/total"] for h in out["history"]]
    first, last = statistics.fmean(rewards[:3]), statistics.fmean(rewards[-3:])
    print("rewards", rewards)
    assert last > first + 0.2, rewards
    assert Path(out["adapter"]).exists()
