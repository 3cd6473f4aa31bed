"""PPO loop on the tiny-random fixture: end to end under debug=tiny, only the active adapter
gets gradients in each pass, exact resume after a signal (critic, value head, KL controller
and reward moments included), checkpoint contents, a separate critic model, bad input.

Configs are `debug=tiny`'s (tests/rl/conftest.py): the smoke_brevity reward (<= 45 characters
in 8 tokens) that tiny-random's near-uniform samples pass ~25% of the time, so advantages are
non-zero.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("hydra")

from rl import ppo  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

TRACE = ("reward/total", "loss/pg", "loss/vf", "kl", "kl/coef", "policy/grad_norm",
         "value/grad_norm", "value/explained_var")


def trace(out) -> list[tuple]:
    return [tuple(h.get(k, math.nan) for k in TRACE) for h in out["history"]]


def test_debug_tiny_end_to_end(tmp_path, ppo_cfg):
    out = ppo.train(ppo_cfg(tmp_path, "algo.ent_coef=0.01"))
    assert out["step"] == 2 and set(out) == {"step", "adapter", "run_dir", "stopped_by",
                                             "history", "rubric_hash"}
    h = out["history"]
    for key in ("reward/total", "reward/check/short/pass_rate", "loss/pg", "loss/vf",
                "loss/entropy", "kl", "policy/grad_norm", "value/grad_norm",
                "value/explained_var", "rollout/len_mean", "perf/tokens_per_s",
                "perf/train_s", "perf/sync_s"):
        assert key in h[-1], key
    assert all(math.isfinite(x) for row in trace(out) for x in row[:7])
    assert h[0]["kl"] == 0  # both adapters start at B = 0: policy == reference
    # the policy moved off the reference (kl is the sampled k1 estimate: its sign varies with
    # the samples, so nonzero is what is asserted)
    assert h[-1]["kl"] != 0 and h[-1]["loss/entropy"] > 0
    ckpt = Path(out["adapter"])
    # the policy adapter at the root (what rl.evaluate / the pipeline load), the critic below
    assert (ckpt / "adapter_config.json").is_file()
    for f in ("critic/adapter_model.safetensors", "critic/adapter_config.json",
              "critic/value_head.pt", "state/ppo.pt", "state/optimizer.pt"):
        assert (ckpt / f).is_file(), f
    tables = list((tmp_path / "run").rglob("*.jsonl"))
    assert any("metrics" in t.name for t in tables)


def test_only_the_active_adapter_gets_gradients(tmp_path, ppo_cfg):
    from rl.experience import rollout, score

    run, st = ppo.setup(ppo_cfg(tmp_path))
    pairs, _ = rollout(run, run.prompts[:4], 1)
    exp = ppo.make_experience(run, st, score(run, pairs, 1))
    idx = torch.arange(4)
    policy = run.optimizer.param_groups[0]["params"]
    critic = st.critic.params()
    assert policy and critic and not {id(p) for p in policy} & {id(p) for p in critic}
    # B = 0 at init would make A's gradients 0: give both adapters non-zero B first
    with torch.no_grad():
        for n, p in run.model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
        st.critic.head.weight.normal_(0, 0.1)
    logp = ppo.policy_logprobs(run, exp, idx)
    (logp * exp["mask"][idx]).sum().backward()
    assert all(p.grad is None for p in critic)
    assert sum(float(p.grad.abs().sum()) for p in policy if p.grad is not None) > 0
    run.optimizer.zero_grad(set_to_none=True)
    with st.critic.active():
        ppo.completion_values(st.critic, exp, idx).sum().backward()
    assert all(p.grad is None for p in policy)
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in critic)
    # the policy's log-probs do not depend on the critic adapter, nor values on the policy's
    def nudge(adapter):
        for n, p in run.model.named_parameters():
            if f".{adapter}." in n and "lora_B" in n:
                p.add_(1.0)

    with torch.no_grad():
        with st.critic.active():
            v0 = ppo.completion_values(st.critic, exp, idx)
        l0 = ppo.policy_logprobs(run, exp, idx)
        nudge("policy")
        with st.critic.active():
            assert torch.equal(ppo.completion_values(st.critic, exp, idx), v0)
        l1 = ppo.policy_logprobs(run, exp, idx)
        assert not torch.equal(l1, l0)
        nudge("critic")
        assert torch.equal(ppo.policy_logprobs(run, exp, idx), l1)
        with st.critic.active():
            assert not torch.equal(ppo.completion_values(st.critic, exp, idx), v0)
    run.engine.close()


def test_sigterm_checkpoints_and_resume_is_exact(tmp_path, ppo_cfg):
    """4 steps straight == 2 steps, SIGTERM, resume=auto, 2 more: rewards, both losses, KL and
    its adaptive beta, both grad norms; then the policy adapter, the critic adapter and the
    value head are equal bit for bit."""
    steps = ["train.max_steps=4", "algo.kl.adaptive=true", "algo.kl.target=0.01",
             "algo.kl.horizon=100", "reward.normalize=true"]
    straight = ppo.train(ppo_cfg(tmp_path / "a", *steps))

    def kill_at_2(step, metrics):
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    first = ppo.train(ppo_cfg(tmp_path / "b", *steps), on_step=kill_at_2)
    assert first["stopped_by"] == "SIGTERM" and first["step"] == 2
    second = ppo.train(ppo_cfg(tmp_path / "b", *steps))
    assert second["step"] == 4
    got, want = trace(first) + trace(second), trace(straight)
    assert str(got) == str(want)  # NaN-safe exact equality
    assert straight["history"][-1]["kl/coef"] != 0.05  # the controller moved beta
    from safetensors.torch import load_file

    a, b = Path(straight["adapter"]), Path(second["adapter"])
    for f in ("adapter_model.safetensors", "critic/adapter_model.safetensors"):
        x, y = load_file(a / f), load_file(b / f)
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x), f
    ha, hb = torch.load(a / "critic/value_head.pt"), torch.load(b / "critic/value_head.pt")
    assert all(torch.equal(ha[k], hb[k]) for k in ha)
    assert float(ha["weight"].abs().sum()) > 0  # trained away from its zero init


def test_critic_and_value_head_restored_in_place(tmp_path, ppo_cfg):
    from safetensors.torch import load_file

    out = ppo.train(ppo_cfg(tmp_path))
    ckpt = Path(out["adapter"])
    run, st = ppo.setup(ppo_cfg(tmp_path, "train.max_steps=3"))  # resume=auto
    assert run.step == 2
    saved = load_file(ckpt / "critic" / "adapter_model.safetensors")
    live = {n: p for n, p in st.critic.model.named_parameters() if ".critic." in n}
    assert len(saved) == len(live) > 0
    for n, p in live.items():
        assert torch.equal(saved[n.replace(".critic.", ".")], p.detach()), n
    assert any(float(v.abs().sum()) > 0 for k, v in saved.items() if "lora_B" in k)
    head = torch.load(ckpt / "critic" / "value_head.pt")
    assert torch.equal(st.critic.head.weight.detach(), head["weight"])
    # the optimizer state came back for both parameter groups
    assert all(run.optimizer.state[p] for g in run.optimizer.param_groups for p in g["params"])
    run.engine.close()


def test_separate_critic_model(tmp_path, ppo_cfg):
    out = ppo.train(ppo_cfg(tmp_path, "critic.separate_model=tiny-random",
                             "train.max_steps=1"))
    ckpt = Path(out["adapter"])
    assert (ckpt / "critic" / "adapter_model.safetensors").is_file()
    assert math.isfinite(out["history"][0]["loss/vf"])


def test_every_sample_unscored_stops_cleanly(tmp_path, capsys, ppo_cfg, smoke_rubric):
    abstaining = smoke_rubric.replace("kind: length", "kind: python").replace(
        "unit: chars\n    max: 45", "function: json:loads")
    with pytest.raises(ppo.RLError, match="every sample of the reward batch was unscored"):
        ppo.train(ppo_cfg(tmp_path, "train.max_steps=5", "train.max_unscored_steps=2",
                           rubric=abstaining))
    assert "[ppo] warning: step 1: every sample" in capsys.readouterr().err


@pytest.mark.parametrize("override, message", [
    ("algo.gamma=1.5", "algo.gamma=1.5 must be in [0, 1]"),
    ("algo=grpo", "rl.ppo needs algo=ppo")])
def test_bad_config_raises(tmp_path, override, message, ppo_cfg):
    with pytest.raises(ppo.RLError, match=message.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)").replace(".", r"\.")):
        ppo.train(ppo_cfg(tmp_path, override))


def test_cli_bad_value_exits_2(tmp_path):
    p = subprocess.run([sys.executable, "-m", "rl.ppo", "debug=tiny", "logger=none",
                        f"run_dir={tmp_path}", "algo.lam=-1"],
                       cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1",
                                      "WANDB_MODE": "disabled"},
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr[-2000:]
    assert "algo.lam=-1 must be in [0, 1]" in p.stderr and "Traceback" not in p.stderr


def test_torchrun_two_ranks(tmp_path):
    """torchrun -m rl.ppo: prompts sharded over 2 gloo ranks, whitening/KL/gradients reduced
    over both, rank 0 checkpoints (critic included); both ranks finish."""
    p = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "rl.ppo",
         "debug=tiny", "logger=none", "dist=ddp", f"run_dir={tmp_path / 'run'}",
         "train.max_steps=2", "train.batch_size=8", "optim.lr=1e-2", "reward.normalize=true"],
        cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"},
        capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count("[ppo] done: step 2") == 2
    ckpt = tmp_path / "run" / "checkpoints" / "step-00000002"
    assert (ckpt / "COMPLETE").exists() and (ckpt / "critic" / "value_head.pt").is_file()


def test_dense_rewards_run_and_refuse_normalize(tmp_path, ppo_cfg):
    """reward.dense=true on a rubric with a locatable check runs end to end; with
    reward.normalize (costs are in score units) it is refused up front."""
    rubric = ("scale: [0, 1]\ndimensions: {d: {weight: 1.0}}\nchecks:\n"
              "  - {id: short, kind: length, dimension: d, unit: chars, max: 45}\n"
              "  - {id: no_e, kind: regex, dimension: d, pattern: 'e', must_match: false}\n")
    out = ppo.train(ppo_cfg(tmp_path / "a", "reward.dense=true", "train.max_steps=1",
                             rubric=rubric))
    assert out["step"] == 1 and math.isfinite(out["history"][0]["loss/pg"])
    with pytest.raises(ppo.RLError, match="reward.dense=true with reward.normalize"):
        ppo.train(ppo_cfg(tmp_path / "b", "reward.dense=true", "reward.normalize=true"))


def test_kl_reference_is_the_start_adapter(tmp_path, ppo_cfg):
    """PPO from an adapter: the KL term of the first batch is 0 against the frozen start copy
    (reference=start, default) and not against the base model (reference=base)."""
    from rl.experience import rollout, score

    first = ppo.train(ppo_cfg(tmp_path / "a", "train.max_steps=2"))
    from safetensors.torch import load_file

    moved = load_file(Path(first["adapter"]) / "adapter_model.safetensors")
    assert any(float(v.abs().sum()) > 0 for k, v in moved.items() if "lora_B" in k)
    kls = {}
    for ref in ("start", "base"):
        run, st = ppo.setup(ppo_cfg(tmp_path / ref, f"model.adapter={first['adapter']}",
                                     "algo.kl.coef=0.1", f"reference={ref}"))
        assert run.reference == ref
        pairs, _ = rollout(run, run.prompts[:4], 1)
        exp = ppo.make_experience(run, st, score(run, pairs, 1))
        kls[ref] = float(exp["kl"].abs().sum())
        run.engine.close()
    assert kls["start"] == 0 and kls["base"] > 1e-6


@pytest.mark.parametrize("dist", ["fsdp", "deepspeed_z3"])
def test_dist_ppo_cannot_honour_is_refused_up_front(tmp_path, dist, ppo_cfg):
    """PPO has no sharded path (critic adapter + value head): exit 2 naming the key."""
    with pytest.raises(ppo.RLError, match=r"dist.backend=(fsdp|deepspeed): rl.ppo runs "
                                      r"dist.backend=none \| ddp"):
        ppo.train(ppo_cfg(tmp_path, f"dist={dist}"))
