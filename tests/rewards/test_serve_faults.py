"""The reward service under faults, with real components on 127.0.0.1: `python -m rewards.serve`
processes, Debian's redis-server stopped with SIGSTOP, raw sockets for slow and vanishing
clients, hostile JSON bodies, a 7 MB completion. Assertions are on outcomes and orderings
(which response came first, what a verdict says, what /metrics counts), never on durations."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import httpx
import pytest

from rewards.service.local import LocalJudge, redis_available, redis_process, serve_process

needs_redis = pytest.mark.skipif(redis_available() is None,
                                 reason="redis-server not installed (apt-get install redis-server)")

RUBRIC = """
version: 1
dimensions:
  d: {min_coverage: 0.5}
checks:
  # ~3 s on the 7 MB answer below: a limit no loaded machine reaches
  - {id: long, kind: length, dimension: d, unit: words, max: 50, timeout_s: 300}
  - {id: json, kind: json_valid, dimension: d, timeout_s: 300}
  # pure-Python syllable counting: ~7 s on the 7 MB answer below, far over its limit
  - {id: read, kind: readability, dimension: d, max_grade: 30, timeout_s: 1}
"""
JUDGED = """
version: 1
dimensions:
  d: {min_coverage: 0.5}
checks:
  - {id: long, kind: length, dimension: d, unit: words, max: 50}
  - {id: good, kind: judge, dimension: d, question: "Is the response good?"}
"""
ROWS = [{"id": str(i), "completion": f"a good answer {i}" if i % 2 else f"bad {i}"}
        for i in range(8)]


@pytest.fixture
def rubric(tmp_path):
    (tmp_path / "r.yaml").write_text(RUBRIC)
    (tmp_path / "j.yaml").write_text(JUDGED)
    return tmp_path


def _metric(text: str, line_start: str) -> float:
    vals = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith(line_start)]
    return sum(vals)


def _strip(rows):
    for r in rows:
        for v in r["verdicts"].values():
            v.pop("latency_s"), v.pop("cached")
    return rows


class _Post(threading.Thread):
    """A POST in the background; `.done_at` records when its answer arrived."""

    def __init__(self, url: str, body: dict, **kw):
        super().__init__(daemon=True)
        self.url, self.body, self.kw = url, body, kw
        self.response = self.done_at = None

    def run(self) -> None:
        self.response = httpx.post(self.url, json=self.body, timeout=300, **self.kw)
        self.done_at = time.monotonic()


@needs_redis
def test_hung_redis_neither_stalls_the_loop_nor_changes_scores(rubric, tmp_path):
    """SIGSTOP: Redis accepts connections but never answers. The batch in flight waits out
    the cache's timeout (15 s here, from the URL: room for a starved test machine) off the
    event loop: /health, sent after it, answers before the service gives up on Redis (before,
    the loop was blocked in that call, so /health could only answer after the failure was
    logged). The breaker then bypasses
    the cache: the next batches skip Redis but for a probe per cooldown, and every score
    equals the healthy run's."""
    with LocalJudge() as judge, redis_process(tmp_path / "redis") as (url, redis):
        args = ["--rubric", f"j={rubric / 'j.yaml'}", "--judge-base-url", judge.base_url,
                "--judge-model", "local", "--cache-url", url + "?socket_timeout=15"]
        with serve_process(args) as svc:
            score = svc.url + "/v1/score"
            healthy = httpx.post(score, json={"samples": ROWS}, timeout=120).json()["results"]
            os.kill(redis.pid, signal.SIGSTOP)
            try:
                batch = _Post(score, {"samples": ROWS})
                batch.start()
                time.sleep(0.3)  # the batch is waiting on Redis now
                health = httpx.get(svc.url + "/health", timeout=60)
                assert health.status_code == 200
                assert "look-up failed" not in svc.log_text()  # Redis is still being waited on
                batch.join()
                hung = [batch.response.json()["results"]]
                hung += [httpx.post(score, json={"samples": ROWS}, timeout=60).json()["results"]
                         for _ in range(3)]
                metrics = httpx.get(svc.url + "/metrics", timeout=60).text
            finally:
                os.kill(redis.pid, signal.SIGCONT)
            assert all(_strip(h) == _strip(json.loads(json.dumps(healthy))) for h in hung)
            # 4 batches, a look-up and a write each: the first look-up failed and opened the
            # breaker; the rest were bypassed (a probe per 5 s cooldown on a slow machine)
            errors = _metric(metrics, "harnessrl_cache_errors_total")
            assert errors >= 1 and errors + _metric(metrics, "harnessrl_cache_bypassed_total") == 8
            assert errors <= 4  # at most the look-ups; without a breaker all 8 calls wait
            assert _metric(metrics, "harnessrl_cache_breaker_open") == 1
            # resumed: after the 5 s cooldown a probe finds Redis and the cache is used again
            for _ in range(60):
                r = httpx.post(score, json={"samples": ROWS}, timeout=120).json()
                if r["stats"]["cache_hits"] == len(ROWS):
                    break
                time.sleep(0.5)
            assert r["stats"]["cache_hits"] == len(ROWS) and r["stats"]["judge_calls"] == 0
            log = svc.log_text()
        assert "Redis answers again" in log and log.count("bypassing the cache") == 1


def test_big_completion_does_not_block_health_and_its_slow_check_hits_the_limit(rubric):
    """A 7 MB JSON answer (100,000 line items): the readability check runs ~7 s on it, past
    its 1 s limit. /health, sent once the batch is scoring, answers before the batch; the slow
    check abstains with "time limit" and the others still decide."""
    items = [{"description": f"widget number {i} blue steel", "amount": f"{i}.50"}
             for i in range(100_000)]
    big = json.dumps({"vendor": "x", "line_items": items})
    with serve_process(["--rubric", str(rubric / "r.yaml"), "--log-level", "debug",
                        "--max-body-mb", "64"]) as svc:
        batch = _Post(svc.url + "/v1/score", {"samples": [{"id": "big", "completion": big}]})
        batch.start()
        for _ in range(600):
            if "scoring 1 samples" in svc.log_text() or not batch.is_alive():
                break
            time.sleep(0.05)
        health = httpx.get(svc.url + "/health", timeout=120)
        health_at = time.monotonic()
        batch.join()
        assert health.status_code == 200 and health_at < batch.done_at
        v = batch.response.json()["results"][0]["verdicts"]
    assert v["read"]["status"] == "abstain" and v["read"]["reason"].startswith("time limit")
    assert v["long"]["status"] == "fail" and "900004 words" in v["long"]["reason"]
    assert v["json"]["status"] == "pass"


def test_a_worker_stuck_in_c_code_is_killed_and_replaced(monkeypatch):
    """json.loads of a long list holds the interpreter in one C call, so the check's alarm
    cannot land; the slot gives up after the limit + grace (0.06 s), kills the worker,
    abstains that sample and scores the next one in a new worker. The list is sized so that
    its decode, timed here first, lasts >= 0.5 s: several times the 0.06 s limit plus the slot's
    20 ms poll on any machine (a fixed 53 MB list decoded inside the 0.31 s limit on a fast one)."""
    import asyncio

    from rewards import Sample, load_rubric
    from rewards.service import workers

    n, text = 2_000_000, json.dumps(list(range(2_000_000)))
    start = time.perf_counter()
    json.loads(text)
    n = min(int(n * max(1.0, 0.5 / (time.perf_counter() - start))) + 1, 40_000_000)
    monkeypatch.setattr(workers, "POLL_S", 0.02)
    r = load_rubric({"dimensions": {"d": {}}, "checks": [
        {"id": "json", "kind": "json_valid", "dimension": "d", "timeout_s": 0.01}]})
    pool = workers.CheckPool([r], workers=1, grace_s=0.05)
    pool.start()
    try:
        samples = [Sample(id="big", completion=json.dumps(list(range(n)))),
                   Sample(id="small", completion="[1]")]
        out = asyncio.run(pool.run(r, samples, [["json"], ["json"]]))
    finally:
        pool.close()
    assert out[(0, "json")].status == "abstain"
    assert out[(0, "json")].reason.startswith("time limit: the sample's checks were still")
    assert out[(1, "json")].status == "pass" and pool.killed == 1


def test_hostile_bodies_are_4xx_naming_the_problem(rubric):
    bodies = [
        (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, 400, "body: JSON nested too deeply"),
        (b'{"samples":' + b"[" * 10_000 + b"]" * 10_000 + b"}", 400, "nested too deeply"),
        (b'{"samples":[{"completion":"x","meta":{"n":' + b"1" * 5000 + b"}}]}", 400,
         "body: a number with more than 4300 digits"),
        (b'{"samples":[{"id":"\\ud800","completion":"x"}]}', 422,
         "samples[0].id: invalid Unicode (a lone surrogate U+D800"),
        (b'{"samples":[{"completion":"x","meta":' + b"[" * 40 + b"]" * 40 + b"}]}", 422,
         "samples[0].meta" + "[0]" * 31 + ": nested deeper than 32 levels"),
        (b'{"query":["a\\udfff"]}', 422, "query[0]: invalid Unicode"),
        (b'{"\\ud800":1}', 422, "unknown key"),
    ]
    with serve_process(["--rubric", str(rubric / "r.yaml")]) as svc:
        for body, status, msg in bodies:
            path = "/get_reward" if b'"query"' in body else "/v1/score"
            r = httpx.post(svc.url + path, content=body, timeout=60)
            assert r.status_code == status and msg in r.json()["error"], (body[:60], r.text)
        metrics = httpx.get(svc.url + "/metrics", timeout=120).text
        log = svc.log_text()
    assert 'status="500"' not in metrics and "Traceback" not in log


def test_a_huge_number_in_an_answer_is_scored_not_masked():
    """A 5,000-digit integer is valid JSON that Python refuses to parse: the invoice answer
    fails its JSON gate (score 0) instead of every check abstaining (score None)."""
    from rewards import Harness, Sample
    from rewards.tasks import resolve

    h = Harness(resolve({"name": "invoice_extraction"}).rubric)
    answer = '{"vendor": "x", "total": ' + "9" * 5000 + "}"
    r = h.score_batch([Sample(id="n", completion=answer, source="x 9")])[0]
    assert r.score == 0.0
    assert r.verdicts["json_ok"].status == "fail"
    assert "more than 4300 digits" in r.verdicts["json_ok"].reason


def _raw(port: int, data: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(data)
    return s


def _read_all(s: socket.socket) -> bytes:
    """Everything the server sends until it closes (bounded by the socket's timeout)."""
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def test_slow_clients_are_cut_off_and_do_not_lock_out_their_address(rubric):
    """20 slowloris connections (a header line every 0.3 s) and 8 uploads at 1 byte per
    0.3 s: each is answered 408 and closed; the same address then scores normally. Before,
    none was ever closed and 32 unfinished uploads locked the address out with 429."""
    with serve_process(["--rubric", str(rubric / "r.yaml"), "--header-timeout-s", "1",
                        "--body-timeout-s", "1", "--max-per-client", "8"]) as svc:
        loris = [_raw(svc.port, b"POST /v1/score HTTP/1.1\r\nHost: x\r\n") for _ in range(20)]
        uploads = [_raw(svc.port, b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                  b"application/json\r\nContent-Length: 1000\r\n\r\n{")
                   for _ in range(8)]
        answers: dict[int, bytes] = {}

        def trickle(k: int, s: socket.socket, line: bytes) -> None:
            try:  # keep sending until the server hangs up
                for _ in range(200):
                    s.sendall(line)
                    time.sleep(0.3)
            except OSError:
                pass

        threads = [threading.Thread(target=trickle, args=(k, s, b"X-Slow: 1\r\n"), daemon=True)
                   for k, s in enumerate(loris)]
        threads += [threading.Thread(target=trickle, args=(k, s, b" "), daemon=True)
                    for k, s in enumerate(uploads)]
        for t in threads:
            t.start()
        for k, s in enumerate(loris + uploads):
            try:
                answers[k] = _read_all(s)
            except ConnectionResetError:  # closed while our trickle was unread
                answers[k] = b"(reset)"
            s.close()
        # a close with our trickled bytes unread may arrive as a reset before the 408
        assert all(a.startswith(b"HTTP/1.1 408") or a == b"(reset)" for a in answers.values())
        ok = httpx.post(svc.url + "/v1/score", json={"samples": ROWS}, timeout=120)
        assert ok.status_code == 200
        metrics = httpx.get(svc.url + "/metrics", timeout=120).text
    assert _metric(metrics, 'harnessrl_requests_total{endpoint="(headers)",status="408"}') == 20
    assert _metric(metrics, 'harnessrl_requests_total{endpoint="/v1/score",status="408"}') == 8


def test_a_client_that_hangs_up_is_a_disconnect_not_a_500(rubric):
    """Three clients leave mid-body, one while its batch waits on a 1 s judge: four
    disconnects, no 500, no traceback (33 of 37 "500"s in a load test were these)."""
    body = json.dumps({"rubric": "j", "samples": ROWS[:1]}).encode()
    with LocalJudge(delay_s=1.0) as slow, serve_process(
            ["--rubric", f"r={rubric / 'r.yaml'}", "--rubric", f"j={rubric / 'j.yaml'}",
             "--judge-base-url", slow.base_url, "--judge-model", "local"]) as svc:
        for _ in range(3):  # mid-body: the service is waiting for the rest
            s = _raw(svc.port, b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Length: 100"
                               b"\r\nContent-Type: application/json\r\n\r\n{\"samp")
            time.sleep(0.2)
            s.close()
        s = _raw(svc.port, b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: "
                           b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        time.sleep(0.3)  # the batch is at the judge
        s.close()
        key = 'harnessrl_requests_total{endpoint="/v1/score",status="disconnect"}'
        for _ in range(100):
            metrics = httpx.get(svc.url + "/metrics", timeout=120).text
            if _metric(metrics, key) == 4:
                break
            time.sleep(0.1)
        log = svc.log_text()
    assert _metric(metrics, key) == 4 and 'status="500"' not in metrics
    assert "Traceback" not in log and "ERROR" not in log
    assert log.count("the client disconnected while sending its request") == 3
    assert log.count("the client disconnected before its answer (scored anyway)") == 1


def test_concurrency_limit_is_per_token_and_metrics_port_needs_none(rubric, monkeypatch):
    """Two trainers behind one address (here: both on 127.0.0.1) with their own tokens each
    get their own --max-per-client 1; the same token twice at once gets one 429. A scraper on
    --metrics-port needs no token; /metrics on the API port still does."""
    import asyncio

    from rewards.service.local import free_port

    monkeypatch.setenv("TOKEN_A", "tok-aaaa-1111")
    monkeypatch.setenv("TOKEN_B", "tok-bbbb-2222")
    mport = free_port()
    with LocalJudge(delay_s=0.5) as slow, serve_process(
            ["--rubric", str(rubric / "j.yaml"), "--judge-base-url", slow.base_url,
             "--judge-model", "local", "--token-env", "TOKEN_A", "--token-env", "TOKEN_B",
             "--max-per-client", "1", "--metrics-port", str(mport)]) as svc:
        def auth(tok):
            return {"Authorization": f"Bearer {tok}"}

        async def at_once(tokens):
            async with httpx.AsyncClient(timeout=120) as c:
                return await asyncio.gather(*(c.post(svc.url + "/v1/score", headers=auth(t),
                                                     json={"samples": ROWS[:1]})
                                              for t in tokens))

        both = asyncio.run(at_once(["tok-aaaa-1111", "tok-bbbb-2222"]))
        assert [r.status_code for r in both] == [200, 200]
        same = asyncio.run(at_once(["tok-aaaa-1111", "tok-aaaa-1111"]))
        assert sorted(r.status_code for r in same) == [200, 429]
        assert httpx.get(svc.url + "/metrics", timeout=120).status_code == 401
        scraped = httpx.get(f"http://127.0.0.1:{mport}/metrics", timeout=120)
        log = svc.log_text()
    assert scraped.status_code == 200
    assert _metric(scraped.text, 'harnessrl_requests_total{endpoint="/v1/score",status="200"}') == 3
    assert "tok-aaaa" not in log and "tok-bbbb" not in log and "TOKEN_A, TOKEN_B" in log
