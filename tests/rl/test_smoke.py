"""The README's smoke runs as shipped: `python -m rl.grpo debug=tiny` and `python -m rl.ppo
debug=tiny`, no other override, must exercise learning, not just plumbing: a non-zero
gradient on some step. (They once logged reward 0 and gradient norm 0 at every step: the
smoke reward pays <= 45 characters, which tiny-random writes in 8 tokens, and the recipes
sampled 16; the tests passed only because they added sampling.max_new_tokens=8.)

In process, with the config the CLI composes, from a scratch working directory: the run dir
is the default one (runs/local/debug-tiny-...), relative to it."""

from __future__ import annotations

from importlib import import_module

import pytest

pytest.importorskip("torch")
pytest.importorskip("hydra")


@pytest.mark.parametrize("recipe", ["grpo", "ppo"])
def test_debug_tiny_as_shipped_trains_with_a_nonzero_gradient(tmp_path, monkeypatch, recipe,
                                                               conf_compose):
    monkeypatch.chdir(tmp_path)
    cfg = conf_compose(recipe, ["debug=tiny"])
    out = import_module(f"rl.{recipe}").train(cfg)
    assert out["step"] == int(cfg.train.max_steps) == 4
    norms = [h.get("policy/grad_norm", 0.0) for h in out["history"]]
    assert any(n > 0 for n in norms), norms
    assert any(h["reward/total"] > 0 for h in out["history"])
