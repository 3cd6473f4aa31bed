"""Time a LoRA linear four ways, side by side in one process: the base GEMM alone (x·Wᵀ, the
floor), PEFT's LoRA Linear, the torch reference, and the fused Triton kernels; forward and
forward+backward (dx, dA, dB; W frozen), as medians of CUDA-event timings after warmup.

    python -m benchmarks.lora_kernels                                  # all shape sets, bf16, r=16
    python -m benchmarks.lora_kernels --shapes square --iters 100 --out runs/lora_bench.json
    python -m benchmarks.lora_kernels --allow-cpu                      # CPU smoke test of this script

Targets (issue 6; M=8192, in=out=4096, r=16, bf16): fused forward <= 1.05x the base GEMM,
fused forward+backward <= 1.10x the base GEMM forward+backward.

Shape sets: `square` is M x 4096 -> 4096; `qwen3-4b|8b|32b` are that model's q/k/v/o and
gate/up/down projections (hidden 2560/4096/5120, intermediate 9728/12288/25600, 32/32/64
query heads and 8 KV heads of dim 128). On a machine without CUDA the script refuses with
exit code 2 unless --allow-cpu, which runs one tiny shape through the Triton interpreter:
that checks the script, not performance.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from benchmarks.measure import cpu_name, load


def _qwen3(hidden: int, inter: int, heads: int, kv_heads: int, head_dim: int = 128):
    q, kv = heads * head_dim, kv_heads * head_dim
    return [("q_proj", hidden, q), ("k_proj", hidden, kv), ("v_proj", hidden, kv),
            ("o_proj", q, hidden), ("gate_proj", hidden, inter), ("up_proj", hidden, inter),
            ("down_proj", inter, hidden)]


SHAPE_SETS = {
    "square": [("square", 4096, 4096)],
    "qwen3-4b": _qwen3(2560, 9728, 32, 8),
    "qwen3-8b": _qwen3(4096, 12288, 32, 8),
    "qwen3-32b": _qwen3(5120, 25600, 64, 8),
}
CPU_SHAPES = [("tiny", 96, 72)]  # --allow-cpu: interpreter cost grows with every tile
METHODS = ("base", "peft", "reference", "fused")


def _timer(device):
    import torch

    def run(fn, iters: int, warmup: int) -> float:
        """Median milliseconds of fn() over `iters` runs after `warmup` runs."""
        for _ in range(warmup):
            fn()
        if device.type != "cuda":
            times = []
            for _ in range(iters):
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
            return statistics.median(times)
        # one event pair per run, no sync in between: the host stays ahead of the GPU, so
        # Python launch overhead is hidden exactly as it is in a training step
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                  for _ in range(iters)]
        torch.cuda.synchronize()
        for start, end in events:
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize()
        return statistics.median(start.elapsed_time(end) for start, end in events)

    return run


def _peft_layer(base, r: int):
    """PEFT's LoRA Linear around `base` (alpha = 2r, random B), or None without peft (GPU
    machines may lack it: the PEFT column is then n/a)."""
    try:
        from peft import LoraConfig
        from peft.tuners.lora.layer import Linear as PeftLoraLinear
    except ImportError as err:
        print(f"peft unavailable ({err}); skipping the PEFT column", file=sys.stderr)
        return None
    cfg = LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, init_lora_weights=False)
    return PeftLoraLinear(base, "default", config=cfg, r=r, lora_alpha=2 * r)


def _cases(m: int, k: int, n: int, r: int, dtype, device) -> dict:
    """{method: (forward fn, forward+backward fn)} over one set of tensors of these shapes."""
    import torch

    from sft.lora.function import lora_linear

    gen = torch.Generator(device=device).manual_seed(0)

    def rand(*shape, scale=1.0):
        return torch.randn(*shape, generator=gen, device=device, dtype=dtype) * scale

    x = rand(m, k).requires_grad_()
    dy = rand(m, n)
    base = torch.nn.Linear(k, n, bias=False, device=device, dtype=dtype).requires_grad_(False)
    w, scaling = base.weight, 2.0
    a = rand(r, k, scale=k**-0.5).requires_grad_()
    b = rand(n, r, scale=r**-0.5).requires_grad_()
    forwards = {  # method: (forward, what its backward differentiates)
        "base": (lambda: torch.nn.functional.linear(x, w), [x]),
        "reference": (lambda: lora_linear(x, w, None, a, b, scaling, backend="torch"), [x, a, b]),
        "fused": (lambda: lora_linear(x, w, None, a, b, scaling, backend="triton"), [x, a, b]),
    }
    peft_layer = _peft_layer(base, r)
    if peft_layer is not None:
        peft_layer.to(device=device, dtype=dtype)
        peft_layer.scaling["default"] = scaling
        pa = peft_layer.lora_A["default"].weight = torch.nn.Parameter(a.detach().clone())
        pb = peft_layer.lora_B["default"].weight = torch.nn.Parameter(b.detach().clone())
        forwards["peft"] = (lambda: peft_layer(x), [x, pa, pb])
    return {
        name: (lambda fwd=fwd: fwd().detach(),
               lambda fwd=fwd, wrt=wrt: torch.autograd.grad(fwd(), wrt, dy))
        for name, (fwd, wrt) in forwards.items()
    }


def _check(cases: dict) -> float:
    """Max |fused - reference| / max |reference| of the forward output."""
    ref, fused = cases["reference"][0]().float(), cases["fused"][0]().float()
    return ((fused - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


def run_benchmark(shape_sets, m: int, r: int, dtype_name: str, iters: int, warmup: int, device):
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype_name]
    time_it = _timer(device)
    rows = []
    for set_name, shapes in shape_sets:
        for proj, k, n in shapes:
            cases = _cases(m, k, n, r, dtype, device)
            row = {"set": set_name, "proj": proj, "M": m, "K": k, "N": n, "r": r,
                   "max_rel_err_fused_vs_ref": _check(cases)}
            for method in METHODS:
                if method not in cases:
                    continue
                fwd, fwd_bwd = cases[method]
                row[f"fwd_ms/{method}"] = time_it(fwd, iters, warmup)
                row[f"fwdbwd_ms/{method}"] = time_it(fwd_bwd, iters, warmup)
                row[f"fwd_x/{method}"] = row[f"fwd_ms/{method}"] / row["fwd_ms/base"]
                row[f"fwdbwd_x/{method}"] = row[f"fwdbwd_ms/{method}"] / row["fwdbwd_ms/base"]
            rows.append(row)
            print(_format_row(row), flush=True)
            del cases
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


HEADER = ("| set | proj | M | K | N | fwd base ms | fwd peft | fwd ref | fwd fused "
          "| f+b base ms | f+b peft | f+b ref | f+b fused | fused err |")


def _format_row(row: dict) -> str:
    def ratios(kind: str) -> list[str]:
        return [f"{row[key]:.3f}x" if (key := f"{kind}_x/{m}") in row else "n/a" for m in METHODS[1:]]

    cells = [row["set"], row["proj"], row["M"], row["K"], row["N"], f"{row['fwd_ms/base']:.3f}"]
    cells += ratios("fwd") + [f"{row['fwdbwd_ms/base']:.3f}"] + ratios("fwdbwd")
    cells += [f"{row['max_rel_err_fused_vs_ref']:.1e}"]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _machine(device) -> dict:
    import torch
    import triton

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {"gpu": gpu or f"none (CPU: {cpu_name()}, Triton interpreter)",
            "torch": torch.__version__, "triton": triton.__version__,
            "cuda": torch.version.cuda, "python": platform.python_version(), "load": load()}


def _write(out: Path, machine: dict, args, rows: list[dict]) -> None:
    meta = {"machine": machine, "dtype": args.dtype, "rank": args.rank, "iters": args.iters,
            "warmup": args.warmup, "allow_cpu": args.allow_cpu}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**meta, "rows": rows}, indent=2) + "\n")
    ratios = "times in ms for base; other columns are ratios to the base GEMM of the same pass"
    lines = [f"# LoRA linear benchmark on {machine['gpu']}", "",
             f"dtype {args.dtype}, r={args.rank}, median of {args.iters} runs after "
             f"{args.warmup} warmup; torch {machine['torch']}, triton {machine['triton']}; "
             f"{ratios}.", "", HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
    lines += [_format_row(row) for row in rows]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.lora_kernels", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default="square,qwen3-4b,qwen3-8b,qwen3-32b",
                   help=f"comma-separated shape sets from {sorted(SHAPE_SETS)} (default: all)")
    p.add_argument("--m", type=int, default=8192, help="tokens per batch, M (default 8192)")
    p.add_argument("--rank", type=int, default=16, help="LoRA rank r (default 16)")
    p.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), default="bf16")
    p.add_argument("--iters", type=int, default=50, help="timed runs per case (median)")
    p.add_argument("--warmup", type=int, default=10, help="untimed runs first (compiles too)")
    p.add_argument("--out", type=Path, help="write results as JSON here and markdown beside it (.md)")
    p.add_argument("--allow-cpu", action="store_true",
                   help="without CUDA, run one tiny fp32 shape in the Triton interpreter "
                        "(a smoke test of this script; the times mean nothing)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    unknown = sorted(set(args.shapes.split(",")) - set(SHAPE_SETS))
    if unknown:
        print(f"unknown shape set(s) {unknown}; choose from {sorted(SHAPE_SETS)}", file=sys.stderr)
        return 2
    import torch

    if torch.cuda.is_available():
        device = torch.device("cuda")
        shape_sets = [(name, SHAPE_SETS[name]) for name in args.shapes.split(",")]
    elif not args.allow_cpu:
        print("benchmarks.lora_kernels measures GPU kernels and found no CUDA device; run it on an "
              "H100/H200. Use --allow-cpu to smoke-test the script on CPU (tiny shapes, "
              "Triton interpreter, meaningless times).", file=sys.stderr)
        return 2
    else:
        os.environ["TRITON_INTERPRET"] = "1"  # before sft.lora.kernels defines its kernels
        device = torch.device("cpu")
        shape_sets, args.m, args.dtype = [("cpu-smoke", CPU_SHAPES)], 37, "fp32"
    print(HEADER)
    rows = run_benchmark(shape_sets, args.m, args.rank, args.dtype, args.iters, args.warmup, device)
    if args.out:
        _write(args.out, _machine(device), args, rows)
        print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
