"""The FastAPI app of the reward service: routes, bearer auth, request limits, scoring.

    GET  /health        liveness + served rubrics {name: hash} (no auth: load balancers probe it)
    GET  /metrics       Prometheus text (rewards/service/metrics.py)
    GET  /v1/rubrics    each served rubric's hash, scale, dimensions and checks
    POST /v1/score      native: {"samples": [...], "rubric"?} -> {"results": [...]}
    POST /get_reward    OpenRLHF remote reward model: {"query", "prompts", "labels"} -> {"rewards"}

Safety, in the order a request meets it: bearer token (401), body size (413, before the body
is read when Content-Length says so), per-client in-flight limit (429 + Retry-After), JSON and
the sample contract (400/422 naming the key or row: `samples[3].completion: expected a
string, got int`), batch size (413), rubric selection (404/409). At most `max_inflight`
batches score at once (the rest wait), so N trainers cannot multiply the judge's load by N.
Responses and logs carry no secret: tokens are compared, never echoed, and errors inside
scoring answer with the exception type only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from rewards.service.metrics import CONTENT_TYPE, ServiceMetrics
from rewards.service.protocol import RequestError, parse_json, parse_openrlhf, parse_score_request

log = logging.getLogger("rewards.serve")


@dataclass
class ServiceConfig:
    # rubric name -> Harness (all sharing one verdict cache); the first is the default
    harnesses: dict[str, Any]
    default: str
    token: str | None = None  # the bearer token itself (read from --token-env), never logged
    max_batch: int = 1024
    max_body_bytes: int = 32 * 2**20
    max_per_client: int = 32
    max_inflight: int = 8
    extra: dict[str, Any] = field(default_factory=dict)


class _Service:
    def __init__(self, cfg: ServiceConfig):
        self.cfg = cfg
        self.metrics = ServiceMetrics()
        self.inflight: dict[str, int] = defaultdict(int)
        self.batches = asyncio.Semaphore(cfg.max_inflight)

    def authorize(self, request: Request) -> None:
        if self.cfg.token is None:
            return
        got = request.headers.get("authorization", "")
        if not hmac.compare_digest(got.encode(), f"Bearer {self.cfg.token}".encode()):
            raise RequestError(401, "Authorization: missing or wrong bearer token "
                                    "(send `Authorization: Bearer <token>`)")

    async def body(self, request: Request) -> dict[str, Any]:
        limit = self.cfg.max_body_bytes
        size = request.headers.get("content-length", "")
        if size.isdigit() and int(size) > limit:
            raise RequestError(413, f"body: {size} bytes exceed the request size limit of "
                                    f"{limit} bytes")
        buf = bytearray()
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > limit:
                raise RequestError(413, f"body: more than the request size limit of {limit} "
                                        "bytes")
        return parse_json(bytes(buf))

    @contextlib.contextmanager
    def client_slot(self, request: Request):
        key = request.client.host if request.client else "?"
        if self.inflight[key] >= self.cfg.max_per_client:
            raise RequestError(429, f"too many concurrent requests from this client "
                                    f"(limit {self.cfg.max_per_client}); retry later")
        self.inflight[key] += 1
        try:
            yield
        finally:
            self.inflight[key] -= 1

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
            results = await harness.ascore_batch(samples)
            stats = dict(harness.last_stats)  # read before any other batch can finish
        out = {"judge_calls": stats.get("judge_calls", 0),
               "judge_errors": stats.get("judge_errors", 0),
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
    app = FastAPI(title="harnessrl reward service", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.service = svc

    async def handle(endpoint: str, request: Request, work) -> Response:
        t0 = time.perf_counter()
        try:
            svc.authorize(request)
            with svc.client_slot(request):
                resp = await work()
        except RequestError as e:
            svc.metrics.request(endpoint, e.status)
            log.info("%s %s -> %d: %s", request.method, endpoint, e.status, e.message)
            headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else (
                {"Retry-After": "1"} if e.status == 429 else None)
            return JSONResponse({"error": e.message}, status_code=e.status, headers=headers)
        except Exception as e:  # a bug must not leak internals (or secrets) to the client
            log.exception("%s %s failed", request.method, endpoint)
            svc.metrics.request(endpoint, 500)
            return JSONResponse({"error": f"internal error: {type(e).__name__}"},
                                status_code=500)
        timed = request.method == "POST"
        svc.metrics.request(endpoint, resp.status_code, time.perf_counter() - t0 if timed else None)
        return resp

    @app.get("/health")
    async def health() -> Response:
        svc.metrics.request("/health", 200)
        return JSONResponse({"status": "ok", "default": cfg.default,
                             "rubrics": {n: h.rubric_hash for n, h in cfg.harnesses.items()}})

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        async def work():
            return Response(svc.metrics.render(), media_type=CONTENT_TYPE)
        return await handle("/metrics", request, work)

    @app.get("/v1/rubrics")
    async def rubrics(request: Request) -> Response:
        async def work():
            return JSONResponse({"default": cfg.default, "rubrics": svc.rubric_info()})
        return await handle("/v1/rubrics", request, work)

    @app.post("/v1/score")
    async def score(request: Request) -> Response:
        async def work():
            samples, select = parse_score_request(await svc.body(request), cfg.max_batch)
            name, harness = svc.pick(select["rubric"], select["rubric_hash"])
            results, stats = await svc.score(name, harness, samples)
            return JSONResponse({"results": [r.to_dict() for r in results], "rubric": name,
                                 "rubric_hash": harness.rubric_hash, "stats": stats})
        return await handle("/v1/score", request, work)

    @app.post("/get_reward")
    async def get_reward(request: Request) -> Response:
        async def work():
            samples = parse_openrlhf(await svc.body(request), cfg.max_batch)
            name, harness = svc.pick(request.query_params.get("rubric"), None)
            results, _ = await svc.score(name, harness, samples)
            return JSONResponse(openrlhf_response(harness.rubric, results))
        return await handle("/get_reward", request, work)

    return app


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
