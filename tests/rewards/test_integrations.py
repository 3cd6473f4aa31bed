"""The harness as TRL GRPO reward functions (inside a real GRPOTrainer step) and as verl's
compute_score."""

import json

import pytest

from rewards import Harness, load_rubric
from rewards.integrations import make_verl_compute_score, samples_from_trl, trl_reward_funcs

RUBRIC = {"scale": [0, 5], "dimensions": {"fmt": {"weight": 3, "min_coverage": 1.0},
                                          "len": {"weight": 1}},
          "checks": [{"id": "label", "kind": "label_match", "dimension": "fmt",
                      "labels": ["yes", "no"]},
                     {"id": "short", "kind": "length", "dimension": "len", "unit": "words", "max": 3}]}


def test_per_dimension_functions_share_one_scoring_and_mask_none():
    h = Harness(load_rubric(RUBRIC))
    funcs, weights = trl_reward_funcs(h, per_dimension=True)
    assert [f.__name__ for f in funcs] == ["harness_fmt", "harness_len"]
    assert weights == pytest.approx([5 * 3 / 4, 5 * 1 / 4])
    prompts = ["q1", "q2", "q3"]
    completions = [[{"role": "assistant", "content": "yes"}], "no no no no", "yes"]
    cols = {"reference": ["yes", "yes", None]}
    fmt = funcs[0](prompts, completions, None, **cols)
    ln = funcs[1](prompts, completions, None, **cols)
    assert fmt == [1.0, 0.0, None] and ln == [1.0, 0.0, None]  # 3rd: label abstains → masked
    total = trl_reward_funcs(h)[0][0](prompts, completions, None, **cols)
    # TRL's weighted sum of dimension rewards equals the harness total
    assert [sum(w * r for w, r in zip(weights, rs, strict=True)) for rs in zip(fmt[:2], ln[:2], strict=True)] \
        == pytest.approx(total[:2])
    assert total[2] is None


def test_trl_meta_column_as_json_string():
    s = samples_from_trl(["p"], ["c"], meta=[json.dumps({"k": 1})], id=[7], source=["src"])[0]
    assert s.meta == {"k": 1} and s.id == "7" and s.source == "src"


def test_verl_compute_score():
    fn = make_verl_compute_score(Harness(load_rubric(RUBRIC)))
    out = fn("my_task", "yes", "yes", {"index": 3})
    assert out["score"] == 5.0 and out["dim/fmt"] == 1.0 and out["harness_masked"] == 0.0
    masked = fn("my_task", "yes", None)
    assert masked["harness_masked"] == 1.0 and masked["score"] == 0.0


def test_inside_real_trl_grpo_trainer_step(tiny_model_dir, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    h = Harness(load_rubric(RUBRIC))
    funcs, weights = trl_reward_funcs(h, per_dimension=True)
    calls = []

    def spy(prompts, completions, completion_ids=None, **kw):
        calls.append((len(completions), sorted(kw)))
        return [0.0] * len(completions)

    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": f"Answer yes or no: {i}?"}],
                             "reference": "yes"} for i in range(4)])
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    args = GRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4,
                      num_generations=2, max_completion_length=4, report_to="none", bf16=False,
                      use_cpu=True, gradient_checkpointing=False, logging_steps=1,
                      reward_weights=[*weights, 0.0], save_strategy="no")
    trainer = GRPOTrainer(model=model, processing_class=tok, reward_funcs=[*funcs, spy],
                          args=args, train_dataset=ds)
    trainer.train()
    logs = trainer.state.log_history[0]
    assert "rewards/harness_fmt/mean" in logs and "rewards/harness_len/mean" in logs
    # the dataset's extra column reaches reward functions, which the harness reads
    assert calls and calls[0][0] == 4 and "reference" in calls[0][1]
    # a random tiny model never answers a bare yes/no label
    assert logs["rewards/harness_fmt/mean"] == 0.0
