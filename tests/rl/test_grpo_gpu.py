"""GRPO on a CUDA GPU (skipped without one): the policy, the reference pass and every
training tensor on the device, bf16 base weights, the fused LoRA kernel (lora.kernel=auto
picks it on CUDA), and a bf16 run whose losses track the fp32 run's."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("hydra")

from rl import grpo  # noqa: E402

pytestmark = pytest.mark.gpu
CONF = Path(__file__).resolve().parents[2] / "conf"


def _cfg(tmp_path: Path, *extra: str):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        return compose("grpo", ["debug=tiny", "logger=none", f"run_dir={tmp_path}",
                                "train.batch_size=8", "train.max_steps=2", "algo.beta=0.04",
                                "sampling.max_new_tokens=8", "optim.lr=1e-2",
                                "train.progress=false", "train.resume=null", *extra])


def test_two_steps_on_cuda_in_bf16_with_the_fused_kernel(tmp_path):
    from sft.lora.patch import FusedLoraLinear

    run = grpo.setup(_cfg(tmp_path / "setup", "device=cuda", "model.dtype=bfloat16"))
    assert next(run.model.parameters()).device.type == "cuda"
    assert run.model.get_base_model().dtype == torch.bfloat16
    assert any(isinstance(m, FusedLoraLinear) for m in run.model.modules())
    out = grpo.train(_cfg(tmp_path / "run", "device=cuda", "model.dtype=bfloat16"))
    assert [h["step"] for h in out["history"]] == [1, 2]
    assert all(math.isfinite(h["loss/loss"]) and h["policy/grad_norm"] > 0
               for h in out["history"])


def test_bf16_losses_track_fp32(tmp_path):
    """Same seed and prompts: the bf16 run's first step agrees with fp32's to bf16 precision
    (gradient norm within 5%, loss within 0.02)."""
    fp32 = grpo.train(_cfg(tmp_path / "fp32", "device=cuda", "model.dtype=float32",
                           "train.max_steps=1"))["history"][0]
    bf16 = grpo.train(_cfg(tmp_path / "bf16", "device=cuda", "model.dtype=bfloat16",
                           "train.max_steps=1"))["history"][0]
    assert bf16["policy/grad_norm"] == pytest.approx(fp32["policy/grad_norm"], rel=0.05)
    assert abs(bf16["loss/loss"] - fp32["loss/loss"]) < 0.02
