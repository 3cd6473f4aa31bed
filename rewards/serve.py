"""Serve rubric harnesses over HTTP: one process, several rubrics by name, one verdict cache.

    python -m rewards.serve --task support_classification --port 8000
    python -m rewards.serve --rubric invoice=rubrics/invoice.yaml --rubric copy=copy.yaml \\
        --judge-base-url http://127.0.0.1:8001/v1 --judge-model judge \\
        --cache-url redis://10.0.0.5:6379/0 --token-env REWARD_TOKEN --host 0.0.0.0 --port 8000

POST /v1/score {"samples": [...], "rubric": "invoice"} returns, per sample and in order,
exactly what `python -m rewards.score` writes (score, normalised score, dimension scores,
coverage, per-check verdicts with reasons, rubric hash). Clients: rewards.remote.RemoteHarness
(the recipes' `reward.url=http://host:8000`), rewards.integrations.remote_trl_reward_funcs (TRL),
rewards.integrations.remote_compute_score (verl), and OpenRLHF unchanged with
`--remote_rm_url http://host:8000/get_reward?rubric=NAME` (OpenRLHF sends no token: serve it
without --token-env on a private network). GET /health, GET /metrics (Prometheus;
--metrics-port serves it without the token on a port of its own), GET /v1/rubrics. Point
several service processes (or nodes) at one --cache-url and a judge verdict is paid for once.

Under faults (benchmarks/results/reward_service.md): cheap checks run in --check-workers
processes with per-check time limits that fire, Redis is bounded (0.5 s; `?socket_timeout=`
in the URL overrides it) and bypassed for 5 s after a failure, a dead judge's checks abstain
at once after 5 failed requests (judge `breaker_failures`), slow headers and bodies are cut
at --header-timeout-s / --body-timeout-s; /health answers throughout.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rewards.serve", description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=_Formatter)
    g = p.add_argument_group("rubrics (at least one; the first is the default)")
    g.add_argument("--task", action="append", default=argparse.SUPPRESS, metavar="NAME",
                   help="serve a benchmark task's rubric under the task's name (repeatable; "
                        "list: python -m rewards.tasks list)")
    g.add_argument("--rubric", action="append", default=argparse.SUPPRESS, metavar="[NAME=]PATH",
                   help="serve a rubric YAML under NAME (default: the file's stem; repeatable)")
    g.add_argument("--default", default=None, metavar="NAME",
                   help="rubric used when a request names none (default: the first given)")
    j = p.add_argument_group("judge (as in rewards.score; else the rubric's judge: block or "
                             "HARNESSRL_JUDGE_* variables)")
    j.add_argument("--judge-base-url", default=None, help="OpenAI-compatible base URL (…/v1)")
    j.add_argument("--judge-model", default=None, help="judge model name at that endpoint")
    j.add_argument("--judge-api-key-env", default=None,
                   help="NAME of the environment variable holding the judge API key")
    j.add_argument("--judge-concurrency", type=int, default=None,
                   help="concurrent judge calls per batch")
    c = p.add_argument_group("verdict cache (shared by every rubric served)")
    x = c.add_mutually_exclusive_group()
    x.add_argument("--cache", default=None, metavar="PATH", help="local SQLite cache file")
    x.add_argument("--cache-url", default=None, metavar="redis://HOST:PORT/DB",
                   help="shared Redis cache: every process and node pointed at it reuses the "
                        "others' judge verdicts")
    s = p.add_argument_group("server and limits")
    s.add_argument("--host", default="127.0.0.1", help="interface to bind (0.0.0.0: all)")
    s.add_argument("--port", type=int, default=8000, help="TCP port")
    s.add_argument("--token-env", action="append", default=[], metavar="VAR",
                   help="NAME of an environment variable holding a bearer token clients must "
                        "send (Authorization: Bearer ...); repeat it to give each trainer its "
                        "own token and so its own --max-per-client limit; none = no auth")
    s.add_argument("--max-batch", type=int, default=1024, help="samples per request")
    s.add_argument("--max-body-mb", type=float, default=32.0, help="request body size limit")
    s.add_argument("--max-per-client", type=int, default=32,
                   help="concurrent requests per client: per token (--token-env), else per "
                        "source address (more get 429)")
    s.add_argument("--max-inflight", type=int, default=8,
                   help="batches scored at once across all clients (the rest wait)")
    s.add_argument("--concurrency", type=int, default=64, help="concurrent checks per batch")
    s.add_argument("--timeout-s", type=float, default=60.0, help="per-check timeout")
    s.add_argument("--check-workers", type=int, default=2,
                   help="processes running the cheap checks, off the event loop")
    s.add_argument("--header-timeout-s", type=float, default=10.0,
                   help="close a connection whose request headers take longer (408)")
    s.add_argument("--body-timeout-s", type=float, default=30.0,
                   help="answer 408 to a request body still arriving after this long")
    s.add_argument("--metrics-port", type=int, default=None,
                   help="also serve /metrics here, on --host, without the token (for a "
                        "Prometheus scraper that should not hold the secret)")
    s.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def rubric_sources(args: argparse.Namespace) -> dict[str, object]:
    """name -> rubric (a loaded Rubric for tasks, a path for files), in the order given."""
    from rewards.rubric import RubricError
    from rewards.tasks import TaskError, resolve

    out: dict[str, object] = {}
    for name in getattr(args, "task", []):
        try:
            out[name] = resolve({"name": name}).rubric
        except TaskError as e:
            raise RubricError(f"--task {name}: {e}") from None
    for item in getattr(args, "rubric", []):
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item).stem, item
        if name in out:
            raise RubricError(f"--rubric {item}: the name {name!r} is served twice")
        out[name] = path
    if not out:
        raise RubricError("give at least one --task NAME or --rubric [NAME=]PATH")
    return out


def build_config(args: argparse.Namespace):
    """Parsed flags -> ServiceConfig (harnesses built, token read); raises RubricError or
    ValueError with a message naming the flag."""
    from rewards.cache import open_cache
    from rewards.engine import Harness
    from rewards.service.app import ServiceConfig

    sources = rubric_sources(args)
    default = args.default or next(iter(sources))
    if default not in sources:
        raise ValueError(f"--default {default}: not a served rubric ({', '.join(sources)})")
    tokens = {}
    for name in args.token_env:
        tokens[name] = os.environ.get(name) or ""
        if not tokens[name]:
            raise ValueError(f"--token-env {name}: that environment variable is empty or unset")
    for flag in ("check_workers", "max_per_client", "max_inflight", "max_batch"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')}: expected an integer >= 1, got "
                             f"{getattr(args, flag)}")
    for flag in ("header_timeout_s", "body_timeout_s"):
        v = getattr(args, flag)
        if not 0 < v <= 86_400:  # NaN fails too
            raise ValueError(f"--{flag.replace('_', '-')}: expected seconds in (0, 86400], "
                             f"got {v}")
    cache = open_cache(args.cache_url or args.cache)
    judge = {"base_url": args.judge_base_url, "model": args.judge_model,
             "api_key_env": args.judge_api_key_env}
    harnesses = {n: Harness(src, judge=judge, cache_path=cache, concurrency=args.concurrency,
                            judge_concurrency=args.judge_concurrency, timeout_s=args.timeout_s)
                 for n, src in sources.items()}
    return ServiceConfig(harnesses, default, tokens=tokens, max_batch=args.max_batch,
                         max_body_bytes=int(args.max_body_mb * 2**20),
                         max_per_client=args.max_per_client, max_inflight=args.max_inflight,
                         body_timeout_s=args.body_timeout_s, check_workers=args.check_workers)


def main(argv: list[str] | None = None) -> int:
    from rewards.rubric import RubricError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = build_config(args)
    except (RubricError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    import uvicorn

    from rewards.service.app import create_app
    from rewards.service.http import protocol

    log = logging.getLogger("rewards.serve")
    for name, h in cfg.harnesses.items():
        judge = h.judge.public() if h.judge else "none"
        log.info("rubric %s: hash %s, %d checks, judge %s", name, h.rubric_hash,
                 len(h.rubric.built), judge)
    cache = next(iter(cfg.harnesses.values())).cache
    where = "none" if cache is None else type(cache).__name__
    log.info("verdict cache: %s; auth: %s; check workers: %d; listening on http://%s:%d",
             where, f"bearer tokens from {', '.join(cfg.tokens)}" if cfg.tokens else "none",
             cfg.check_workers, args.host, args.port)
    app = create_app(cfg)
    metrics = app.state.service.metrics
    if args.metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr=args.host, registry=metrics.registry)
        log.info("metrics (no auth) on http://%s:%d/metrics", args.host, args.metrics_port)
    http = protocol(args.header_timeout_s, lambda: metrics.request("(headers)", 408))
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, http=http)
    return 0


if __name__ == "__main__":
    sys.exit(main())
