"""VLLMEngine (in-process vllm.LLM) on the tiny model: greedy tokens equal HF's, with and
without a hot-loaded LoRA adapter (HF + PEFT as the reference); adapters swap by version.

One engine for the session (tests/conftest.py `vllm_engine`; start-up 15-80 s on 2 cores);
marked slow.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from rl.rollout.base import EngineError, SamplingConfig

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm not importable"),
]


def _hf(model_dir, adapter=None):
    from transformers import AutoModelForCausalLM

    from rl.rollout.hf_engine import HFEngine
    from sft.model import load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tok = load_tokenizer({"name_or_path": str(model_dir)})
    e = HFEngine(model, tok, batch_size=4, owns_model=True)
    if adapter:
        e.load_adapter(adapter)
    return e


def test_greedy_tokens_match_hf_base_and_lora(vllm_engine, tiny_model_dir, tmp_path,
                                              chat_prompts, make_adapter, teacher_forced):
    sp = SamplingConfig(max_new_tokens=8)
    adapter = make_adapter(tiny_model_dir, tmp_path / "lora", seed=1)
    for path in (None, adapter):
        vllm_engine.load_adapter(path, version=1)
        got = vllm_engine.generate(chat_prompts, sp)
        hf = _hf(tiny_model_dir, path)
        want = hf.generate(chat_prompts, sp)
        for g, w in zip(got, want, strict=True):
            assert g[0].prompt_token_ids == w[0].prompt_token_ids
            assert g[0].token_ids == w[0].token_ids, f"adapter={path}"
            ref = teacher_forced(hf.model, g[0], 0.0)
            assert torch.allclose(torch.tensor(g[0].logprobs), ref, atol=1e-3)


def test_sampling_n_order_and_adapter_versions(vllm_engine, tiny_model_dir, tmp_path,
                                               chat_prompts, make_adapter):
    sp = SamplingConfig(n=3, max_new_tokens=5, temperature=1.0)
    out = vllm_engine.generate(chat_prompts, sp)
    assert [len(r) for r in out] == [3, 3, 3]
    assert all(len(g.logprobs) == len(g.token_ids) for r in out for g in r)
    assert len({tuple(r[0].prompt_token_ids) for r in out}) == 3
    # a new version at the same path reloads (fresh LoRARequest id), base comes back
    greedy = SamplingConfig(max_new_tokens=6)
    vllm_engine.load_adapter(None)
    base = vllm_engine.generate(chat_prompts[:1], greedy)[0][0].token_ids
    path = tmp_path / "policy"
    make_adapter(tiny_model_dir, path, seed=1)
    vllm_engine.load_adapter(path, version=1)
    v1 = vllm_engine.generate(chat_prompts[:1], greedy)[0][0].token_ids
    make_adapter(tiny_model_dir, path, seed=2)  # the trainer overwrote the same dir
    vllm_engine.load_adapter(path, version=2)
    v2 = vllm_engine.generate(chat_prompts[:1], greedy)[0][0].token_ids
    ref2 = _hf(tiny_model_dir, path).generate(chat_prompts[:1], greedy)[0][0].token_ids
    assert v2 == ref2 and v1 != v2 and base != v2
    vllm_engine.load_adapter("base")
    assert vllm_engine.generate(chat_prompts[:1], greedy)[0][0].token_ids == base
    with pytest.raises(EngineError, match="adapter_config.json"):
        vllm_engine.load_adapter(tmp_path / "nothing-here")


def test_a_prompt_longer_than_the_context_is_an_error_not_a_crash(vllm_engine, chat_prompts):
    """vLLM rejects a request past max_model_len with an error that would fail the whole
    batch (a 3.4k-token MTSamples note under the 2,048 default did): that prompt alone
    becomes a generation error; the others generate in order."""
    sp = SamplingConfig(max_new_tokens=4)
    long = "word " * (vllm_engine.max_model_len + 50)
    out = vllm_engine.generate([chat_prompts[0], long, chat_prompts[1]], sp)
    assert [len(g) for g in out] == [1, 1, 1]
    assert out[1][0].finish_reason == "error" and "max_model_len" in out[1][0].error
    assert all(out[k][0].error is None and out[k][0].token_ids for k in (0, 2))
    alone = vllm_engine.generate([chat_prompts[0], chat_prompts[1]], sp)
    assert [out[0][0].token_ids, out[2][0].token_ids] == [g[0].token_ids for g in alone]
    # n samples each: the failed prompt gets n errors, seeds stay aligned with the others
    sampled = vllm_engine.generate([long, chat_prompts[0]], SamplingConfig(
        n=2, max_new_tokens=4, temperature=1.0, seeds=[11, 12]))
    assert [g.finish_reason for g in sampled[0]] == ["error", "error"]
    assert len(sampled[1]) == 2 and all(g.token_ids for g in sampled[1])
