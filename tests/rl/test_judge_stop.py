"""A GRPO run whose only reward is an LLM judge that is down: `judge.base_url=URL` alone
(default judge=none) selects the OpenAI-protocol judge, and the stop after the fully masked
steps names the judge's error instead of leaving the user to guess."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("hydra")

CONF = Path(__file__).resolve().parents[2] / "conf"

JUDGE_ONLY = """
version: 1
scale: [0, 1]
dimensions:
  quality: {weight: 1.0, min_coverage: 1.0}
checks:
  - {id: polite, kind: judge, dimension: quality, question: "Is the reply polite?"}
"""


@pytest.mark.parametrize("primary", ["grpo", "ppo", "eval", "sft"])
def test_base_url_alone_selects_the_judge_in_every_recipe(primary):
    from hydra import compose, initialize_config_dir

    from rewards.checks.judge import JudgeConfig

    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        off = compose(primary)
        on = compose(primary, overrides=["judge.base_url=http://127.0.0.1:9/v1"])
    assert JudgeConfig.from_group(off.judge) is None
    judge = JudgeConfig.resolve(JudgeConfig.from_group(on.judge))
    assert judge.base_url == "http://127.0.0.1:9/v1" and judge.model == "judge"
    assert judge.breaker_failures == 5


def test_stop_after_masked_steps_names_the_judge_error(tmp_path, capsys, monkeypatch):
    from hydra import compose, initialize_config_dir

    from rewards.service.local import free_port
    from rl import grpo

    for v in ("HARNESSRL_JUDGE_BASE_URL", "HARNESSRL_JUDGE_MODEL"):
        monkeypatch.delenv(v, raising=False)
    (tmp_path / "rubric.yaml").write_text(JUDGE_ONLY)
    overrides = ["debug=tiny", "logger=none", f"run_dir={tmp_path / 'run'}",
                 f"reward.rubric={tmp_path / 'rubric.yaml'}", "sampling.max_new_tokens=4",
                 "train.batch_size=4", "train.micro_batch_size=4", "train.progress=false",
                 "train.max_steps=4", "task.n_train=8", "train.save_every=null",
                 "train.max_unscored_steps=2",
                 f"judge.base_url=http://127.0.0.1:{free_port()}/v1"]
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose("grpo", overrides=overrides)
    with pytest.raises(grpo.GRPOError, match="judge checks failed with: judge error: "):
        grpo.train(cfg)
    err = capsys.readouterr().err
    assert "step 1: every sample" in err and "connection refused" in err
