"""The reward service on 127.0.0.1 with real components: `python -m rewards.serve` processes,
Debian's redis-server, and a stand-in judge speaking the OpenAI chat-completions protocol
(rewards.service.local.LocalJudge, which counts the calls it answers)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import httpx
import pytest

from rewards import Harness, Sample
from rewards.cache import RedisVerdictCache, cache_key, open_cache
from rewards.integrations import remote_compute_score as compute_score
from rewards.integrations import remote_trl_reward_funcs
from rewards.remote import RemoteHarness, RemoteRewardError
from rewards.service.local import LocalJudge, redis_available, redis_server, serve_process, stop
from rewards.verdict import Verdict

RUBRIC = """
version: 1
scale: [0, 5]
dimensions:
  fmt: {weight: 1, min_coverage: 1.0}
  quality: {weight: 2, min_coverage: 0.5}
checks:
  - {id: short, kind: length, dimension: fmt, unit: words, max: 12}
  - {id: label, kind: label_match, dimension: fmt, labels: ["yes", "no"], cache: false}
  - {id: good, kind: judge, dimension: quality, question: "Is the response good?"}
"""
ALT = """
version: 1
scale: [0, 1]
dimensions:
  brevity: {weight: 1.0, min_coverage: 1.0}
checks:
  - {id: tiny, kind: length, dimension: brevity, unit: chars, max: 10}
"""
ROWS = [{"id": "a", "completion": "yes", "reference": "yes", "source": "s"},
        {"id": "b", "completion": "no, and a good long reason why", "reference": "yes"},
        {"id": "c", "completion": "maybe good", "reference": "no"},
        {"id": "d", "completion": "yes " * 20, "reference": "yes"}]

def _post(*args, **kwargs):
    # the default 5 s read timeout failed these tests on a 2-core machine at load 12
    return httpx.post(*args, timeout=120, **kwargs)


def _get(*args, **kwargs):
    return httpx.get(*args, timeout=120, **kwargs)


needs_redis = pytest.mark.skipif(redis_available() is None,
                                 reason="redis-server not installed (apt-get install redis-server)")


@pytest.fixture
def rubrics(tmp_path):
    (tmp_path / "main.yaml").write_text(RUBRIC)
    (tmp_path / "alt.yaml").write_text(ALT)
    return tmp_path


@pytest.fixture
def judge():
    with LocalJudge() as j:
        yield j


def _args(rubrics, judge, *extra):
    return ["--rubric", f"main={rubrics / 'main.yaml'}", "--rubric", str(rubrics / "alt.yaml"),
            "--judge-base-url", judge.base_url, "--judge-model", "local", *extra]


def _strip(row):
    """A result without what differs between runs of the same verdicts (timings, cache flag)."""
    row = json.loads(json.dumps(row))
    for v in row["verdicts"].values():
        v.pop("latency_s")
        v.pop("cached")
    return row


def test_service_scores_equal_cli_scores(rubrics, judge, tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    out = tmp_path / "out.jsonl"
    cli = subprocess.run([sys.executable, "-m", "rewards.score", "--rubric",
                          str(rubrics / "main.yaml"), "--input", str(inp), "--output", str(out),
                          "--judge-base-url", judge.base_url, "--judge-model", "local"],
                         capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    want = [_strip(json.loads(line)) for line in out.read_text().splitlines()]
    with serve_process(_args(rubrics, judge)) as svc:
        r = _post(svc.url + "/v1/score", json={"samples": ROWS, "rubric": "main"})
        assert r.status_code == 200, r.text
        got = [_strip(x) for x in r.json()["results"]]
        assert got == want
        assert r.json()["rubric_hash"] == want[0]["rubric_hash"]
        # the default rubric is the first given; the second is served by its file's stem
        alt = _post(svc.url + "/v1/score", json={"samples": ROWS, "rubric": "alt"}).json()
        assert [x["score"] for x in alt["results"]] == [1.0, 0.0, 1.0, 0.0]
        health = _get(svc.url + "/health").json()
        assert health["default"] == "main" and set(health["rubrics"]) == {"main", "alt"}
        # the remote client gives the same results as the in-process harness
        local = Harness(rubrics / "main.yaml", judge={"base_url": judge.base_url,
                                                      "model": "local"})
        samples = [Sample.from_dict(r) for r in ROWS]
        for rubric in (rubrics / "main.yaml", "main", None):
            remote = RemoteHarness(svc.url, rubric=rubric).score_batch(samples)
            assert [_strip(x.to_dict()) for x in remote] == \
                [_strip(x.to_dict()) for x in local.score_batch(samples)]
        metrics = _get(svc.url + "/metrics").text
    for line in ('harnessrl_check_pass_rate{check="short",rubric="main"}',
                 'harnessrl_judge_calls_total{rubric="main"}',
                 'harnessrl_requests_total{endpoint="/v1/score",status="200"}',
                 'harnessrl_request_seconds_bucket{endpoint="/v1/score"',
                 'harnessrl_check_verdicts_total{check="good",rubric="main",status="pass"}'):
        assert line in metrics, line


def test_bad_requests_name_the_key_and_token_is_required(rubrics, judge, monkeypatch):
    monkeypatch.setenv("SVC_TOKEN", "tok-s3cret-value")
    monkeypatch.setenv("JUDGE_KEY_X", "sk-judge-s3cret")
    with serve_process(_args(rubrics, judge, "--token-env", "SVC_TOKEN", "--max-batch", "3",
                             "--max-body-mb", "0.01", "--judge-api-key-env", "JUDGE_KEY_X",
                             "--log-level", "debug")) as svc:
        auth = {"Authorization": "Bearer tok-s3cret-value"}
        url = svc.url + "/v1/score"
        ok = {"samples": ROWS[:2]}
        assert _post(url, json=ok).status_code == 401
        bad = _post(url, json=ok, headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and "tok-s3cret" not in bad.text
        assert _get(svc.url + "/metrics").status_code == 401
        assert _get(svc.url + "/health").status_code == 200  # probes need no token
        assert _post(url, json=ok, headers=auth).status_code == 200
        cases = [
            ({"samples": [ROWS[0], ROWS[1], ROWS[2], {"id": 3, "completion": 4}]}, 413,
             "samples: 4 samples exceed the batch limit of 3"),
            ({"samples": [ROWS[0], {"id": "x", "completion": 4}]}, 422,
             "samples[1].completion: expected a string, got int"),
            ({"samples": [{"id": "x"}]}, 422, "samples[0].completion: missing"),
            ({"samples": [{"completion": "a", "prompt": [{"role": "user"}]}]}, 422,
             "samples[0].prompt[0]"),
            ({"samples": [{"completion": "a", "meta": [1]}]}, 422, "samples[0].meta"),
            ({"samples": "x"}, 422, "samples: expected a list"),
            ({"samples": [], "rubric": "main"}, 422, "samples: expected at least one"),
            ({"samples": ROWS[:1], "extra": 1}, 422, "extra: unknown key"),
            ({"samples": ROWS[:1], "rubric": "nope"}, 404, "rubric: unknown rubric 'nope'"),
            ({"samples": ROWS[:1], "rubric_hash": "0" * 16}, 409, "rubric_hash: no served"),
            ({"samples": [{"completion": "x" * 20000}]}, 413, "request size limit"),
        ]
        for body, status, msg in cases:
            r = _post(url, json=body, headers=auth)
            assert r.status_code == status and msg in r.json()["error"], (body, r.text)
        r = _post(url, content=b"{not json", headers=auth)
        assert r.status_code == 400 and "body: invalid JSON" in r.json()["error"]
        r = _post(svc.url + "/get_reward", json={"query": ["a"], "prompts": ["a", "b"]},
                       headers=auth)
        assert r.status_code == 422 and "prompts: expected a list of 1 items" in r.json()["error"]
        # the client raises configuration errors (4xx) instead of abstaining
        monkeypatch.setenv("WRONG_TOKEN", "nope")
        with pytest.raises(RemoteRewardError, match="HTTP 401"):
            RemoteHarness(svc.url, rubrics / "main.yaml", token_env="WRONG_TOKEN").score_batch(
                [Sample("a", completion="yes")])
        h = RemoteHarness(svc.url, rubrics / "main.yaml", token_env="SVC_TOKEN")
        assert h.score_batch([Sample("a", completion="yes", reference="yes")])[0].score is not None
        seen = [_get(svc.url + p, headers=auth).text
                for p in ("/health", "/metrics", "/v1/rubrics")]
        stop(svc.proc)
        for secret in ("tok-s3cret", "sk-judge-s3cret"):
            assert secret not in svc.log_text() and not any(secret in t for t in seen)
        assert "JUDGE_KEY_X" in svc.log_text()  # the variable's name is logged, not its value


def test_openrlhf_trl_and_verl_adapters(rubrics, judge, monkeypatch):
    with serve_process(_args(rubrics, judge)) as svc:
        # OpenRLHF --remote_rm_url: query = prompt + response, labels = references
        # the 2nd has no label: its label check abstains, `fmt` falls under coverage, masked
        body = {"query": ["Q: ok?yes", "Q: ok?yes"],
                "prompts": ["Q: ok?", "Q: ok?"], "labels": ["yes", None]}
        r = _post(svc.url + "/get_reward", json=body).json()
        direct = _post(svc.url + "/v1/score", json={"samples": [
            {"prompt": "Q: ok?", "completion": "yes", "reference": "yes"},
            {"prompt": "Q: ok?", "completion": "yes"}]}).json()["results"]
        assert r["rewards"] == [direct[0]["score"], 0.0]  # masked -> scale minimum, flagged
        assert direct[1]["score"] is None and r["extra_logs"]["harness_masked"] == [0.0, 1.0]
        assert r["scores"][0] == pytest.approx(direct[0]["normalized"])
        alt = _post(svc.url + "/get_reward?rubric=alt", json=body).json()
        assert alt["rewards"] == [1.0, 1.0]
        # TRL: None for masked samples, dimension functions share one request
        funcs, weights = remote_trl_reward_funcs(svc.url, "main", per_dimension=True)
        assert [f.__name__ for f in funcs] == ["harness_fmt", "harness_quality"]
        total = remote_trl_reward_funcs(svc.url)[0][0](["p", "p"], ["yes", "yes"],
                                                       reference=["yes", None])
        assert total[0] == direct[0]["score"] and total[1] is None
        # verl: compute_score by path with reward_kwargs
        out = compute_score("main", "yes", "yes", {"index": 0}, url=svc.url)
        assert out["score"] == direct[0]["score"] and out["harness_masked"] == 0.0
        monkeypatch.setenv("HARNESSRL_REWARD_URL", svc.url)
        assert compute_score("alt", "short", None)["score"] == 1.0


def test_service_down_abstains_and_recovers(rubrics, judge, caplog):
    from rewards.service.local import free_port, start_service

    port = free_port()
    h = RemoteHarness(f"http://127.0.0.1:{port}", rubrics / "main.yaml", max_retries=2,
                      backoff_s=0.05)
    samples = [Sample.from_dict(r) for r in ROWS]
    with caplog.at_level(logging.WARNING, logger="rewards.remote"):
        down = h.score_batch(samples)
    assert all(r.score is None and r.normalized is None for r in down)
    assert all(v.status == "abstain" and "reward service: unreachable after 3 attempts" in v.reason
               for r in down for v in r.verdicts.values())
    assert h.last_stats["remote_failed"] == 4
    assert "samples abstain (score None, masked)" in caplog.text
    svc = start_service(_args(rubrics, judge), port=port)
    try:
        up = h.score_batch(samples)
        assert up[0].score is not None and h.last_stats["remote_failed"] == 0
        assert "reachable again" in caplog.text
    finally:
        stop(svc.proc)


@needs_redis
def test_redis_cache_shared_by_two_service_processes(rubrics, judge, tmp_path):
    with redis_server(tmp_path / "redis") as url:
        args = _args(rubrics, judge, "--cache-url", url)
        with serve_process(args) as first:
            r1 = _post(first.url + "/v1/score", json={"samples": ROWS}).json()
        calls = judge.calls
        assert calls == 4 and r1["stats"]["judge_calls"] == 4  # one judge check per row
        with serve_process(args) as second:
            r2 = _post(second.url + "/v1/score", json={"samples": ROWS}).json()
            metrics = _get(second.url + "/metrics").text
        assert judge.calls == calls, "the second process asked the judge again"
        assert r2["stats"]["cache_hits"] == 4 and r2["stats"]["judge_calls"] == 0
        assert [_strip(x) for x in r2["results"]] == [_strip(x) for x in r1["results"]]
        assert all(x["verdicts"]["good"]["cached"] for x in r2["results"])
        assert 'harnessrl_cache_hit_rate{rubric="main"} 1.0' in metrics
        # an in-process harness built the recipes' way (reward.cache_url) reuses them too
        h = Harness.from_config(rubrics / "main.yaml", {"enabled": True, "model": "local",
                                                        "base_url": judge.base_url},
                                None, reward={"cache_url": url, "url": None})
        assert isinstance(h.cache, RedisVerdictCache)
        local = h.score_batch([Sample.from_dict(r) for r in ROWS])
        assert judge.calls == calls and all(r.verdicts["good"].cached for r in local)
        # a different judge never reuses those verdicts: same key scheme as SQLite
        cache = open_cache(url)
        assert isinstance(cache, RedisVerdictCache) and len(cache) == 4
        k = cache_key("c", "h", {"completion": "x"}, {"model": "m"})
        cache.put_many({k: Verdict("pass", 0.7, "r")})
        assert cache.get_many([k, "missing"])[k].value == 0.7
        assert cache.stats()["hits"] == 1 and cache.stats()["misses"] == 1


def test_redis_down_is_a_miss_not_a_failure(rubrics, judge):
    from rewards.service.local import free_port

    h = Harness(rubrics / "main.yaml", judge={"base_url": judge.base_url, "model": "local"},
                cache_path=f"redis://127.0.0.1:{free_port()}/0")
    res = h.score_batch([Sample.from_dict(r) for r in ROWS])
    assert [r.verdicts["good"].status for r in res] == ["fail", "pass", "pass", "fail"]
    # one failed call opens the cache's breaker: the write after it is not even tried
    c = h.cache.stats()
    assert c["errors"] == 1 and c["bypassed"] >= 1 and c["misses"] == 4


def test_per_client_concurrency_limit_answers_429(rubrics):
    import asyncio

    with LocalJudge(delay_s=0.5) as slow, serve_process(_args(rubrics, slow,
                                                             "--max-per-client", "1")) as svc:
        async def two_at_once():
            async with httpx.AsyncClient(timeout=30) as c:
                return await asyncio.gather(*(c.post(svc.url + "/v1/score",
                                                     json={"samples": ROWS[:1]})
                                              for _ in range(2)))

        codes = sorted(r.status_code for r in asyncio.run(two_at_once()))
        assert codes == [200, 429]
        assert _post(svc.url + "/v1/score", json={"samples": ROWS[:1]}).status_code == 200
