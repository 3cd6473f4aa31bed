"""Fused LoRA kernels in Triton, forward and backward (written for this project).

Notation, all 2-D and row-major unless strides say otherwise:
  x [M, K] activations (M tokens, K = in_features)    W [N, K] frozen base weight, b [N] bias
  A [r, K] = lora_A.weight                            B [N, r] = lora_B.weight
  α = scaling (lora_alpha / r, or / sqrt(r) for rsLoRA); keep [M, K] dropout mask, q = 1 - p
  R = r rounded up to a multiple of 16: sm_90 tensor-core dots need every dim >= 16, so the
  rank dim is a BLOCK_R-wide tile whose lanes >= r are masked to zero (no padded copies).

Forward, two launches (PEFT runs six: base GEMM, dropout, x·Aᵀ, ·Bᵀ, ·α, add):
  lora_a   s[M, r] = (x ⊙ keep / q)·Aᵀ                      reads x once, fp32 out
  gemm     y[M, N] = x·Wᵀ + (α s)·Bᵀ + b                    one GEMM; after its K loop the same
                                                           fp32 accumulator takes one R-deep step
Backward, three launches plus two tiny partial sums:
  lora_dy  ds[M, r] = α dy·B,  dB[N, r] = α dyᵀ·s           one pass over dy for both
  gemm     dx[M, K] = dy·W + (ds·A) ⊙ keep / q              the same GEMM kernel, roles swapped
  lora_da  dA[r, K] = dsᵀ·(x ⊙ keep / q)
W is frozen: no dW, no db.

Dropout keeps element (row, col) of x when a Philox draw keyed by (seed, row·K + col) is >= p
(see _keep), a pure function of the element's position, so lora_a, lora_da and the dx
epilogue regenerate the same mask from the seed instead of storing an M×K mask (32 MiB as
bytes at M=8192, K=4096). It needs K % 4 == 0. Offsets are int32: callers keep M·K and M·N
below 2**31 (function.py checks both).

Accumulation is fp32 throughout. Partial results that must be reduced across programs
(dB over row tiles, ds over column splits, dA over row splits) are written to fp32 buffers
and summed by torch, which keeps the backward deterministic (atomics would not be).

Interpreter (TRITON_INTERPRET=1): bf16 tl.dot returns garbage there (triton #11584), so bf16
tiles are upcast to fp32 before each dot under the UPCAST constexpr; rounding to bf16 at the
same points as on the GPU is kept, so the CPU run checks the GPU numerics.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from .limits import MAX_RANK

INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"


@dataclass(frozen=True)
class KernelConfig:
    """One shipped launch configuration (no autotuning: a fixed table picked by shape/dtype).

    block_m/block_n/block_k mean, per kernel:
      gemm     output tile [block_m, block_n], reduction step block_k
      lora_a   rows per program block_m, reduction step block_k
      lora_dy  rows per program block_m, dy columns per step block_n
      lora_da  x columns per program block_k, rows per step block_m
      dropout_mask  tile [block_m, block_k]
    """

    name: str
    kernel: str
    dtypes: tuple[str, ...]
    block_m: int
    block_n: int
    block_k: int
    num_warps: int
    num_stages: int
    group_m: int = 8
    dropout: bool = True  # gemm: may run the masked (dx with dropout) epilogue


# Shared-memory budget on sm_90 is 227 KiB per block; footprints below are what Triton 3.7
# allocated for sm_90 at BLOCK_R = 16 (python -m sft.lora.compile_check).
SHIPPED_CONFIGS: tuple[KernelConfig, ...] = (
    # (128x64 + 64x256) bf16 x 3 stages = 144 KiB: the 128x256x64 / 8-warp Hopper shape.
    # Not for the dropout epilogue: its second 128x256 fp32 tile needs 255 registers and
    # spills 1.7 KiB per thread (ptxas -v, sm_90a)
    KernelConfig("gemm_large_16", "gemm", ("bf16", "fp16"), 128, 256, 64, 8, 3, dropout=False),
    # grids under one wave of 128x256 tiles, and dx with dropout (224 registers, no spills)
    KernelConfig("gemm_small_16", "gemm", ("bf16", "fp16"), 64, 128, 64, 4, 4),
    # (128x32 + 32x128) fp32 x 3 stages = 96 KiB
    KernelConfig("gemm_fp32", "gemm", ("fp32",), 128, 128, 32, 8, 3),
    # x tile 64x128 x 3 stages: 52 KiB bf16, 112 KiB fp32; 128 programs at M=8192 ≈ 132 SMs
    KernelConfig("lora_a", "lora_a", ("bf16", "fp16", "fp32"), 64, 0, 128, 4, 3),
    # dy tile 256x64 bf16 x 3 stages + B, s tiles: 108 KiB; 256 rows halve the fp32 dB
    # partials (tiles_m x N x r) vs 128 rows: 12.5% of dy's bytes at r=16
    KernelConfig("lora_dy_16", "lora_dy", ("bf16", "fp16"), 256, 64, 0, 8, 3),
    # 32-wide dy steps (46 KiB): at 128x64 the IEEE (FMA) dots hold dy and dyᵀ in registers
    # and spill 736 B/thread with 4 warps (4 KiB with 8); 128x32 uses 80 registers
    KernelConfig("lora_dy_fp32", "lora_dy", ("fp32",), 128, 32, 0, 4, 3),
    # x tile 64x128 x 3 stages: 58 KiB bf16, 104 KiB fp32
    KernelConfig("lora_da", "lora_da", ("bf16", "fp16", "fp32"), 64, 0, 128, 4, 3),
    KernelConfig("dropout_mask", "dropout_mask", ("bf16", "fp16", "fp32"), 64, 0, 128, 4, 1),
)
_BY_NAME = {c.name: c for c in SHIPPED_CONFIGS}
_DTYPE_NAME = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}


def _num_sms(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).multi_processor_count
    return 4  # interpreter: small, but > 1 so the split-reduction paths run in tests


def pick_config(kernel: str, dtype: torch.dtype, rows: int, cols: int, device,
                dropout: bool = False) -> KernelConfig:
    """The shipped config for `kernel` at this dtype; gemm also looks at its output [rows, cols]
    and whether its epilogue applies dropout."""
    dname = _DTYPE_NAME[dtype]
    choices = [c for c in SHIPPED_CONFIGS
               if c.kernel == kernel and dname in c.dtypes and (c.dropout or not dropout)]
    if kernel == "gemm" and len(choices) > 1:
        large, small = choices
        tiles = triton.cdiv(rows, large.block_m) * triton.cdiv(cols, large.block_n)
        return large if tiles >= _num_sms(torch.device(device)) else small
    return choices[0]


def block_r(r: int) -> int:
    """Rank tile width: r rounded up to a multiple of 16 (sm_90 minimum dot dimension)."""
    if not 1 <= r <= MAX_RANK:
        raise ValueError(f"rank {r} outside the supported 1..{MAX_RANK}")
    return 16 * math.ceil(r / 16)


def _check_dropout(p: float, row_len: int) -> None:
    if p > 0 and row_len % 4:
        raise ValueError(f"fused dropout needs in_features % 4 == 0, got {row_len}")


def _flags(dtype: torch.dtype, precision: str) -> dict:
    if dtype not in _DTYPE_NAME:
        raise TypeError(f"fused LoRA kernels take bf16/fp16/fp32, got {dtype}")
    if INTERPRET:
        precision = "ieee"  # the interpreter's fp32 dot is exact; tf32 exists only on the GPU
    return {"UPCAST": INTERPRET and dtype == torch.bfloat16, "PRECISION": precision}


# --------------------------------------------------------------------------- device helpers


@triton.jit
def _mma(a, b, acc, UPCAST: tl.constexpr, PRECISION: tl.constexpr):
    """acc + a·b with fp32 accumulation; UPCAST routes bf16 through fp32 for the interpreter."""
    if UPCAST:
        a = a.to(tl.float32)
        b = b.to(tl.float32)
    return tl.dot(a, b, acc, input_precision=PRECISION, out_dtype=tl.float32)


@triton.jit
def _keep(seed, rows, col0, row_len, p_drop, BLOCK_C: tl.constexpr):
    """Dropout keep-mask [len(rows), BLOCK_C] for x[rows, col0 : col0 + BLOCK_C], x [*, row_len].

    Element e = row·row_len + col is decided by word e % 4 of Philox(seed, e // 4): one
    Philox call serves 4 neighbours, a quarter of the ~100 integer ops per element that
    tl.rand costs (the three kernels that regenerate the mask would otherwise be
    ALU-bound). Needs row_len % 4 == 0 and col0 % 4 == 0 (tiles start at multiples of 16).
    """
    quads = rows[:, None] * (row_len // 4) + (col0 // 4 + tl.arange(0, BLOCK_C // 4))[None, :]
    w0, w1, w2, w3 = tl.randint4x(seed, quads)
    words = tl.interleave(tl.interleave(w0, w2), tl.interleave(w1, w3))
    # top 24 bits as a uniform in [0, 1): exact in fp32
    uniform = (words.to(tl.uint32, bitcast=True) >> 8).to(tl.float32) * (1.0 / 16777216.0)
    return uniform >= p_drop


@triton.jit
def _tile_ids(pid, M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, GROUP_M: tl.constexpr):
    """Program id -> (tile row, tile col), walking GROUP_M tile rows per column sweep so the
    programs resident at one time share their W tiles in L2 instead of streaming W M/BLOCK_M
    times."""
    tiles_m = tl.cdiv(M, BLOCK_M)
    tiles_n = tl.cdiv(N, BLOCK_N)
    per_group = GROUP_M * tiles_n
    first_m = (pid // per_group) * GROUP_M
    rows_here = tl.minimum(tiles_m - first_m, GROUP_M)
    local = pid % per_group
    return first_m + local % rows_here, local // rows_here


# --------------------------------------------------------------------------- kernels


@triton.jit
def _gemm_lora_kernel(
    a_ptr, b_ptr, s_ptr, t_ptr, bias_ptr, c_ptr,
    M, N, K, R, seed,
    stride_am, stride_ak, stride_bk, stride_bn, stride_sm, stride_sr,
    stride_tr, stride_tn, stride_cm, stride_cn,
    scale, p_drop,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    BLOCK_R: tl.constexpr, GROUP_M: tl.constexpr, EVEN_K: tl.constexpr,
    HAS_BIAS: tl.constexpr, HAS_DROPOUT: tl.constexpr,
    UPCAST: tl.constexpr, PRECISION: tl.constexpr,
):
    """C[M, N] = A[M, K]·B[K, N] + L + bias, L = (scale·S[M, R])·T[R, N], S fp32.

    Without dropout L is one more R-deep step on the same accumulator (K extended by R).
    With dropout L is masked with keep(row, col)/q over C's own coordinates (the dx case,
    where C = dx has x's shape). Rows/cols are wrapped (% M, % N) for loads so the K loop
    needs no M/N masks; only the store is masked.
    """
    pid_m, pid_n = _tile_ids(tl.program_id(0), M, N, BLOCK_M, BLOCK_N, GROUP_M)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rows = offs_m % M
    cols = offs_n % N
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + rows[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_ptrs = b_ptr + offs_k[:, None] * stride_bk + cols[None, :] * stride_bn
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        if EVEN_K:
            a = tl.load(a_ptrs)
            b = tl.load(b_ptrs)
        else:
            k_ok = offs_k + k0 < K
            a = tl.load(a_ptrs, mask=k_ok[None, :], other=0.0)
            b = tl.load(b_ptrs, mask=k_ok[:, None], other=0.0)
        acc = _mma(a, b, acc, UPCAST, PRECISION)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk

    offs_r = tl.arange(0, BLOCK_R)
    r_ok = offs_r < R
    s = tl.load(s_ptr + rows[:, None] * stride_sm + offs_r[None, :] * stride_sr,
                mask=r_ok[None, :], other=0.0)
    # round α·s to the operand dtype once, as PEFT's bf16 lora_A output is rounded
    s = (s * scale).to(a_ptr.dtype.element_ty)
    t = tl.load(t_ptr + offs_r[:, None] * stride_tr + cols[None, :] * stride_tn,
                mask=r_ok[:, None], other=0.0)
    if HAS_DROPOUT:
        lora = _mma(s, t, tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32), UPCAST, PRECISION)
        keep = _keep(seed, offs_m, pid_n * BLOCK_N, N, p_drop, BLOCK_N)
        acc += tl.where(keep, lora / (1.0 - p_drop), 0.0)
    else:
        acc = _mma(s, t, acc, UPCAST, PRECISION)
    if HAS_BIAS:
        acc += tl.load(bias_ptr + cols).to(tl.float32)[None, :]
    c_ptrs = c_ptr + offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty),
             mask=(offs_m[:, None] < M) & (offs_n[None, :] < N))


@triton.jit
def _lora_a_kernel(
    x_ptr, a_ptr, s_ptr,
    M, K, R, seed,
    stride_xm, stride_xk, stride_ar, stride_ak, stride_sm, stride_sr,
    p_drop,
    BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_R: tl.constexpr,
    EVEN_K: tl.constexpr, HAS_DROPOUT: tl.constexpr,
    UPCAST: tl.constexpr, PRECISION: tl.constexpr,
):
    """s[M, R] (fp32) = (x ⊙ keep / q)[M, K]·A[R, K]ᵀ; one program streams BLOCK_M rows of x."""
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    rows = offs_m % M
    offs_k = tl.arange(0, BLOCK_K)
    offs_r = tl.arange(0, BLOCK_R)
    r_ok = offs_r < R
    x_ptrs = x_ptr + rows[:, None] * stride_xm + offs_k[None, :] * stride_xk
    a_ptrs = a_ptr + offs_k[:, None] * stride_ak + offs_r[None, :] * stride_ar  # Aᵀ tile
    acc = tl.zeros((BLOCK_M, BLOCK_R), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        if EVEN_K:
            x = tl.load(x_ptrs)
            a = tl.load(a_ptrs, mask=r_ok[None, :], other=0.0)
        else:
            k_ok = offs_k + k0 < K
            x = tl.load(x_ptrs, mask=k_ok[None, :], other=0.0)
            a = tl.load(a_ptrs, mask=k_ok[:, None] & r_ok[None, :], other=0.0)
        if HAS_DROPOUT:
            keep = _keep(seed, offs_m, k0, K, p_drop, BLOCK_K)
            x = tl.where(keep, x, 0.0).to(x.dtype)
        acc = _mma(x, a, acc, UPCAST, PRECISION)
        x_ptrs += BLOCK_K * stride_xk
        a_ptrs += BLOCK_K * stride_ak
    if HAS_DROPOUT:
        acc = acc / (1.0 - p_drop)  # 1/q once on fp32, not on every bf16 element of x
    tl.store(s_ptr + offs_m[:, None] * stride_sm + offs_r[None, :] * stride_sr, acc,
             mask=(offs_m[:, None] < M) & r_ok[None, :])


@triton.jit
def _lora_dy_kernel(
    dy_ptr, b_ptr, s_ptr, ds_ptr, db_ptr,
    M, N, R, split_n,
    stride_dym, stride_dyn, stride_bn, stride_br, stride_sm, stride_sr,
    scale,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_R: tl.constexpr,
    EVEN_N: tl.constexpr, UPCAST: tl.constexpr, PRECISION: tl.constexpr,
):
    """One pass over dy [M, N] for both rank-r gradients.

    Program (i, j) owns rows i·BLOCK_M.. and dy column tiles j, j + split_n, ...; it writes
      ds_part[j, rows, :R] = α Σ_cols dy·B        (split_n partials, summed by the caller)
      db_part[i, cols, :R] = α dy[rows, cols]ᵀ·s   (one partial per row tile)
    Both partials are fp32 [*, *, R] contiguous. Rows >= M load s as 0 so wrapped dy rows add
    nothing to dB.
    """
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    m_ok = offs_m < M
    rows = offs_m % M
    offs_r = tl.arange(0, BLOCK_R)
    r_ok = offs_r < R
    s = tl.load(s_ptr + offs_m[:, None] * stride_sm + offs_r[None, :] * stride_sr,
                mask=m_ok[:, None] & r_ok[None, :], other=0.0)
    s = s.to(dy_ptr.dtype.element_ty)
    acc_ds = tl.zeros((BLOCK_M, BLOCK_R), dtype=tl.float32)
    db_base = db_ptr + pid_m * N * R
    for n0 in range(pid_n * BLOCK_N, N, split_n * BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        n_ok = offs_n < N
        dy_ptrs = dy_ptr + rows[:, None] * stride_dym + offs_n[None, :] * stride_dyn
        b_ptrs = b_ptr + offs_n[:, None] * stride_bn + offs_r[None, :] * stride_br
        if EVEN_N:
            dy = tl.load(dy_ptrs)
            b = tl.load(b_ptrs, mask=r_ok[None, :], other=0.0)
        else:
            dy = tl.load(dy_ptrs, mask=n_ok[None, :], other=0.0)
            b = tl.load(b_ptrs, mask=n_ok[:, None] & r_ok[None, :], other=0.0)
        acc_ds = _mma(dy, b, acc_ds, UPCAST, PRECISION)
        db = _mma(tl.trans(dy), s, tl.zeros((BLOCK_N, BLOCK_R), dtype=tl.float32),
                  UPCAST, PRECISION)
        tl.store(db_base + offs_n[:, None] * R + offs_r[None, :], db * scale,
                 mask=n_ok[:, None] & r_ok[None, :])
    tl.store(ds_ptr + pid_n * M * R + offs_m[:, None] * R + offs_r[None, :], acc_ds * scale,
             mask=m_ok[:, None] & r_ok[None, :])


@triton.jit
def _lora_da_kernel(
    x_ptr, ds_ptr, da_ptr,
    M, K, R, seed, split_m,
    stride_xm, stride_xk, stride_dsm, stride_dsr,
    p_drop,
    BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_R: tl.constexpr,
    HAS_DROPOUT: tl.constexpr, UPCAST: tl.constexpr, PRECISION: tl.constexpr,
):
    """da_part[j, :R, cols] = Σ_rows ds[rows, :]ᵀ·(x ⊙ keep / q)[rows, cols].

    Program (c, j) owns x columns c·BLOCK_K.. and row tiles j, j + split_m, ...; computed as
    (xᵀ·ds) [BLOCK_K, R] so the wide dim is the MMA's M (wgmma wants M = 64k) and stored
    transposed into the fp32 partial [split_m, R, K].
    """
    pid_k = tl.program_id(0)
    pid_m = tl.program_id(1)
    offs_k = pid_k * BLOCK_K + tl.arange(0, BLOCK_K)
    k_ok = offs_k < K
    cols = offs_k % K
    offs_r = tl.arange(0, BLOCK_R)
    r_ok = offs_r < R
    acc = tl.zeros((BLOCK_K, BLOCK_R), dtype=tl.float32)
    for m0 in range(pid_m * BLOCK_M, M, split_m * BLOCK_M):
        offs_m = m0 + tl.arange(0, BLOCK_M)
        m_ok = offs_m < M
        x = tl.load(x_ptr + offs_m[:, None] * stride_xm + cols[None, :] * stride_xk,
                    mask=m_ok[:, None], other=0.0)
        ds = tl.load(ds_ptr + offs_m[:, None] * stride_dsm + offs_r[None, :] * stride_dsr,
                     mask=m_ok[:, None] & r_ok[None, :], other=0.0)
        if HAS_DROPOUT:
            keep = _keep(seed, offs_m, pid_k * BLOCK_K, K, p_drop, BLOCK_K)
            x = tl.where(keep, x, 0.0).to(x.dtype)
        acc = _mma(tl.trans(x), ds.to(x.dtype), acc, UPCAST, PRECISION)
    if HAS_DROPOUT:
        acc = acc / (1.0 - p_drop)
    da_ptrs = da_ptr + pid_m * R * K + offs_r[None, :] * K + offs_k[:, None]
    tl.store(da_ptrs, acc, mask=k_ok[:, None] & r_ok[None, :])


@triton.jit
def _dropout_mask_kernel(out_ptr, M, K, seed, p_drop,
                         BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
    """out[M, K] (int8) = keep mask the other kernels regenerate; for tests and debugging."""
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_k = tl.program_id(1) * BLOCK_K + tl.arange(0, BLOCK_K)
    keep = _keep(seed, offs_m, tl.program_id(1) * BLOCK_K, K, p_drop, BLOCK_K)
    tl.store(out_ptr + offs_m[:, None] * K + offs_k[None, :], keep.to(tl.int8),
             mask=(offs_m[:, None] < M) & (offs_k[None, :] < K))


# --------------------------------------------------------------------------- launchers


def _cfg(kernel: str, dtype, rows: int, cols: int, device, config: str | None,
         dropout: bool = False) -> KernelConfig:
    if config is None:
        return pick_config(kernel, dtype, rows, cols, device, dropout)
    chosen = _BY_NAME[config]
    if chosen.kernel != kernel or (dropout and not chosen.dropout):
        raise ValueError(f"config {config!r} does not ship for {kernel} (dropout={dropout})")
    return chosen


def lora_a(x, a, p: float = 0.0, seed: int = 0, *, precision="ieee", config=None):
    """s [M, r] fp32 = (x ⊙ keep / (1-p))·aᵀ for x [M, K], a [r, K] (same dtype as x)."""
    M, K = x.shape
    r = a.shape[0]
    _check_dropout(p, K)
    cfg = _cfg("lora_a", x.dtype, M, K, x.device, config)
    s = torch.empty((M, r), device=x.device, dtype=torch.float32)
    _lora_a_kernel[(triton.cdiv(M, cfg.block_m),)](
        x, a, s, M, K, r, seed, *x.stride(), *a.stride(), *s.stride(), p,
        BLOCK_M=cfg.block_m, BLOCK_K=cfg.block_k, BLOCK_R=block_r(r),
        EVEN_K=K % cfg.block_k == 0, HAS_DROPOUT=p > 0, **_flags(x.dtype, precision),
        num_warps=cfg.num_warps, num_stages=cfg.num_stages,
    )
    return s


def gemm_lora(a, b_kn, s, t_rn, scale: float, bias=None, p: float = 0.0, seed: int = 0,
              *, precision="ieee", config=None):
    """C [M, N] = a·b_kn + mask((scale·s)·t_rn) + bias; the strided views carry the roles.

    a [M, K], b_kn [K, N] (e.g. Wᵀ as a view), s [M, r] fp32, t_rn [r, N] (e.g. Bᵀ or A);
    p > 0 applies keep/(1-p) over C's coordinates to the rank-r term only.
    """
    M, K = a.shape
    N = b_kn.shape[1]
    r = s.shape[1]
    _check_dropout(p, N)
    cfg = _cfg("gemm", a.dtype, M, N, a.device, config, dropout=p > 0)
    c = torch.empty((M, N), device=a.device, dtype=a.dtype)
    grid = (triton.cdiv(M, cfg.block_m) * triton.cdiv(N, cfg.block_n),)
    _gemm_lora_kernel[grid](
        a, b_kn, s, t_rn, bias if bias is not None else c, c,
        M, N, K, r, seed,
        *a.stride(), *b_kn.stride(), *s.stride(), *t_rn.stride(), *c.stride(),
        scale, p,
        BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n, BLOCK_K=cfg.block_k, BLOCK_R=block_r(r),
        GROUP_M=cfg.group_m, EVEN_K=K % cfg.block_k == 0, HAS_BIAS=bias is not None,
        HAS_DROPOUT=p > 0, **_flags(a.dtype, precision),
        num_warps=cfg.num_warps, num_stages=cfg.num_stages,
    )
    return c


def lora_dy(dy, b, s, scale: float, *, split: int | None = None, precision="ieee", config=None):
    """(ds [M, r] fp32, dB [N, r] fp32) = (α dy·b, α dyᵀ·s) from one read of dy [M, N]."""
    M, N = dy.shape
    r = b.shape[1]
    cfg = _cfg("lora_dy", dy.dtype, M, N, dy.device, config)
    tiles_m = triton.cdiv(M, cfg.block_m)
    tiles_n = triton.cdiv(N, cfg.block_n)
    if split is None:  # enough column splits to give every SM a program
        split = min(tiles_n, triton.cdiv(_num_sms(dy.device), tiles_m))
    ds_part = torch.empty((split, M, r), device=dy.device, dtype=torch.float32)
    db_part = torch.empty((tiles_m, N, r), device=dy.device, dtype=torch.float32)
    _lora_dy_kernel[(tiles_m, split)](
        dy, b, s, ds_part, db_part, M, N, r, split,
        *dy.stride(), *b.stride(), *s.stride(), scale,
        BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n, BLOCK_R=block_r(r),
        EVEN_N=N % cfg.block_n == 0, **_flags(dy.dtype, precision),
        num_warps=cfg.num_warps, num_stages=cfg.num_stages,
    )
    ds = ds_part[0] if split == 1 else ds_part.sum(0)
    return ds, db_part.sum(0)


def lora_da(x, ds, p: float = 0.0, seed: int = 0, *, split: int | None = None,
            precision="ieee", config=None):
    """dA [r, K] fp32 = dsᵀ·(x ⊙ keep / (1-p)) for x [M, K], ds [M, r] fp32."""
    M, K = x.shape
    r = ds.shape[1]
    _check_dropout(p, K)
    cfg = _cfg("lora_da", x.dtype, M, K, x.device, config)
    tiles_k = triton.cdiv(K, cfg.block_k)
    if split is None:
        split = min(triton.cdiv(M, cfg.block_m), triton.cdiv(_num_sms(x.device), tiles_k))
    da_part = torch.empty((split, r, K), device=x.device, dtype=torch.float32)
    _lora_da_kernel[(tiles_k, split)](
        x, ds, da_part, M, K, r, seed, split, *x.stride(), *ds.stride(), p,
        BLOCK_M=cfg.block_m, BLOCK_K=cfg.block_k, BLOCK_R=block_r(r),
        HAS_DROPOUT=p > 0, **_flags(x.dtype, precision),
        num_warps=cfg.num_warps, num_stages=cfg.num_stages,
    )
    return da_part[0] if split == 1 else da_part.sum(0)


def dropout_keep_mask(M: int, K: int, p: float, seed: int, device) -> torch.Tensor:
    """The bool keep mask [M, K] that the kernels use for (p, seed)."""
    _check_dropout(p, K)
    cfg = _BY_NAME["dropout_mask"]
    out = torch.empty((M, K), device=device, dtype=torch.int8)
    grid = (triton.cdiv(M, cfg.block_m), triton.cdiv(K, cfg.block_k))
    _dropout_mask_kernel[grid](out, M, K, seed, p, BLOCK_M=cfg.block_m, BLOCK_K=cfg.block_k,
                               num_warps=cfg.num_warps)
    return out.bool()


KERNELS = {
    "gemm": _gemm_lora_kernel,
    "lora_a": _lora_a_kernel,
    "lora_dy": _lora_dy_kernel,
    "lora_da": _lora_da_kernel,
    "dropout_mask": _dropout_mask_kernel,
}
