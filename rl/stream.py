"""Streamed scoring (`rollout.stream_scoring`): each prompt's completions go to the harness as
soon as the engine finishes them, so judge and embedding latency overlaps the rest of the
generation instead of following it.

    batch path:   generate ████████████ ─► score ▒▒▒▒▒▒▒▒
    streamed:     generate ████████████
                  score      ▒▒▒ ▒▒▒ ▒▒▒ ▒▒▒ ─► (only the last chunk's scoring is exposed)

The engine's `generate_stream` (rl/rollout/base.py) runs in a one-thread pool (the engine is
used from one thread at a time, as everywhere); this thread's event loop submits each chunk to
`harness.ascore_batch` as it arrives and assembles the scores in the original (group-major)
order at the end. Same seeds and requests as `generate`, the same Sample ids as the batch
path: identical completions and rewards, in the same order (batched check kinds such as
embeddings see smaller batches, which can change their floats in the last bits). A harness
that raises (a RemoteHarness refused with 4xx) raises the same exception as the batch path,
and the generation still in flight is stopped (vLLM requests aborted).

Each chunk is its own `ascore_batch` call on one event loop, and a Harness shares its
concurrency and judge budgets across the calls of a loop: streaming never opens more judge
requests than the batch path would.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rl.state import RLError


def stream_scoring_on(cfg: Any, engine: Any, rank: int = 0) -> bool:
    """`rollout.stream_scoring`: auto = on when the engine can stream (supports_streaming);
    true on an engine that cannot is an error naming the key. Rank 0 logs the choice."""
    import sys

    from rl.rollout.base import capability

    mode = cfg.rollout.get("stream_scoring", "auto")
    can = capability(engine, "supports_streaming")
    if mode is True and not can:
        raise RLError(f"rollout.stream_scoring=true: engine {type(engine).__name__} cannot "
                      "stream completions (no supports_streaming / generate_stream); use "
                      "rollout.stream_scoring=auto or false")
    on = can if mode == "auto" else bool(mode)
    if rank == 0:
        print(f"[rl] stream scoring: {'on' if on else 'off'} (rollout.stream_scoring={mode}, "
              f"{type(engine).__name__} {'can' if can else 'cannot'} stream)", file=sys.stderr)
    return on


class EngineRaised(Exception):
    """The engine's stream raised (not the harness): the caller reports an engine failure."""


def stream_and_score(engine: Any, harness: Any, prompts: list, sampling: Any,
                     to_samples) -> tuple[list, list, dict]:
    """Generate `prompts` (rewards.Sample) through `engine.generate_stream` and score each
    finished chunk at once; `to_samples(pairs)` builds the harness inputs of a chunk's
    (prompt, Generation) pairs (group-major, as the batch path does).

    Returns (pairs, results, timeline), pairs and results in prompt order. `timeline`
    (perf_counter seconds): chunks, first_chunk, last_chunk (the generation's end),
    first_submit (the first harness call began), scored (all scores in)."""
    from rewards.sync import run_sync

    rows, results, timeline = run_sync(
        lambda: _stream(engine, harness, prompts, sampling, to_samples))
    pairs = [(p, g) for p, row in zip(prompts, rows, strict=True) for g in row]
    flat = [r for k in range(len(prompts)) for r in results[k]]
    return pairs, flat, timeline


async def _stream(engine, harness, prompts, sampling, to_samples):
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(1, thread_name_prefix="rollout-stream")
    stream = engine.generate_stream([p.prompt for p in prompts], sampling)
    rows: list = [None] * len(prompts)
    results: list = [None] * len(prompts)
    tl: dict[str, Any] = {"chunks": 0}
    jobs: list[asyncio.Task] = []

    async def score(idx: list[int], pairs: list) -> None:
        tl.setdefault("first_submit", time.perf_counter())
        out = await harness.ascore_batch(to_samples(pairs))
        n = len(out) // len(idx)
        for j, k in enumerate(idx):
            results[k] = out[j * n:(j + 1) * n]

    try:
        while True:
            try:
                chunk = await loop.run_in_executor(pool, next, stream, None)
            except Exception as e:
                raise EngineRaised(f"{type(e).__name__}: {e}") from e
            if chunk is None:
                break
            tl["chunks"] += 1
            tl["last_chunk"] = time.perf_counter()
            tl.setdefault("first_chunk", tl["last_chunk"])
            for k, row in chunk:
                rows[k] = row
            pairs = [(prompts[k], g) for k, row in chunk for g in row]
            jobs.append(asyncio.create_task(score([k for k, _ in chunk], pairs)))
            for t in jobs:  # a harness that raised stops the generation now
                if t.done() and t.exception() is not None:
                    raise t.exception()
        await asyncio.gather(*jobs)
    finally:
        for t in jobs:
            t.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        # after any next() still running on the pool's one thread: aborts what is unfinished
        # (a generator; a custom engine may return a plain iterator)
        if hasattr(stream, "close"):
            await loop.run_in_executor(pool, stream.close)
        pool.shutdown()
    tl["scored"] = time.perf_counter()
    missing = [k for k, r in enumerate(rows) if r is None]
    if missing:
        raise EngineRaised(f"generate_stream ended without prompts {missing[:8]}")
    return rows, results, tl
