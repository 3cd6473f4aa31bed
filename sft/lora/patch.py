"""Swap PEFT's LoRA `Linear` forward for the fused kernels where that is exact, keep PEFT's
own forward everywhere else.

    from sft.lora import patch_peft_model
    counts = patch_peft_model(model, cfg.lora.kernel)   # {"patched": n, "fallback": {why: n}}

A patched layer's class becomes `FusedLoraLinear` (a subclass of peft's `lora.Linear` defined
here, so pickling, deepcopy, save_pretrained and isinstance checks keep working). Its forward
re-checks the conditions that can change at run time (adapters disabled/merged/switched,
mixed-adapter batches, device, dtype, autocast) and calls PEFT's forward when one fails,
logging each distinct reason once.
"""

from __future__ import annotations

import logging
from collections import Counter

import torch
from peft.tuners.lora.layer import Linear as LoraLinear
from peft.tuners.lora.layer import LoraLayer
from torch import nn

from .function import MAX_RANK, SUPPORTED_DTYPES, lora_linear, unsupported_reason

log = logging.getLogger(__name__)
KERNELS = ("fused", "reference")
_LOGGED: set[str] = set()


def _log_once(reason: str) -> None:
    if reason not in _LOGGED:
        _LOGGED.add(reason)
        log.warning("fused LoRA: falling back to PEFT's forward: %s", reason)


def _hooked(*modules: nn.Module) -> bool:
    # ZeRO-3 / FSDP gather a partitioned weight in a forward pre-hook; bypassing the module's
    # __call__ would read the empty shard
    return any(m._forward_hooks or m._forward_pre_hooks for m in modules)


def _static_reason(layer: nn.Module) -> str | None:
    """Why `layer` cannot take the fused path at all (checked once, at patch time)."""
    if type(layer) is not LoraLinear:
        return f"not a plain lora.Linear ({type(layer).__name__})"
    reason = _adapter_reason(layer)
    if reason:
        return reason
    base = layer.get_base_layer()
    if type(base) is not nn.Linear:
        return f"base layer is {type(base).__name__}, not nn.Linear (quantized or wrapped)"
    weight = base.weight
    if type(weight.data) is not torch.Tensor or weight.dtype not in SUPPORTED_DTYPES:
        return f"base weight is {type(weight.data).__name__}/{weight.dtype} (quantized?)"
    if weight.numel() != base.in_features * base.out_features:
        return "base weight is partitioned (ZeRO-3/FSDP)"
    if layer.fan_in_fan_out:
        return "fan_in_fan_out"
    if weight.requires_grad or (base.bias is not None and base.bias.requires_grad):
        return "trainable base weight or bias"
    return None


def _adapter_reason(layer: LoraLinear) -> str | None:
    """Conditions on the adapter state; they may change after patching, so forward re-checks
    them (plus `disable_adapters`, which only matters at call time)."""
    adapters = layer.active_adapters
    if layer.merged:
        return "adapter weights merged into the base weight"
    if len(adapters) != 1:
        return f"{len(adapters)} active adapters"
    name = adapters[0]
    if name not in layer.lora_A:
        return f"active adapter {name!r} has no lora_A here"
    if name in layer.lora_variant:
        return f"LoRA variant {type(layer.lora_variant[name]).__name__} (e.g. DoRA)"
    if layer.lora_B[name].bias is not None:
        return "lora_bias"
    if layer.r[name] > MAX_RANK:
        return f"rank {layer.r[name]} > {MAX_RANK}"
    if not isinstance(layer.lora_dropout[name], nn.Dropout | nn.Identity):
        return f"dropout module {type(layer.lora_dropout[name]).__name__}"
    if _hooked(layer.get_base_layer(), layer.lora_A[name], layer.lora_B[name]):
        return "forward hooks on the base or adapter layers"
    return None


def _runtime_reason(layer: FusedLoraLinear, x: torch.Tensor, args, kwargs) -> str | None:
    if args or kwargs:
        return f"extra forward arguments ({', '.join(kwargs) or 'positional'})"
    if layer.disable_adapters:
        return "adapters disabled"
    reason = _adapter_reason(layer)
    if reason:
        return reason
    weight = layer.get_base_layer().weight
    if torch.is_autocast_enabled(x.device.type):
        dtype = torch.get_autocast_dtype(x.device.type)
        if dtype != x.dtype or dtype != weight.dtype:
            return f"autocast to {dtype} with {x.dtype} inputs and {weight.dtype} weights"
    return unsupported_reason(x, weight, layer.r[layer.active_adapters[0]], _dropout_p(layer))


def _dropout_p(layer: LoraLinear) -> float:
    dropout = layer.lora_dropout[layer.active_adapters[0]]
    return dropout.p if isinstance(dropout, nn.Dropout) and dropout.training else 0.0


class FusedLoraLinear(LoraLinear):
    """peft `lora.Linear` whose forward runs `sft.lora.function.lora_linear` when it can."""

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        reason = _runtime_reason(self, x, args, kwargs)
        if reason is not None:
            _log_once(reason)
            return super().forward(x, *args, **kwargs)
        name = self.active_adapters[0]
        p = _dropout_p(self)
        base = self.get_base_layer()
        return lora_linear(x, base.weight, base.bias, self.lora_A[name].weight,
                           self.lora_B[name].weight, self.scaling[name], p)


def patch_peft_model(model: nn.Module, kernel: str = "fused") -> dict:
    """Route every eligible PEFT LoRA Linear of `model` through the fused kernels.

    kernel: "fused" patches; "reference" leaves PEFT untouched (returns zero counts).
    Returns {"patched": n, "fallback": {reason: count}} over the model's LoRA layers; layers
    already patched count as patched again, so calling twice is harmless.
    """
    if kernel not in KERNELS:
        raise ValueError(f"lora kernel must be one of {KERNELS}, got {kernel!r}")
    patched, fallback = 0, Counter()
    if kernel == "reference":
        return {"patched": 0, "fallback": {}}
    for name, module in model.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        if isinstance(module, FusedLoraLinear):
            patched += 1
            continue
        reason = _static_reason(module)
        if reason is None:
            module.__class__ = FusedLoraLinear
            patched += 1
        else:
            fallback[reason] += 1
            log.debug("fused LoRA: %s keeps PEFT's forward: %s", name, reason)
    for reason, count in fallback.items():
        log.info("fused LoRA: %d layer(s) keep PEFT's forward: %s", count, reason)
    log.info("fused LoRA: patched %d layer(s)", patched)
    return {"patched": patched, "fallback": dict(fallback)}
