"""PPO on harness rewards, with a critic that shares the policy's frozen base model.

One frozen base model serves three roles: the policy (LoRA adapter "policy"), the critic (LoRA
adapter "critic" + a value head, Linear(hidden, 1) on the last hidden state) and the KL
reference (`reference=start`: a frozen copy of the start adapter, or every adapter disabled
when there is none or `reference=base`). One step, top to bottom:

    prompts (task train split, shuffled per epoch, resumable position)
      -> rollout engine: algo.num_generations completions per prompt (policy adapter active)
      -> Harness.score_batch: score per completion (None -> NaN: the row is masked, never 0)
      -> no-grad passes over the batch: old log-probs (policy adapter), reference log-probs
         (rl.policy.reference_pass, only when kl.coef > 0), old values (critic adapter)
      -> per-token rewards: the score (optionally standardised by running moments) on the last
         completion token, -beta * (old_logp - ref_logp) on every token
      -> GAE(gamma, lambda) -> returns; advantages whitened over every counted token of the
         batch (rl/advantages.py)
      -> algo.ppo_epochs x algo.num_minibatches optimizer steps; each micro-batch runs a
         policy pass (clipped ratio loss, optional entropy bonus; only the policy adapter's
         weights get gradients) and a critic pass (clipped value loss; only the critic
         adapter and the value head get gradients), switched with PEFT's set_adapter
      -> adaptive KL controller update (optional) -> policy synced to the engine -> metrics,
         checkpoint (policy adapter at the root, critic adapter + value head under critic/,
         controller and reward moments in state/ppo.pt: rl/state.py's CheckpointHook)

Everything GRPO shares (prompt stream, rollout, scoring, reward metrics, sample tables, policy
and optimizer construction, log-probs, sync, checkpoints) comes from the RL core
(rl/experience.py, rl/policy.py, rl/state.py), and the run itself (set-up, resume, the step
loop, signals, saving, the Goodhart halt, the engine-failure checkpoint, the CLI) from
rl/driver.py; this file is PPO's own: the critic, rewards -> GAE, the epoch/minibatch loop
and one step (`RECIPE` at the bottom hands them to the driver).

Deviations from the papers / TRL's last PPOTrainer (0.12), on purpose:
- No second and third model copy: policy, critic and reference are one base model with two
  adapters (`critic.separate_model` loads a separate, e.g. smaller, critic with its own LoRA;
  it must share the tokenizer). The reference is the policy the run started from: starting
  from an SFT adapter with kl.coef > 0 that adapter is loaded again, frozen, as a third
  adapter "reference" (`reference=base` anchors to the base model instead).
- The value head starts at zero (V = 0 everywhere; scores are in the rubric's [0, 1] scale),
  so a fresh critic is exactly "no baseline" rather than a random one.
- Policy and critic are one AdamW with two parameter groups (critic.lr for the critic), but
  their gradients are clipped separately by optim.max_grad_norm.
- Training forwards run in eval mode (no LoRA dropout), so the first epoch's ratio is exactly 1.
- Unscored samples are dropped from GAE, whitening and both losses, not scored 0.
- Generation seeds derive from (seed, step, prompt); minibatch shuffles from (seed, step,
  epoch): a run killed and resumed repeats an uninterrupted run exactly (hf engine).
- Engines with their own policy copy (vLLM) are synced after each step and every completion
  records the policy version that sampled it; a lag beyond `rollout.max_lag` stops the step.
  `rollout.async=true` generates step t+1 while step t trains (rl/overlap.py, lag 1,
  `rollout/version_lag`), and `algo.rollout_correction=tis|seq_mask` weights the policy
  gradient by pi_old / mu, the trainer's pre-update log-prob over the sampler's (GRPO's
  correction; the ratio in the clipped loss stays pi / pi_old).
- Dense rewards (`reward.dense=true`): a failed check that can locate its failure in the
  completion (`Check.locate`: `regex` with must_match=false, `no_repetition`'s n-gram rule)
  has its cost — what the score would gain if it passed — moved from the last token onto
  the tokens it blames (rl/dense.py, rl.advantages.blame_tokens); a row's return is
  unchanged. Not located (yet, or by nature): `numbers_grounded`, `field_match` and
  `json_schema` could be (the number / field value / path in the text); `spans_preserved`
  (a *missing* span has no tokens), `length`, `json_valid`, `label_match`, `readability`,
  `semantic_similarity`, `judge`, `python` cannot (whole-answer or opaque).

Launch:
    python -m rl.ppo                                         # smollm2-135m, support_classification
    python -m rl.ppo model.adapter=runs/local/sft-.../checkpoints/step-00000100
    python -m rl.ppo debug=tiny                              # seconds, tiny-random model
    python -m rl.ppo algo.kl.adaptive=true algo.kl.target=1.0 algo.ent_coef=0.01
    python -m rl.ppo critic.separate_model=tiny-random       # a separate critic model
    torchrun --nproc_per_node=2 -m rl.ppo dist=ddp           # prompts sharded, grads summed
    python -m rl.ppo rollout=vllm                            # vLLM engine, rollout.sync=auto
    python -m rl.ppo rollout=vllm rollout.async=true algo.rollout_correction=tis
SIGTERM / SIGUSR1 (Slurm pre-emption): finish the step, checkpoint, exit 0; `train.resume=auto`
continues from the newest complete checkpoint of the run dir. A rollout engine that dies
checkpoints the state before the step and stops (exit 2 naming the checkpoint).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from rl import driver
from rl.advantages import (
    Moments,
    adaptive_kl_coef,
    blame_tokens,
    gae,
    masked_sums,
    normalize_scores,
    token_rewards,
    update_moments,
    whiten,
)
from rl.dense import blame
from rl.experience import (
    Batch,
    gather_batch,
    has_sampler_logprobs,
    note_unscored,
    reward_metrics,
    rollout_metrics,
    version_lag,
)
from rl.losses import explained_variance, policy_loss, rollout_correction, value_loss
from rl.no_signal import check_signal
from rl.overlap import next_scored
from rl.policy import (
    finish_grads,
    group_chunks,
    policy_logprobs,
    reference_pass,
    sync,
    to_tensors,
)
from rl.shard import check_dist
from rl.state import RLError, Run, save_adapter
from sft.config_rules import Rule, boolean, check, positive
from sft.dist import all_reduce_sum

POLICY, CRITIC = "policy", "critic"


# ---------------------------------------------------------------------------------- setup
# PPO's own keys (rl.driver.RL_RULES checks the ones every recipe shares first); the
# controller's settings are checked whether or not it is on, so a typo never waits for
# algo.kl.adaptive=true to surface
PPO_RULES: list[Rule] = [
    ("algo.kl.adaptive", boolean, "true or false"),
    ("algo.kl.target", positive, "a KL per sequence in nats > 0"),
    ("algo.kl.horizon", positive, "a number of samples > 0"),
]


def validate(cfg) -> None:
    """Config errors that would otherwise surface as a crash (or a NaN) minutes in."""
    check(cfg, PPO_RULES)
    check_dist(cfg, "ppo")  # dist=fsdp|deepspeed_*: exit 2 (no sharded critic + value head)
    algo = cfg.algo
    if "gamma" not in algo or "ppo_epochs" not in algo:
        raise RLError(f"algo={algo.get('name')!r} is not a PPO config: rl.ppo needs algo=ppo "
                      "(conf/algo/ppo.yaml)")
    group, batch = int(algo.num_generations), int(cfg.train.batch_size)
    if group < 1 or batch % group:
        raise RLError(f"train.batch_size={batch} completions is not a multiple of "
                      f"algo.num_generations={group} (>= 1)")
    for key, lo, hi in (("gamma", 0, 1), ("lam", 0, 1)):
        if not lo <= float(algo[key]) <= hi:
            raise RLError(f"algo.{key}={algo[key]} must be in [{lo}, {hi}]")
    for key in ("ppo_epochs", "num_minibatches"):
        if int(algo[key]) < 1:
            raise RLError(f"algo.{key}={algo[key]} must be >= 1")
    if float(algo.kl.coef) < 0 or float(algo.clip_eps) <= 0:
        raise RLError(f"algo.kl.coef={algo.kl.coef} must be >= 0 and algo.clip_eps="
                      f"{algo.clip_eps} > 0")
    if algo.kl.adaptive and (float(algo.kl.target) <= 0 or float(algo.kl.coef) <= 0):
        raise RLError("algo.kl.adaptive=true needs algo.kl.target > 0 and algo.kl.coef > 0 "
                      "(the controller scales beta; it cannot leave 0)")
    if cfg.reward.dense and cfg.reward.normalize:
        raise RLError("reward.dense=true with reward.normalize=true: a located failure's cost "
                      "is in harness-score units; use one of the two")
    if not cfg.critic.lora.enabled:
        raise RLError("critic.lora.enabled=false: the critic is a LoRA adapter (plus a value "
                      "head) on a frozen base model")


@dataclass
class Critic:
    """The value function: `model` (the policy's PeftModel when shared) with its LoRA adapter
    "critic" active, and `head` on the decoder's last hidden state."""

    model: Any
    head: torch.nn.Linear
    shared: bool

    def params(self) -> list[torch.nn.Parameter]:
        lora = [p for n, p in self.model.named_parameters() if f".{CRITIC}." in n]
        return lora + list(self.head.parameters())

    @contextlib.contextmanager
    def active(self):
        """Critic adapter on (only its weights get gradients); the policy adapter back after."""
        if not self.shared:
            yield
            return
        self.model.set_adapter(CRITIC)
        try:
            yield
        finally:
            self.model.set_adapter(POLICY)


def build_critic(cfg, policy_model, tok) -> Critic:
    """A "critic" LoRA adapter on the policy's base model, or on `critic.separate_model`, and
    a zero-initialised value head (V = 0 at the start)."""
    from omegaconf import OmegaConf

    from sft.model import load_model, load_tokenizer, lora_config, setup_trainable

    if cfg.critic.separate_model:
        mcfg = OmegaConf.to_container(cfg.model, resolve=True)
        mcfg.pop("adapter", None)
        mcfg["name_or_path"] = str(cfg.critic.separate_model)
        if load_tokenizer(mcfg).get_vocab() != tok.get_vocab():
            raise RLError(f"critic.separate_model={cfg.critic.separate_model!r} has a different "
                          f"tokenizer from model.name_or_path={cfg.model.name_or_path!r}: the "
                          "critic reads the policy's token ids")
        model, shared = setup_trainable(load_model(mcfg), cfg.critic.lora, adapter_name=CRITIC), False
    else:
        policy_model.add_adapter(CRITIC, lora_config(cfg.critic.lora))
        policy_model.set_adapter(POLICY)
        model, shared = policy_model, True
    model.eval()
    hidden = model.get_base_model().config.get_text_config().hidden_size
    head = torch.nn.Linear(hidden, 1)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    return Critic(model, head, shared)


@dataclass
class PPOState:
    """PPO's checkpoint hook (rl.state.CheckpointHook): the critic adapter and value head,
    beta of the KL controller and the running reward moments."""

    critic: Critic
    kl_coef: float
    moments: Moments = field(default_factory=Moments)

    def save(self, staged: Path) -> None:
        save_adapter(self.critic.model, staged / CRITIC, CRITIC)
        torch.save(self.critic.head.state_dict(), staged / CRITIC / "value_head.pt")
        torch.save({"kl_coef": self.kl_coef, "moments": asdict(self.moments)},
                   staged / "state" / "ppo.pt")

    def restore(self, ckpt: Path) -> None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        weights = load_file(ckpt / CRITIC / "adapter_model.safetensors")
        # in place: the optimizer already holds these parameters
        out = set_peft_model_state_dict(self.critic.model, weights, adapter_name=CRITIC)
        if getattr(out, "unexpected_keys", None):
            raise RLError(f"{ckpt / CRITIC}: critic weights do not fit this critic "
                          f"({len(out.unexpected_keys)} unexpected keys)")
        self.critic.head.load_state_dict(torch.load(ckpt / CRITIC / "value_head.pt"))
        s = torch.load(ckpt / "state" / "ppo.pt")
        self.kl_coef, self.moments = float(s["kl_coef"]), Moments(**s["moments"])


def build(cfg, model, tok, sharded: bool) -> tuple[Any, list, PPOState]:
    """The critic beside the policy; the optimizer's two parameter groups (critic.lr for the
    critic); PPO's checkpointed state. `sharded` is never true: check_dist refuses fsdp."""
    critic = build_critic(cfg, model, tok)
    policy_params = [p for n, p in model.named_parameters() if f".{POLICY}." in n]
    groups = [{"params": policy_params},
              {"params": critic.params(), "lr": float(cfg.critic.lr)}]
    return model, groups, PPOState(critic, float(cfg.algo.kl.coef))


def setup(cfg, engine=None) -> tuple[Run, PPOState]:
    """(Run, PPO state) ready for the first (or resumed) step (rl.driver.setup)."""
    return driver.setup(RECIPE, cfg, engine)


# ------------------------------------------------------------------------------- the critic
def completion_values(critic: Critic, x: dict, idx: torch.Tensor) -> torch.Tensor:
    """[len(idx), T] float32 values V_t of the state before completion token t (the hidden
    state at the position that predicts token t, as the log-probs are aligned).

    One padded forward of the decoder (no LM head: no [*, V] logits) under the critic adapter;
    positions follow the attention mask as in rl.losses.completion_logprobs."""
    p_len = x["prompt_ids"].shape[1]
    ids = torch.cat([x["prompt_ids"][idx], x["completion_ids"][idx]], 1)
    attn = torch.cat([x["prompt_mask"][idx], x["completion_mask"][idx]], 1)
    pos = (attn.long().cumsum(1) - 1).clamp(min=0)
    decoder = critic.model.get_base_model().get_decoder()
    hidden = decoder(input_ids=ids, attention_mask=attn, position_ids=pos).last_hidden_state
    t = x["completion_ids"].shape[1]
    return critic.head(hidden[:, p_len - 1:p_len - 1 + t].float()).squeeze(-1)


# ------------------------------------------------------------------------------ experience
@torch.no_grad()
def make_experience(run: Run, st: PPOState, batch: Batch) -> dict[str, torch.Tensor]:
    """Batch -> tensors, old log-probs/values, per-token rewards, GAE advantages and returns.

    Returns `to_tensors`' dict plus group [B], mask [B, T] (0 on unscored rows), old_logp,
    values, advantages, returns, kl (per-token k1) [B, T] and valid [B]."""
    cfg, algo = run.cfg, run.cfg.algo
    device = next(run.model.parameters()).device
    x = {k: v.to(device) for k, v in to_tensors(batch.gens, run.tokenizer.pad_token_id).items()}
    n = len(batch.gens)
    x["group"] = torch.arange(n) // int(algo.num_generations)
    scored = ~torch.isnan(batch.rewards).to(device)
    mask = x["completion_mask"] * scored[:, None]
    chunks = group_chunks(torch.arange(n), x["group"], int(cfg.train.micro_batch_size))
    old_logp, values, kl = (torch.zeros(mask.shape, device=device) for _ in range(3))
    for idx in chunks:
        old_logp[idx] = policy_logprobs(run, x, idx)
        if st.kl_coef > 0:
            with reference_pass(run):
                kl[idx] = old_logp[idx] - policy_logprobs(run, x, idx)
        with st.critic.active():
            values[idx] = completion_values(st.critic, x, idx)
    scores = batch.rewards.clone().to(device)
    if cfg.reward.normalize:
        sums = all_reduce_sum(masked_sums(scores.nan_to_num(0.0), scored), run.world)
        st.moments = update_moments(st.moments, sums)
        scores = normalize_scores(scores, st.moments)
    rewards = token_rewards(scores, mask, kl * mask, st.kl_coef)
    if cfg.reward.dense:  # failures a check can locate: their cost on those tokens
        rewards = blame_tokens(rewards, mask, [
            blame(run.harness.rubric, s, r, g.token_ids, run.tokenizer)
            for s, r, g in zip(batch.samples, batch.results, batch.gens, strict=True)])
    adv, ret, valid = gae(rewards, values, mask, float(algo.gamma), float(algo.lam))
    mask = mask * valid[:, None]
    if algo.whiten_advantages:
        adv = whiten(adv, mask, all_reduce_sum(masked_sums(adv, mask), run.world))
    return x | _correction(run, batch, x, old_logp, mask) | {
        "mask": mask, "old_logp": old_logp, "values": values * mask, "advantages": adv,
        "returns": ret, "kl": kl * mask, "valid": valid}


def _correction(run: Run, batch: Batch, x: dict, old_logp: torch.Tensor,
                mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """The sampler-vs-trainer correction (algo.rollout_correction, as GRPO's: a detached
    weight on the policy-gradient term, rl.losses.rollout_correction), against the policy
    before this batch's updates: "is_weights" [B, T] unless it is none, and "corr_sums" [4]:
    token-weighted mismatch KL, IS weight, masked share and the token count (zeros when the
    engine returned no log-probs)."""
    algo = run.cfg.algo
    mode = str(algo.rollout_correction)
    corr = rollout_correction(old_logp, x["sampler_logp"], mask, mode, tis_cap=float(algo.tis_cap),
                              seq_low=float(algo.seq_mask_low), seq_high=float(algo.seq_mask_high))
    n_tok = float(mask.sum()) if has_sampler_logprobs(run, batch.gens) else 0.0
    out = {"corr_sums": torch.tensor([float(corr.mismatch_kl) * n_tok,
                                      float(corr.is_weight_mean) * n_tok,
                                      float(corr.masked_frac) * n_tok, n_tok])}
    return out | ({} if mode == "none" else {"is_weights": corr.weights})


# ---------------------------------------------------------------------------------- train
def train_step(run: Run, st: PPOState, exp: dict) -> dict[str, float]:
    """algo.ppo_epochs x algo.num_minibatches optimizer steps over the valid rows of `exp`."""
    algo = run.cfg.algo
    rows = exp["valid"].nonzero().flatten()
    policy_params = run.optimizer.param_groups[0]["params"]
    # zeros, not missing keys, on a rank whose scored completions were all empty
    stats = dict.fromkeys(("pg", "vf", "entropy", "clip_frac", "vf_clip_frac", "ratio",
                           "approx_kl", "tokens"), 0.0)
    norms = {"policy": [], "value": []}
    for epoch in range(int(algo.ppo_epochs)):
        g = torch.Generator().manual_seed(
            (int(run.cfg.seed) * 1_000_003 + run.step * 1009 + epoch * 101 + run.rank) % 2**31)
        perm = rows[torch.randperm(len(rows), generator=g)]
        for mini in torch.tensor_split(perm, int(algo.num_minibatches)):
            mini = mini.sort().values  # a group's rows contiguous: one prompt encoding each
            run.optimizer.zero_grad(set_to_none=True)
            n_tok = all_reduce_sum(torch.tensor(float(exp["mask"][mini].sum())), run.world)
            for idx in group_chunks(mini, exp["group"], int(run.cfg.train.micro_batch_size)):
                _micro_step(run, st, exp, idx, float(n_tok), stats)
            max_norm = run.cfg.optim.max_grad_norm
            norms["policy"].append(finish_grads(policy_params, run.world, max_norm))
            norms["value"].append(finish_grads(st.critic.params(), run.world, max_norm))
            run.optimizer.step()
    run.scheduler.step()
    tok = max(stats.pop("tokens", 0.0), 1.0)
    out = {k: v / tok for k, v in stats.items()}
    out["policy_grad_norm"] = sum(norms["policy"]) / len(norms["policy"])
    out["value_grad_norm"] = sum(norms["value"]) / len(norms["value"])
    return out


def _micro_step(run: Run, st: PPOState, exp: dict, idx: torch.Tensor, n_tok: float,
                stats: dict) -> None:
    """Policy pass then critic pass on rows `idx`; each backward reaches only its adapter.
    Losses are token means over the whole minibatch (all ranks): micro-batching is exact."""
    algo = run.cfg.algo
    mask = exp["mask"][idx]
    tokens = float(mask.sum())
    if tokens == 0:
        return
    # scaled by the global token count, so the ranks' gradients sum to the gradient of the
    # global minibatch loss (one process on the whole batch computes the same)
    scale = tokens / n_tok
    ent_coef = float(algo.ent_coef)
    if ent_coef > 0:
        logp, ent = policy_logprobs(run, exp, idx, with_entropy=True)
    else:
        logp, ent = policy_logprobs(run, exp, idx), None
    eps = float(algo.clip_eps)
    weights = exp["is_weights"][idx] if "is_weights" in exp else None
    pg = policy_loss(logp, exp["old_logp"][idx], exp["advantages"][idx], mask, eps_low=eps,
                     eps_high=eps, agg="token_mean", token_weights=weights)
    loss = pg.loss
    ent_mean = torch.zeros(())
    if ent is not None:
        ent_mean = (ent * mask).sum() / tokens
        loss = loss - ent_coef * ent_mean
    _backward(run, loss * scale)
    with st.critic.active():
        v = completion_values(st.critic, exp, idx)
        vf, vf_clip = value_loss(v, exp["values"][idx], exp["returns"][idx], mask,
                                 None if algo.vf_clip is None else float(algo.vf_clip))
        _backward(run, float(algo.vf_coef) * vf * scale)
    log_ratio = (logp.detach() - exp["old_logp"][idx]) * mask
    for k, val in (("pg", pg.pg), ("vf", vf.detach()), ("entropy", ent_mean.detach()),
                   ("clip_frac", pg.clip_frac), ("vf_clip_frac", vf_clip),
                   ("ratio", pg.ratio_mean),
                   ("approx_kl", 0.5 * (log_ratio ** 2).sum() / tokens)):
        stats[k] += float(val) * tokens
    stats["tokens"] += tokens


def _backward(run: Run, loss: torch.Tensor) -> None:
    if not torch.isfinite(loss):
        raise RLError(f"step {run.step + 1}: loss is {loss.item()} (non-finite) — stopping. "
                      f"Last good checkpoint: {run.last_ckpt or 'none (no checkpoint yet)'}")
    loss.backward()


# ----------------------------------------------------------------------------------- loop
def step_once(run: Run, st: PPOState) -> tuple[dict[str, float], Batch]:
    """Rollout -> reward -> GAE -> PPO epochs -> sync for one step; returns its metrics."""
    cfg, algo = run.cfg, run.cfg.algo
    group = int(algo.num_generations)
    t0 = time.perf_counter()
    n_prompts = int(cfg.train.batch_size) // group // run.world
    # with rollout.async: generated by the previous policy while the last step trained
    done = next_scored(run, n_prompts, group)
    batch, rollout_s, reward_s = done.batch, done.rollout_s, done.reward_s
    lag = version_lag(run, batch.gens)  # raises past rollout.max_lag
    # reward metrics over every rank's samples
    everyone = gather_batch(batch, run.world)
    metrics = reward_metrics(run, everyone, group)
    check_signal(run, everyone, group)
    n_scored = int((~torch.isnan(everyone.rewards)).sum())
    train_metrics, sync_s = {}, 0.0
    if n_scored == 0:
        note_unscored(run, len(batch.rewards))
        run.scheduler.step()
    else:
        run.unscored_streak = 0
        t2 = time.perf_counter()
        exp = make_experience(run, st, batch)
        train_metrics = train_step(run, st, exp) | _experience_metrics(run, st, exp)
        metrics["perf/train_s"] = time.perf_counter() - t2
        sync_s = sync(run)
    run.step += 1
    metrics |= _step_metrics(run, st, train_metrics) | rollout_metrics(everyone)
    metrics["rollout/version_lag"] = float(lag)
    dt = time.perf_counter() - t0
    gen_tokens = sum(len(g.token_ids) for g in batch.gens)
    metrics |= {"perf/rollout_s": rollout_s, "perf/reward_s": reward_s, "perf/sync_s": sync_s,
                "perf/stream_chunks": done.timeline.get("chunks", 0),
                "perf/step_s": dt, "perf/tokens_per_s": gen_tokens * run.world / dt,
                "train/skipped": float(not train_metrics)}
    return metrics, everyone


def _experience_metrics(run: Run, st: PPOState, exp: dict) -> dict[str, float]:
    """KL, value and advantage diagnostics of the batch; updates the adaptive KL controller."""
    mask, valid = exp["mask"], exp["valid"]
    sums = all_reduce_sum(torch.cat([torch.tensor([float(exp["kl"].sum()), float(valid.sum()),
                                                   float(mask.sum())]), exp["corr_sums"]]),
                          run.world)
    seq_kl = float(sums[0] / sums[1].clamp(min=1))
    corr_tok = sums[6].clamp(min=1)
    out = {"kl_seq": seq_kl, "kl_token": float(sums[0] / sums[2].clamp(min=1)),
           "kl_coef": st.kl_coef,
           "explained_var": explained_variance(exp["values"], exp["returns"], mask),
           "value_mean": float((exp["values"] * mask).sum() / mask.sum().clamp(min=1)),
           "returns_mean": float((exp["returns"] * mask).sum() / mask.sum().clamp(min=1)),
           "adv_abs_mean": float((exp["advantages"].abs() * mask).sum()
                                 / mask.sum().clamp(min=1)),
           "mismatch_kl": float(sums[3] / corr_tok), "is_weight": float(sums[4] / corr_tok),
           "is_masked": float(sums[5] / corr_tok)}
    if run.cfg.algo.kl.adaptive:
        k = run.cfg.algo.kl
        st.kl_coef = adaptive_kl_coef(st.kl_coef, seq_kl, float(k.target), float(k.horizon),
                                      int(sums[1]))
    return out


def _step_metrics(run: Run, st: PPOState, t: dict) -> dict[str, float]:
    out = {"train/lr": run.scheduler.get_last_lr()[0], "kl/coef": st.kl_coef}
    if not t:
        return out
    if run.cfg.algo.ent_coef:  # the entropy is only computed for the bonus
        out["loss/entropy"] = t["entropy"]
    if run.cfg.reward.normalize:
        out |= {"reward/running_mean": st.moments.mean, "reward/running_std": st.moments.var ** 0.5}
    return out | {
        "loss/pg": t["pg"], "loss/vf": t["vf"],
        "kl": t["kl_seq"], "kl/token_mean": t["kl_token"], "loss/kl": t["kl_coef"] * t["kl_seq"],
        "policy/grad_norm": t["policy_grad_norm"], "policy/clip_frac": t["clip_frac"],
        "policy/ratio_mean": t["ratio"], "policy/approx_kl": t["approx_kl"],
        "value/grad_norm": t["value_grad_norm"], "value/explained_var": t["explained_var"],
        "value/clip_frac": t["vf_clip_frac"], "value/mean": t["value_mean"],
        "value/returns_mean": t["returns_mean"], "adv/abs_mean": t["adv_abs_mean"],
        "rollout/mismatch_kl": t["mismatch_kl"], "rollout/is_weight_mean": t["is_weight"],
        "rollout/masked_frac": t["is_masked"]}


RECIPE = driver.Recipe(
    name="ppo", validate=validate, kl_on=lambda cfg: float(cfg.algo.kl.coef) > 0, build=build,
    step=step_once, adapter=POLICY,
    postfix=(("reward", "reward/total", ".3f"), ("pg", "loss/pg", ".4f"),
             ("vf", "loss/vf", ".4f"), ("kl", "kl", ".4f"), ("ev", "value/explained_var", ".2f"),
             ("tok/s", "perf/tokens_per_s", ".1f")))


def train(cfg, on_step: Callable[[int, dict], None] | None = None,
          engine=None) -> dict[str, Any]:
    """Run PPO to `train.max_steps` (rl.driver.train); returns {"step", "adapter", "run_dir",
    "stopped_by", "history", "rubric_hash"} like rl.grpo.train (`adapter` = the last
    checkpoint: the policy adapter at its root, so rl.evaluate and the pipeline load it as
    they load GRPO's). `on_step(step, metrics)` after each step; `engine`: one the caller owns.
    """
    return driver.train(RECIPE, cfg, on_step, engine)


def cli() -> None:
    """`python -m rl.ppo [overrides]`: exit 0 done (or pre-empted), 2 bad input, 1 a bug."""
    driver.cli(RECIPE)


if __name__ == "__main__":
    cli()
