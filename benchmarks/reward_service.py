"""Reward service load test on loopback, with the in-process harness as the baseline, and
the same load under faults.

    python -m benchmarks.reward_service [--clients 4] [--requests 5] [--samples 32]
        [--repeats 3] [--judge-delay-s 0.02] [--max-seconds 60] [--faults]
        [--out benchmarks/results/reward_service.md]

N concurrent clients each send R requests of M samples (bounded in count; a client stops
early past --max-seconds). Scenarios, each repeated --repeats times with fresh samples:
  det         the 20-check deterministic rubric of rewards.bench (no judge, nothing cached)
  judge miss  a length check + one judge check per sample, samples never seen before: every
              verdict is a call to the stand-in judge (a separate process answering after
              --judge-delay-s, like a small model)
  judge hit   the same requests again: every judge verdict comes from the verdict cache
and each once through `python -m rewards.serve` (verdict cache on a private redis-server when
one is installed, else SQLite) and once in this process (Harness.ascore_batch, the same
N-way concurrency, SQLite cache). Throughput is samples/s over the wall time of the whole
load; latency is per request (per batch in-process): p50/p95/p99 over every request of all
repeats; throughput is the median over repeats.

--faults adds a table of the service alone under faults, each beside its healthy run, with
/health polled every 100 ms during the load (its latency is what a load balancer sees):
  Redis hung   the `judge hit` load with redis-server SIGSTOPped (the cache is bypassed:
               every verdict is recomputed by the judge)
  big answer   the `det` load while one more client keeps posting a 7 MB JSON answer
               (100,000 line items) scored by the same rubric
  dead judge   the `judge miss` load against a service whose judge port has no listener
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import tempfile
import time
from pathlib import Path

import yaml
from rewards.bench import deterministic_rubric, make_samples

from rewards.engine import Harness
from rewards.sample import Sample
from rewards.service.local import (
    free_port,
    judge_process,
    redis_available,
    redis_process,
    redis_server,
    serve_process,
)

JUDGE_RUBRIC = {"version": 1, "scale": [0, 1],
                "dimensions": {"form": {"weight": 1}, "quality": {"weight": 3}},
                "checks": [{"id": "len", "kind": "length", "dimension": "form", "unit": "words",
                            "max": 200},
                           {"id": "good", "kind": "judge", "dimension": "quality",
                            "question": "Is the response good?"}]}


def judge_samples(n: int, seed: int) -> list[Sample]:
    words = ["good", "fine", "bad", "okay", "clear", "vague"]
    return [Sample(id=f"{seed}-{i}", prompt="Describe the product.",
                   completion=f"answer {seed}-{i}: {words[(i * 7 + seed) % len(words)]} text")
            for i in range(n)]


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


async def _load(batches: list[list[list[Sample]]], send, max_seconds: float):
    """batches[client][request] -> (wall seconds, per-request latencies, samples done)."""
    lat: list[float] = []
    done = 0
    deadline = time.perf_counter() + max_seconds

    async def client(reqs):
        nonlocal done
        for b in reqs:
            if time.perf_counter() > deadline:
                return
            t0 = time.perf_counter()
            await send(b)
            lat.append(time.perf_counter() - t0)
            done += len(b)

    t0 = time.perf_counter()
    await asyncio.gather(*(client(r) for r in batches))
    return time.perf_counter() - t0, lat, done


def _service_sender(url: str, rubric: str):
    import httpx

    http = httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=64))

    async def send(batch):
        r = await http.post(url + "/v1/score", json={"rubric": rubric,
                                                     "samples": [s.to_dict() for s in batch]})
        r.raise_for_status()
        return r.json()

    return send, http


def _local_sender(harness: Harness):
    async def send(batch):
        return await harness.ascore_batch(batch)

    return send


def split(samples: list[Sample], clients: int, per_request: int) -> list[list[list[Sample]]]:
    out, k = [], 0
    for _ in range(clients):
        reqs = []
        while len(reqs) * per_request < len(samples) // clients:
            reqs.append(samples[k:k + per_request])
            k += per_request
        out.append(reqs)
    return out


async def run_scenarios(args, url: str, judge_url: str, tmp: Path) -> list[dict]:
    n = args.clients * args.requests * args.samples
    judge = {"base_url": judge_url, "model": "local"}
    local_det = Harness(deterministic_rubric())
    local_judge = Harness(JUDGE_RUBRIC, judge=judge, cache_path=tmp / "local_cache.sqlite")
    send_det, http = _service_sender(url, "det")
    send_judge, _ = _service_sender(url, "judge")
    rows: dict[tuple[str, str], dict] = {}

    def record(scenario, where, res):
        r = rows.setdefault((scenario, where), {"scenario": scenario, "where": where,
                                                "tput": [], "lat": [], "n": 0})
        wall, lat, done = res
        r["tput"].append(done / wall)
        r["lat"] += lat
        r["n"] += done

    # warm both paths (imports, connections, the judge's first TLS-free client)
    await send_det(make_samples(4, seed=999))
    await local_det.ascore_batch(make_samples(4, seed=999))
    for rep in range(args.repeats):
        det = make_samples(n, seed=rep)
        record("det", "service", await _load(split(det, args.clients, args.samples), send_det,
                                             args.max_seconds))
        record("det", "in-process", await _load(split(det, args.clients, args.samples),
                                                _local_sender(local_det), args.max_seconds))
        for where, send, seed in (("service", send_judge, 1000 + rep),
                                  ("in-process", _local_sender(local_judge), 2000 + rep)):
            batches = split(judge_samples(n, seed), args.clients, args.samples)
            record("judge miss", where, await _load(batches, send, args.max_seconds))
            record("judge hit", where, await _load(batches, send, args.max_seconds))
    await http.aclose()
    return list(rows.values())


def render(rows: list[dict], args, cache: str, seconds: float, load: tuple) -> str:
    lines = [
        "# Reward service load test (loopback)",
        "",
        f"`python -m benchmarks.reward_service --clients {args.clients} --requests {args.requests} "
        f"--samples {args.samples} --repeats {args.repeats} --judge-delay-s {args.judge_delay_s}`"
        f" ({seconds:.0f} s in all)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores (shared with other jobs), "
        f"Python {platform.python_version()}, {platform.system()}; OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', '-')}; 1-min load average {load[0]:.1f} at the "
        f"start, {load[1]:.1f} at the end. Service: one `python -m rewards.serve` "
        f"process (uvicorn, --max-inflight 8), verdict cache: {cache}. Judge: a stand-in "
        f"OpenAI chat-completions server in its own process answering after "
        f"{args.judge_delay_s * 1000:.0f} ms. Load: {args.clients} concurrent clients x "
        f"{args.requests} requests x {args.samples} samples per repeat, {args.repeats} repeats "
        "(fresh samples each); in-process = `Harness.ascore_batch` with the same concurrency "
        "in the load generator's process (SQLite cache).",
        "",
        "| scenario | scored by | samples/s (median of repeats) | p50 ms | p95 ms | p99 ms "
        "| requests |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lat = [x * 1000 for x in r["lat"]]
        lines.append(f"| {r['scenario']} | {r['where']} | {statistics.median(r['tput']):.0f} | "
                     f"{percentile(lat, 0.5):.1f} | {percentile(lat, 0.95):.1f} | "
                     f"{percentile(lat, 0.99):.1f} | {len(lat)} |")
    return "\n".join(lines) + "\n"


def _sender(url: str, rubric: str, http, errors: list):
    """POST batches to the service; non-200 answers are counted, not raised (faults)."""
    async def send(batch):
        r = await http.post(url + "/v1/score", json={"rubric": rubric,
                                                     "samples": [s.to_dict() for s in batch]})
        if r.status_code != 200:
            errors.append(r.status_code)

    return send


async def _with_health(url: str, work):
    """Await `work` while polling GET /health every 100 ms: (its result, health latencies)."""
    import httpx

    lat: list[float] = []
    done = asyncio.Event()

    async def poll():
        async with httpx.AsyncClient(timeout=300) as c:
            while not done.is_set():
                t0 = time.perf_counter()
                await c.get(url + "/health")
                lat.append(time.perf_counter() - t0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), 0.1)

    poller = asyncio.create_task(poll())
    try:
        return await work, lat
    finally:
        done.set()
        await poller


def _fault_row(rows: dict, fault: str, state: str, res, errors: list) -> None:
    (wall, lat, done), health = res
    r = rows.setdefault((fault, state), {"fault": fault, "state": state, "tput": [], "lat": [],
                                         "health": [], "errors": 0})
    r["tput"].append(done / wall)
    r["lat"] += lat
    r["health"] += health
    r["errors"] += len(errors)
    errors.clear()


async def _big_client(url: str, stop: asyncio.Event) -> None:
    """Keeps one 7 MB answer (100,000 line items) in flight until `stop`."""
    import httpx

    items = [{"sku": f"SKU-{i}", "amount": i + 0.5} for i in range(100_000)]
    big = {"id": "big", "completion": json.dumps({"vendor": "x", "items": items}),
           "source": "x", "reference": {"vendor": "x"}}
    async with httpx.AsyncClient(timeout=600) as c:
        while not stop.is_set():
            await c.post(url + "/v1/score", json={"rubric": "det", "samples": [big]})


async def run_faults(args, svc_url: str, dead_url: str, redis_pid: int | None) -> list[dict]:
    """Each fault beside its healthy run, on fresh samples, `--repeats` times."""
    import httpx

    n = args.clients * args.requests * args.samples
    rows: dict[tuple[str, str], dict] = {}
    errors: list[int] = []
    http = httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=64))
    judge, det = _sender(svc_url, "judge", http, errors), _sender(svc_url, "det", http, errors)
    dead = _sender(dead_url, "judge", http, errors)

    def load(batches, send):
        return _load(batches, send, args.max_seconds)

    for rep in range(args.repeats):
        if redis_pid is not None:
            hit = split(judge_samples(n, 3000 + rep), args.clients, args.samples)
            await load(hit, judge)  # the judge answers once: the cache holds every verdict
            _fault_row(rows, "Redis hung", "healthy",
                       await _with_health(svc_url, load(hit, judge)), errors)
            os.kill(redis_pid, signal.SIGSTOP)
            try:
                _fault_row(rows, "Redis hung", "fault",
                           await _with_health(svc_url, load(hit, judge)), errors)
            finally:
                os.kill(redis_pid, signal.SIGCONT)
        batches = split(make_samples(n, seed=4000 + rep), args.clients, args.samples)
        _fault_row(rows, "big answer", "healthy",
                   await _with_health(svc_url, load(batches, det)), errors)
        stop = asyncio.Event()
        big = asyncio.create_task(_big_client(svc_url, stop))
        await asyncio.sleep(1.0)  # the big answer is being scored
        _fault_row(rows, "big answer", "fault",
                   await _with_health(svc_url, load(batches, det)), errors)
        stop.set()
        await big
        for state, send, seed in (("healthy", judge, 5000), ("fault", dead, 6000)):
            miss = split(judge_samples(n, seed + rep), args.clients, args.samples)
            _fault_row(rows, "dead judge", state,
                       await _with_health(svc_url if state == "healthy" else dead_url,
                                          load(miss, send)), errors)
    await http.aclose()
    return list(rows.values())


def render_faults(rows: list[dict]) -> str:
    lines = ["| fault | state | samples/s (median of repeats) | p50 ms | p95 ms | /health p50 ms "
             "| /health max ms | non-200 | requests |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lat = [x * 1000 for x in r["lat"]]
        h = [x * 1000 for x in r["health"]]
        lines.append(f"| {r['fault']} | {r['state']} | {statistics.median(r['tput']):.0f} | "
                     f"{percentile(lat, 0.5):.1f} | {percentile(lat, 0.95):.1f} | "
                     f"{percentile(h, 0.5):.1f} | {max(h):.1f} | {r['errors']} | {len(lat)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reward_service",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--clients", type=int, default=4, help="concurrent clients")
    p.add_argument("--requests", type=int, default=5, help="requests per client per repeat")
    p.add_argument("--samples", type=int, default=32, help="samples per request")
    p.add_argument("--repeats", type=int, default=3, help="repeats (fresh samples each)")
    p.add_argument("--judge-delay-s", type=float, default=0.02, help="stand-in judge latency")
    p.add_argument("--max-seconds", type=float, default=60.0,
                   help="per scenario and repeat: clients stop sending after this")
    p.add_argument("--faults", action="store_true",
                   help="only the fault table (Redis hung, big answer, dead judge)")
    p.add_argument("--out", default=None, help="also write the markdown table here")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d, judge_process(args.judge_delay_s) as judge_url:
        tmp = Path(d)
        (tmp / "det.yaml").write_text(yaml.safe_dump(deterministic_rubric()))
        (tmp / "judge.yaml").write_text(yaml.safe_dump(JUDGE_RUBRIC))
        svc_args = ["--rubric", f"det={tmp / 'det.yaml'}", "--rubric",
                    f"judge={tmp / 'judge.yaml'}", "--judge-model", "local",
                    "--log-level", "warning", "--max-body-mb", "64"]
        live = svc_args + ["--judge-base-url", judge_url]
        if args.faults:
            if not redis_available():
                raise SystemExit("--faults needs redis-server (apt-get install redis-server)")
            dead = svc_args + ["--judge-base-url", f"http://127.0.0.1:{free_port()}/v1"]
            with redis_process(tmp / "redis") as (rurl, redis), \
                    serve_process(live + ["--cache-url", rurl]) as svc, \
                    serve_process(dead) as dead_svc:
                rows = asyncio.run(run_faults(args, svc.url, dead_svc.url, redis.pid))
            text = render_faults(rows)
        else:
            redis_ctx = redis_server(tmp / "redis") if redis_available() else None
            if redis_ctx is not None:
                with redis_ctx as rurl, serve_process(live + ["--cache-url", rurl]) as svc:
                    rows = asyncio.run(run_scenarios(args, svc.url, judge_url, tmp))
                cache = "Redis (private redis-server on 127.0.0.1)"
            else:
                with serve_process(live + ["--cache", str(tmp / "svc.sqlite")]) as svc:
                    rows = asyncio.run(run_scenarios(args, svc.url, judge_url, tmp))
                cache = "SQLite (redis-server not installed)"
            text = render(rows, args, cache, time.perf_counter() - t0,
                          (load0, os.getloadavg()[0]))
    if args.faults:
        text = (f"`python -m benchmarks.reward_service --faults --clients {args.clients} "
                f"--requests {args.requests} --samples {args.samples} --repeats {args.repeats}"
                f"` ({time.perf_counter() - t0:.0f} s in all; 1-min load average {load0:.1f} "
                f"at the start, {os.getloadavg()[0]:.1f} at the end)\n\n" + text)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
