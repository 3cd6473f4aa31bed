"""Fixtures for the model layer and SFT tests: the tiny-random model, chat JSONL files, and
composed configs. tiny-random lives in the normal harnessrl cache (built once, reused);
tests that exercise building point HARNESSRL_CACHE at a temp dir themselves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LABELS = ["billing", "shipping", "refund", "account", "technical"]


def chat_rows(n: int, seed: int = 0) -> list[dict]:
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.choice(LABELS)
        rows.append({"messages": [
            {"role": "system", "content": "Classify the support ticket with one label."},
            {"role": "user", "content": f"Ticket {i}: I have a question about {label}."},
            {"role": "assistant", "content": label}]})
    return rows


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


class Helpers:
    """Plain helpers handed to tests as a fixture (conftest is not importable under
    --import-mode=importlib)."""

    chat_rows = staticmethod(chat_rows)
    write_jsonl = staticmethod(write_jsonl)


@pytest.fixture(scope="session")
def helpers() -> type[Helpers]:
    return Helpers


@pytest.fixture
def chats_jsonl(tmp_path) -> Path:
    return write_jsonl(tmp_path / "chats.jsonl", chat_rows(32))


@pytest.fixture(scope="session")
def tiny_cfg():
    from omegaconf import OmegaConf

    return OmegaConf.load(REPO / "conf" / "model" / "tiny-random.yaml")


@pytest.fixture(scope="session")
def tiny(tiny_cfg):
    """(model, tokenizer) of tiny-random, fp32, eval mode."""
    from sft.model import load_model, load_tokenizer

    tok = load_tokenizer(tiny_cfg)
    model = load_model(tiny_cfg).eval()
    return model, tok


def compose_sft(*overrides: str):
    """The composed conf/sft.yaml with `overrides`."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("sft", overrides=list(overrides))


def run_cli(module: str, *args: str, env: dict | None = None, launcher: list[str] | None = None,
            timeout: int = 600) -> subprocess.CompletedProcess:
    """`python -m module args` (or `launcher ... -m module args`) from the repo root."""
    cmd = (launcher or [sys.executable]) + ["-m", module, *args]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


Helpers.compose_sft = staticmethod(compose_sft)
Helpers.run_cli = staticmethod(run_cli)
