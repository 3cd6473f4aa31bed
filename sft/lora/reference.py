"""Torch reference for a LoRA linear: the oracle for tests and benchmarks, and the fallback.

Shapes: x [M, K], weight W [N, K], bias b [N] or None, lora_a A [r, K], lora_b B [N, r],
keep [M, K] bool dropout mask or None, p its drop probability, α = scaling.

  s  = (x ⊙ keep / (1-p))·Aᵀ                  [M, r]
  y  = x·Wᵀ + b + α s·Bᵀ                      [M, N]
  dB = α dyᵀ·s                                [N, r]
  ds = α dy·B                                 [M, r]
  dA = dsᵀ·(x ⊙ keep / (1-p))                 [r, K]
  dx = dy·W + (ds·A) ⊙ keep / (1-p)           [M, K]

`compute_dtype=None` runs in the inputs' own dtypes (what PEFT does; the fallback and the
benchmark use it); tests pass torch.float64 to get an oracle whose own error is negligible.
"""

from __future__ import annotations

import torch


def dropout_keep_mask(shape: tuple[int, int], p: float, seed: int, device) -> torch.Tensor:
    """Bool keep mask [M, K] with P(keep) = 1-p from a torch generator seeded with `seed`.

    The fallback's mask; the Triton kernels use their own Philox stream (kernels.py), so the
    two paths drop different elements for the same seed.
    """
    gen = torch.Generator(device=device).manual_seed(seed)
    return torch.rand(shape, generator=gen, device=device) >= p


def _dropped(x: torch.Tensor, keep: torch.Tensor | None, p: float) -> torch.Tensor:
    if keep is None or p == 0.0:
        return x
    return x * keep.to(x.dtype) / (1.0 - p)


def _cast(dtype, *tensors):
    return [t if t is None or dtype is None else t.to(dtype) for t in tensors]


def lora_forward(x, weight, bias, lora_a, lora_b, scaling: float, keep=None, p: float = 0.0,
                 compute_dtype: torch.dtype | None = None):
    """(y [M, N] in x.dtype, s [M, r] in the compute dtype) for the formulas above."""
    out_dtype = x.dtype
    x, weight, bias, lora_a, lora_b = _cast(compute_dtype, x, weight, bias, lora_a, lora_b)
    s = _dropped(x, keep, p) @ lora_a.to(x.dtype).t()
    y = torch.nn.functional.linear(x, weight, bias)
    y = y + scaling * (s @ lora_b.to(x.dtype).t())
    return y.to(out_dtype), s


def lora_backward(dy, x, weight, lora_a, lora_b, scaling: float, keep=None, p: float = 0.0,
                  compute_dtype: torch.dtype | None = None, need_dx: bool = True):
    """(dx [M, K] or None, dA [r, K], dB [N, r]) in the dtypes of x, lora_a, lora_b."""
    dtypes = (x.dtype, lora_a.dtype, lora_b.dtype)
    dy, x, weight, lora_a, lora_b = _cast(compute_dtype, dy, x, weight, lora_a, lora_b)
    a, b = lora_a.to(x.dtype), lora_b.to(x.dtype)
    xd = _dropped(x, keep, p)
    s = xd @ a.t()
    db = scaling * (dy.t() @ s)
    ds = scaling * (dy @ b)
    da = ds.t() @ xd
    dx = None
    if need_dx:
        dx = (dy @ weight + _dropped(ds @ a, keep, p)).to(dtypes[0])
    return dx, da.to(dtypes[1]), db.to(dtypes[2])
