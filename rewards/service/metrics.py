"""Prometheus metrics of the reward service (`GET /metrics`, text exposition format).

    harnessrl_requests_total{endpoint,status}           every HTTP request, 4xx/5xx included;
                                                        status="disconnect": the client left
                                                        before its answer (not a 500)
    harnessrl_request_seconds{endpoint}                 latency histogram of scoring requests
    harnessrl_samples_total{rubric}, harnessrl_samples_masked_total{rubric}
    harnessrl_check_verdicts_total{rubric,check,status} pass | fail | abstain | skipped
    harnessrl_check_pass_rate{rubric,check}             pass / (pass + fail) since start
    harnessrl_judge_calls_total{rubric}, harnessrl_judge_errors_total{rubric}
    harnessrl_cache_hits_total{rubric}, harnessrl_cache_misses_total{rubric}
    harnessrl_cache_hit_rate{rubric}                    hits / (hits + misses) over the last
                                                        60 s (since start it slid only from
                                                        0.99 to 0.56 over a 32 s Redis outage)
    harnessrl_cache_errors_total                        Redis calls that failed or timed out
    harnessrl_cache_bypassed_total                      cache calls skipped by its breaker
    harnessrl_cache_breaker_open                        1 while the cache is bypassed
    harnessrl_judge_breaker_open{endpoint}              1 while a judge's checks abstain at once
    harnessrl_check_workers_killed_total                check workers killed at a time limit

Cache hits and misses are counted per cacheable (sample, check) of each response, so they are
exact under concurrent requests (the cache object's own counters are process-wide). The last
five series are read from their sources at scrape time (`Sources`), so they are current even
when /metrics is served from its own port and thread (`--metrics-port`).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# the window of harnessrl_cache_hit_rate: an outage shows within a minute
HIT_RATE_WINDOW_S = 60.0

# scoring latency spans a cached deterministic batch (~1 ms) to judge batches (minutes)
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
           300)

__all__ = ["CONTENT_TYPE", "ServiceMetrics"]


class ServiceMetrics:
    def __init__(self) -> None:
        disable_created_metrics()  # *_created series double the page and no panel reads them
        r = self.registry = CollectorRegistry()
        self.requests = Counter("harnessrl_requests", "HTTP requests by endpoint and status",
                                ["endpoint", "status"], registry=r)
        self.latency = Histogram("harnessrl_request_seconds", "scoring request latency",
                                 ["endpoint"], buckets=BUCKETS, registry=r)
        self.samples = Counter("harnessrl_samples", "samples scored", ["rubric"], registry=r)
        self.masked = Counter("harnessrl_samples_masked", "samples whose score is None "
                              "(a dimension under its coverage floor)", ["rubric"], registry=r)
        self.verdicts = Counter("harnessrl_check_verdicts", "verdicts by check and status",
                                ["rubric", "check", "status"], registry=r)
        self.pass_rate = Gauge("harnessrl_check_pass_rate", "pass / (pass + fail) since start",
                               ["rubric", "check"], registry=r)
        self.judge_calls = Counter("harnessrl_judge_calls", "judge requests made", ["rubric"],
                                   registry=r)
        self.judge_errors = Counter("harnessrl_judge_errors", "judge calls that failed after "
                                    "retries (their checks abstained)", ["rubric"], registry=r)
        self.cache_hits = Counter("harnessrl_cache_hits", "cacheable verdicts served from the "
                                  "verdict cache", ["rubric"], registry=r)
        self.cache_misses = Counter("harnessrl_cache_misses", "cacheable verdicts computed",
                                    ["rubric"], registry=r)
        self._tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        # (time, rubric, hits, misses) per response, for the windowed hit rate
        self._window: deque = deque()
        self._lock = threading.Lock()
        self.sources = Sources(self)
        r.register(self.sources)

    def request(self, endpoint: str, status: int, seconds: float | None = None) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        if seconds is not None:
            self.latency.labels(endpoint).observe(seconds)

    def scored(self, rubric: str, harness: Any, results: list, stats: dict) -> dict[str, int]:
        """Count one response's samples, verdicts, judge calls and cache use; returns the
        per-response cache counts (they go into the response's `stats`)."""
        self.samples.labels(rubric).inc(len(results))
        self.masked.labels(rubric).inc(sum(r.score is None for r in results))
        cacheable = {c.spec.id for c in harness.rubric.built if c.cacheable}
        hits = misses = 0
        for cid in (c.spec.id for c in harness.rubric.built):
            counts = defaultdict(int)
            for r in results:
                v = r.verdicts[cid]
                counts["skipped" if v.skipped else v.status] += 1
                if cid in cacheable and harness.cache is not None and not v.skipped:
                    hits += v.cached
                    misses += not v.cached
            for status, n in counts.items():
                self.verdicts.labels(rubric, cid, status).inc(n)
            t = self._tally[(rubric, cid)]
            t[0] += counts["pass"]
            t[1] += counts["fail"]
            if t[0] + t[1]:
                self.pass_rate.labels(rubric, cid).set(t[0] / (t[0] + t[1]))
        self.judge_calls.labels(rubric).inc(stats.get("judge_calls", 0))
        self.judge_errors.labels(rubric).inc(stats.get("judge_errors", 0))
        if harness.cache is not None:
            self.cache_hits.labels(rubric).inc(hits)
            self.cache_misses.labels(rubric).inc(misses)
            with self._lock:
                self._window.append((time.monotonic(), rubric, hits, misses))
        return {"cache_hits": hits, "cache_misses": misses}

    def hit_rates(self) -> dict[str, float]:
        """rubric -> hits / (hits + misses) over the last HIT_RATE_WINDOW_S seconds."""
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        with self._lock:
            while self._window and self._window[0][0] < time.monotonic() - HIT_RATE_WINDOW_S:
                self._window.popleft()
            for _, rubric, hits, misses in self._window:
                sums[rubric][0] += hits
                sums[rubric][1] += misses
        return {k: h / (h + m) for k, (h, m) in sums.items() if h + m}

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Sources:
    """A collector reading the cache, the judge breakers and the check pool at scrape time."""

    def __init__(self, metrics: ServiceMetrics):
        self.metrics = metrics
        self.caches: list[Any] = []
        self.pool: Any = None

    def describe(self):
        return []  # unchecked collector: its series depend on what the service runs

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        from rewards.checks.judge import breaker_states

        rate = GaugeMetricFamily("harnessrl_cache_hit_rate", "cache hits / (hits + misses) "
                                 f"over the last {HIT_RATE_WINDOW_S:g} s", labels=["rubric"])
        for rubric, v in self.metrics.hit_rates().items():
            rate.add_metric([rubric], v)
        yield rate
        counts = [getattr(c, "counters", dict)() for c in self.caches]
        if any("errors" in c for c in counts):  # a Redis cache
            yield CounterMetricFamily("harnessrl_cache_errors", "Redis calls that failed or "
                                      "timed out", value=sum(c.get("errors", 0) for c in counts))
            yield CounterMetricFamily("harnessrl_cache_bypassed", "cache calls skipped while "
                                      "its breaker was open",
                                      value=sum(c.get("bypassed", 0) for c in counts))
            yield GaugeMetricFamily("harnessrl_cache_breaker_open", "1 while the verdict cache "
                                    "is bypassed", value=float(any(
                                        c.breaker.state != "closed" for c in self.caches
                                        if hasattr(c, "breaker"))))
        judge = GaugeMetricFamily("harnessrl_judge_breaker_open", "1 while a judge endpoint's "
                                  "checks abstain at once", labels=["endpoint"])
        for url, state in breaker_states().items():
            judge.add_metric([url], float(state != "closed"))
        yield judge
        if self.pool is not None:  # set by the service once its pool exists
            yield CounterMetricFamily("harnessrl_check_workers_killed", "check workers killed "
                                      "at a time limit", value=self.pool.killed)
