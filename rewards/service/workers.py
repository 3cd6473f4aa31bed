"""Cheap checks off the reward service's event loop: worker processes with time limits that fire.

Inline on the event loop, one 10 MB completion (a JSON answer with ~100,000 line items) took
27.5 s to score and `/health` did not answer for 26.9 s; the 5 s cheap-check limit did not
fire because only regex matching enforced it. A thread would share the GIL and could not be
stopped, so the checks run in `workers` processes (spawned: the service process has threads):

- per check, an interval timer (SIGALRM) in the worker's main thread raises `_TimeLimit` at
  the check's limit (`timeout_s`, else CHEAP_TIMEOUT_S = 5 s); the check abstains with
  "time limit: …" and the worker goes on with the next check. `_TimeLimit` is a
  BaseException, so a check's own `except Exception` cannot swallow it;
- a signal lands only between bytecodes: a worker stuck inside one C call is caught by its
  slot thread here. The worker writes which sample it is on, and since when, to shared
  memory; once that sample has run longer than its summed check limits + `grace_s`, the slot
  SIGKILLs the worker, abstains that sample's checks with "time limit" and sends the rest of
  the chunk to a new worker;
- each worker has a slot thread in this process doing the blocking pipe I/O; a batch is split
  into one chunk per worker and the futures resolve on the event loop. Verdicts come back in
  one message per FLUSH_S of work rather than one per sample: every message costs the slot
  thread a GIL hand-off against the busy event loop (up to the 5 ms switch interval each).

Rubrics travel to the workers pickled (each check rebuilt from its spec: rewards/checks/base.py)
and are addressed by hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import queue
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

from rewards.verdict import Verdict, abstain

log = logging.getLogger("rewards.serve")

# a worker sends what it has finished at least this often (and at the end of a chunk)
FLUSH_S = 0.02
# how often a waiting slot looks at its worker's progress
POLL_S = 0.25


class _TimeLimit(BaseException):
    """Raised in a worker by SIGALRM when a check outlives its limit."""


def _alarm(signum, frame):
    raise _TimeLimit


def _timed(check, sample) -> Verdict:
    from rewards.engine import run_cheap

    limit = check.time_limit_s
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return run_cheap(check, sample)
    except _TimeLimit:
        return abstain(f"time limit: still running after {limit:g}s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _worker(conn, rubrics: dict, progress) -> None:
    """A worker's life: (hash, [(index, sample, [check ids])]) in, lists of (index, {check id:
    Verdict}) out; `progress` = [index of the sample being checked, since when (monotonic)].
    None or a closed pipe ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGALRM, _alarm)
    checks = {h: {c.spec.id: c for c in r.built} for h, r in rubrics.items()}
    conn.send("ready")  # the slot's time limits count from here, not from the spawn
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the service is gone
            return
        if job is None:
            return
        rubric_hash, items = job
        done, flushed = [], time.monotonic()
        for i, sample, ids in items:
            progress[1], progress[0] = time.monotonic(), i
            out = {}
            for cid in ids:
                try:
                    out[cid] = _timed(checks[rubric_hash][cid], sample)
                except _TimeLimit:  # the alarm hit between the check's end and its reset
                    out[cid] = abstain("time limit: still running at the limit")
            done.append((i, out))
            if time.monotonic() - flushed >= FLUSH_S:
                conn.send(done)
                done, flushed = [], time.monotonic()
        progress[0] = -1
        if done:
            conn.send(done)


@dataclass
class _Job:
    rubric_hash: str
    items: list  # [(index, Sample, [check ids])]
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class CheckPool:
    """`await pool.run(rubric, samples, todo)` -> {(sample index, check id): Verdict} for the
    cheap checks named in todo[i], computed in worker processes (see the module docstring)."""

    def __init__(self, rubrics: list, workers: int, grace_s: float = 5.0):
        if workers < 1:
            raise ValueError(f"check workers: expected at least 1, got {workers}")
        self.rubrics = {r.hash: r for r in rubrics}
        self.grace_s = grace_s
        self.killed = 0  # workers killed at a time limit (a metric)
        self._jobs: queue.Queue = queue.Queue()
        self._slots = [_Slot(self, k) for k in range(workers)]

    def start(self) -> None:
        """Spawn every worker and wait until each is ready (~1 s: imports, rubrics), so the
        first batch does not pay for it."""
        for s in self._slots:  # all at once: each start is mostly waiting on imports
            s._launch()
        for s in self._slots:
            s._ready()
            s.start()

    async def run(self, rubric, samples, todo: list[list[str]]) -> dict[tuple[int, str], Verdict]:
        if rubric.hash not in self.rubrics:
            raise KeyError(f"check pool: rubric {rubric.hash} was not given to the workers")
        items = [(i, s, ids) for i, (s, ids) in enumerate(zip(samples, todo, strict=True))
                 if ids]
        if not items:
            return {}
        loop = asyncio.get_running_loop()
        k = min(len(self._slots), len(items))
        futures = []
        for j in range(k):  # contiguous chunks, one per worker
            fut = loop.create_future()
            self._jobs.put(_Job(rubric.hash, items[j * len(items) // k:(j + 1) * len(items) // k],
                                fut, loop))
            futures.append(fut)
        out: dict[tuple[int, str], Verdict] = {}
        for part in await asyncio.gather(*futures):
            out.update(part)
        return out

    def close(self) -> None:
        for _ in self._slots:
            self._jobs.put(None)
        for s in self._slots:
            s.join()


class _Slot(threading.Thread):
    """One worker process and the thread that feeds it (blocking pipe I/O off the loop)."""

    def __init__(self, pool: CheckPool, k: int):
        super().__init__(daemon=True, name=f"check-worker-{k}")
        self.pool = pool
        self.proc = self.conn = self.progress = None

    def run(self) -> None:
        while (job := self.pool._jobs.get()) is not None:
            try:
                out: Any = self._score(job)
                ok = True
            except Exception as e:  # handed to the request, which answers 500 and logs it
                out, ok = e, False
            with contextlib.suppress(RuntimeError):  # the request's loop has closed
                job.loop.call_soon_threadsafe(_settle, job.future, ok, out)
        self._stop()

    def _spawn(self) -> None:
        self._launch()
        self._ready()

    def _launch(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.progress = ctx.Array("d", [-1.0, 0.0], lock=False)  # see _worker
        self.proc = ctx.Process(target=_worker, args=(child, self.pool.rubrics, self.progress),
                                daemon=True, name=self.name)
        self.proc.start()
        child.close()

    def _ready(self) -> None:
        # a spawned worker imports rewards and rebuilds the rubrics (~1 s on an idle machine)
        if not self.conn.poll(120) or self.conn.recv() != "ready":
            raise RuntimeError(f"{self.name}: the check worker did not start "
                               f"(exit code {self.proc.exitcode})")

    def _stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            with contextlib.suppress(OSError):
                self.conn.send(None)
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()
        self.proc = self.conn = None

    def _score(self, job: _Job) -> dict[tuple[int, str], Verdict]:
        rubric = self.pool.rubrics[job.rubric_hash]
        pending = {item[0]: item for item in job.items}
        out: dict[tuple[int, str], Verdict] = {}
        while pending:
            if self.proc is None or not self.proc.is_alive():
                self._spawn()
            self.progress[0] = -1
            self.conn.send((job.rubric_hash, list(pending.values())))
            while pending and self._receive(out, pending, rubric):
                pass
        return out

    def _receive(self, out: dict, pending: dict, rubric) -> bool:
        """Take what the worker finished into `out`; False once the worker had to go (killed
        at a time limit, or dead): its current sample abstains, the rest are still pending."""
        try:
            if self.conn.poll(POLL_S):
                for i, verdicts in self.conn.recv():
                    out.update({(i, c): v for c, v in verdicts.items()})
                    del pending[i]
                return True
        except (EOFError, OSError):
            log.error("a check worker died (exit code %s); restarting it", self.proc.exitcode)
            self._give_up(out, pending, "error: the check worker died while running this "
                                        "sample's checks")
            return False
        i, since = int(self.progress[0]), self.progress[1]
        if i not in pending:
            return True
        limit = sum(rubric.check(c).time_limit_s for c in pending[i][2]) + self.pool.grace_s
        if time.monotonic() - since <= limit:
            return True
        self.pool.killed += 1
        log.warning("a check worker spent %.0f s on one sample (stuck in C code?); killed and "
                    "restarted", time.monotonic() - since)
        self._give_up(out, pending, f"time limit: the sample's checks were still running "
                                    f"after {limit:g}s")
        return False

    def _give_up(self, out: dict, pending: dict, why: str) -> None:
        """Kill the worker; the sample it was on (else the first pending one) abstains."""
        i = int(self.progress[0])
        self._stop(kill=True)
        i = i if i in pending else next(iter(pending))
        out.update({(i, c): abstain(why) for c in pending.pop(i)[2]})


def _settle(fut: asyncio.Future, ok: bool, value: Any) -> None:
    if not fut.done():  # the request may have been cancelled meanwhile
        (fut.set_result if ok else fut.set_exception)(value)
