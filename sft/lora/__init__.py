"""Fused LoRA for PEFT models: Triton kernels (forward and backward), a torch reference,
the autograd Function, the PEFT patch and a benchmark.

    from sft.lora import patch_peft_model
    patch_peft_model(model, cfg.lora.kernel)     # "fused" | "reference"
    python -m benchmarks.lora_kernels --help

Exports resolve lazily: importing this package imports nothing (no torch, no triton, no peft);
triton loads only when a kernel first runs.
"""

from __future__ import annotations

import importlib

__all__ = ["FusedLoRAFunction", "lora_linear", "patch_peft_model"]
_HOME = {"FusedLoRAFunction": "function", "lora_linear": "function", "patch_peft_model": "patch"}


def __getattr__(name: str):
    if name in _HOME:
        return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
