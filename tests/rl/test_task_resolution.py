"""One task resolver for every stage: the rubric hash SFT's evaluation records, the one a GRPO
checkpoint records and the one rl.evaluate reports are the same, for a suite task and for a
custom task (a user's JSONL and rubric), and equal to what `rewards.tasks.resolve` gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("hydra")

from rl.pipeline import compose  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RUBRIC = REPO / "rewards" / "tasks" / "rubrics" / "support_classification.yaml"


def _custom_task(tmp_path: Path) -> list[str]:
    labels = ["Billing", "Shipping"]
    rows = [{"ticket": f"ticket {i} about {labels[i % 2].lower()}", "label": labels[i % 2],
             "labels": labels} for i in range(24)]
    data = tmp_path / "tickets.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return ["task=custom", f"task.path={data}", f"task.rubric={RUBRIC}",
            "task.prompt_template='Classify: {ticket}'", "task.reference_field=label",
            "task.n_eval=2"]


@pytest.mark.parametrize("kind", ["suite", "custom"])
def test_sft_eval_grpo_checkpoint_and_evaluate_record_one_rubric_hash(tmp_path, kind):
    from rewards.tasks import resolve
    from rl.evaluate import evaluate
    from rl.grpo import train
    from sft.checkpoint import read_manifest
    from sft.train import run

    task = _custom_task(tmp_path) if kind == "custom" else ["task=support_classification",
                                                             "task.n_train=16", "task.n_eval=2"]
    sft = run(compose("sft", ["debug=tiny", *task, f"run_dir={tmp_path / 'sft'}",
                              "train.max_steps=1", "eval.enabled=true", "eval.max_examples=2"]))
    sft_hash = read_manifest(sft["checkpoint"])["rubric_hash"]
    # reward.smoke_rubric=null: debug=tiny's smoke rubric stands in for a suite task's own
    grpo = train(compose("grpo", ["debug=tiny", *task, f"run_dir={tmp_path / 'grpo'}",
                                  "reward.smoke_rubric=null",
                                  "train.max_steps=1", "train.batch_size=4",
                                  "sampling.max_new_tokens=4", "train.progress=false"]))
    grpo_hash = read_manifest(grpo["adapter"])["rubric_hash"]
    cfg = compose("eval", ["model=tiny-random", "logger=none", *task, f"run_dir={tmp_path / 'eval'}",
                           "sampling.max_new_tokens=4", "eval.progress=false", "eval.plot=false"])
    scores = evaluate(cfg)
    eval_hash = scores["tasks"][cfg.task.name]["rubric_hash"]
    expected = resolve(cfg.task).rubric_hash
    assert sft_hash == grpo_hash == eval_hash == expected
    # SFT's eval went through the shared evaluator: its metric keys name the task's metric
    assert sft["eval/n"] == 2 and ("eval/accuracy" in sft) == (kind == "suite")
