"""The two command-line tools: the sm_90 compile check of every shipped kernel config (no GPU
needed) and the CPU behaviour of the kernels' benchmark (benchmarks/lora_kernels.py, run as
the command it is, never imported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton")

REPO = Path(__file__).resolve().parents[3]


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    return env | {"OMP_NUM_THREADS": "1"} | extra


@pytest.mark.slow
def test_every_shipped_config_compiles_for_sm90(tmp_path):
    """21 compiles into a fresh cache: 60 s wall on 2 shared cores, hence `slow`."""
    from sft.lora.kernels import SHIPPED_CONFIGS

    out = tmp_path / "compile.json"
    cmd = [sys.executable, "-m", "sft.lora.compile_check", "--jobs", "2", "--json", str(out)]
    subprocess.run(cmd, env=_env(TRITON_CACHE_DIR=str(tmp_path / "cache")), check=True, timeout=600)
    results = json.loads(out.read_text())["results"]
    assert {r["config"] for r in results} == {c.name for c in SHIPPED_CONFIGS}
    for r in results:
        assert r["shared_bytes"] <= 227 * 1024, r
        assert r["spill_store_bytes"] == 0, r
        # every 16-bit and TF32 dot must land on Hopper tensor cores
        if r["dtype"] in ("bf16", "tf32") and r["config"] != "dropout_mask":
            assert r["wgmma"], r


def test_bench_refuses_cpu_without_flag():
    if os.path.exists("/dev/nvidia0"):
        pytest.skip("has a GPU")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.lora_kernels", "--shapes", "square"],
                          cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--allow-cpu" in proc.stderr


def test_bench_cpu_smoke(tmp_path):
    if os.path.exists("/dev/nvidia0"):
        pytest.skip("has a GPU: the smoke path is for CPU machines")
    out = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "benchmarks.lora_kernels", "--allow-cpu", "--iters", "2",
           "--warmup", "1", "--out", str(out)]
    subprocess.run(cmd, cwd=REPO, env=_env(), check=True, capture_output=True, timeout=300)
    data = json.loads(out.read_text())
    assert "none" in data["machine"]["gpu"]
    (row,) = data["rows"]
    assert row["max_rel_err_fused_vs_ref"] < 1e-5
    assert {"fwd_x/fused", "fwdbwd_x/fused", "fwd_x/peft"} <= set(row)
    assert "| cpu-smoke | tiny |" in out.with_suffix(".md").read_text()
