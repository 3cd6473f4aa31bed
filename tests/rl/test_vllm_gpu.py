"""vLLM colocated with the trainer on one GPU: the engine sleeps between rollouts (weights
offloaded, KV cache freed) and wakes for the next sync or rollout; merged and adapter syncs
sample what HF + PEFT samples there too. GPU only (skipped on CPU); written for the H100
bench machines, not run on the 2-core CPU box."""

from __future__ import annotations

import importlib.util

import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                                 reason="vllm not installed")]


def test_sleep_between_rollouts_frees_memory_and_syncs_still_match(tiny_model_dir, tmp_path,
                                                                   chat_prompts, trained_policy):
    from rl.policy import push_policy
    from rl.rollout.base import SamplingConfig
    from rl.rollout.hf_engine import HFEngine
    from rl.rollout.vllm_engine import VLLMEngine

    engine = VLLMEngine(tiny_model_dir, enable_lora=True, max_lora_rank=16, max_model_len=1024,
                        gpu_memory_utilization=0.3, sleep_between_rollouts=True)
    try:
        sp = SamplingConfig(max_new_tokens=8)
        model, tok = trained_policy(tiny_model_dir)
        model.to("cuda")
        want = [r[0].token_ids for r in HFEngine(model, tok).generate(chat_prompts, sp)]
        for version, mode in enumerate(("adapter", "merged"), start=1):
            push_policy(engine, mode, model, tmp_path, version)
            assert not engine.asleep  # a sync wakes it
            free_awake = torch.cuda.mem_get_info()[0]
            got = engine.generate(chat_prompts, sp)
            assert engine.asleep  # slept right after the rollout
            # the KV cache (0.3 x the card minus weights) went back to the trainer
            assert torch.cuda.mem_get_info()[0] > free_awake + 2**30
            assert [r[0].token_ids for r in got] == want, mode
            assert {g.version for r in got for g in r} == {version}
    finally:
        engine.close()
