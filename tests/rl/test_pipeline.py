"""The end-to-end pipeline on tiny-random (debug=tiny): every stage runs and report.md has the
base / SFT / RL rows and the reward-curve image; plus the report and plot helpers alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("hydra")

from rl import pipeline  # noqa: E402

FAST = ["debug=tiny", "sft.train.max_steps=2", "grpo.train.max_steps=2",
        "sft.train.progress=false", "grpo.train.progress=false", "evaluate.eval.progress=false",
        "sft.train.resume=null", "grpo.train.resume=null"]


def test_debug_pipeline_writes_report_with_three_rows(tmp_path):
    cfg = pipeline.compose("pipeline", [*FAST, f"run_dir={tmp_path}"])
    out = pipeline.run(cfg)
    report = Path(out["report"]).read_text()
    for row in ("| base |", "| SFT |", "| RL (GRPO) |"):
        assert row in report, row
    assert set(out["evals"]) == {"base", "sft", "rl"}
    assert (tmp_path / "reward_curves.png").stat().st_size > 1000
    assert "![reward per dimension](reward_curves.png)" in report
    facts = json.loads((tmp_path / "pipeline.json").read_text())
    assert Path(facts["rl_checkpoint"]).name == "step-00000002"
    # the RL row was graded with the same rubric as the other two
    assert len({s["rubric_hash"] for s in out["evals"].values()}) == 1


def test_plot_has_one_panel_per_dimension(tmp_path):
    hist = [{"step": i, "reward/total": i / 10, "reward/dim/a": i / 20, "reward/dim/b": None}
            for i in range(1, 8)]
    path = pipeline.plot_curves(hist, tmp_path / "c.png")
    assert path.stat().st_size > 1000
    assert pipeline.plot_curves([], tmp_path / "none.png") is None


def test_rl_stage_gets_the_adapter_path_verbatim(tmp_path):
    weird = tmp_path / "a dir" / "ckpt=1"
    cfg = pipeline.compose("pipeline", ["debug=tiny", f"run_dir={tmp_path}"])
    g = pipeline.rl_stage_config(cfg, str(weird))
    assert g.model.adapter == str(weird)
    assert g.run_dir == str(tmp_path / "grpo")


def test_stage_keys_pass_straight_through(tmp_path):
    """`sft.optim.lr` on the pipeline's command line is the SFT stage's `optim.lr`; a group key
    takes an option; model/task/logger are the pipeline's own nodes in every stage."""
    cfg = pipeline.compose("pipeline", [
        "debug=tiny", f"run_dir={tmp_path}", "sft.optim.lr=0.001", "grpo.algo={name:dapo,beta:0.02}", "task.n_eval=3", "evaluate.eval.max_examples=2"])
    sft = pipeline.stage_config(cfg, "sft", cfg.sft, tmp_path / "sft", "s")
    assert sft.optim.lr == 0.001 and sft.train.max_steps == cfg.sft.train.max_steps
    rl = pipeline.rl_stage_config(cfg, None)
    assert rl.algo.name == "dapo" and rl.algo.beta == 0.02
    assert rl.algo.eps_high == 0.28  # DAPO's own clip-higher: the option was selected
    ev = pipeline.stage_config(cfg, "eval", cfg.evaluate, tmp_path / "e", "e")
    assert ev.eval.max_examples == 2
    for stage in (sft, rl, ev):
        assert stage.model.name == "tiny-random" and stage.task.n_eval == 3
        assert stage.logger.name == "none"


def test_as_overrides_groups_fields_and_values():
    spec = {"algo": {"name": "dapo", "num_generations": 8}, "rollout": "vllm",
            "sampling": {"stop": ["a b", "c"], "temperature": 0.5},
            "train": {"resume": None, "progress": False}}
    assert pipeline.as_overrides(spec) == [
        "algo=dapo", "algo.name=dapo", "algo.num_generations=8", "rollout=vllm",
        "sampling.stop=['a b',c]", "sampling.temperature=0.5", "train.resume=null",
        "train.progress=false"]


def test_a_key_the_stage_lacks_is_a_user_error_naming_the_stage(tmp_path):
    from sft.errors import UserInputError

    cfg = pipeline.compose("pipeline", ["debug=tiny", f"run_dir={tmp_path}",
                                        "+sft.train.no_such_key=1"])
    with pytest.raises(UserInputError, match="sft stage"):
        pipeline.stage_config(cfg, "sft", cfg.sft, tmp_path / "sft", "s")


def test_debug_pipeline_carries_paired_deltas_in_report_and_json(tmp_path):
    """pipeline.json has deltas {sft_minus_base, rl_minus_sft, rl_minus_base}, each the paired
    mean over the eval ids (here every one of the 4) with its CI; report.md shows them; and
    the deltas equal the difference of the rows' means when every sample is scored."""
    cfg = pipeline.compose("pipeline", [*FAST, f"run_dir={tmp_path}"])
    out = pipeline.run(cfg)
    facts = json.loads((tmp_path / "pipeline.json").read_text())
    assert set(facts["deltas"]) == {"sft_minus_base", "rl_minus_sft", "rl_minus_base"}
    for name, later, earlier in pipeline.DELTAS[:3]:
        d = facts["deltas"][name]
        assert {"mean", "ci_low", "ci_high", "n"} <= set(d)
        assert d["n"] == 4 and d["ci_low"] <= d["mean"] <= d["ci_high"]
        ev = facts["evals"]
        assert d["mean"] == pytest.approx(ev[later]["value"] - ev[earlier]["value"])
    assert "records" not in facts["evals"]["base"]
    report = Path(out["report"]).read_text()
    assert "## Paired deltas (same eval examples)" in report
    assert "| SFT − base |" in report and "| RL (GRPO) − SFT |" in report
