"""The FastAPI app of the reward service: routes, bearer auth, request limits, scoring.

    GET  /health        liveness + served rubrics {name: hash} (no auth: load balancers probe it)
    GET  /metrics       Prometheus text (rewards/service/metrics.py); also on --metrics-port
    GET  /v1/rubrics    each served rubric's hash, scale, dimensions and checks
    POST /v1/score      native: {"samples": [...], "rubric"?} -> {"results": [...]}
    POST /get_reward    OpenRLHF remote reward model: {"query", "prompts", "labels"} -> {"rewards"}

Safety, in the order a request meets it: request headers within `header_timeout_s`
(rewards/service/http.py), bearer token (401), body size (413, before the body is read when
Content-Length says so), per-client in-flight limit (429 + Retry-After; the client is the
token's variable name, else the source address), the body within `body_timeout_s` (408),
JSON and the sample contract (400/422 naming the key or row: `samples[3].completion:
expected a string, got int`), batch size (413), rubric selection (404/409). At most
`max_inflight` batches score at once (the rest wait), so N trainers cannot multiply the
judge's load by N. A client that hangs up is counted as status "disconnect" with one INFO
line, not as a 500 with a traceback.

The event loop never waits on scoring: cheap checks run in a CheckPool's worker processes
(rewards/service/workers.py), the verdict cache is reached through its async methods (Redis:
redis.asyncio, bounded and behind a breaker), judge calls are async; `/health` and `/metrics`
answer while batches score. Responses and logs carry no secret: tokens are compared, never
echoed, and errors inside scoring answer with the exception type only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from rewards.service.metrics import CONTENT_TYPE, ServiceMetrics
from rewards.service.protocol import RequestError, parse_json, parse_openrlhf, parse_score_request

log = logging.getLogger("rewards.serve")


@dataclass
class ServiceConfig:
    # rubric name -> Harness (all sharing one verdict cache); the first is the default
    harnesses: dict[str, Any]
    default: str
    # NAME of an environment variable -> the bearer token it holds (never logged); a request
    # is the client named by the token it sends. Empty: no auth
    tokens: dict[str, str] = field(default_factory=dict)
    max_batch: int = 1024
    max_body_bytes: int = 32 * 2**20
    max_per_client: int = 32
    max_inflight: int = 8
    # a body still arriving after this long is answered 408 (a 1 byte/s upload was still
    # open at 45 s, holding one of its client's slots)
    body_timeout_s: float = 30.0
    # processes running the cheap checks (rewards/service/workers.py)
    check_workers: int = 2
    extra: dict[str, Any] = field(default_factory=dict)


class _JSON(JSONResponse):
    """ASCII JSON: a string that cannot be UTF-8 encoded (a lone surrogate quoted in an error
    message) is escaped instead of failing the response with a 500."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False,
                          separators=(",", ":")).encode("ascii")


class _Service:
    def __init__(self, cfg: ServiceConfig):
        from rewards.service.workers import CheckPool

        self.cfg = cfg
        self.metrics = ServiceMetrics()
        self.inflight: dict[str, int] = defaultdict(int)
        self.batches = asyncio.Semaphore(cfg.max_inflight)
        self.pool = CheckPool([h.rubric for h in cfg.harnesses.values()], cfg.check_workers)
        self.caches = list({id(h.cache): h.cache for h in cfg.harnesses.values()
                            if getattr(h, "cache", None) is not None}.values())
        self.metrics.sources.caches, self.metrics.sources.pool = self.caches, self.pool

    async def start(self) -> None:
        await asyncio.to_thread(self.pool.start)
        for h in self.cfg.harnesses.values():
            h.check_pool = self.pool
        for cache in self.caches:
            if hasattr(cache, "aopen"):
                await cache.aopen()

    async def stop(self) -> None:
        for cache in self.caches:
            if hasattr(cache, "aclose"):
                await cache.aclose()
        await asyncio.to_thread(self.pool.close)

    def authorize(self, request: Request) -> str | None:
        """The name of the token the request carries (None: auth is off); 401 otherwise."""
        if not self.cfg.tokens:
            return None
        got = request.headers.get("authorization", "").encode("utf-8", "surrogateescape")
        who = None
        for name, token in self.cfg.tokens.items():  # compare all: timing names no token
            if hmac.compare_digest(got, f"Bearer {token}".encode()):
                who = name
        if who is None:
            raise RequestError(401, "Authorization: missing or wrong bearer token "
                                    "(send `Authorization: Bearer <token>`)")
        return who

    async def body(self, request: Request) -> dict[str, Any]:
        limit = self.cfg.max_body_bytes
        size = request.headers.get("content-length", "")
        if size.isdigit() and int(size) > limit:
            raise RequestError(413, f"body: {size} bytes exceed the request size limit of "
                                    f"{limit} bytes")
        buf = bytearray()
        try:
            async with asyncio.timeout(self.cfg.body_timeout_s):
                async for chunk in request.stream():
                    buf += chunk
                    if len(buf) > limit:
                        raise RequestError(413, f"body: more than the request size limit of "
                                                f"{limit} bytes")
        except TimeoutError:
            raise RequestError(408, f"body: not received within {self.cfg.body_timeout_s:g} s "
                                    f"({len(buf)} bytes arrived)") from None
        return parse_json(bytes(buf))

    @contextlib.contextmanager
    def client_slot(self, key: str):
        if self.inflight[key] >= self.cfg.max_per_client:
            raise RequestError(429, f"too many concurrent requests from this client "
                                    f"(limit {self.cfg.max_per_client}); retry later")
        self.inflight[key] += 1
        try:
            yield
        finally:
            self.inflight[key] -= 1
            if not self.inflight[key]:
                del self.inflight[key]

    def pick(self, name: str | None, rubric_hash: str | None) -> tuple[str, Any]:
        hs = self.cfg.harnesses
        served = ", ".join(f"{n} ({h.rubric_hash})" for n, h in hs.items())
        if name is not None:
            if name not in hs:
                raise RequestError(404, f"rubric: unknown rubric {name!r}; served: {served}")
            if rubric_hash and hs[name].rubric_hash != rubric_hash:
                raise RequestError(409, f"rubric_hash: rubric {name!r} has hash "
                                        f"{hs[name].rubric_hash} here, the request expects "
                                        f"{rubric_hash}")
            return name, hs[name]
        if rubric_hash:
            for n, h in hs.items():
                if h.rubric_hash == rubric_hash:
                    return n, h
            raise RequestError(409, f"rubric_hash: no served rubric has hash {rubric_hash}; "
                                    f"served: {served}")
        return self.cfg.default, hs[self.cfg.default]

    async def score(self, name: str, harness: Any, samples: list) -> tuple[list, dict]:
        t0 = time.perf_counter()
        async with self.batches:
            log.debug("scoring %d samples with %s", len(samples), name)
            results = await harness.ascore_batch(samples)
            stats = dict(harness.last_stats)  # read before any other batch can finish
        out = {"judge_calls": stats.get("judge_calls", 0),
               "judge_requests": stats.get("judge_requests", 0),
               "judge_errors": stats.get("judge_errors", 0),
               "judge_error": stats.get("judge_error"),
               **self.metrics.scored(name, harness, results, stats),
               "seconds": round(time.perf_counter() - t0, 6)}
        log.info("scored %d samples with %s in %.3fs (judge calls %d, errors %d, cache hits %d)",
                 len(samples), name, out["seconds"], out["judge_calls"], out["judge_errors"],
                 out["cache_hits"])
        return results, out

    def rubric_info(self) -> dict[str, Any]:
        info = {}
        for n, h in self.cfg.harnesses.items():
            r = h.rubric
            info[n] = {"hash": r.hash, "scale": list(r.scale),
                       "dimensions": {d.name: {"weight": d.weight, "min_coverage": d.min_coverage}
                                      for d in r.dimensions.values()},
                       "checks": [{"id": c.spec.id, "kind": c.spec.kind,
                                   "dimension": c.spec.dimension, "weight": c.spec.weight,
                                   "gate": c.spec.gate, "pitfall": c.spec.pitfall,
                                   "needs_judge": c.needs_judge} for c in r.built]}
        return info


def create_app(cfg: ServiceConfig) -> FastAPI:
    svc = _Service(cfg)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await svc.start()
        try:
            yield
        finally:
            await svc.stop()

    app = FastAPI(title="harnessrl reward service", docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=lifespan, default_response_class=_JSON)
    app.state.service = svc

    async def handle(endpoint: str, request: Request, work) -> Response:
        t0 = time.perf_counter()
        try:
            who = svc.authorize(request)
            with svc.client_slot(who or (request.client.host if request.client else "?")):
                resp = await work()
        except RequestError as e:
            svc.metrics.request(endpoint, e.status)
            log.info("%s %s -> %d: %s", request.method, endpoint, e.status, e.message)
            headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else (
                {"Retry-After": "1"} if e.status == 429 else None)
            if e.status in (408, 413):  # the rest of the body is not read: end the connection
                headers = {"Connection": "close"}
            return _JSON({"error": e.message}, status_code=e.status, headers=headers)
        except ClientDisconnect:
            return _gone(svc, endpoint, request, "while sending its request")
        except Exception as e:  # a bug must not leak internals (or secrets) to the client
            log.exception("%s %s failed", request.method, endpoint)
            svc.metrics.request(endpoint, 500)
            return _JSON({"error": f"internal error: {type(e).__name__}"}, status_code=500)
        timed = request.method == "POST"
        if timed and await request.is_disconnected():
            return _gone(svc, endpoint, request, "before its answer (scored anyway)")
        svc.metrics.request(endpoint, resp.status_code, time.perf_counter() - t0 if timed else None)
        return resp

    @app.get("/health")
    async def health() -> Response:
        svc.metrics.request("/health", 200)
        return _JSON({"status": "ok", "default": cfg.default,
                      "rubrics": {n: h.rubric_hash for n, h in cfg.harnesses.items()}})

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        async def work():
            return Response(svc.metrics.render(), media_type=CONTENT_TYPE)
        return await handle("/metrics", request, work)

    @app.get("/v1/rubrics")
    async def rubrics(request: Request) -> Response:
        async def work():
            return _JSON({"default": cfg.default, "rubrics": svc.rubric_info()})
        return await handle("/v1/rubrics", request, work)

    @app.post("/v1/score")
    async def score(request: Request) -> Response:
        async def work():
            samples, select = parse_score_request(await svc.body(request), cfg.max_batch)
            name, harness = svc.pick(select["rubric"], select["rubric_hash"])
            results, stats = await svc.score(name, harness, samples)
            return _JSON({"results": [r.to_dict() for r in results], "rubric": name,
                          "rubric_hash": harness.rubric_hash, "stats": stats})
        return await handle("/v1/score", request, work)

    @app.post("/get_reward")
    async def get_reward(request: Request) -> Response:
        async def work():
            samples = parse_openrlhf(await svc.body(request), cfg.max_batch)
            name, harness = svc.pick(request.query_params.get("rubric"), None)
            results, _ = await svc.score(name, harness, samples)
            return _JSON(openrlhf_response(harness.rubric, results))
        return await handle("/get_reward", request, work)

    return app


def _gone(svc: _Service, endpoint: str, request: Request, when: str) -> Response:
    """A client that hung up: its own outcome, one INFO line (no traceback, no 500)."""
    svc.metrics.request(endpoint, "disconnect")
    log.info("%s %s: the client disconnected %s", request.method, endpoint, when)
    return Response(status_code=499)  # nobody reads it; 499 as nginx logs it


def openrlhf_response(rubric: Any, results: list) -> dict[str, Any]:
    """OpenRLHF needs a float per sample and cannot mask one: a sample the harness masks
    (score None) gets the scale minimum in `rewards` and 1.0 in `extra_logs.harness_masked`
    (logged by OpenRLHF beside the reward) so the substitution is visible, never silent.
    `scores` is the normalised [0, 1] score (OpenRLHF's dynamic filtering reads it)."""
    lo = rubric.scale[0]
    logs: dict[str, list[float]] = {"harness_masked": [float(r.score is None) for r in results]}
    for d in rubric.dimensions:
        logs[f"harness_dim/{d}"] = [r.dimensions[d] if r.dimensions[d] is not None else 0.0
                                    for r in results]
    return {"rewards": [lo if r.score is None else r.score for r in results],
            "scores": [0.0 if r.normalized is None else r.normalized for r in results],
            "extra_logs": logs}
