"""Time limits for work that Python cannot interrupt: regexes and user functions.

- Patterns (the `regex` check, `pattern` in JSON schemas) compile with the `regex` engine,
  whose matcher takes a `timeout=`: the stdlib `re` has none, and `^(a+)+$` on a
  31-character answer ran 44 s inline despite `timeout_s: 1`. `regex` also optimises that
  very pattern away; `(a|aa)+$` on 41 characters still backtracks and now stops at the limit.
- Blocking user functions run in a daemon thread: `asyncio.wait_for` abandons it at the limit
  and, unlike `asyncio.to_thread`'s pool thread, a daemon thread that never returns does not
  keep the process alive at exit (the pool is joined by `asyncio.run` and at interpreter exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import regex

FLAGS = {"IGNORECASE": regex.I, "MULTILINE": regex.M, "DOTALL": regex.S}


def compile_pattern(pattern: str, flags: int = 0):
    """Compile with the timeout-capable engine; ValueError names the problem."""
    try:
        return regex.compile(pattern, flags)
    except (regex.error, OverflowError, RecursionError) as e:
        raise ValueError(f"invalid regular expression: {e}") from None


def search(rx, text: str, timeout_s: float):
    """rx.search(text) that raises TimeoutError after `timeout_s` seconds of matching."""
    try:
        return rx.search(text, timeout=timeout_s)
    except TimeoutError:
        raise TimeoutError(f"pattern still matching after {timeout_s:g}s "
                           "(catastrophic backtracking?)") from None


async def in_daemon_thread(fn, *args: Any, **kwargs: Any) -> Any:
    """Await fn(*args, **kwargs) run in a fresh daemon thread (see the module docstring)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if not fut.done():
            (fut.set_result if ok else fut.set_exception)(value)

    def target() -> None:
        try:
            out = fn(*args, **kwargs)
        except BaseException as e:  # handed to the awaiting task, re-raised there
            ok, out = False, e
        else:
            ok = True
        # RuntimeError: the loop closed while we ran, nobody is waiting any more
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, ok, out)

    threading.Thread(target=target, daemon=True, name=f"check:{getattr(fn, '__name__', fn)}").start()
    return await fut
