"""Fixtures of the rewards tests (the shared fakes and the fuzz case table are the root
conftest's: tests/rl uses them too)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def slow_funcs(monkeypatch) -> Path:
    """tests/rewards/slow_funcs.py importable as `slow_funcs` for this test (python checks
    name a function by import path, `slow_funcs:forever`, as a user's module on the path
    would be); returns its folder, for a subprocess's PYTHONPATH."""
    here = Path(__file__).resolve().parent
    monkeypatch.syspath_prepend(str(here))
    return here
