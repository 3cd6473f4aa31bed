"""Policy versions, lag checks, sync-mode choice, one-step-off rollouts and engine failures in
the RL loop (rl/driver.py, so GRPO and PPO alike), on CPU without vLLM: `hf_copy` is the hf
engine on its own model copy, synced from adapter files exactly as vLLM is
(tests/rl/test_grpo_vllm.py runs the real thing)."""

from __future__ import annotations

import json
import math
from importlib import import_module
from pathlib import Path
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("hydra")

from omegaconf import OmegaConf  # noqa: E402

from rl.experience import EngineFailure, version_lag  # noqa: E402
from rl.policy import resolve_sync_mode  # noqa: E402
from rl.rollout.base import Generation  # noqa: E402
from rl.state import RLError  # noqa: E402


def _run(version, max_lag=1):
    return SimpleNamespace(version=version, step=4, engine=object(),
                           cfg=OmegaConf.create({"rollout": {"max_lag": max_lag}}))


def test_version_lag_within_and_beyond_max_lag():
    gens = [Generation("a", version=3), Generation("b", version=4), Generation.failed("x")]
    assert version_lag(_run(4), gens) == 1
    assert version_lag(_run(4, max_lag=0), gens[1:]) == 0
    with pytest.raises(RLError, match=r"step 5: rollouts come from policy version 3 but the "
                                      r"trainer is at version 5: lag 2 > rollout.max_lag=1"):
        version_lag(_run(5), gens)
    with pytest.raises(RLError, match="carries no policy version"):
        version_lag(_run(1), [Generation("c")])
    with pytest.raises(RLError, match="newer than the trainer's 2"):
        version_lag(_run(2), [Generation("d", version=3)])


class _Adapters:
    shares_live_model, supports_adapter_sync, supports_weight_push = False, True, False


class _Both(_Adapters):
    supports_weight_push = True


class _Live:
    shares_live_model = True


def test_sync_mode_comes_from_declared_capabilities(monkeypatch):
    cfg = lambda sync: OmegaConf.create({"rollout": {"sync": sync}, "device": "auto"})  # noqa: E731
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_sync_mode(cfg("auto"), _Both)[0] == "merged"
    mode, why = resolve_sync_mode(cfg("auto"), _Adapters)
    assert mode == "adapter" and "cannot merged-sync" in why
    assert resolve_sync_mode(cfg("auto"), _Live)[0] == "live"
    with pytest.raises(RLError, match="samples from the trainer's live model"):
        resolve_sync_mode(cfg("merged"), _Live)  # a sync it would never do: refused, not ignored
    with pytest.raises(RLError, match="does not declare supports_weight_push"):
        resolve_sync_mode(cfg("merged"), _Adapters)
    with pytest.raises(RLError, match="rollout.sync='lora'"):
        resolve_sync_mode(cfg("lora"), _Both)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_sync_mode(cfg("auto"), _Both)[0] == "adapter"


def _prompts_by_step(run_dir: Path, per_step: int) -> list[list[str]]:
    rows = [json.loads(r) for r in (run_dir / "tables" / "samples.jsonl").read_text().splitlines()]
    prompts = [r["prompt"] for r in rows]
    return [prompts[i:i + per_step] for i in range(0, len(prompts), per_step)]


COPY = ["rollout.engine=hf_copy", "rollout.max_lag=1", "train.table_every=1",
        "train.table_rows=64", "train.max_steps=4"]
EXTRA = {"grpo": ["algo.beta=0.04"], "ppo": []}  # beta: GRPO's KL term on, as PPO's default
TRACE = ("reward/total", "loss/pg", "kl", "policy/grad_norm")


def _trace(out) -> list[tuple]:
    return [tuple(h.get(k, math.nan) for k in TRACE) for h in out["history"]]


@pytest.mark.parametrize("recipe", ["grpo", "ppo"])
def test_async_sees_the_same_prompts_in_the_same_order_as_sync(tmp_path, rl_cfg, recipe):
    """rollout.async draws the same prompts in the same order, one policy version behind
    (PPO once ignored the key and ran synchronously)."""
    train = import_module(f"rl.{recipe}").train
    copy = [*COPY, *EXTRA[recipe]]
    sync = train(rl_cfg(recipe, tmp_path / "sync", *copy))
    overlap = train(rl_cfg(recipe, tmp_path / "async", *copy, "rollout.async=true",
                           "algo.rollout_correction=tis"))
    a = _prompts_by_step(tmp_path / "sync" / "run", 8)
    b = _prompts_by_step(tmp_path / "async" / "run", 8)
    assert len(a) == 4 and a == b
    # sync samples the policy it trains; async's step t+1 was generated before step t's update
    assert [h["rollout/version_lag"] for h in sync["history"]] == [0, 0, 0, 0]
    assert [h["rollout/version_lag"] for h in overlap["history"]] == [0, 1, 1, 1]
    lagged = [h for h in overlap["history"][1:] if "rollout/is_weight_mean" in h]
    # a step after an update samples a policy the trainer has left: a real mismatch
    assert lagged and all(h["rollout/mismatch_kl"] >= 0 for h in lagged)
    assert any(h["rollout/mismatch_kl"] > 0 for h in lagged)
    assert all(0 < h["rollout/is_weight_mean"] <= 2.0 for h in lagged)  # TIS cap 2
    # the hf engine's first step is on-policy in both: same samples, same update
    assert _trace(overlap)[0] == pytest.approx(_trace(sync)[0], rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("recipe", ["grpo", "ppo"])
def test_async_with_max_lag_zero_or_a_live_engine_is_refused(tmp_path, rl_cfg, recipe):
    train = import_module(f"rl.{recipe}").train
    with pytest.raises(RLError, match="set rollout.max_lag>=1"):
        train(rl_cfg(recipe, tmp_path / "a", *COPY, "rollout.async=true",
                     "rollout.max_lag=0"))
    with pytest.raises(RLError, match="samples from the trainer's live model"):
        train(rl_cfg(recipe, tmp_path / "b", "rollout.async=true"))


@pytest.mark.parametrize(("recipe", "stream"), [("grpo", False), ("grpo", True), ("ppo", False)],
                         ids=["grpo-batch", "grpo-streamed", "ppo-batch"])
def test_engine_dying_mid_run_checkpoints_and_resumes_exactly(tmp_path, monkeypatch, rl_cfg,
                                                              recipe, stream):
    """A dead engine (every request failed) at step 3: clear error, a checkpoint of step 2
    whose data position is rewound, and the resumed run equals an uninterrupted one — with
    batch scoring (the engine's generate fails) and streamed (its generate_stream does)."""
    train = import_module(f"rl.{recipe}").train
    steps = [*COPY[:1], "train.max_steps=4", *EXTRA[recipe],
             f"rollout.stream_scoring={str(stream).lower()}"]
    straight = train(rl_cfg(recipe, tmp_path / "a", *steps))
    from rl.rollout.hf_engine import HFCopyEngine

    name = "generate_stream" if stream else "generate"
    real = getattr(HFCopyEngine, name)
    calls = {"n": 0}

    def dies_at_third(self, prompts, sampling, *rest):
        calls["n"] += 1
        if calls["n"] == 3:
            failed = [[Generation.failed("ConnectError: connection refused")] * sampling.n
                      for _ in prompts]
            return iter([list(enumerate(failed))]) if stream else failed
        return real(self, prompts, sampling, *rest)

    monkeypatch.setattr(HFCopyEngine, name, dies_at_third)
    with pytest.raises(EngineFailure, match=r"step 3: the rollout engine failed every one of 8 "
                                            r"requests \(first error: ConnectError.*Checkpointed "
                                            r"step 2 at .*step-00000002"):
        train(rl_cfg(recipe, tmp_path / "b", *steps))
    monkeypatch.setattr(HFCopyEngine, name, real)
    resumed = train(rl_cfg(recipe, tmp_path / "b", *steps))
    assert resumed["step"] == 4 and len(resumed["history"]) == 2
    assert _trace(resumed) == _trace(straight)[2:]
