"""OpenAIEngine against a real vLLM OpenAI server (tiny model), plus fault injection.

The fault-injection server is a real 127.0.0.1 HTTP server speaking just enough of the
OpenAI protocol to answer 503 / 400 on cue: vLLM cannot be made to fail on demand.
"""

from __future__ import annotations

import socket

import pytest

from rl.rollout.base import EngineError, SamplingConfig
from rl.rollout.openai_engine import OpenAIEngine

CHATS = [[{"role": "user", "content": f"Question {i}: what is {i} + {i}?"}] for i in range(5)]


def test_chat_n_order_logprobs_against_vllm_server(vllm_server):
    engine = OpenAIEngine(vllm_server.base_url, concurrency=3)
    assert engine.model == vllm_server.model  # first served model by default
    sp = SamplingConfig(n=2, max_new_tokens=6, temperature=1.0)
    out = engine.generate(CHATS, sp)
    assert len(out) == len(CHATS) and all(len(row) == 2 for row in out)
    for row in out:
        for g in row:
            assert g.error is None and g.finish_reason in ("stop", "length")
            assert 1 <= len(g.token_ids) <= 6
            assert g.logprobs is not None and len(g.logprobs) == len(g.token_ids)
            assert all(lp <= 0 for lp in g.logprobs)
            assert g.prompt_token_ids  # vLLM's return_token_ids extension
    # prompt token ids differ per prompt: the rows come back in input order
    assert len({tuple(row[0].prompt_token_ids) for row in out}) == len(CHATS)
    assert engine.stats["requests"] == len(CHATS) and engine.stats["errors"] == 0
    # greedy is deterministic, and a plain string is one user turn
    g1 = engine.generate([CHATS[0][0]["content"]], SamplingConfig(max_new_tokens=5))
    g2 = engine.generate([CHATS[0]], SamplingConfig(max_new_tokens=5))
    assert g1[0][0].token_ids == g2[0][0].token_ids and len(g1[0][0].logprobs) == 5
    assert g1[0][0].prompt_token_ids == g2[0][0].prompt_token_ids


def test_server_logprobs_match_teacher_forced_recompute(vllm_server):
    """The server's log-probs are the model's: recompute them with HF on the same weights."""
    import torch
    from transformers import AutoModelForCausalLM

    engine = OpenAIEngine(vllm_server.base_url)
    g = engine.generate(CHATS[:2], SamplingConfig(max_new_tokens=8, temperature=0.7))
    model = AutoModelForCausalLM.from_pretrained(vllm_server.model_dir, dtype=torch.float32)
    for row in g:
        gen = row[0]
        ids = torch.tensor([gen.prompt_token_ids + gen.token_ids])
        with torch.no_grad():
            logits = model(ids).logits[0, len(gen.prompt_token_ids) - 1:-1].float()
        ref = torch.log_softmax(logits / 0.7, -1).gather(
            1, torch.tensor(gen.token_ids)[:, None]).squeeze(1)
        assert torch.allclose(torch.tensor(gen.logprobs), ref, atol=2e-3), (gen.logprobs, ref)


def test_unreachable_endpoint_is_a_clear_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EngineError, match=r"127\.0\.0\.1:\d+/v1 is unreachable"):
        OpenAIEngine(f"http://127.0.0.1:{port}/v1", model="m")


def test_retries_503_twice_then_ok(openai_stub):
    openai_stub.script = [503, 503]
    engine = OpenAIEngine(openai_stub.url, backoff_s=0.01)
    out = engine.generate([CHATS[0]], SamplingConfig(max_new_tokens=4))
    assert out[0][0].text == "ok0" and out[0][0].error is None
    assert engine.stats == {"requests": 3, "retries": 2, "errors": 0}


def test_exhausted_retries_become_errors_not_scores(openai_stub):
    openai_stub.script = [503] * 10 + [429] * 10
    engine = OpenAIEngine(openai_stub.url, backoff_s=0.01, max_retries=2)
    out = engine.generate(CHATS[:2], SamplingConfig(n=2, max_new_tokens=4))
    flat = [g for row in out for g in row]
    assert all(g.error and "HTTP" in g.error and "after 3 attempts" in g.error for g in flat)
    assert all(g.finish_reason == "error" and g.text == "" for g in flat)
    assert engine.stats["errors"] == 4


def test_rejected_optional_field_is_dropped_once(openai_stub):
    openai_stub.script = [400]
    engine = OpenAIEngine(openai_stub.url, backoff_s=0.01, concurrency=1)
    out = engine.generate(CHATS[:2], SamplingConfig(max_new_tokens=4))
    assert [row[0].text for row in out] == ["ok0", "ok0"]
    assert "logprobs" in openai_stub.seen[0]["body"]
    assert all("logprobs" not in s["body"] for s in openai_stub.seen[1:])
    assert engine.stats["errors"] == 0


def test_api_key_sent_never_shown(openai_stub, monkeypatch):
    monkeypatch.setenv("STUB_KEY", "sk-test-0123456789abcdef")
    engine = OpenAIEngine(openai_stub.url, api_key_env="STUB_KEY")
    engine.generate([CHATS[0]], SamplingConfig(max_new_tokens=2))
    assert openai_stub.seen[-1]["auth"] == "Bearer sk-test-0123456789abcdef"
    assert "sk-test" not in repr(engine) and "$STUB_KEY" in repr(engine)
    monkeypatch.delenv("STUB_KEY")
    with pytest.raises(EngineError, match="STUB_KEY"):
        OpenAIEngine(openai_stub.url, api_key_env="STUB_KEY")


@pytest.mark.slow
def test_adapter_hot_loaded_into_a_lora_server(vllm_server_factory, tiny_model_dir, tmp_path,
                                               chat_prompts, make_adapter):
    """load_adapter on a `--enable-lora` vLLM server: greedy tokens equal HF + PEFT's."""
    from rl.rollout.hf_engine import HFEngine
    from sft.model import load_model, load_tokenizer

    adapter = make_adapter(tiny_model_dir, tmp_path / "lora", seed=1)
    model_cfg = {"name_or_path": str(tiny_model_dir), "dtype": "float32"}
    hf = HFEngine(load_model(model_cfg), load_tokenizer(model_cfg), owns_model=True)
    sp = SamplingConfig(max_new_tokens=8)
    with vllm_server_factory(tiny_model_dir, enable_lora=True) as server:
        engine = OpenAIEngine(server.base_url)
        base = engine.generate(chat_prompts, sp)
        engine.load_adapter(adapter, version=3)
        assert engine.model.startswith("policy-v3-")
        assert engine.generate(chat_prompts[:1], sp)[0][0].version == 3
        tuned = engine.generate(chat_prompts, sp)
        engine.load_adapter(None)
        assert engine.generate(chat_prompts, sp)[0][0].token_ids == base[0][0].token_ids
    greedy = lambda: [r[0].token_ids for r in hf.generate(chat_prompts, sp)]  # noqa: E731
    assert [r[0].token_ids for r in base] == greedy()
    hf.load_adapter(adapter)
    assert [r[0].token_ids for r in tuned] == greedy()
