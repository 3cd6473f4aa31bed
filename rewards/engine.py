"""The fan-out engine: every check of every sample of a batch, concurrently, cheap ones first.

    harness = Harness(load_rubric("rubric.yaml"), judge={"base_url": ..., "model": ...})
    results = harness.score_batch(samples)          # or: await harness.ascore_batch(samples)

Order of work per batch:
1. cache look-up (one SQLite query or Redis HMGET, off the event loop) for the cacheable
   (expensive) checks;
2. cheap deterministic checks inline (microseconds each: no task overhead), or in the worker
   processes of `check_pool` when one is set (the reward service: a 10 MB completion must not
   stall its event loop, and a check's time limit must really stop it);
3. expensive checks (embeddings, judge, user python) are skipped where a failed gate already
   decides their dimension (or the total); the rest run concurrently under one global
   concurrency budget, judge calls under a separate one, each with a timeout. Batched kinds
   (embeddings) run once for the whole batch;
4. new verdicts written back to the cache in one transaction; aggregation; input order kept.
A check that raises or times out abstains with the error as its reason. Every kind has a
time limit: cheap kinds enforce theirs inside (regex engine timeouts, rewards/timebox.py;
in a check pool, a per-check alarm), the judge counts its own from the moment its request is
sent (not while queued on the judge semaphore), embeddings from after the one-time model
load; the rest run under `asyncio.wait_for`. NaN/inf values become abstains. A self-timed
kind's latency is its own (the judge's: the request), and the time it queued is reported
apart (`last_stats["judge_queue_s"]`).
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewards.aggregate import aggregate, audit_score
from rewards.cache import CACHE_FILE, cache_key, open_cache
from rewards.checks.base import CHEAP, Check
from rewards.checks.judge import JudgeConfig, judge_client
from rewards.rubric import Rubric, load_rubric
from rewards.sample import Sample
from rewards.summary import judge_error_reason
from rewards.sync import run_sync
from rewards.verdict import HarnessResult, Verdict, abstain


@dataclass
class RunContext:
    judge: JudgeConfig | None
    sem: asyncio.Semaphore
    judge_sem: asyncio.Semaphore
    http: Any = None
    timeout_s: float = 60.0
    judge_errors: int = 0
    judge_calls: int = 0  # judge checks asked (not from the cache)
    judge_requests: int = 0  # HTTP requests they sent, retries included
    judge_queue_s: list[float] = field(default_factory=list)


class Harness:
    """A rubric made executable: the benchmark grader and the RL reward are this one object."""

    def __init__(self, rubric: Rubric | str | Path | dict, judge: Any = None,
                 cache_path: str | Path | None = None, concurrency: int = 64,
                 judge_concurrency: int | None = None, timeout_s: float = 60.0,
                 progress: bool = False):
        self.rubric = load_rubric(rubric)
        _check_limits(concurrency, judge_concurrency, timeout_s)
        self.judge = JudgeConfig.resolve(judge, self.rubric.judge)
        # a SQLite path, a redis:// URL (shared across nodes) or an open cache object
        self.cache = open_cache(cache_path)
        self.concurrency = concurrency
        self.judge_concurrency = judge_concurrency or (self.judge.concurrency if self.judge else 8)
        self.timeout_s = timeout_s
        self.progress = progress
        self.last_stats: dict[str, Any] = {}
        self._sems: tuple | None = None  # (loop, checks, judge): see _semaphores
        # runs the cheap checks elsewhere: `await check_pool.run(rubric, samples, todo)` ->
        # {(sample index, check id): Verdict} (rewards/service/workers.py); None = inline
        self.check_pool: Any = None

    @classmethod
    def from_config(cls, rubric: Rubric | str | Path | dict, judge_group: Any = None,
                    cache_dir: str | Path | None = None, reward: Any = None,
                    **kwargs: Any) -> Any:
        """The one builder every stage uses: the recipes' `judge` group (`enabled` +
        endpoint) and a verdict cache named CACHE_FILE in `cache_dir` (None: no cache).

        `reward`: the recipes' reward settings (`reward` group in conf/grpo.yaml, `eval.reward`
        in conf/eval.yaml). `url` set: a `rewards.remote.RemoteHarness` scoring through a
        reward service (`python -m rewards.serve`), same surface, this rubric checked against
        the service's by hash; `token_env` names the variable holding its bearer token.
        `cache_url` (redis://...): the shared Redis verdict cache instead of the local file.
        Explicit `judge=` / `cache_path=` keyword arguments win over the groups."""
        opts = _plain(reward)
        if opts.get("url"):
            from rewards.remote import RemoteHarness

            return RemoteHarness(opts["url"], rubric=rubric, token_env=opts.get("token_env"),
                                 timeout_s=float(opts.get("timeout_s") or 120.0))
        kwargs.setdefault("judge", JudgeConfig.from_group(judge_group))
        if opts.get("cache_url"):
            kwargs["cache_path"] = str(opts["cache_url"])
        elif cache_dir is not None:
            kwargs.setdefault("cache_path", Path(cache_dir) / CACHE_FILE)
        return cls(rubric, **kwargs)

    @property
    def rubric_hash(self) -> str:
        return self.rubric.hash

    def score_batch(self, samples: Sequence[Sample]) -> list[HarnessResult]:
        """Synchronous wrapper; safe to call from code that already runs an event loop."""
        return run_sync(lambda: self.ascore_batch(samples))

    async def ascore_batch(self, samples: Sequence[Sample]) -> list[HarnessResult]:
        t0 = time.perf_counter()
        samples = list(samples)
        checks: list[Check] = self.rubric.built
        verdicts: list[dict[str, Verdict]] = [{} for _ in samples]
        bar = _progress(self.progress, len(samples) * len(checks))
        keys = await self._cached(samples, checks, verdicts)
        await self._run_cheap(samples, checks, verdicts)
        if bar:
            bar.update(sum(len(v) for v in verdicts))
        ctx = RunContext(self.judge, *self._semaphores(), timeout_s=self.timeout_s)
        uses_judge = self.judge is not None and any(c.needs_judge for c in checks)
        if uses_judge:
            ctx.http = judge_client(self.judge_concurrency, _tls_context(), self.judge.base_url)
        try:
            await self._run_expensive(samples, checks, verdicts, ctx, bar)
        finally:
            if ctx.http is not None:
                await ctx.http.aclose()
            if bar:
                bar.close()
        if self.cache is not None:
            await self.cache.aput_many({keys[(i, cid)]: v for (i, cid) in keys
                                        for v in [verdicts[i][cid]]
                                        if v.status != "abstain" and not v.cached})
        results = []
        for s, v in zip(samples, verdicts, strict=True):
            ordered = {c.spec.id: v[c.spec.id] for c in checks}
            score, norm, dims, cov = aggregate(self.rubric, ordered)
            results.append(HarnessResult(s.id, score, norm, dims, cov, ordered, self.rubric.hash,
                                         dict(s.meta), audit_score(self.rubric, ordered)))
        self.last_stats = {"seconds": time.perf_counter() - t0, "judge_calls": ctx.judge_calls,
                           "judge_requests": ctx.judge_requests,
                           "judge_errors": ctx.judge_errors, "judge_queue_s": ctx.judge_queue_s,
                           "judge_error": judge_error_reason(results, checks),
                           "cache": self.cache.counters() if self.cache is not None else None}
        return results

    async def _run_cheap(self, samples, checks, verdicts) -> None:
        """Every cheap check the cache did not answer: inline, or in the check pool."""
        todo = [[c for c in checks if c.cost == CHEAP and c.spec.id not in verdicts[i]]
                for i in range(len(samples))]
        if self.check_pool is not None:
            done = await self.check_pool.run(self.rubric, samples,
                                             [[c.spec.id for c in t] for t in todo])
            for (i, cid), v in done.items():
                verdicts[i][cid] = _finite(v)
            return
        for i, s in enumerate(samples):
            for c in todo[i]:
                verdicts[i][c.spec.id] = run_cheap(c, s)

    def _semaphores(self) -> tuple[asyncio.Semaphore, asyncio.Semaphore]:
        """(checks, judge calls) semaphores shared by every `ascore_batch` running on this
        event loop: concurrent batches (streamed scoring submits one per finished group)
        share one concurrency budget instead of each getting its own. A new loop (each
        `score_batch` runs one) gets fresh ones: a semaphore belongs to one loop."""
        loop = asyncio.get_running_loop()
        sems = self._sems
        if sems is None or sems[0] is not loop:
            sems = self._sems = (loop, asyncio.Semaphore(self.concurrency),
                                 asyncio.Semaphore(self.judge_concurrency))
        return sems[1], sems[2]

    async def _cached(self, samples, checks, verdicts) -> dict[tuple[int, str], str]:
        """Fill verdicts from the cache; return the keys of every cacheable (sample, check)."""
        if self.cache is None:
            return {}
        keys = {(i, c.spec.id): cache_key(c.spec.id, self.rubric.hash, c.cache_inputs(s),
                                          c.scorer_identity(self.judge))
                for i, s in enumerate(samples) for c in checks if c.cacheable}
        found = await self.cache.aget_many(list(set(keys.values())))
        for (i, cid), k in keys.items():
            if k in found:
                v = found[k]
                v.cached = True
                verdicts[i][cid] = v
        return keys

    async def _run_expensive(self, samples, checks, verdicts, ctx: RunContext, bar) -> None:
        by_id = {c.spec.id: c for c in checks}
        todo: dict[str, list[int]] = {}
        for i in range(len(samples)):
            moot = _moot_dimensions(self.rubric, verdicts[i])
            for c in checks:
                if c.spec.id in verdicts[i]:
                    continue
                if c.needs_judge and ctx.judge is None:
                    verdicts[i][c.spec.id] = Verdict("abstain", None, "judge not configured",
                                                     skipped=True)
                elif (moot is True or c.spec.dimension in moot) and not c.spec.audit:
                    verdicts[i][c.spec.id] = Verdict("abstain", None, "skipped: a failed gate "
                                                     "already decides this", skipped=True)
                else:
                    todo.setdefault(c.spec.id, []).append(i)
        jobs = []
        for cid, idx in todo.items():
            c = by_id[cid]
            if c.batched:
                jobs.append(self._run_batched(c, [samples[i] for i in idx], idx, verdicts, ctx, bar))
            else:
                jobs += [self._run_one(c, samples[i], i, verdicts, ctx, bar) for i in idx]
        await asyncio.gather(*jobs)

    async def _run_one(self, c: Check, s: Sample, i: int, verdicts, ctx: RunContext, bar) -> None:
        timeout = c.spec.timeout_s or self.timeout_s
        t0 = time.perf_counter()
        async with ctx.sem:
            if c.needs_judge:
                ctx.judge_calls += 1
            try:
                if c.self_timed:
                    v = await c.evaluate(s, ctx)
                else:
                    v = await asyncio.wait_for(c.evaluate(s, ctx), timeout)
            except TimeoutError:
                v = abstain(f"timeout after {timeout:g}s")
                if c.needs_judge:
                    ctx.judge_errors += 1
            except Exception as e:  # a broken check must not sink the batch
                v = abstain(f"error: {type(e).__name__}: {e}"[:300])
        total = time.perf_counter() - t0
        own = v.latency_s if c.self_timed and v.latency_s else None
        v = _finite(v)
        # a self-timed kind measured its own work; the rest of the wall time was queueing
        v.latency_s = total if own is None else own
        if own is not None and c.needs_judge:
            ctx.judge_queue_s.append(max(0.0, total - own))
        verdicts[i][c.spec.id] = v
        if bar:
            bar.update(1)

    async def _run_batched(self, c: Check, subset, idx, verdicts, ctx, bar) -> None:
        t0 = time.perf_counter()
        timeout = c.spec.timeout_s or self.timeout_s
        try:
            coro = c.evaluate_many(subset, ctx)
            out = await (coro if c.self_timed else asyncio.wait_for(coro, timeout))
        except TimeoutError:
            out = [abstain(f"timeout after {timeout:g}s") for _ in subset]
        except Exception as e:
            out = [abstain(f"error: {type(e).__name__}: {e}"[:300]) for _ in subset]
        per = (time.perf_counter() - t0) / max(1, len(subset))
        for i, v in zip(idx, out, strict=True):
            v = _finite(v)
            v.latency_s = per
            verdicts[i][c.spec.id] = v
        if bar:
            bar.update(len(subset))


@functools.cache
def _tls_context():
    """One TLS context per process: httpx builds a fresh one (loading the CA bundle, ~120 ms
    measured here) for every client, i.e. for every judged batch — most of a cached batch's
    latency in the reward service. Same CA bundle as httpx's default (certifi)."""
    import ssl

    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _plain(group: Any) -> dict[str, Any]:
    """A config group (OmegaConf node, mapping or None) as a plain dict."""
    if group is None:
        return {}
    if type(group).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        group = OmegaConf.to_container(group, resolve=True)
    return dict(group)


def run_cheap(c: Check, s: Sample) -> Verdict:
    """One cheap check, inline: errors and its own time limit become abstains."""
    t0 = time.perf_counter()
    try:
        v = c.evaluate_sync(s)
    except TimeoutError as e:  # cheap kinds enforce their own limit (rewards/timebox.py)
        v = abstain(f"timeout: {e}"[:300])
    except Exception as e:
        v = abstain(f"error: {type(e).__name__}: {e}"[:300])
    v = _finite(v)
    v.latency_s = time.perf_counter() - t0
    return v


def _finite(v: Verdict) -> Verdict:
    """A NaN/inf value would become the score and invalid JSON in the output: abstain."""
    if v.value is not None and (isinstance(v.value, bool) or not isinstance(v.value, int | float)
                                or not math.isfinite(v.value)):
        return abstain(f"check returned a non-finite value {v.value!r}")
    return v


def _check_limits(concurrency: Any, judge_concurrency: Any, timeout_s: Any) -> None:
    """A zero semaphore waits forever (concurrency 0 hung the CLI); NaN never times out."""
    for name, v in (("concurrency", concurrency), ("judge_concurrency", judge_concurrency)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
    if (isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float)
            or not math.isfinite(timeout_s) or not 0 < timeout_s <= 86_400):
        raise ValueError(f"timeout_s: expected seconds in (0, 86400], got {timeout_s!r}")


def _moot_dimensions(rubric: Rubric, verdicts: dict[str, Verdict]) -> set[str] | bool:
    """Dimensions a failed gate has already zeroed (True: a global gate zeroed the total)."""
    moot: set[str] = set()
    for spec in rubric.checks:
        v = verdicts.get(spec.id)
        if spec.gate and v is not None and v.status == "fail":
            if spec.is_global_gate:
                return True
            moot.add(spec.dimension)
    return moot


def _progress(enabled: bool, total: int):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="scoring", unit="check", mininterval=0.5)
