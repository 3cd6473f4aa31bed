"""The Goodhart alarm in a real GRPO run (slow: the embedded default model): on a reward that
pays for answers of at most 20 characters while an audit check (never paid for) wants at least
12, GRPO learns brevity, the audit score falls and the alarm stops the run — checkpointed, exit
status 3, naming where the trend began; the same run with an honest audit (at most 40
characters: it rises with the reward) completes without an alarm."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("hydra")

from rl import grpo  # noqa: E402
from rl.watch import GOODHART_EXIT, GoodhartStop  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_hackable_rubric_trips_the_alarm_and_an_honest_one_does_not(tmp_path, conf_compose):
    """conf/experiment/toy_goodhart.yaml; the honest variant's audit wants <= 40 characters."""
    def train(name: str, *extra: str):
        return grpo.train(conf_compose("grpo", [
            "experiment=toy_goodhart", "logger=none", "train.progress=false",
            "train.max_steps=30", "audit.on_alarm=stop", f"run_dir={tmp_path / name / 'run'}",
            *extra]))

    with pytest.raises(GoodhartStop, match="trend began at step") as stop:
        train("hack")
    assert stop.value.exit_code == GOODHART_EXIT == 3
    run = tmp_path / "hack" / "run"
    alerts = [json.loads(r) for r in (run / "alerts.jsonl").read_text().splitlines()]
    assert any("audit" in a["title"] or "substantive" in a["title"] for a in alerts)
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["reward/total"] > rows[0]["reward/total"]  # the hack paid off ...
    assert rows[-1]["audit/score"] < rows[0]["audit/score"]  # ... at the audit's expense
    assert (run / "tables" / "alarm_samples.jsonl").exists()
    last = sorted((run / "checkpoints").glob("step-*"))[-1]
    assert last.name == f"step-{rows[-1]['step']:08d}"  # checkpointed the alarm step
    honest_rubric = tmp_path / "honest.yaml"
    honest_rubric.write_text((REPO / "tests/data/toy_hackable.yaml").read_text().replace(
        "min: 12, audit: true", "max: 40, audit: true"))
    honest = train("honest", f"task.rubric={honest_rubric}")
    assert honest["step"] == 30
