"""The end-to-end pipeline on tiny-random (debug=tiny): every stage runs and report.md has the
base / SFT / RL rows and the reward-curve image; plus the report and plot helpers alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("hydra")

from rl import pipeline  # noqa: E402


def test_debug_pipeline_writes_report_with_three_rows(tmp_path):
    cfg = pipeline.compose("pipeline", [
        "debug=tiny", f"run_dir={tmp_path}", "train.progress=false", "eval.progress=false",
        "train.max_steps=2", "train.resume=null"])
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


def test_override_quoting_round_trips(tmp_path):
    weird = tmp_path / "a dir" / "ckpt=1"
    cfg = pipeline.compose("pipeline", ["debug=tiny", f"run_dir={tmp_path}"])
    ov = pipeline.grpo_overrides(cfg, str(weird))
    g = pipeline.compose("grpo", ov)
    assert g.model.adapter == str(weird)
    assert g.run_dir == str(tmp_path / "grpo")
