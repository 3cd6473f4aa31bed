"""The sharded policy (`dist=fsdp`, torchrun): FSDP2 `fully_shard` over the frozen base and
its LoRA adapter, and what the RL core does differently for it.

    model = shard_policy(model)        # before the optimizer is built: it sees DTensor params
    full = rl.state.full_adapter_state(model)   # collective; rank 0 saves it

Layout: every decoder layer (the classes HF lists in `_no_split_modules`, as its own FSDP
wrap policy does) is one FSDP unit, and the transformer under the PEFT wrapper (the module
HF `generate` and the PEFT forward both call) is the root unit holding the embeddings, final
norm and (tied) LM head. Each rank keeps 1/world of every weight, base and LoRA alike; a
forward all-gathers one layer at a time and frees it after (reshard_after_forward).

What that asks of the loop (rl/grpo.py does each):
- Every forward is a collective, so every rank must run the same number of forwards in the
  same order: `generate(synced=True)` keeps a rank that finished decoding forwarding until
  all have; the training pass pads each rank's micro-batches with zero-weight dummy forwards
  up to the most any rank runs (rl.policy.agreed_plan, pad_forwards).
- Gradients: FSDP reduce-scatters the LoRA gradients itself; its default divides by world
  (a mean). The loss here is already scaled by global row/token counts, so the ranks'
  gradients must be summed: the divide factor is set to 1 and finish_grads skips its manual
  all-reduce for sharded gradients. Clipping uses the global norm (DTensor clip_grad_norm_).
- Checkpoints gather the full adapter and optimizer state (rl.state.full_adapter_state), so
  the saved adapter is the same file an unsharded run writes (evaluators load it unchanged).
- Engines with their own copy of the policy (vLLM) are refused: each rank would hold the
  whole model in its engine, which is what sharding is for avoiding.
"""

from __future__ import annotations

import torch

from rl.state import RLError

# dist.backend values each RL recipe runs
BACKENDS = {"grpo": ("none", "ddp", "fsdp"), "ppo": ("none", "ddp")}


def check_dist(cfg, stage: str) -> str:
    """The `dist.backend` of `cfg`, or RLError (exit 2) for one `rl.<stage>` cannot honour:
    nothing named in `dist=` is silently ignored."""
    backend = str(cfg.dist.backend)
    allowed = BACKENDS[stage]
    if backend not in allowed:
        fsdp = ("dist=fsdp (FSDP2: base and LoRA sharded over ranks)" if "fsdp" in allowed
                else "no sharded backend (dist=fsdp is rl.grpo only)")
        raise RLError(
            f"dist.backend={backend}: rl.{stage} runs dist.backend={' | '.join(allowed)}: "
            f"dist=none (one process), dist=ddp (torchrun: every rank holds the frozen base, "
            f"the LoRA gradient is summed over ranks) or {fsdp}; DeepSpeed "
            "(dist=deepspeed_z2|z3) is for sft.train only")
    # sft.train's settings: DDP's wrapper and DeepSpeed, neither of which RL uses
    if cfg.dist.find_unused_parameters:
        raise RLError(f"dist.find_unused_parameters=true: rl.{stage} sums the LoRA gradients "
                      "itself (no DDP wrapper to search for unused parameters); leave it false")
    if cfg.dist.deepspeed_config is not None:
        raise RLError(f"dist.deepspeed_config={cfg.dist.deepspeed_config}: DeepSpeed is "
                      f"sft.train's; rl.{stage} refuses dist=deepspeed_*")
    return backend


def check_engine(cfg, engine_cls) -> None:
    """Engine settings the run cannot honour, refused up front. dist=fsdp samples from the
    sharded live policy (an engine that shares it: hf); an engine with its own copy would
    hold the whole model on every rank. An engine that shares the live policy samples on the
    policy's device, so its own `rollout.device` (for rl.evaluate's hf engine, which loads a
    model) would be ignored."""
    from rl.rollout.base import capability

    device = cfg.rollout.get("device")  # the hf group's key (engines that load a model)
    if capability(engine_cls, "shares_live_model") and device not in (None, "auto"):
        raise RLError(f"rollout.device={device}: engine {engine_cls.__name__} samples from "
                      "the policy being trained, on its device; set device= (the policy's) "
                      "and leave rollout.device=auto")

    if str(cfg.dist.backend) == "fsdp" and not capability(engine_cls,
                                                                   "shares_live_model"):
        raise RLError(f"dist=fsdp with rollout engine {engine_cls.__name__}: that engine keeps "
                      "its own full copy of the policy on every rank (adapter/merged sync), "
                      "which defeats sharding; use rollout=hf (samples from the sharded live "
                      "policy) or dist=ddp")
    if str(cfg.dist.backend) == "fsdp" and cfg.rollout["async"]:
        raise RLError("dist=fsdp with rollout.async=true: generation and training would run "
                      "FSDP collectives from two threads at once; use rollout.async=false")


def decoder_layers(model) -> list[torch.nn.Module]:
    """The decoder layers of a (PEFT-wrapped) HF causal LM: modules whose class HF names in
    `_no_split_modules`."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = set(getattr(base, "_no_split_modules", None) or [])
    layers = [m for m in base.modules() if type(m).__name__ in names]
    if not layers:
        raise RLError(f"dist=fsdp: {type(base).__name__} lists no decoder layer classes "
                      "(_no_split_modules), so there is nothing to shard layer by layer")
    return layers


def shard_policy(model):
    """FSDP2-shard a PEFT `model` in place (layers, then the transformer as root) over the
    default process group; gradients are summed over ranks, not averaged. Returns `model`."""
    from torch.distributed.fsdp import FSDPModule, fully_shard

    base = model.get_base_model()
    for layer in decoder_layers(model):
        fully_shard(layer)
    fully_shard(base)
    for m in base.modules():
        if isinstance(m, FSDPModule):
            # a sum: divide by 1. A factor != world would be NCCL's PREMUL_SUM op, which gloo
            # lacks ("Cannot use ReduceOp.PREMUL_SUM with Gloo"); forced SUM + a post-divide by
            # 1 is exact on every backend
            m.set_gradient_divide_factor(1.0)
            m.set_force_sum_reduction_for_comms(True)
    return model


def is_sharded(model) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return model is not None and any(isinstance(m, FSDPModule) for m in model.modules())
