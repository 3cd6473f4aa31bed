"""The judge client against a real faulty HTTP server on 127.0.0.1 (tests/rewards/fake_judge.py):
slow, flaky, malformed, echoing the key, never answering, killed. Every fault ends as an
abstain with a redacted reason, within its time limit; a healthy slow server never times out
because of the queue in front of it."""

import time

import pytest

from rewards import Harness, Sample, load_rubric
from rewards.checks.judge import JudgeConfig, JudgeConfigError, check_judge_block

KEY = "sk-test-Zq8RXJ2vT7mN4pK9wL3sA6dF"
RUBRIC = {"dimensions": {"d": {"min_coverage": 0.0}}, "checks": [
    {"id": "len", "kind": "length", "dimension": "d", "min": 1},
    {"id": "j", "kind": "judge", "dimension": "d", "question": "Is {completion} polite?",
     "timeout_s": 1.0}]}


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("FAKE_JUDGE_KEY", KEY)
    for v in ("HARNESSRL_JUDGE_BASE_URL", "HARNESSRL_JUDGE_MODEL", "HARNESSRL_JUDGE_API_KEY_ENV"):
        monkeypatch.delenv(v, raising=False)


def _score(server, n, rubric=RUBRIC, **judge):
    # the breaker (tested on its own below) would cut these fault tests short
    cfg = {"base_url": server.base_url, "model": "m", "api_key_env": "FAKE_JUDGE_KEY",
           "backoff_s": 0.01, "max_retries": 2, "timeout_s": 5, "breaker_failures": 1000,
           **judge}
    h = Harness(load_rubric(rubric), judge=cfg)
    samples = [Sample(id=f"s{i}", completion=f"reply {i}") for i in range(n)]
    t0 = time.perf_counter()
    res = h.score_batch(samples)
    return [r.verdicts["j"] for r in res], time.perf_counter() - t0


def test_queue_time_does_not_count_against_the_timeout(fake_judge):
    """24 calls at 0.3 s latency, 2 at a time: the last starts ~3.3 s after the batch, past
    the 2 s limit, yet each request takes 0.3 s (2 s leaves room for a loaded 2-core CPU).
    Counting the queue abstained about a third of them."""
    rubric = {**RUBRIC, "checks": [RUBRIC["checks"][0], {**RUBRIC["checks"][1], "timeout_s": 2}]}
    with fake_judge(latency=0.3) as server:
        verdicts, _ = _score(server, 24, rubric=rubric, concurrency=2)
        assert [v.status for v in verdicts] == ["pass"] * 24, [v.reason for v in verdicts]
        assert server.requests == 24 and server.max_in_flight <= 2


def test_flaky_500_and_429_are_retried(fake_judge):
    with fake_judge(mode="flaky", fail_first=3) as server:  # 500, 429, 500, then ok
        verdicts, _ = _score(server, 4, concurrency=1, max_retries=3)
    assert all(v.status == "pass" for v in verdicts), [v.reason for v in verdicts]


def test_malformed_bodies_are_retried_like_5xx(fake_judge):
    with fake_judge(mode="malformed", fail_first=2) as server:
        verdicts, _ = _score(server, 2, concurrency=1, max_retries=2)
        assert all(v.status == "pass" for v in verdicts), [v.reason for v in verdicts]
        assert server.requests == 4
    with fake_judge(mode="garbled", fail_first=10**6) as server:
        verdicts, _ = _score(server, 2, concurrency=2, max_retries=1)
    assert all(v.status == "abstain" and "malformed response" in v.reason for v in verdicts)


@pytest.mark.parametrize("mode", ["echo401", "echo500"])
def test_error_body_echoing_the_key_is_redacted(mode, fake_judge):
    with fake_judge(mode=mode) as server:
        verdicts, _ = _score(server, 3)
    for v in verdicts:
        assert v.status == "abstain"
        assert KEY not in v.reason and KEY[:12] not in v.reason, v.reason
        assert "[redacted]" in v.reason and "HTTP" in v.reason


def test_server_that_never_answers_times_out_at_the_check_limit(fake_judge):
    with fake_judge(mode="hang") as server:
        verdicts, seconds = _score(server, 4, concurrency=4)
    assert all(v.status == "abstain" and "timeout after 1s" in v.reason for v in verdicts)
    assert seconds < 5, seconds


def test_killed_server_abstains_without_hanging(fake_judge):
    server = fake_judge()
    with server:
        verdicts, _ = _score(server, 2)
        assert all(v.status == "pass" for v in verdicts)
        server.kill()
        verdicts, seconds = _score(server, 3)
    assert all(v.status == "abstain" and "connection refused" in v.reason for v in verdicts)
    assert KEY not in " ".join(v.reason for v in verdicts) and seconds < 5


def test_key_value_where_a_variable_name_belongs_is_refused_without_echo():
    for bad in (KEY, "Bearer abcdefgh", "ghp_" + "a1" * 12, "abcd1234" * 5, "MY KEY"):
        with pytest.raises(JudgeConfigError) as e:
            check_judge_block({"api_key_env": bad})
        assert "NAME of an environment variable" in str(e.value) and bad not in str(e.value)
    assert check_judge_block({"api_key_env": "OPENAI_API_KEY"}) == {"api_key_env": "OPENAI_API_KEY"}


def test_credential_config_keys_and_unknown_keys_are_refused():
    for key in ("api_key", "apiKey", "token", "password", "authorization"):
        with pytest.raises(JudgeConfigError, match="environment variable") as e:
            check_judge_block({"base_url": "http://h/v1", key: KEY})
        assert e.value.key == key and KEY not in str(e.value)
    with pytest.raises(JudgeConfigError, match="unknown judge key") as e:
        check_judge_block({"temprature": 0})
    with pytest.raises(JudgeConfigError, match="credentials in the URL"):
        check_judge_block({"base_url": f"https://u:{KEY}@h/v1"})


def test_unset_key_variable_abstains_without_sending(tmp_path, fake_judge):
    with fake_judge() as server:
        verdicts, _ = _score(server, 2, api_key_env="NOPE_UNSET_X")
        assert server.requests == 0
    assert all(v.status == "abstain" and "'NOPE_UNSET_X'" in v.reason for v in verdicts)
    assert JudgeConfig.resolve({"base_url": "http://h/v1", "model": "m",
                                "api_key_env": "NOPE_UNSET_X"}).missing_key()


def test_rubric_judge_block_with_a_key_fails_to_load_naming_the_key(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("dimensions: {d: {}}\nchecks: [{id: a, kind: length, dimension: d}]\n"
                 f"judge: {{base_url: 'http://h/v1', api_key: '{KEY}'}}\n")
    from rewards.rubric import RubricError

    with pytest.raises(RubricError) as e:
        load_rubric(p)
    assert "r.yaml: judge.api_key:" in str(e.value) and KEY not in str(e.value)


def test_concurrent_batches_on_one_loop_share_the_judge_budget(fake_judge):
    """Streamed RL scoring runs one ascore_batch per finished group on one event loop: they
    share the harness's judge_concurrency (2 here) instead of 2 each."""
    import asyncio

    with fake_judge(latency=0.2) as server:
        cfg = {"base_url": server.base_url, "model": "m", "api_key_env": "FAKE_JUDGE_KEY"}
        h = Harness(load_rubric(RUBRIC), judge=cfg, judge_concurrency=2)

        async def both():
            batches = [[Sample(id=f"{b}{i}", completion=f"reply {b}{i}") for i in range(3)]
                       for b in "ab"]
            return await asyncio.gather(*(h.ascore_batch(s) for s in batches))

        out = asyncio.run(both())
    assert [r.verdicts["j"].status for res in out for r in res] == ["pass"] * 6
    assert server.requests == 6 and server.max_in_flight == 2


def _breaker_cfg(url, **kw):
    return {"base_url": url, "model": "m", "api_key_env": "FAKE_JUDGE_KEY", "backoff_s": 0.01,
            "max_retries": 3, "timeout_s": 5, "breaker_failures": 3,
            "breaker_cooldown_s": 600, **kw}


def test_dead_judge_port_opens_the_breaker_after_n_attempts():
    """Nothing listens on the port: 3 refused connections open the breaker and the other
    39 samples abstain at once, without a connection attempt. Before: 4 attempts with backoff
    for each of the 40 samples (160 attempts, ~18 s at the default backoff)."""
    from rewards.service.local import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    h = Harness(load_rubric(RUBRIC), judge=_breaker_cfg(url), judge_concurrency=1)
    res = h.score_batch([Sample(id=f"s{i}", completion=f"reply {i}") for i in range(40)])
    reasons = [r.verdicts["j"].reason for r in res]
    assert h.last_stats["judge_requests"] == 3
    assert h.last_stats["judge_errors"] == 40 and h.last_stats["judge_calls"] == 40
    assert all(r.startswith("judge error: judge unavailable: 3+ failed requests in a row "
                            "(last: connection refused") for r in reasons), reasons[:2]
    # 8 at a time: the 8 first requests are in flight before any fails, none after
    h8 = Harness(load_rubric(RUBRIC), judge=_breaker_cfg(url.replace("/v1", "/v2")),
                 judge_concurrency=8)
    h8.score_batch([Sample(id=f"s{i}", completion=f"reply {i}") for i in range(40)])
    assert 3 <= h8.last_stats["judge_requests"] <= 3 + 7


def test_failing_judge_breaker_counts_server_requests_then_probes_once(fake_judge):
    """Counted at the server: HTTP 500s open the breaker after 3 requests; after the cooldown
    one request probes (it fails: still open); once the server is healthy the next probe
    closes the breaker and every check is answered."""
    with fake_judge(mode="echo500") as server:
        def batch(n):
            return Harness(load_rubric(RUBRIC), judge=_breaker_cfg(
                server.base_url, breaker_cooldown_s=0.3), judge_concurrency=1).score_batch(
                [Sample(id=f"s{i}", completion=f"reply {i}") for i in range(n)])

        first = batch(10)
        assert server.requests == 3
        assert first[0].verdicts["j"].reason.startswith("judge error: judge unavailable")
        assert "(last: HTTP 500)" in first[0].verdicts["j"].reason
        time.sleep(0.5)  # past the cooldown
        batch(10)
        assert server.requests == 4  # one probe, failed
        server.mode = "ok"
        time.sleep(0.5)
        healed = batch(10)
        assert server.requests == 4 + 10
        assert [r.verdicts["j"].status for r in healed] == ["pass"] * 10


def test_error_kind_survives_a_short_time_limit(fake_judge):
    """A garbled body with a 1 s check limit and 0.4 s backoff: the retry that would end past
    the limit is not started, and the reason names the malformed body, not only a timeout."""
    with fake_judge(mode="garbled", fail_first=10**6) as server:
        verdicts, _ = _score(server, 2, concurrency=2, max_retries=3, backoff_s=0.4)
    for v in verdicts:
        assert v.status == "abstain" and "malformed response body" in v.reason, v.reason
        assert "(2 requests)" in v.reason


def test_http_500_is_named_as_such(fake_judge):
    with fake_judge(mode="echo500") as server:
        verdicts, _ = _score(server, 1)
    assert verdicts[0].reason.startswith("judge error: HTTP 500: "), verdicts[0].reason
    assert "(3 requests)" in verdicts[0].reason


def test_latency_is_the_request_and_queue_time_is_reported_apart(fake_judge):
    """5 calls of 0.3 s, one at a time: the last waits ~1.2 s for the judge budget. Its
    verdict's latency is its own request; the wait is in last_stats["judge_queue_s"]."""
    with fake_judge(latency=0.3) as server:
        cfg = {"base_url": server.base_url, "model": "m", "api_key_env": "FAKE_JUDGE_KEY"}
        h = Harness(load_rubric(RUBRIC), judge=cfg, judge_concurrency=1)
        res = h.score_batch([Sample(id=f"s{i}", completion=f"reply {i}") for i in range(5)])
    own = sorted(r.verdicts["j"].latency_s for r in res)
    queued = sorted(h.last_stats["judge_queue_s"])
    assert len(queued) == 5
    # the longest queue holds ~4 requests' time, more than any one request took
    assert queued[-1] > own[-1]


def test_judge_requests_are_logged_at_debug_not_info(caplog, fake_judge):
    import logging

    with fake_judge() as server, caplog.at_level(logging.INFO):
        _score(server, 3)
    assert not [r for r in caplog.records if "HTTP Request" in r.getMessage()]
    with fake_judge() as server, caplog.at_level(logging.DEBUG):
        _score(server, 2)
    debug = [r for r in caplog.records if "HTTP Request" in r.getMessage()]
    assert len(debug) == 2 and all(r.levelname == "DEBUG" for r in debug)
