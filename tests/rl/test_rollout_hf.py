"""HFEngine conformance on the tiny-random model: shapes, order, n > 1, log-probs equal to a
teacher-forced recomputation, adapters swapped in and out, stop strings, live models."""

from __future__ import annotations

import pytest
import torch

from rl.rollout.base import EngineError, RolloutEngine, SamplingConfig, build_engine
from rl.rollout.hf_engine import HFEngine, apply_stop_strings


def _cfg(model_dir, adapter=None):
    return {"model": {"name_or_path": str(model_dir), "dtype": "float32",
                      "attn_implementation": "sdpa"},
            "rollout": {"engine": "hf", "batch_size": 4, "device": "cpu"}, "adapter": adapter}


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    e = build_engine(_cfg(tiny_model_dir))
    yield e
    e.close()


def test_conformance_order_n_and_logprobs(engine, chat_prompts, teacher_forced):
    assert isinstance(engine, RolloutEngine)
    sp = SamplingConfig(n=3, max_new_tokens=6, temperature=1.0, seed=3)
    out = engine.generate(chat_prompts, sp)
    assert [len(row) for row in out] == [3, 3, 3]
    rendered = [engine.tokenizer.apply_chat_template(
        p if isinstance(p, list) else [{"role": "user", "content": p}],
        tokenize=False, add_generation_prompt=True) for p in chat_prompts]
    for row, text in zip(out, rendered, strict=True):
        for g in row:
            assert engine.tokenizer.decode(g.prompt_token_ids) == text  # input order kept
            assert 1 <= len(g.token_ids) <= 6 and len(g.logprobs) == len(g.token_ids)
            assert g.finish_reason in ("stop", "length") and g.error is None
            ref = teacher_forced(engine.model, g, sp.temperature)
            assert torch.allclose(torch.tensor(g.logprobs), ref, atol=1e-4)
    # seeded: the same call gives the same samples; samples of one prompt differ
    again = engine.generate(chat_prompts, sp)
    assert [[g.token_ids for g in r] for r in again] == [[g.token_ids for g in r] for r in out]
    assert len({tuple(g.token_ids) for g in out[0]}) > 1


def test_greedy_copies_and_temperature_scaling(engine, chat_prompts, teacher_forced):
    out = engine.generate(chat_prompts[:1], SamplingConfig(n=2, max_new_tokens=5))
    a, b = out[0]
    assert a.token_ids == b.token_ids and a.logprobs == b.logprobs
    # greedy reports temperature-1 log-probs
    ref = teacher_forced(engine.model, a, 0.0)
    assert torch.allclose(torch.tensor(a.logprobs), ref, atol=1e-4)


def test_adapter_swap_matches_hf_peft_and_base_comes_back(engine, tiny_model_dir, tmp_path,
                                                          chat_prompts, make_adapter,
                                                          teacher_forced):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    sp = SamplingConfig(max_new_tokens=6)
    base = engine.generate(chat_prompts[:2], sp)
    a1 = make_adapter(tiny_model_dir, tmp_path / "a1", seed=1)
    a2 = make_adapter(tiny_model_dir, tmp_path / "a2", seed=2)
    engine.load_adapter(a1, version=1)
    with_a1 = engine.generate(chat_prompts[:2], sp)
    engine.load_adapter(a2, version=2)
    with_a2 = engine.generate(chat_prompts[:2], sp)
    assert len(engine.model.peft_config) == 1  # the previous adapter was deleted
    ref_model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32), a2)
    for row in with_a2:
        ref = teacher_forced(ref_model, row[0], 0.0)
        assert torch.allclose(torch.tensor(row[0].logprobs), ref, atol=1e-4)
    assert [r[0].logprobs for r in with_a1] != [r[0].logprobs for r in with_a2]
    engine.load_adapter("base")
    assert [r[0].token_ids for r in engine.generate(chat_prompts[:2], sp)] == \
        [r[0].token_ids for r in base]
    with pytest.raises(EngineError, match="adapter_config.json"):
        HFEngine.from_cfg(_cfg(tiny_model_dir, adapter=str(tmp_path / "missing")))


def test_live_model_is_used_as_is(engine, tmp_path, chat_prompts):
    live = HFEngine(engine.model, engine.tokenizer, batch_size=2)
    live.load_adapter(tmp_path / "written-by-the-trainer", version=7)  # no files needed
    assert live.version == 7 and live.model is engine.model
    out = live.generate(chat_prompts[:1], SamplingConfig(max_new_tokens=3))
    assert len(out[0][0].token_ids) >= 1


def test_stop_strings_cut_text_tokens_and_logprobs(engine):
    from rl.rollout.base import Generation

    tok = engine.tokenizer
    ids = tok("Billing\nBecause the charge", add_special_tokens=False)["input_ids"]
    g = Generation(text=tok.decode(ids), token_ids=list(ids), logprobs=[-1.0] * len(ids),
                   finish_reason="length")
    cut = apply_stop_strings(g, ["\n"], tok)
    assert cut.text == "Billing" and cut.finish_reason == "stop"
    assert "\n" in tok.decode(cut.token_ids) and len(cut.logprobs) == len(cut.token_ids) < len(ids)


def test_unknown_engine_lists_valid_ones():
    with pytest.raises(EngineError, match="hf, hf_copy, vllm, openai, vllm_server"):
        build_engine({"rollout": {"engine": "tgi"}})
