"""Audit checks: scored on every batch, reported apart, never part of the reward."""

import json

import pytest

from rewards import Harness, RubricError, Sample, load_rubric, summarize
from rewards.score import main as score_main

RUBRIC = {
    "scale": [0, 5],
    "dimensions": {"format": {}, "content": {}},
    "checks": [
        {"id": "json_ok", "kind": "json_valid", "dimension": "format", "gate": "global"},
        {"id": "long", "kind": "length", "dimension": "content", "unit": "chars", "min": 10},
        # the audit: correctness of the total, which the reward above never looks at
        {"id": "total_ok", "kind": "field_match", "dimension": "content", "path": "total",
         "mode": "numeric", "audit": True},
    ],
}


def sample(sid, completion, total=12.5):
    return Sample(id=sid, completion=completion, reference={"total": total})


def test_audit_never_moves_the_score_but_is_reported():
    h = Harness(load_rubric(RUBRIC))
    right, wrong = h.score_batch([sample("r", '{"total": 12.5, "pad": 1}'),
                                  sample("w", '{"total": 99.0, "pad": 1}')])
    # identical rewarded behaviour -> identical score, whatever the audit says
    assert right.score == wrong.score == 5.0
    assert right.audit == 1.0 and wrong.audit == 0.0
    assert right.verdicts["total_ok"].status == "pass"
    assert wrong.verdicts["total_ok"].status == "fail"
    assert set(wrong.audit_verdicts(h.rubric)) == {"total_ok"}
    assert wrong.to_dict()["audit"] == 0.0
    s = summarize([right, wrong], h.rubric)
    assert s["audit_mean"] == 0.5 and s["audit_checks"] == ["total_ok"]
    assert s["score_mean"] == 5.0


def test_audit_runs_even_when_a_gate_zeroes_the_total():
    rub = json.loads(json.dumps(RUBRIC))
    # an expensive kind, which the engine would otherwise skip as moot after the gate fails
    rub["checks"][2] = {"id": "says_total", "kind": "python", "dimension": "content",
                        "function": "rewards.tasks.guards:min_words", "params": {"min_words": 1},
                        "audit": True}
    r = Harness(load_rubric(rub)).score_batch([sample("x", "total twelve, not JSON")])[0]
    assert r.score == 0.0
    assert not r.verdicts["says_total"].skipped and r.audit == 1.0


def test_no_audit_checks_means_none():
    rub = {**RUBRIC, "checks": RUBRIC["checks"][:2]}
    r = Harness(load_rubric(rub)).score_batch([sample("x", '{"total": 1, "pad": 123}')])[0]
    assert r.audit is None


@pytest.mark.parametrize("over, key, expect", [
    ({"audit": "true"}, "checks[2] (total_ok).audit", "true or false"),
    ({"audit": 1}, "checks[2] (total_ok).audit", "true or false"),
    ({"gate": True}, "checks[2] (total_ok).gate", "cannot gate"),
])
def test_audit_flag_is_validated(over, key, expect):
    rub = json.loads(json.dumps(RUBRIC))
    rub["checks"][2] |= over
    with pytest.raises(RubricError) as e:
        load_rubric(rub)
    assert key in str(e.value) and expect in str(e.value)


def test_all_audit_rubric_is_rejected():
    rub = {"dimensions": {"d": {}}, "checks": [
        {"id": "a", "kind": "json_valid", "dimension": "d", "audit": True}]}
    with pytest.raises(RubricError, match="nothing is left to reward"):
        load_rubric(rub)


def test_hash_covers_the_flag_and_keeps_old_hashes():
    rub = json.loads(json.dumps(RUBRIC))
    plain = json.loads(json.dumps(RUBRIC))
    plain["checks"][2].pop("audit")
    explicit_false = json.loads(json.dumps(plain))
    explicit_false["checks"][2]["audit"] = False
    assert load_rubric(rub).hash != load_rubric(plain).hash
    # `audit: false` is the default: rubrics written before the flag keep their hash
    assert load_rubric(explicit_false).hash == load_rubric(plain).hash


def test_score_cli_writes_audit(tmp_path):
    import yaml

    (tmp_path / "r.yaml").write_text(yaml.safe_dump(RUBRIC))
    rows = [{"id": "a", "completion": '{"total": 12.5, "x": 1}', "reference": {"total": 12.5}},
            {"id": "b", "completion": '{"total": 3, "x": 12345}', "reference": {"total": 12.5}}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rc = score_main(["--rubric", str(tmp_path / "r.yaml"), "--input", str(tmp_path / "in.jsonl"),
                     "--output", str(tmp_path / "out.jsonl"), "--summary-json",
                     str(tmp_path / "s.json"), "--no-progress"])
    assert rc == 0
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [o["audit"] for o in out] == [1.0, 0.0]
    assert all(o["score"] == 5.0 for o in out)
    assert json.loads((tmp_path / "s.json").read_text())["audit_mean"] == 0.5
