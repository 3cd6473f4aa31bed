"""The judge kind against a real vLLM OpenAI-compatible server on 127.0.0.1 (CPU build).

A tiny random model's answers are arbitrary: these tests assert the plumbing (requests,
log-prob parsing, concurrency, ordering, abstain on failure), not the judgement."""

import asyncio
import contextlib
import threading

import pytest

from rewards import Harness, Sample, load_rubric, summarize
from rewards.checks.judge import JudgeConfig, _parse_response, p_yes_from_top_logprobs

RUBRIC = {"dimensions": {"d": {"min_coverage": 0.0}}, "checks": [
    {"id": "len", "kind": "length", "dimension": "d", "min": 1},
    {"id": "kind", "kind": "judge", "dimension": "d", "question": "Is the reply polite?"}]}


def test_p_yes_from_openai_shaped_logprobs():
    top = [{"token": " Yes", "logprob": -0.2}, {"token": "no", "logprob": -2.0},
           {"token": "Maybe", "logprob": -1.0}]
    import math
    assert p_yes_from_top_logprobs(top) == pytest.approx(
        math.exp(-0.2) / (math.exp(-0.2) + math.exp(-2.0)))
    assert p_yes_from_top_logprobs([{"token": "hmm", "logprob": 0.0}]) is None
    chat = {"choices": [{"message": {"content": "No"},
                         "logprobs": {"content": [{"token": "No", "logprob": -0.1,
                                                   "top_logprobs": top}]}}]}
    assert _parse_response(chat, "chat")[0] == pytest.approx(0.858, abs=1e-3)
    plain = {"choices": [{"message": {"content": "yes."}}]}
    assert _parse_response(plain, "chat") == (1.0, "yes.")


def test_api_key_comes_from_named_env_var_and_is_not_public(monkeypatch):
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-secret-123")
    cfg = JudgeConfig(base_url="http://127.0.0.1:1/v1", model="m", api_key_env="MY_JUDGE_KEY")
    assert cfg.headers() == {"Authorization": "Bearer sk-secret-123"}
    assert "sk-secret-123" not in repr(cfg.public()) and "sk-secret" not in repr(cfg)


def _judge(server, **kw):
    return {"base_url": server.base_url, "model": server.model, "timeout_s": 60,
            "extra_body": {"structured_outputs": {"choice": ["yes", "no"]}}, **kw}


def _samples(n):
    return [Sample(id=f"s{i}", completion=f"Thanks for asking, reply number {i}.",
                   source="a customer asked a question") for i in range(n)]


def test_judge_against_real_vllm_server(vllm_server):
    h = Harness(load_rubric(RUBRIC), judge=_judge(vllm_server, concurrency=4))
    res = h.score_batch(_samples(12))
    assert [r.sample_id for r in res] == [f"s{i}" for i in range(12)]
    for r in res:
        v = r.verdicts["kind"]
        assert v.status in ("pass", "fail"), v.reason
        assert 0.0 <= v.value <= 1.0 and "P(yes)=" in v.reason
        assert v.latency_s > 0
        assert (v.status == "pass") == (v.value >= 0.5)
    assert h.last_stats["judge_calls"] == 12 and h.last_stats["judge_errors"] == 0
    s = summarize(res, h.rubric)
    assert s["judge_verdicts"] == s["judge_asked"] == 12 and s["judge_error_rate"] == 0.0


def test_judge_logprobs_give_graded_value(vllm_server):
    """With top log-probs returned, value is P(yes) renormalised over yes/no — graded, not 0/1."""
    h = Harness(load_rubric(RUBRIC), judge=_judge(vllm_server, top_logprobs=20))
    values = [r.verdicts["kind"].value for r in h.score_batch(_samples(4))]
    assert all(0.0 <= v <= 1.0 for v in values)


class _Proxy:
    """A TCP relay to the vLLM server that can be cut, to stop the 'server' mid-batch
    without killing the session's shared server."""

    def __init__(self, target_port, cut_after_responses):
        self.target_port = target_port
        self.cut_after = cut_after_responses
        self.responses = 0
        self.loop = asyncio.new_event_loop()
        self.server = None
        self.conns = []
        started = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0))
            started.set()
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        started.wait(10)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader, writer):
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.conns += [writer, up_w]

        async def pipe(r, w, count=False):
            with contextlib.suppress(Exception):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
                    if count:
                        self.responses += data.count(b"HTTP/1.1 ")
                        if self.responses >= self.cut_after:
                            self.cut()
            w.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer, count=True))

    def cut(self):
        def _cut():
            self.server.close()
            for w in self.conns:
                w.transport.abort()
        self.loop.call_soon_threadsafe(_cut)


def test_server_stopped_mid_batch_abstains_with_error(vllm_server):
    proxy = _Proxy(vllm_server.port, cut_after_responses=6)
    url = f"http://127.0.0.1:{proxy.port}/v1"
    h = Harness(load_rubric(RUBRIC), judge=_judge(vllm_server, base_url=url, concurrency=2,
                                                   max_retries=1, backoff_s=0.05, timeout_s=20))
    # after 6 answers the relay is cut: the remaining calls must abstain, the first succeed
    res = h.score_batch(_samples(40))
    statuses = [r.verdicts["kind"].status for r in res]
    assert statuses.count("abstain") >= 30 and 4 <= 40 - statuses.count("abstain") <= 8, statuses
    bad = [r.verdicts["kind"] for r in res if r.verdicts["kind"].status == "abstain"]
    assert all("judge" in v.reason and v.skipped is False for v in bad)
    assert h.last_stats["judge_errors"] == len(bad)
    # the deterministic check still answered, so every sample still has a score
    assert all(r.score is not None for r in res)
    assert summarize(res, h.rubric)["judge_error_rate"] == len(bad) / 40


def test_cached_verdict_is_not_served_to_a_different_judge(vllm_server, tmp_path):
    """The verdict cache keys judge checks by the judge's identity: the same rubric, samples and
    cache file under another judge (here the same server reached as `localhost`, so it still
    answers) calls that judge instead of reusing the first one's verdicts."""
    cache = tmp_path / "verdicts.sqlite"
    first = Harness(load_rubric(RUBRIC), judge=_judge(vllm_server), cache_path=cache)
    first.score_batch(_samples(3))
    assert first.last_stats["judge_calls"] == 3
    again = Harness(load_rubric(RUBRIC), judge=_judge(vllm_server), cache_path=cache)
    again.score_batch(_samples(3))
    assert again.last_stats["judge_calls"] == 0  # same judge: all three from the cache
    other_url = vllm_server.base_url.replace("127.0.0.1", "localhost")
    other = Harness(load_rubric(RUBRIC), judge=_judge(vllm_server, base_url=other_url),
                    cache_path=cache)
    res = other.score_batch(_samples(3))
    assert other.last_stats["judge_calls"] == 3
    assert all(not r.verdicts["kind"].cached for r in res)


def test_judge_identity_is_part_of_the_cache_key():
    from rewards.cache import cache_key

    x = JudgeConfig(base_url="http://h:1/v1", model="judge-x")
    y = JudgeConfig(base_url="http://h:1/v1/", model="judge-y")
    inputs = {"completion": "ok"}
    assert cache_key("q", "r", inputs, x.identity()) != cache_key("q", "r", inputs, y.identity())
    same_x = JudgeConfig(base_url="http://h:1/v1/", model="judge-x", api_key_env="K")
    assert cache_key("q", "r", inputs, x.identity()) == cache_key("q", "r", inputs,
                                                                  same_x.identity())
