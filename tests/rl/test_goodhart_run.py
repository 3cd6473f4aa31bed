"""The Goodhart alarm in a real GRPO run on tiny-random: a deliberately hackable rubric (the
reward pays for length, an audit check wants brevity) trips it — the run checkpoints and
stops with exit status 3 naming where the trend began — and an honest rubric (the reward and
the audit agree) does not, at the same seed and settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("hydra")

from rl import grpo  # noqa: E402
from rl.watch import GOODHART_EXIT, GoodhartStop  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
# the reward pays for length in three steps (>= 30, 45, 60 characters: graded, so it can
# keep rising); the audit check (never paid for) wants <= 45 characters
HACKABLE = """
scale: [0, 1]
dimensions: {d: {weight: 1.0, min_coverage: 1.0}}
checks:
  - {id: long30, kind: length, dimension: d, unit: chars, min: 30}
  - {id: long45, kind: length, dimension: d, unit: chars, min: 45}
  - {id: long60, kind: length, dimension: d, unit: chars, min: 60}
  - {id: brief, kind: length, dimension: d, unit: chars, max: 45, audit: true}
"""
# the same checks paying for brevity instead: reward and audit rise together
HONEST = HACKABLE.replace("min: 30}", "max: 30}").replace("min: 45}", "max: 45}").replace(
    "min: 60}", "max: 60}")
SETTINGS = ["train.max_steps=30", "train.batch_size=16", "sampling.max_new_tokens=12",
            "optim.lr=1e-2", "audit.on_alarm=stop",
            "audit.goodhart.window=12", "audit.goodhart.min_points=8",
            "audit.goodhart.patience=2", "audit.goodhart.alpha=0.01"]


def _cfg(tmp_path: Path, rubric: str):
    from hydra import compose, initialize_config_dir

    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "rubric.yaml").write_text(rubric)
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        return compose("grpo", ["debug=tiny", "logger=none", f"run_dir={tmp_path / 'run'}",
                                f"reward.rubric={tmp_path / 'rubric.yaml'}",
                                "train.progress=false", *SETTINGS])


@pytest.mark.slow
def test_hackable_rubric_trips_the_alarm_and_an_honest_one_does_not(tmp_path):
    with pytest.raises(GoodhartStop, match="trend began at step") as stop:
        grpo.train(_cfg(tmp_path / "hack", HACKABLE))
    assert stop.value.exit_code == GOODHART_EXIT == 3
    run = tmp_path / "hack" / "run"
    alerts = [json.loads(r) for r in (run / "alerts.jsonl").read_text().splitlines()]
    assert any("audit" in a["title"] for a in alerts)
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["reward/total"] > rows[0]["reward/total"]  # the hack paid off ...
    assert rows[-1]["audit/score"] < rows[0]["audit/score"]  # ... at the audit's expense
    assert (run / "tables" / "alarm_samples.jsonl").exists()
    assert sorted((run / "checkpoints").glob("step-*"))[-1].name == f"step-{rows[-1]['step']:08d}"
    honest = grpo.train(_cfg(tmp_path / "honest", HONEST))
    assert honest["step"] == 30 and not any(k.startswith("alarm/") for h in honest["history"]
                                            for k in h)
