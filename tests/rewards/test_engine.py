"""Fan-out engine behaviour: order, cache, gate skipping, timeouts, concurrency budget."""

import asyncio
import textwrap

import pytest

from rewards import Harness, Sample, load_rubric


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A real importable module of python-kind checks that record how they were called."""
    (tmp_path / "probe_checks.py").write_text(textwrap.dedent("""
        import asyncio
        CALLS = []
        STATE = {"inflight": 0, "peak": 0}

        async def slow_len(sample, delay=0.05):
            STATE["inflight"] += 1
            STATE["peak"] = max(STATE["peak"], STATE["inflight"])
            CALLS.append(sample.id)
            await asyncio.sleep(delay)
            STATE["inflight"] -= 1
            return len(sample.completion) > 3

        async def hang(sample):
            await asyncio.sleep(30)
            return True
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    import probe_checks

    importlib.reload(probe_checks)
    return probe_checks


def rubric(extra=None, delay=0.05):
    return load_rubric({"scale": [0, 1], "dimensions": {"fmt": {}, "content": {}},
                        "checks": [
                            {"id": "json", "kind": "json_valid", "dimension": "fmt", "gate": True},
                            {"id": "probe", "kind": "python", "dimension": "fmt",
                             "function": "probe_checks:slow_len", "params": {"delay": delay}},
                            {"id": "words", "kind": "length", "dimension": "content", "min": 1},
                            *(extra or [])]})


def samples(n):
    return [Sample(id=f"s{i}", completion=f'{{"k": {i}}}' if i % 2 == 0 else f"prose {i}")
            for i in range(n)]


def test_order_kept_and_gate_skips_expensive_checks(user_module):
    h = Harness(rubric())
    res = h.score_batch(samples(6))
    assert [r.sample_id for r in res] == [f"s{i}" for i in range(6)]
    # odd samples fail the json gate: their python check in the same dimension never ran
    assert sorted(user_module.CALLS) == ["s0", "s2", "s4"]
    odd = res[1].verdicts["probe"]
    assert odd.skipped and "gate" in odd.reason
    assert res[1].dimensions["fmt"] == 0.0 and res[1].dimensions["content"] == 1.0
    assert res[0].dimensions["fmt"] == 1.0


def test_global_concurrency_budget(user_module):
    h = Harness(rubric(), concurrency=3)
    h.score_batch([Sample(id=str(i), completion='{"a": 1}') for i in range(12)])
    assert user_module.STATE["peak"] == 3
    user_module.STATE["peak"] = 0
    Harness(rubric(), concurrency=64).score_batch([Sample(id=str(i), completion='{"a": 1}')
                                                   for i in range(12)])
    assert user_module.STATE["peak"] == 12


def test_timeout_becomes_abstain(user_module):
    r = rubric([{"id": "hang", "kind": "python", "dimension": "content",
                 "function": "probe_checks:hang", "timeout_s": 0.2}])
    res = Harness(r).score_batch([Sample(id="a", completion='{"x": 1}')])[0]
    assert res.verdicts["hang"].status == "abstain"
    assert "timeout" in res.verdicts["hang"].reason
    assert res.dimensions["content"] == 1.0  # re-normalised over the answered check


def test_cache_hits_skip_work_and_persist(tmp_path, user_module):
    path = tmp_path / "cache.sqlite"
    batch = [Sample(id=str(i), completion=f'{{"v": {i}}}') for i in range(5)]
    first = Harness(rubric(), cache_path=path).score_batch(batch)
    assert len(user_module.CALLS) == 5
    h2 = Harness(rubric(), cache_path=path)  # a new process would see the same file
    second = h2.score_batch(batch)
    assert len(user_module.CALLS) == 5  # nothing recomputed
    assert h2.cache.stats()["hits"] == 5 and h2.cache.stats()["misses"] == 0
    assert all(r.verdicts["probe"].cached for r in second)
    assert [r.score for r in first] == [r.score for r in second]
    # a changed completion is a different key: computed again
    h2.score_batch([Sample(id="0", completion='{"v": 99}')])
    assert len(user_module.CALLS) == 6
    # a changed rubric (different hash) never reuses verdicts
    Harness(rubric(delay=0.01), cache_path=path).score_batch(batch[:1])
    assert len(user_module.CALLS) == 7


def test_judge_unconfigured_is_skipped_not_failed(monkeypatch):
    monkeypatch.delenv("HARNESSRL_JUDGE_BASE_URL", raising=False)
    r = load_rubric({"dimensions": {"d": {"min_coverage": 1.0}}, "checks": [
        {"id": "len", "kind": "length", "dimension": "d", "min": 1},
        {"id": "q", "kind": "judge", "dimension": "d", "question": "Is it kind?"}]})
    res = Harness(r).score_batch([Sample(id="a", completion="hello")])[0]
    assert res.verdicts["q"].skipped and res.score == 1.0


def test_score_batch_inside_running_loop():
    """Notebooks and async trainers already run a loop: the sync API must still work there."""
    r = load_rubric({"dimensions": {"d": {}}, "checks": [
        {"id": "len", "kind": "length", "dimension": "d", "min": 1}]})

    async def caller():
        return Harness(r).score_batch([Sample(id="a", completion="hi"), Sample(id="b", completion="")])

    assert [x.score for x in asyncio.run(caller())] == [1.0, 0.0]
