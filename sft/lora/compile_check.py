"""Compile every shipped kernel configuration for Hopper (sm_90) — no GPU needed.

    python -m sft.lora.compile_check [--jobs 2] [--json out.json] [--block-r 16]

The interpreter runs any block shape; ptxas does not: this catches what only the real
compiler enforces (minimum dot sizes, 227 KiB shared memory per block, layouts wgmma cannot
take) and reports what the interpreter cannot see (registers, spills: ptxas -v). Each
(config, dtype, variant) is lowered through
`triton.compile(ASTSource(...), target=GPUTarget("cuda", 90, 32))` to a cubin, with the
specialisations a real launch gets (16-byte aligned pointers, unit strides as constants,
feature dims divisible by 16).

Variants: gemm compiles its forward form (bias, K-extended accumulator, Wᵀ as a strided view,
EVEN_K), its dx form (W as is, K tail masks) and, for configs that ship it, dx with the
dropout-masked rank-r epilogue; the other kernels compile with dropout and tail masks on
(their superset of code). 16-bit configs compile in
bf16 (fp16 lowers to the same instructions); fp32 configs compile twice, with the IEEE dot
(FMA) and with the TF32 tensor-core dot used when torch's fp32 matmul precision allows it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor

os.environ.pop("TRITON_INTERPRET", None)  # before kernels.py defines its @triton.jit functions

_FP32_PTRS = {"s_ptr", "ds_ptr", "db_ptr", "da_ptr"}
# launch-time strides per kernel/variant: 1 = unit (specialised constant), 16 = divisible
_STRIDES = {
    ("gemm", "fwd"): {"stride_ak": 1, "stride_bk": 1, "stride_sr": 1, "stride_tr": 1,
                      "stride_cn": 1},
    ("gemm", "dx"): {"stride_ak": 1, "stride_bn": 1, "stride_sr": 1, "stride_tn": 1,
                     "stride_cn": 1},
    ("gemm", "dx_dropout"): {"stride_ak": 1, "stride_bn": 1, "stride_sr": 1, "stride_tn": 1,
                             "stride_cn": 1},
    ("lora_a", ""): {"stride_xk": 1, "stride_ak": 1, "stride_sr": 1},
    ("lora_dy", ""): {"stride_dyn": 1, "stride_br": 1, "stride_sr": 1},
    ("lora_da", ""): {"stride_xk": 1, "stride_dsr": 1},
    ("dropout_mask", ""): {},
}


def _jobs() -> list[tuple[str, str, str]]:
    """(config, dtype, variant) triples; fp32 compiles both the IEEE and the TF32 dot."""
    from .kernels import SHIPPED_CONFIGS

    jobs = []
    for cfg in SHIPPED_CONFIGS:
        dtypes = ["bf16"] if {"bf16", "fp16"} & set(cfg.dtypes) else []
        dtypes += ["fp32", "tf32"] if "fp32" in cfg.dtypes else []
        if cfg.kernel == "dropout_mask":
            dtypes = dtypes[:1]  # writes int8 whatever the model dtype: one kernel
        variants = ("",)
        if cfg.kernel == "gemm":
            variants = ("fwd", "dx", "dx_dropout") if cfg.dropout else ("fwd", "dx")
        jobs += [(cfg.name, dtype, variant) for dtype in dtypes for variant in variants]
    return jobs


def _constexprs(cfg, dtype: str, variant: str, block_r: int) -> dict:
    base = {"BLOCK_M": cfg.block_m, "BLOCK_N": cfg.block_n, "BLOCK_K": cfg.block_k,
            "BLOCK_R": block_r, "GROUP_M": cfg.group_m, "UPCAST": False,
            "PRECISION": "tf32" if dtype == "tf32" else "ieee"}
    if cfg.kernel == "gemm":
        fwd = variant == "fwd"
        base.update(EVEN_K=fwd, HAS_BIAS=fwd, HAS_DROPOUT=variant == "dx_dropout")
    else:
        base.update(EVEN_K=False, EVEN_N=False, HAS_DROPOUT=True)
    return base


def compile_one(name: str, dtype: str, variant: str, block_r: int = 16) -> dict:
    """Compile one (config, dtype, variant) for sm_90; dtype "tf32" means fp32 tensors with the
    TF32 dot. Returns compile seconds, shared memory and which MMA instruction was emitted."""
    import triton
    from triton import knobs
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, make_backend

    from .kernels import _BY_NAME, KERNELS

    cfg = _BY_NAME[name]
    fn = KERNELS[cfg.kernel]
    wanted = _constexprs(cfg, dtype, variant, block_r)
    label, dtype = dtype, "fp32" if dtype == "tf32" else dtype
    units = _STRIDES[(cfg.kernel, variant)]
    signature, constexprs, attrs = {}, {}, {}
    for i, arg in enumerate(fn.arg_names):
        if arg in wanted or arg in units:
            signature[arg] = "constexpr"
            constexprs[arg] = wanted.get(arg, units.get(arg))
        elif arg.endswith("_ptr"):
            signature[arg] = "*i8" if arg == "out_ptr" else "*fp32" if arg in _FP32_PTRS else f"*{dtype}"
            attrs[(i,)] = [["tt.divisibility", 16]]
        elif arg in ("scale", "p_drop"):
            signature[arg] = "fp32"
        else:
            signature[arg] = "i32"
            # feature dims and strides are multiples of 16 at every real shape (Qwen3 4B-32B),
            # which is what lets masked tiles still load 16-byte vectors through cp.async
            if arg.startswith("stride_") or arg in ("N", "K"):
                attrs[(i,)] = [["tt.divisibility", 16]]
    target = GPUTarget("cuda", 90, 32)
    options = make_backend(target).parse_options({"num_warps": cfg.num_warps, "num_stages": cfg.num_stages})
    knobs.nvidia.dump_ptxas_log = True  # Triton prints ptxas -v output; we parse it
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) as log:
        kernel = triton.compile(ASTSource(fn, signature, constexprs, attrs), target=target,
                                options=options.__dict__)
    seconds = time.perf_counter() - start
    ptx = kernel.asm.get("ptx", "")
    regs = re.search(r"Used (\d+) registers", log.getvalue())
    spills = re.search(r"(\d+) bytes spill stores", log.getvalue())
    return {"config": name, "dtype": label, "variant": variant, "block_r": block_r, "seconds": round(seconds, 2),
            "shared_bytes": kernel.metadata.shared, "num_warps": cfg.num_warps,
            "num_stages": cfg.num_stages, "wgmma": "wgmma" in ptx, "mma_sync": "mma.sync" in ptx,
            "registers": int(regs[1]) if regs else None,
            "spill_store_bytes": int(spills[1]) if spills else None,
            # ptxas C7515: wgmma issued one at a time (operand built in registers, e.g. dropout)
            "wgmma_serialized": "C7515" in log.getvalue()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel compiles")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--block-r", type=int, default=16, choices=(16, 32, 48, 64),
                        help="rank tile (r rounded up to 16); 16 covers r <= 16, the default")
    args = parser.parse_args(argv)
    jobs = [(*job, args.block_r) for job in _jobs()]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(compile_one, *zip(*jobs, strict=True)))
    total = time.perf_counter() - start
    for r in results:
        mma = "wgmma" if r["wgmma"] else "mma.sync" if r["mma_sync"] else "no-mma"
        print(f"{r['config']:<14} {r['dtype']:<5} {r['variant'] or '-':<10} {r['seconds']:6.1f} s  "
              f"smem {r['shared_bytes'] / 1024:6.1f} KiB  regs {r['registers']}  "
              f"spills {r['spill_store_bytes']} B  {mma}{' (serialized)' if r['wgmma_serialized'] else ''}")
    print(f"compiled {len(results)} kernels for sm_90 (BLOCK_R={args.block_r}) in {total:.1f} s wall "
          f"({args.jobs} jobs)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"target": "cuda sm_90 (warp 32)", "wall_seconds": round(total, 1),
                       "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
