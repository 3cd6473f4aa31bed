"""GRPO over an OpenAI-compatible vLLM server (`rollout=vllm_server`, the server started from
config by the engine): adapters load and unload over HTTP per version, and a server killed
during a run stops it with a clear error and a checkpoint another engine resumes from.

Owns its server (it kills it), so this file starts a second vLLM next to the session's
in-process engine; slow (server start-up 20-80 s on 2 cores)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal

import pytest

pytest.importorskip("torch")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                                 reason="vllm not installed")]

SERVER = ["rollout=vllm_server", "rollout.max_model_len=1024", "rollout.max_lora_rank=16",
          "rollout.max_retries=1", "rollout.backoff_s=0.1", "rollout.timeout_s=60",
          "algo.beta=0.04", "train.save_every=1"]


def test_grpo_over_server_then_server_killed_mid_run(tmp_path, grpo_cfg):
    import httpx

    from rl import grpo
    from rl.experience import EngineFailure
    from rl.rollout.vllm_server import VLLMServerEngine

    cfg = grpo_cfg(tmp_path, *SERVER, "train.max_steps=2")
    engine = VLLMServerEngine.from_cfg(cfg)
    try:
        out = grpo.train(cfg, engine=engine)
        rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text()
                .splitlines()]
        assert out["step"] == 2 and [r["rollout/version_lag"] for r in rows] == [0, 0]
        assert any(r.get("train/rows_computed") for r in rows)
        # versions 0..2 were loaded over HTTP; only the lag window is still on the server
        served = {m["id"] for m in httpx.get(f"{engine.base_url}/models").json()["data"]}
        assert [n.rsplit("-", 1)[0] for n in engine.loaded] == ["policy-v1", "policy-v2"]
        assert not any(n.startswith("policy-v0-") for n in served)
        assert set(engine.loaded) <= served

        # the run streams (rollout.stream_scoring=auto): the server dies as the step's
        # stream starts
        real = engine.generate_stream

        def killed_during_rollout(prompts, sampling):
            os.killpg(engine.proc.pid, signal.SIGKILL)  # the whole server, engine core too
            engine.proc.wait(30)
            return real(prompts, sampling)

        engine.generate_stream = killed_during_rollout
        with pytest.raises(EngineFailure, match=r"step 3: the rollout engine failed every one "
                                                r"of 8 requests .*Checkpointed step 2 at "
                                                r".*step-00000002.*train.resume=auto"):
            grpo.train(grpo_cfg(tmp_path, *SERVER, "train.max_steps=3"), engine=engine)
    finally:
        engine.close()
    # the checkpoint resumes (here with the hf engine: the server is gone)
    resumed = grpo.train(grpo_cfg(tmp_path, "algo.beta=0.04", "train.max_steps=3"))
    assert resumed["step"] == 3 and len(resumed["history"]) == 1
