"""python -m rewards.score end to end, as a user runs it (subprocess, real files)."""

import json
import os
import subprocess
import sys

import pytest
import yaml

ALL_KINDS_RUBRIC = {
    "version": 1,
    "scale": [0, 5],
    "dimensions": {"format": {"weight": 1}, "fidelity": {"weight": 2}, "style": {"weight": 1}},
    "checks": [
        {"id": "json", "kind": "json_valid", "dimension": "format", "gate": "global"},
        {"id": "schema", "kind": "json_schema", "dimension": "format",
         "schema": {"type": "object", "required": ["total", "summary"]}},
        {"id": "total", "kind": "field_match", "dimension": "fidelity", "path": "total",
         "mode": "numeric"},
        {"id": "label", "kind": "label_match", "dimension": "fidelity", "labels": ["paid", "due"],
         "reference_path": "status", "cache": False},
        {"id": "grounded", "kind": "numbers_grounded", "dimension": "fidelity"},
        {"id": "spans", "kind": "spans_preserved", "dimension": "fidelity", "from_meta": "spans"},
        {"id": "no_hype", "kind": "regex", "dimension": "style", "pattern": "revolutionary",
         "must_match": False, "flags": ["IGNORECASE"]},
        {"id": "len", "kind": "length", "dimension": "style", "unit": "chars", "max": 400},
        {"id": "rep", "kind": "no_repetition", "dimension": "style"},
        {"id": "read", "kind": "readability", "dimension": "style", "max_grade": 30},
        {"id": "sem", "kind": "semantic_similarity", "dimension": "fidelity", "threshold": 0.3,
         "reference_path": "summary"},
        {"id": "judge", "kind": "judge", "dimension": "style", "question": "Is it concise?"},
        {"id": "py", "kind": "python", "dimension": "style", "function": "operator:truth"},
    ],
}


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "rewards.score", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


@pytest.fixture
def files(tmp_path):
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(yaml.safe_dump(ALL_KINDS_RUBRIC))
    ref = {"total": 120.5, "status": "paid", "summary": "Invoice paid in full for two chairs."}
    good = json.dumps({"total": "120.50", "summary": "Invoice paid in full for 2 chairs."})
    rows = [
        {"id": "good", "completion": good, "reference": ref, "source": "2 chairs, 120.50 total",
         "meta": {"spans": ["chairs"]}},
        {"id": "prose", "completion": "Sure! The total is 999.", "reference": ref, "source": "x",
         "meta": {"spans": ["chairs"]}},
    ]
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path, rubric, inp


def test_scores_every_kind_and_prints_summary(files):
    tmp, rubric, inp = files
    out = tmp / "out.jsonl"
    p = run("--rubric", str(rubric), "--input", str(inp), "--output", str(out),
            "--cache", str(tmp / "c.sqlite"), "--summary-json", str(tmp / "s.json"),
            env={"HARNESSRL_JUDGE_BASE_URL": ""})
    assert p.returncode == 0, p.stderr
    res = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in res] == ["good", "prose"]
    v = res[0]["verdicts"]
    assert set(v) == {c["id"] for c in ALL_KINDS_RUBRIC["checks"]}
    assert v["json"]["status"] == "pass" and v["total"]["status"] == "pass"
    assert v["sem"]["status"] == "pass" and 0.3 < v["sem"]["value"] <= 1
    assert v["judge"]["skipped"] is True
    # operator.truth(sample) is True: a stdlib callable stands in for a user's function
    assert v["py"]["status"] == "pass" and "operator:truth" in v["py"]["reason"]
    assert res[1]["score"] == 0.0 and res[1]["verdicts"]["json"]["status"] == "fail"
    assert "judge checks skipped" in p.stdout and "mean score" in p.stdout
    summary = json.loads((tmp / "s.json").read_text())
    assert summary["checks"]["json"]["pass_rate"] == 0.5
    assert summary["rubric_hash"] == res[0]["rubric_hash"]


def test_bad_rubric_exit_2_names_key(files):
    tmp, rubric, inp = files
    bad = dict(ALL_KINDS_RUBRIC, checks=[dict(ALL_KINDS_RUBRIC["checks"][0], kind="jsonvalid")])
    rubric.write_text(yaml.safe_dump(bad))
    p = run("--rubric", str(rubric), "--input", str(inp), "--output", str(tmp / "o.jsonl"))
    assert p.returncode == 2
    assert "rubric.yaml: checks[0] (json).kind: unknown kind 'jsonvalid'" in p.stderr
    assert not (tmp / "o.jsonl").exists()


def test_bad_line_fail_or_skip(files):
    tmp, rubric, inp = files
    with inp.open("a") as fh:
        fh.write('{"id": "broken", "completion": 5}\n{not json\n')
    p = run("--rubric", str(rubric), "--input", str(inp), "--output", str(tmp / "o.jsonl"))
    assert p.returncode == 2 and "in.jsonl:3" in p.stderr and "'completion'" in p.stderr
    assert not (tmp / "o.jsonl").exists()
    p = run("--rubric", str(rubric), "--input", str(inp), "--output", str(tmp / "o.jsonl"),
            "--on-bad-line", "skip")
    assert p.returncode == 0, p.stderr
    assert len((tmp / "o.jsonl").read_text().splitlines()) == 2


def test_missing_input_exit_2(files):
    tmp, rubric, _ = files
    p = run("--rubric", str(rubric), "--input", str(tmp / "nope.jsonl"), "--output", str(tmp / "o"))
    assert p.returncode == 2 and "nope.jsonl: input file not found" in p.stderr


def test_help_explains_judge():
    p = run("--help")
    assert p.returncode == 0 and "--judge-api-key-env" in p.stdout and "skipped" in p.stdout


JUDGE_RUBRIC = {"dimensions": {"d": {"min_coverage": 0.0}}, "checks": [
    {"id": "len", "kind": "length", "dimension": "d", "min": 1},
    {"id": "j", "kind": "judge", "dimension": "d", "question": "Is it polite?"}]}


def _judge_files(tmp_path, n=6):
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(JUDGE_RUBRIC))
    (tmp_path / "in.jsonl").write_text("".join(
        json.dumps({"id": f"s{i}", "completion": f"reply {i}"}) + "\n" for i in range(n)))
    return ["--rubric", str(tmp_path / "r.yaml"), "--input", str(tmp_path / "in.jsonl"),
            "--output", str(tmp_path / "out.jsonl"), "--judge-model", "m", "--no-progress"]


def test_every_judge_call_failing_warns_and_can_fail_the_run(tmp_path):
    """A dead judge: exit 0 with a WARNING naming the error by default (it used to exit 0
    silently); exit 1 above --max-judge-error-rate, the results still written."""
    from rewards.service.local import free_port

    args = _judge_files(tmp_path) + ["--judge-base-url", f"http://127.0.0.1:{free_port()}/v1"]
    warned = run(*args)
    assert warned.returncode == 0, warned.stderr
    assert "WARNING: 6 of 6 judge checks failed (100.0%)" in warned.stderr
    assert "connection refused" in warned.stderr
    failed = run(*args, "--max-judge-error-rate", "0.5")
    assert failed.returncode == 1
    assert "judge error rate 100.0% is above --max-judge-error-rate 0.5" in failed.stderr
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 6
    bad = run(*args, "--max-judge-error-rate", "2")
    assert bad.returncode == 2 and "--max-judge-error-rate: expected a share" in bad.stderr


def test_summary_counts_judge_requests_and_cache_hits_apart(tmp_path, fake_judge):
    """A second run over the same cache asks the judge nothing: the summary says 6 verdicts,
    6 from the cache, 0 asked (it used to print "judge calls 6" both times)."""
    with fake_judge() as server:
        args = _judge_files(tmp_path) + ["--judge-base-url", server.base_url,
                                         "--cache", str(tmp_path / "c.sqlite"),
                                         "--summary-json", str(tmp_path / "s.json")]
        first = run(*args)
        assert first.returncode == 0, first.stderr
        assert "judge verdicts 6: 0 from the cache, 6 asked in 6 requests; errors 0" in first.stdout
        second = run(*args)
        assert "judge verdicts 6: 6 from the cache, 0 asked in 0 requests" in second.stdout
        assert server.requests == 6
    s = json.loads((tmp_path / "s.json").read_text())
    assert (s["judge_cache_hits"], s["judge_asked"], s["judge_requests"]) == (6, 0, 0)
    assert s["judge_error_rate"] is None


def test_a_row_without_completion_is_refused_not_scored_as_empty(files):
    tmp, rubric, inp = files
    with inp.open("a") as fh:
        fh.write('{"id": "no-answer", "reference": {"total": 1}}\n')
    p = run("--rubric", str(rubric), "--input", str(inp), "--output", str(tmp / "o.jsonl"))
    assert p.returncode == 2 and "in.jsonl:3: no `completion` to score" in p.stderr
    assert not (tmp / "o.jsonl").exists()
    p = run("--rubric", str(rubric), "--input", str(inp), "--output", str(tmp / "o.jsonl"),
            "--on-bad-line", "skip")
    assert p.returncode == 0, p.stderr
    assert [json.loads(x)["id"] for x in (tmp / "o.jsonl").open()] == ["good", "prose"]


def test_nul_byte_in_rubric_exits_2_with_offset(files):
    tmp, rubric, inp = files
    rubric.write_bytes(rubric.read_bytes() + b"\x00")
    p = run("--rubric", str(rubric), "--input", str(inp), "--output", str(tmp / "o.jsonl"))
    assert p.returncode == 2 and "control character U+0000 at byte offset" in p.stderr
    assert "Traceback" not in p.stderr
