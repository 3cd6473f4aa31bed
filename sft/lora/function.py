"""Autograd entry point for the fused LoRA linear: Triton kernels where they can run, torch
reference otherwise.

Kernels run on CUDA tensors, and on CPU tensors under TRITON_INTERPRET=1 (tests); anything
else (CPU without the interpreter, no triton installed) runs reference.py with the same
analytic backward. Triton is imported only on the kernel path.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import torch

from . import reference
from .limits import MAX_RANK

SUPPORTED_DTYPES = (torch.bfloat16, torch.float16, torch.float32)
_INT32_LIMIT = 2**31  # kernels index with int32 offsets (row·K + col)


@functools.cache
def _triton_installed() -> bool:
    return importlib.util.find_spec("triton") is not None


def kernels_available(device: torch.device) -> bool:
    """True when the Triton kernels can run on tensors living on `device`."""
    if not _triton_installed():
        return False
    if device.type == "cuda":
        return True
    return device.type == "cpu" and os.environ.get("TRITON_INTERPRET") == "1"


def unsupported_reason(x: torch.Tensor, weight: torch.Tensor, rank: int,
                       dropout_p: float = 0.0) -> str | None:
    """Why the kernel path cannot take x [..., K] with weight [N, K] at this rank, or None."""
    if not kernels_available(x.device):
        return f"no Triton kernels for device {x.device.type}"
    if x.dtype not in SUPPORTED_DTYPES:
        return f"unsupported dtype {x.dtype}"
    if weight.dtype != x.dtype:
        return f"input dtype {x.dtype} differs from base weight dtype {weight.dtype}"
    if rank > MAX_RANK:
        return f"rank {rank} > {MAX_RANK}"
    n, k = weight.shape
    if dropout_p > 0 and k % 4:
        return f"fused dropout needs in_features % 4 == 0, got {k}"
    m = x.numel() // max(k, 1)
    if m * max(k, n) >= _INT32_LIMIT:
        return "tensor too large for int32 indexing"
    return None


def _precision(x: torch.Tensor) -> str:
    # fp32 inputs follow torch's own matmul setting: "high"/"medium" allow TF32 tensor cores
    # (H100 SXM: 495 vs 67 TFLOP/s dense), "highest" keeps IEEE fp32 as the tests expect
    if x.is_cuda and x.dtype == torch.float32 and torch.get_float32_matmul_precision() != "highest":
        return "tf32"
    return "ieee"


class FusedLoRAFunction(torch.autograd.Function):
    """y = x·Wᵀ + b + α·s·Bᵀ with s = d(x)·Aᵀ, d(x) = x ⊙ keep / q (q = 1-p; keep = 1, q = 1
    without dropout); W, b frozen; α = lora_alpha / r (PEFT's `scaling`).

    Shapes: x [M, K], W [N, K], b [N], A [r, K], B [N, r], s [M, r], y and dy = ∂L/∂y [M, N].

    Gradients, writing y_mn = Σ_k x_mk W_nk + b_n + α Σ_j s_mj B_nj and
    s_mj = Σ_k d(x)_mk A_jk:
      dB_nj = ∂L/∂B_nj = Σ_m dy_mn · α s_mj               ⇒ dB = α dyᵀ·s        [N, r]
      ds_mj = ∂L/∂s_mj = Σ_n dy_mn · α B_nj               ⇒ ds = α dy·B         [M, r]
      dA_jk = Σ_m ds_mj · ∂s_mj/∂A_jk = Σ_m ds_mj d(x)_mk  ⇒ dA = dsᵀ·d(x)       [r, K]
      dx_mk = Σ_n dy_mn W_nk + Σ_j ds_mj A_jk · keep_mk / q
                                                        ⇒ dx = dy·W + (ds·A) ⊙ keep / q
    (∂d(x)_mk/∂x_mk = keep_mk / q, so the mask applies to the rank-r term of dx only, and
    the mask must be the forward's: the kernels regenerate it from the saved seed.)
    dW and db are not computed (frozen); asking for them raises.

    Backends: "triton" runs kernels.py (saves x, W, A, B in x's dtype and s [M, r] fp32);
    "torch" runs reference.py in the inputs' dtypes (saves x, W, A, B; mask regenerated
    from the seed by a torch generator). Adapters may be fp32 while x is bf16 (PEFT's
    autocast_adapter_dtype default): the kernels then use A, B rounded to x's dtype and
    return dA, dB in the adapters' dtype.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, lora_a, lora_b, scaling, p, seed, backend):
        ctx.meta = (scaling, p, seed, backend, lora_a.dtype, lora_b.dtype)
        if backend == "torch":
            keep = reference.dropout_keep_mask(x.shape, p, seed, x.device) if p > 0 else None
            y, _ = reference.lora_forward(x, weight, bias, lora_a, lora_b, scaling, keep, p)
            ctx.save_for_backward(x, weight, lora_a, lora_b)
            return y
        from . import kernels

        prec = _precision(x)
        a, b = lora_a.to(x.dtype), lora_b.to(x.dtype)
        s = kernels.lora_a(x, a, p, seed, precision=prec)
        y = kernels.gemm_lora(x, weight.t(), s, b.t(), scaling, bias, precision=prec)
        ctx.save_for_backward(x, weight, a, b, s)
        return y

    @staticmethod
    def backward(ctx, dy):
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            raise NotImplementedError("fused LoRA keeps the base weight and bias frozen")
        scaling, p, seed, backend, dtype_a, dtype_b = ctx.meta
        need_dx = ctx.needs_input_grad[0]
        if backend == "torch":
            x, weight, lora_a, lora_b = ctx.saved_tensors
            keep = reference.dropout_keep_mask(x.shape, p, seed, x.device) if p > 0 else None
            dx, da, db = reference.lora_backward(dy, x, weight, lora_a, lora_b, scaling, keep, p,
                                                 need_dx=need_dx)
            return dx, None, None, da, db, None, None, None, None
        from . import kernels

        x, weight, a, b, s = ctx.saved_tensors
        prec = _precision(x)
        ds, db = kernels.lora_dy(dy, b, s, scaling, precision=prec)
        dx = None
        if need_dx:
            dx = kernels.gemm_lora(dy, weight, ds, a, 1.0, None, p, seed, precision=prec)
        da = None
        if ctx.needs_input_grad[3]:
            da = kernels.lora_da(x, ds, p, seed, precision=prec).to(dtype_a)
        db = db.to(dtype_b) if ctx.needs_input_grad[4] else None
        return dx, None, None, da, db, None, None, None, None


def lora_linear(x, weight, bias, lora_a, lora_b, scaling: float, dropout_p: float = 0.0,
                *, seed: int | None = None, backend: str | None = None) -> torch.Tensor:
    """LoRA linear y [..., N] for x [..., K]: base W [N, K] (+ bias [N]) frozen, A [r, K],
    B [N, r] trainable, dropout `dropout_p` on the LoRA branch only (pass 0 in eval mode).

    seed: dropout seed; drawn from torch's default CPU generator when None, so
    torch.manual_seed and activation checkpointing's RNG replay reproduce the mask.
    backend: "triton" | "torch"; None picks triton when `unsupported_reason` allows it.
    """
    k = x.shape[-1]
    x2 = x.reshape(-1, k)
    if backend is None:
        reason = unsupported_reason(x2, weight, lora_a.shape[0], dropout_p)
        backend = "torch" if reason else "triton"
    if dropout_p > 0 and seed is None:
        seed = int(torch.randint(0, 2**31 - 1, ()).item())
    y = FusedLoRAFunction.apply(x2, weight, bias, lora_a, lora_b, float(scaling),
                                float(dropout_p), seed or 0, backend)
    return y.reshape(*x.shape[:-1], weight.shape[0])
