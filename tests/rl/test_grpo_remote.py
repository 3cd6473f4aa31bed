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

def test_grpo_through_reward_service_survives_its_death(tmp_path, caplog, grpo_cfg,
                                                        smoke_rubric):
    """debug=tiny's reward (smoke_brevity: tiny-random passes it ~25% of the time), served."""
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(smoke_rubric)
    local = grpo.train(grpo_cfg(tmp_path / "local", "train.max_steps=1", "train.resume=null"))
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
            out = grpo.train(grpo_cfg(tmp_path / "remote", "train.max_steps=4",
                                      "train.resume=null", f"reward.url=http://127.0.0.1:{port}"),
                             on_step=on_step)
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
