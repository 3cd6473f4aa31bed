"""Fused LoRA kernels against the fp64 torch oracle: forward, dx, dA, dB, dropout, every
shipped config. On CPU the kernels run in the Triton interpreter (tests/conftest.py sets
TRITON_INTERPRET=1 when there is no GPU); the `gpu` tests take real bf16 shapes on CUDA.

Tolerances are max |kernel - oracle| <= tol * max |oracle| per output (scaled by magnitude,
so near-zero elements are not held to a relative bound), with u the unit roundoff:
  fp32  1e-5: fp32 accumulation over K <= 136 terms errs by <= K·u = 136·2^-24 ≈ 8e-6 in
        the worst case (measured ≈ 2e-7).
  fp16  4u = 2^-9 ≈ 2.0e-3 and bf16 4u = 2^-6 ≈ 1.6e-2: each output passes two roundings
        to the 16-bit type (the rank-r operand α·s / ds / s before its dot, then the
        result), each <= u of a term no larger than max |oracle| with the data below
        (base and LoRA terms both ~N(0, 1)); the interpreter truncates fp32->bf16 instead
        of rounding (2u per rounding), hence 4u. Measured: fp16 ≈ 6e-4, bf16 ≈ 8e-3.
test_tolerance_detects_a_two_percent_error shows the fp16 bound is not vacuous.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip("triton")

from sft.lora import reference  # noqa: E402
from sft.lora.function import kernels_available, lora_linear  # noqa: E402

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
if not kernels_available(DEVICE):
    pytest.skip("Triton kernels need CUDA or TRITON_INTERPRET=1", allow_module_level=True)

from sft.lora import kernels  # noqa: E402

TOL = {torch.float32: 1e-5, torch.float16: 4 * 2**-11, torch.bfloat16: 4 * 2**-8}
ODD = (37, 96, 72)  # M, K, N: no dim a multiple of any block size
ALPHA = 2.0


def assert_scaled_close(out, oracle, dtype, what=""):
    err = (out.double() - oracle.double()).abs().max().item()
    scale = oracle.double().abs().max().item()
    assert err <= TOL[dtype] * scale, f"{what}: max err {err:.3e} > {TOL[dtype]:.1e} x {scale:.3e}"


def make_inputs(m, k, n, r, dtype, bias=True, seed=0, adapter_dtype=None):
    """x, W, b, A, B, dy with base term x·Wᵀ and LoRA term α·s·Bᵀ both ~N(0, 1)."""
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0, dt=dtype):
        return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).to(DEVICE, dt)

    ad = adapter_dtype or dtype
    return dict(x=rnd(m, k), weight=rnd(n, k, scale=k**-0.5), bias=rnd(n) if bias else None,
                lora_a=rnd(r, k, scale=k**-0.5, dt=ad), lora_b=rnd(n, r, scale=r**-0.5 / ALPHA, dt=ad),
                dy=rnd(m, n))


def oracle(t, keep=None, p=0.0):
    """fp64 (y, dx, dA, dB) from reference.py for inputs `t`."""
    args = (t["weight"], t["lora_a"], t["lora_b"], ALPHA)
    y, _ = reference.lora_forward(t["x"], t["weight"], t["bias"], *args[1:], keep, p, torch.float64)
    dx, da, db = reference.lora_backward(t["dy"], t["x"], *args, keep, p, torch.float64)
    return y.double(), dx.double(), da.double(), db.double()


def run_function(t, p=0.0, seed=None, backend="triton"):
    """(y, dx, dA, dB) through lora_linear's autograd Function."""
    x = t["x"].clone().requires_grad_()
    a, b = t["lora_a"].clone().requires_grad_(), t["lora_b"].clone().requires_grad_()
    y = lora_linear(x, t["weight"], t["bias"], a, b, ALPHA, p, seed=seed, backend=backend)
    dx, da, db = torch.autograd.grad(y, [x, a, b], t["dy"])
    return y.detach(), dx, da, db


def check_all(got, want, dtype, what):
    for name, g, w in zip(("y", "dx", "dA", "dB"), got, want, strict=True):
        assert_scaled_close(g, w, dtype, f"{what} {name}")


@pytest.mark.parametrize("keep_p", [0.0, 0.3])
def test_reference_backward_matches_autograd(keep_p):
    """The analytic gradients in reference.py (and FusedLoRAFunction's docstring) are right."""
    t = make_inputs(*ODD, r=8, dtype=torch.float64)
    keep = reference.dropout_keep_mask(t["x"].shape, keep_p, 3, DEVICE) if keep_p else None
    x, a, b = (t[k].clone().requires_grad_() for k in ("x", "lora_a", "lora_b"))
    y, _ = reference.lora_forward(x, t["weight"], t["bias"], a, b, ALPHA, keep, keep_p)
    auto = torch.autograd.grad(y, [x, a, b], t["dy"])
    mine = reference.lora_backward(t["dy"], t["x"], t["weight"], t["lora_a"], t["lora_b"], ALPHA,
                                   keep, keep_p)
    for got, want in zip(mine, auto, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize(("r", "bias"), [(16, True), (8, False)], ids=["r16-bias", "r8pad16"])
def test_fused_matches_oracle_odd_shape(dtype, r, bias):
    """Forward and all gradients at M=37, K=96, N=72; r=8 runs in a 16-wide masked rank tile;
    bf16 on CPU goes through the fp32-upcast dot."""
    t = make_inputs(*ODD, r=r, dtype=dtype, bias=bias)
    check_all(run_function(t), oracle(t), dtype, f"{dtype} r={r}")


GEMM_CASES = [("gemm_large_16", torch.float16), ("gemm_small_16", torch.bfloat16),
              ("gemm_fp32", torch.float32)]


@pytest.mark.parametrize(("gemm_cfg", "dtype"), GEMM_CASES, ids=[c for c, _ in GEMM_CASES])
@pytest.mark.parametrize("split", [1, 3])
def test_every_shipped_config(gemm_cfg, dtype, split):
    """Each shipped config on a multi-tile shape with K/N tails (150x136 -> 200, r=16), the
    split reductions forced both ways, dropout on where the gemm config ships it (the
    masked dx epilogue) and off otherwise."""
    m, k, n, r, seed = 150, 136, 200, 16, 11
    p = 0.2 if kernels._BY_NAME[gemm_cfg].dropout else 0.0
    t = make_inputs(m, k, n, r, dtype)
    dy_cfg = "lora_dy_fp32" if dtype == torch.float32 else "lora_dy_16"
    s = kernels.lora_a(t["x"], t["lora_a"], p, seed, config="lora_a")
    y = kernels.gemm_lora(t["x"], t["weight"].t(), s, t["lora_b"].t(), ALPHA, t["bias"],
                          config=gemm_cfg)
    ds, db = kernels.lora_dy(t["dy"], t["lora_b"], s, ALPHA, split=split, config=dy_cfg)
    dx = kernels.gemm_lora(t["dy"], t["weight"], ds, t["lora_a"], 1.0, None, p, seed, config=gemm_cfg)
    da = kernels.lora_da(t["x"], ds, p, seed, split=split, config="lora_da")
    keep = kernels.dropout_keep_mask(m, k, p, seed, DEVICE) if p else None
    check_all((y, dx, da, db), oracle(t, keep, p), dtype, gemm_cfg)


def test_config_choice():
    assert {c.kernel for c in kernels.SHIPPED_CONFIGS} == set(kernels.KERNELS)
    assert {c for c, _ in GEMM_CASES} == {c.name for c in kernels.SHIPPED_CONFIGS if c.kernel == "gemm"}
    big = (8192, 4096, torch.device("cuda"))
    if torch.cuda.is_available():
        assert kernels.pick_config("gemm", torch.bfloat16, *big).name == "gemm_large_16"
    # dropout never lands on a config whose masked epilogue spills
    assert kernels.pick_config("gemm", torch.bfloat16, *big[:2], DEVICE, dropout=True).dropout
    with pytest.raises(ValueError, match="does not ship"):
        kernels.gemm_lora(*[torch.zeros(16, 16, device=DEVICE)] * 4, 1.0, p=0.1, config="gemm_large_16")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
def test_dropout_mask_is_the_same_in_forward_and_backward(dtype):
    """Gradients match the oracle run with the mask the kernels regenerate from the seed."""
    p, seed = 0.25, 1234
    t = make_inputs(*ODD, r=16, dtype=dtype)
    keep = kernels.dropout_keep_mask(ODD[0], ODD[1], p, seed, DEVICE)
    n = keep.numel()  # keep ~ Binomial(n, 0.75): 5 sigma bounds
    assert abs(keep.sum().item() - 0.75 * n) < 5 * (n * 0.25 * 0.75) ** 0.5
    check_all(run_function(t, p, seed), oracle(t, keep, p), dtype, "dropout")
    again = run_function(t, p, seed)
    assert all(torch.equal(a, b) for a, b in zip(again, run_function(t, p, seed), strict=True))
    assert not torch.equal(keep, kernels.dropout_keep_mask(ODD[0], ODD[1], p, seed + 1, DEVICE))


def test_dropout_p0_equals_no_dropout():
    t = make_inputs(*ODD, r=16, dtype=torch.float32)
    plain = run_function(t)
    for got, want in zip(run_function(t, p=0.0, seed=99), plain, strict=True):
        assert torch.equal(got, want)
    assert kernels.dropout_keep_mask(ODD[0], ODD[1], 0.0, 5, DEVICE).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_fp32_adapters_with_16bit_activations(dtype):
    """PEFT's default keeps adapters fp32 on a 16-bit base: grads come back fp32."""
    t = make_inputs(*ODD, r=16, dtype=dtype, adapter_dtype=torch.float32)
    got = run_function(t)
    assert got[2].dtype == got[3].dtype == torch.float32 and got[1].dtype == dtype
    check_all(got, oracle(t), dtype, "fp32 adapters")


def test_torch_backend_and_3d_input():
    """The reference fallback gives the kernels' results (no dropout) on [B, T, K] input."""
    t = make_inputs(*ODD, r=16, dtype=torch.float32)
    t3 = {**t, "x": t["x"][:36].reshape(4, 9, -1), "dy": t["dy"][:36].reshape(4, 9, -1)}
    fused, ref = run_function(t3), run_function(t3, backend="torch")
    assert fused[0].shape == (4, 9, ODD[2]) and fused[1].shape == t3["x"].shape
    check_all(fused, ref, torch.float32, "3-d")
    again = run_function(t3, p=0.5, seed=3, backend="torch")
    assert all(torch.equal(a, b) for a, b in
               zip(again, run_function(t3, p=0.5, seed=3, backend="torch"), strict=True))


def test_tolerance_detects_a_two_percent_error():
    t = make_inputs(*ODD, r=16, dtype=torch.float16)
    y = run_function(t)[0]
    off = reference.lora_forward(t["x"], t["weight"], t["bias"], t["lora_a"], t["lora_b"],
                                 ALPHA * 1.02, compute_dtype=torch.float64)[0]
    with pytest.raises(AssertionError):
        assert_scaled_close(y, off, torch.float16)


def test_import_sft_lora_is_cheap():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    code = "import sys, sft.lora; print(sorted(m for m in ('torch', 'triton', 'peft') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_gpu_real_shape(dtype):
    """M=8192, in=out=4096, r=16 on the GPU, against fp64."""
    t = make_inputs(8192, 4096, 4096, 16, dtype)
    check_all(run_function(t), oracle(t), dtype, "8192x4096x4096")


@pytest.mark.gpu
def test_gpu_qwen_shape_with_dropout():
    """Qwen3-8B k_proj (4096 -> 1024) with dropout in bf16, mask from the kernels."""
    p, seed = 0.05, 7
    t = make_inputs(8192, 4096, 1024, 16, torch.bfloat16, bias=False)
    keep = kernels.dropout_keep_mask(8192, 4096, p, seed, DEVICE)
    check_all(run_function(t, p, seed), oracle(t, keep, p), torch.bfloat16, "k_proj dropout")
