"""rl.bench_efficacy without models: every suite task's row config composes, rows render with
paired-delta marks, appended rows accumulate and hand-written notes survive."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("hydra")

from rl import bench_efficacy as be  # noqa: E402
from rl import pipeline  # noqa: E402


@pytest.mark.parametrize("preset", ["cpu", "gpu"], ids=["cpu_preset", "published_recipe"])
def test_every_suite_task_composes_for_each_preset(preset, tmp_path):
    for task in be.SUITE:
        cfg = pipeline.compose("pipeline", [*be.task_overrides(task, preset),
                                            f"run_dir={tmp_path}"])
        rl = pipeline.rl_stage_config(cfg, None)
        ev = pipeline.stage_config(cfg, "eval", cfg.evaluate, tmp_path / "e", "e")
        if preset == "cpu":
            assert ev.sampling.max_new_tokens == be.CPU_NEW_TOKENS[task]
            assert rl.sampling.max_new_tokens == be.CPU_NEW_TOKENS[task]
        else:
            assert cfg.model.name == "qwen3-4b" and rl.algo.num_generations == 8
            assert pipeline.stage_config(cfg, "sft", cfg.sft, tmp_path / "s", "s").train.epochs == 3


def _row(task, sft_delta):
    stage = {"metric": "accuracy", "scale": [0, 1], "value": 0.5, "ci_low": 0.4,
             "ci_high": 0.6, "n": 32}
    d = {"mean": sft_delta, "ci_low": sft_delta - 0.1, "ci_high": sft_delta + 0.1, "n": 32,
         "dimensions": {"correctness": {"mean": sft_delta, "ci_low": sft_delta - 0.1,
                                        "ci_high": sft_delta + 0.1, "n": 32}}}
    return {"date": "2026-12-05 09:00 UTC", "task": task, "data": "generated",
            "model": "smollm2-135m", "evals": {"base": stage, "sft": stage, "rl": stage},
            "deltas": {"sft_minus_base": d, "rl_minus_sft": d | {"mean": 0.0, "ci_low": -0.1,
                                                                   "ci_high": 0.1}},
            "wall_s": 60.0, "load_avg": [1.0, 2.0, 3.0]}


def test_rows_accumulate_and_notes_survive(tmp_path):
    out = tmp_path / "efficacy.md"
    be.append_row(out, _row("a", 0.3))
    out.write_text(out.read_text() + be.NOTES_MARK + "hand-written notes\n")
    be.append_row(out, _row("b", -0.3))
    md = out.read_text()
    assert md.count("| 2026-12-05 09:00 UTC |") == 4  # 2 headline rows + 2 dimension rows
    assert "+0.300 [+0.200, +0.400] ✓" in md and "-0.300 [-0.400, -0.200] ✗" in md
    assert "+0.000 [-0.100, +0.100] |" in md  # CI spans 0: no mark
    assert md.endswith("hand-written notes\n")
    assert [json.loads(x)["task"] for x in out.with_suffix(".jsonl").read_text().splitlines()] \
        == ["a", "b"]
