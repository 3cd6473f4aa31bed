"""Run a coroutine to completion from synchronous code, even from inside a running event loop
(Jupyter, an async trainer): then it runs on a fresh loop in a helper thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """`make()`'s result; `make` builds the coroutine on the loop that will run it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    out: list[T] = []
    t = threading.Thread(target=lambda: out.append(asyncio.run(make())))
    t.start()
    t.join()
    return out[0]
