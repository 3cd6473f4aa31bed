"""The judge client against a real faulty HTTP server on 127.0.0.1 (tests/rewards/fake_judge.py):
slow, flaky, malformed, echoing the key, never answering, killed. Every fault ends as an
abstain with a redacted reason, within its time limit; a healthy slow server never times out
because of the queue in front of it."""

import sys
import time
from pathlib import Path

import pytest

from rewards import Harness, Sample, load_rubric
from rewards.checks.judge import JudgeConfig, JudgeConfigError, check_judge_block

sys.path.insert(0, str(Path(__file__).parent))
from fake_judge import FakeJudge  # noqa: E402

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


def test_queue_time_does_not_count_against_the_timeout():
    """24 calls at 0.3 s latency, 2 at a time: the last starts ~3.3 s after the batch, past
    the 2 s limit, yet each request takes 0.3 s (2 s leaves room for a loaded 2-core CPU).
    Counting the queue abstained about a third of them."""
    rubric = {**RUBRIC, "checks": [RUBRIC["checks"][0], {**RUBRIC["checks"][1], "timeout_s": 2}]}
    with FakeJudge(latency=0.3) as server:
        verdicts, _ = _score(server, 24, rubric=rubric, concurrency=2)
        assert [v.status for v in verdicts] == ["pass"] * 24, [v.reason for v in verdicts]
        assert server.requests == 24 and server.max_in_flight <= 2


def test_flaky_500_and_429_are_retried():
    with FakeJudge(mode="flaky", fail_first=3) as server:  # 500, 429, 500, then ok
        verdicts, _ = _score(server, 4, concurrency=1, max_retries=3)
    assert all(v.status == "pass" for v in verdicts), [v.reason for v in verdicts]


def test_malformed_bodies_are_retried_like_5xx():
    with FakeJudge(mode="malformed", fail_first=2) as server:
        verdicts, _ = _score(server, 2, concurrency=1, max_retries=2)
        assert all(v.status == "pass" for v in verdicts), [v.reason for v in verdicts]
        assert server.requests == 4
    with FakeJudge(mode="garbled", fail_first=10**6) as server:
        verdicts, _ = _score(server, 2, concurrency=2, max_retries=1)
    assert all(v.status == "abstain" and "malformed response" in v.reason for v in verdicts)


@pytest.mark.parametrize("mode", ["echo401", "echo500"])
def test_error_body_echoing_the_key_is_redacted(mode):
    with FakeJudge(mode=mode) as server:
        verdicts, _ = _score(server, 3)
    for v in verdicts:
        assert v.status == "abstain"
        assert KEY not in v.reason and KEY[:12] not in v.reason, v.reason
        assert "[redacted]" in v.reason and "HTTP" in v.reason


def test_server_that_never_answers_times_out_at_the_check_limit():
    with FakeJudge(mode="hang") as server:
        verdicts, seconds = _score(server, 4, concurrency=4)
    assert all(v.status == "abstain" and "timeout after 1s" in v.reason for v in verdicts)
    assert seconds < 5, seconds


def test_killed_server_abstains_without_hanging():
    server = FakeJudge()
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


def test_unset_key_variable_abstains_without_sending(tmp_path):
    with FakeJudge() as server:
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


def test_concurrent_batches_on_one_loop_share_the_judge_budget():
    """Streamed RL scoring runs one ascore_batch per finished group on one event loop: they
    share the harness's judge_concurrency (2 here) instead of 2 each."""
    import asyncio

    with FakeJudge(latency=0.2) as server:
        cfg = {"base_url": server.base_url, "model": "m", "api_key_env": "FAKE_JUDGE_KEY"}
        h = Harness(load_rubric(RUBRIC), judge=cfg, judge_concurrency=2)

        async def both():
            batches = [[Sample(id=f"{b}{i}", completion=f"reply {b}{i}") for i in range(3)]
                       for b in "ab"]
            return await asyncio.gather(*(h.ascore_batch(s) for s in batches))

        out = asyncio.run(both())
    assert [r.verdicts["j"].status for res in out for r in res] == ["pass"] * 6
    assert server.requests == 6 and server.max_in_flight == 2
