"""GRPO with `reward.url`: the tiny-random run scores through a real reward service process
(`python -m rewards.serve`), survives the service being killed mid-run (that step's samples
abstain and are masked, a log line says so) and uses the restarted service again."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("hydra")

from rewards.service.local import free_port, start_service, stop  # noqa: E402
from rl import grpo  # noqa: E402

CONF = Path(__file__).resolve().parents[2] / "conf"

# the length rubric of tests/rl/test_grpo.py: tiny-random passes it ~25% of the time
SHORT_RUBRIC = """
version: 1
scale: [0, 1]
dimensions:
  brevity: {weight: 1.0, min_coverage: 1.0}
checks:
  - id: short
    kind: length
    dimension: brevity
    unit: chars
    max: 45
"""


def make_cfg(tmp_path: Path, rubric_file: Path, *overrides: str):
    from hydra import compose, initialize_config_dir

    base = ["debug=tiny", "logger=none", f"run_dir={tmp_path / 'run'}",
            f"reward.rubric={rubric_file}", "sampling.max_new_tokens=8", "optim.lr=1e-2",
            "train.batch_size=8", "train.micro_batch_size=8", "train.progress=false",
            "task.n_train=16", "train.resume=null", "train.save_every=null"]
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        return compose("grpo", overrides=base + list(overrides))


def test_grpo_through_reward_service_survives_its_death(tmp_path, caplog):
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(SHORT_RUBRIC)
    local = grpo.train(make_cfg(tmp_path / "local", rubric, "train.max_steps=1"))
    port = free_port()
    args = ["--rubric", f"short={rubric}"]
    services = [start_service(args, port=port)]

    def on_step(step, metrics):
        if step == 1:  # killed between steps: step 2's scoring finds nobody listening
            services[0].proc.kill()
            services[0].proc.wait(10)
        if step == 2:
            services.append(start_service(args, port=port))

    try:
        with caplog.at_level(logging.WARNING, logger="rewards.remote"):
            out = grpo.train(make_cfg(tmp_path / "remote", rubric, "train.max_steps=4",
                                      f"reward.url=http://127.0.0.1:{port}"), on_step=on_step)
    finally:
        for s in services:
            stop(s.proc)
    h = out["history"]
    assert out["step"] == 4 and len(h) == 4
    # same seed, same rubric: the service's rewards are the in-process harness's
    assert h[0]["reward/total"] == local["history"][0]["reward/total"]
    assert h[0]["reward/masked_frac"] == 0.0
    assert h[1]["reward/masked_frac"] == 1.0  # down: every sample abstained, none scored 0
    assert not math.isfinite(h[1].get("reward/total", math.nan))
    assert h[2]["reward/masked_frac"] == 0.0 and h[3]["reward/masked_frac"] == 0.0
    assert "samples abstain (score None, masked)" in caplog.text
    assert "reachable again" in caplog.text
    assert all(math.isfinite(x["loss/loss"]) for x in h if "loss/loss" in x)


def test_eval_reward_url_reaches_the_builder(tmp_path):
    """`eval.reward.url` gives rl.evaluate a RemoteHarness over the task's rubric (no service
    needed to build one: the rubric is local, the service is checked by hash per request)."""
    from hydra import compose, initialize_config_dir

    from rewards.remote import RemoteHarness
    from rewards.tasks import resolve
    from rl.evaluate import make_harness

    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose("eval", overrides=["eval.reward.url=http://127.0.0.1:9"])
        plain = compose("eval")
    task = resolve({"name": "legal_rewrite"})
    h = make_harness(task, cfg, tmp_path)
    assert isinstance(h, RemoteHarness) and h.url == "http://127.0.0.1:9"
    assert h.rubric_hash == make_harness(task, plain, tmp_path).rubric_hash
    assert type(make_harness(task, plain, tmp_path)).__name__ == "Harness"
