"""Session-wide test settings: CPU-friendly threading, GPU marker handling, shared fixtures.

Set before anything imports torch or defines a Triton kernel: one intra-op thread keeps tiny
models fast on 2-core machines (2 threads measured 10-20x slower), and Triton kernels run in
the interpreter when no GPU is present.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


def _has_cuda() -> bool:
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        return False
    return Path("/dev/nvidia0").exists()


if not _has_cuda():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "real"


def pytest_collection_modifyitems(config, items):
    if _has_cuda():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """../shared/data/real beside the checkout; tests using it skip when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real datasets not present at {REAL_DATA}")
    return REAL_DATA
