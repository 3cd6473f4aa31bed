"""Processes on 127.0.0.1 for the service's tests and benchmark: the service itself, a Redis
server (Debian's `redis-server`), and a stand-in judge speaking the OpenAI chat-completions
protocol that counts the calls it answers. Every process is stopped by its PID.

    with redis_server(tmp) as url, LocalJudge() as judge, \\
         serve_process(["--rubric", "r.yaml", "--cache-url", url,
                        "--judge-base-url", judge.base_url, "--judge-model", "j"]) as svc:
        httpx.post(svc.url + "/v1/score", json={"samples": [...]})
        judge.calls  # judge requests answered so far
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(ok, proc: subprocess.Popen, what: str, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ok():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout_s:.0f} s:\n{_tail(log)}")
        time.sleep(0.1)


def _tail(log: Path, n: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-n:]) if log.exists() else ""


def stop(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM the process by PID, SIGKILL after `grace_s`."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


@dataclass
class Service:
    url: str
    port: int
    proc: subprocess.Popen
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_service(args: list[str], port: int | None = None, env: dict | None = None,
                  timeout_s: float = 180.0) -> Service:
    """`python -m rewards.serve ARGS --port PORT` in the background, healthy on return (its
    check workers started: ~2 s idle, over a minute on a 2-core machine at load 25)."""
    import httpx

    port = port or free_port()
    log = Path(tempfile.mkstemp(prefix=f"reward-service-{port}-", suffix=".log")[1])
    with log.open("ab") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "rewards.serve", *args, "--host",
                                 "127.0.0.1", "--port", str(port)], stdout=fh,
                                stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                cwd=Path(__file__).resolve().parents[2])
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait(healthy, proc, "reward service", log, timeout_s)
    except BaseException:
        stop(proc)
        raise
    return Service(url, port, proc, log)


@contextlib.contextmanager
def serve_process(args: list[str], port: int | None = None, env: dict | None = None):
    svc = start_service(args, port, env)
    try:
        yield svc
    finally:
        stop(svc.proc)


def redis_available() -> str | None:
    """Path of redis-server, or None (install: apt-get install redis-server)."""
    return shutil.which("redis-server")


@contextlib.contextmanager
def redis_server(workdir: str | Path, port: int | None = None, timeout_s: float = 20.0):
    """A private redis-server on 127.0.0.1 (no persistence, its own dir); yields its URL."""
    with redis_process(workdir, port, timeout_s) as (url, _):
        yield url


@contextlib.contextmanager
def redis_process(workdir: str | Path, port: int | None = None, timeout_s: float = 20.0):
    """redis_server yielding (URL, Popen): fault tests stop and resume it by its PID."""
    exe = redis_available()
    if exe is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = port or free_port()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"redis-{port}.log"
    with log.open("ab") as fh:
        proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--dir",
                                 str(workdir), "--save", "", "--appendonly", "no",
                                 "--daemonize", "no", "--protected-mode", "yes"],
                                stdout=fh, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"

    def ping() -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
        except (redis.RedisError, OSError):
            return False

    try:
        _wait(ping, proc, "redis-server", log, timeout_s)
        yield url, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)  # a stopped server ignores SIGTERM
        stop(proc)


class LocalJudge:
    """A threaded HTTP server on 127.0.0.1 answering POST /v1/chat/completions like an OpenAI
    endpoint with one token and top log-probs: P(yes) = 0.9 when the [RESPONSE] part of the
    prompt contains `yes_word`, else 0.2. `delay_s` stands in for model latency; `calls`
    counts the requests answered (the cache tests count on it)."""

    def __init__(self, yes_word: str = "good", delay_s: float = 0.0, port: int | None = None):
        self.yes_word, self.delay_s = yes_word, delay_s
        self.calls = 0
        self._lock = threading.Lock()
        # the default listen backlog of 5 drops the SYNs of a 6th+ concurrent connection:
        # each dropped one costs a 1 s retransmit (measured: one call per 8-way batch took 1.1 s)
        server_cls = type("JudgeServer", (ThreadingHTTPServer,), {"request_queue_size": 256})
        self._server = server_cls(("127.0.0.1", port or 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self):
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet: tests read the counters, not stderr
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self.send_error(404)
                    return
                if judge.delay_s:
                    time.sleep(judge.delay_s)
                text = body["messages"][-1]["content"]
                response = text.rsplit("[RESPONSE]", 1)[-1]
                p = 0.9 if judge.yes_word in response else 0.2
                with judge._lock:
                    judge.calls += 1
                word = "yes" if p >= 0.5 else "no"
                top = [{"token": "yes", "logprob": math.log(p)},
                       {"token": "no", "logprob": math.log(1 - p)}]
                out = {"id": "local", "object": "chat.completion", "model": body.get("model"),
                       "choices": [{"index": 0, "finish_reason": "length",
                                    "message": {"role": "assistant", "content": word},
                                    "logprobs": {"content": [{"token": word,
                                                              "logprob": math.log(max(p, 1 - p)),
                                                              "top_logprobs": top}]}}]}
                data = json.dumps(out).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def __enter__(self) -> LocalJudge:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def judge_process(delay_s: float = 0.0, yes_word: str = "good", timeout_s: float = 20.0):
    """LocalJudge in a process of its own (benchmarks: no GIL shared with the load
    generator); yields its base URL."""
    import httpx

    port = free_port()
    log = Path(tempfile.mkstemp(prefix=f"local-judge-{port}-", suffix=".log")[1])
    code = ("import time; from rewards.service.local import LocalJudge\n"
            f"with LocalJudge({yes_word!r}, {delay_s!r}, {port}):\n    time.sleep(1e9)")
    with log.open("ab") as fh:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=fh, stderr=subprocess.STDOUT,
                                cwd=Path(__file__).resolve().parents[2])
    base = f"http://127.0.0.1:{port}/v1"

    def up() -> bool:
        try:  # any HTTP answer means it listens (GET is not served: 501)
            httpx.get(base + "/chat/completions", timeout=1)
            return True
        except httpx.HTTPError:
            return False

    try:
        _wait(up, proc, "local judge", log, timeout_s)
        yield base
    finally:
        stop(proc)
