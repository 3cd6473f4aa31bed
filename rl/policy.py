"""The policy side of the RL core, shared by every recipe (GRPO, PPO): build the LoRA policy
and its optimizer, the rollout engine that samples from it, generations -> padded tensors,
the policy's per-token log-probs, and syncing the updated policy to the engine.

Shapes: B rows (completions), P = longest prompt (left-padded), T = longest completion
(right-padded). `x` is the dict `to_tensors` returns plus `group` [B] (row -> prompt group).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

from rl.losses import completion_logprobs, shared_prompt_logprobs
from rl.state import RLError, Run, save_adapter


def build_policy(cfg, ckpt: Path | None, stage: str,
                 adapter_name: str = "default") -> tuple[Any, Any]:
    """(model, tokenizer) on `cfg.device`: base + the checkpoint's adapter, the start adapter
    (`model.adapter`, e.g. an SFT checkpoint), or a fresh LoRA from `cfg.lora`, as the PEFT
    adapter `adapter_name`; whichever it is, its LoRA layers get the kernel `lora.kernel`
    picks for that device."""
    from omegaconf import OmegaConf

    from sft.model import (
        apply_lora_kernel,
        load_adapter,
        load_model,
        load_tokenizer,
        resolve_device,
        setup_trainable,
    )

    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    start = model_cfg.pop("adapter", None)
    device = torch.device(resolve_device(cfg.get("device")))
    tok = load_tokenizer(model_cfg)
    model = load_model(model_cfg, device=str(device))
    torch.manual_seed(int(cfg.seed))  # LoRA init
    if ckpt is not None or start:
        model = load_adapter(model, ckpt if ckpt is not None else start, trainable=True,
                             adapter_name=adapter_name)
        model.to(device)
        apply_lora_kernel(model, cfg.lora.get("kernel"), device.type)
        if ckpt is None and float(cfg.algo.get("beta", 0.0)) > 0:
            print(f"[{stage}] warning: starting from adapter {start} with algo.beta="
                  f"{cfg.algo.beta}: the KL reference is the base model (adapter disabled), "
                  "not this adapter", file=sys.stderr)
    else:
        model = setup_trainable(model, cfg.lora, device_type=device.type,
                                adapter_name=adapter_name).to(device)
    if not hasattr(model, "disable_adapter"):
        raise RLError(f"rl.{stage} trains a LoRA adapter (lora.enabled=true); the KL "
                      "reference is the base model with the adapter disabled")
    # eval mode for good: no dropout, so training log-probs equal sampling log-probs
    model.eval()
    return model, tok


def build_optimizer(optim_cfg, params: list[torch.nn.Parameter], total_steps: int):
    """AdamW over `params` and the configured LR schedule (warm-up share of `total_steps`)."""
    from transformers import get_scheduler

    o = optim_cfg
    opt = torch.optim.AdamW(params, lr=float(o.lr), betas=tuple(o.betas), eps=float(o.eps),
                            weight_decay=float(o.weight_decay))
    sched = get_scheduler(str(o.scheduler), opt,
                          num_warmup_steps=int(float(o.warmup_ratio) * total_steps),
                          num_training_steps=total_steps)
    return opt, sched


def trainable(model) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def build_engine_for(cfg, model, tok, run_dir: Path, rank: int, version: int = 0,
                     adapter: str = "default"):
    """The rollout engine `cfg.rollout` names, sampling from `model`'s adapter `adapter`: an
    engine that shares the live model gets it (the recipe keeps that adapter active while it
    samples); any other loads the adapter saved to disk."""
    from rl.rollout.base import build_engine, resolve_engine_class

    name = str(cfg.rollout.get("_target_") or cfg.rollout.get("engine"))
    if resolve_engine_class(name).shares_live_model:
        return build_engine(cfg, model=model, tokenizer=tok)
    engine = build_engine(cfg)
    engine.load_adapter(str(save_sync_adapter(model, run_dir, version, rank, adapter)),
                        version=version)
    return engine


def to_tensors(gens: list, pad_id: int) -> dict[str, torch.Tensor]:
    """Generations -> prompt_ids/prompt_mask [B, P] (left-padded), completion_ids,
    completion_mask [B, T] (right-padded) and sampler_logp [B, T] (0 where not sampled)."""
    p_len = max([len(g.prompt_token_ids or []) for g in gens], default=0)
    t_len = max([1] + [len(g.token_ids) for g in gens])
    out = {k: torch.full((len(gens), n), v, dtype=dt) for k, n, v, dt in (
        ("prompt_ids", p_len, pad_id, torch.long), ("prompt_mask", p_len, 0, torch.long),
        ("completion_ids", t_len, pad_id, torch.long), ("completion_mask", t_len, 0, torch.long),
        ("sampler_logp", t_len, 0.0, torch.float32))}
    for i, g in enumerate(gens):
        prompt, completion = g.prompt_token_ids or [], g.token_ids
        if prompt:
            out["prompt_ids"][i, p_len - len(prompt):] = torch.tensor(prompt)
            out["prompt_mask"][i, p_len - len(prompt):] = 1
        if completion:
            out["completion_ids"][i, :len(completion)] = torch.tensor(completion)
            out["completion_mask"][i, :len(completion)] = 1
            if g.logprobs:
                out["sampler_logp"][i, :len(completion)] = torch.tensor(
                    g.logprobs[:len(completion)])
    return out


def policy_logprobs(run: Run, x: dict, idx: torch.Tensor, with_entropy: bool = False):
    """[len(idx), T] log-probs of rows `idx` of `x` under the current model (with_entropy:
    and the [len(idx), T] entropy of each position's full next-token distribution).

    train.logprob_mode: shared_prompt (default) encodes each group's prompt once
    (rl.losses.shared_prompt_logprobs); full runs the padded prompt+completion forward per row
    (what TRL does; kept as the reference the tests compare against). Rows of one group must
    be contiguous in `idx`.
    """
    temp = float(run.cfg.sampling.temperature) or 1.0
    if run.cfg.train.get("logprob_mode", "shared_prompt") == "full":
        return completion_logprobs(run.model, x["prompt_ids"][idx], x["prompt_mask"][idx],
                                   x["completion_ids"][idx], x["completion_mask"][idx], temp,
                                   with_entropy=with_entropy)
    parts, rows = [], idx.tolist()
    start = 0
    while start < len(rows):
        end = start
        while end < len(rows) and x["group"][rows[end]] == x["group"][rows[start]]:
            end += 1
        first, group_rows = rows[start], idx[start:end]
        prompt = x["prompt_ids"][first][x["prompt_mask"][first].bool()]
        parts.append(shared_prompt_logprobs(run.model, prompt, x["completion_ids"][group_rows],
                                            x["completion_mask"][group_rows], temp,
                                            with_entropy=with_entropy))
        start = end
    if with_entropy:
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    return torch.cat(parts)


def group_chunks(compute: torch.Tensor, group: torch.Tensor, mb: int) -> list[torch.Tensor]:
    """Micro-batches of whole groups: a group's rows stay together (they share one prompt
    encoding), so a micro-batch holds >= mb rows unless it is the last (at most mb + G - 1)."""
    out, cur = [], []
    for i in compute.tolist():
        if len(cur) >= mb and group[i] != group[cur[-1]]:
            out.append(torch.tensor(cur))
            cur = []
        cur.append(i)
    return out + ([torch.tensor(cur)] if cur else [])


def finish_grads(params: list[torch.nn.Parameter], world: int, max_norm) -> float:
    """Sum `params`' gradients over ranks (a missing one counts as zeros, so every rank joins
    every all-reduce), clip them by global norm (`max_norm` None = no clipping); returns the
    norm before clipping."""
    import math

    from sft.dist import all_reduce_sum

    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        all_reduce_sum(p.grad, world)
    return float(torch.nn.utils.clip_grad_norm_(params, float(max_norm) if max_norm else math.inf))


def sync(run: Run) -> float:
    """Make the engine sample from the updated policy; returns seconds (perf/sync_s)."""
    t0 = time.perf_counter()
    run.version += 1
    if run.engine.shares_live_model:
        # the engine holds the live model: nothing to copy, only the version moves
        run.engine.load_adapter(f"live-v{run.version}", version=run.version)
    else:
        path = save_sync_adapter(run.model, run.run_dir, run.version, run.rank,
                                 run.policy_adapter)
        run.engine.load_adapter(str(path), version=run.version)
    return time.perf_counter() - t0


def save_sync_adapter(model, run_dir: Path, version: int, rank: int = 0,
                      adapter: str = "default") -> Path:
    """Adapter files for file-based engines; one directory per rank, reused across versions
    (vLLM keys its adapter cache by LoRARequest id, and every sync gets a new id)."""
    path = run_dir / f"sync_adapter-rank{rank}"
    tmp = run_dir / f".sync_adapter-rank{rank}-{version}"
    shutil.rmtree(tmp, ignore_errors=True)
    save_adapter(model, tmp, adapter)
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)
    return path
