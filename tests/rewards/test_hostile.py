"""Targeted regressions for issue 16: limits, time limits, strict values, atomic outputs."""

import json
import math
import os
import subprocess
import sys
import textwrap
import time

import pytest

from rewards import Harness, Sample, load_rubric
from rewards.rubric import RubricError
from rewards.safe_yaml import LoadError, load_yaml
from rewards.score import main
from rewards.validate import redact


def _rubric(*checks, **top):
    return {"dimensions": {"d": {"min_coverage": 0.0}}, "checks": list(checks), **top}


def test_alias_bomb_fails_fast_and_small(fuzz):
    t0 = time.perf_counter()
    with pytest.raises(LoadError, match="alias bomb"):
        load_yaml(fuzz._alias_bomb().decode(), "bomb.yaml")
    assert time.perf_counter() - t0 < 1.0  # was 4 GB and a MemoryError while hashing
    assert len(fuzz.alias_bomb_lines()) < 800


def test_small_aliases_still_work():
    doc = "base: &b {weight: 2}\ndims: {a: *b, c: *b}\n"
    assert load_yaml(doc, "x.yaml")["dims"]["c"] == {"weight": 2}


@pytest.mark.parametrize("doc,match", [
    ("a: 1\na: 2\n", "line 2: duplicate key 'a'"),
    ("{1: a, b: c}\n", "mapping key '1' is not a string"),
    ("x: " + "[" * 200 + "]" * 200, "nesting deeper than 64"),
    ("x: " + "9" * 5000, "4300 digits"),
    ("a: &r [*r]\n", "recursive alias"),
])
def test_yaml_limits_name_the_line(doc, match):
    with pytest.raises(LoadError, match=match):
        load_yaml(doc, "f.yaml")


def test_catastrophic_regex_abstains_at_its_time_limit():
    """`(a|aa)+$` on 42 characters backtracks ~10^8 steps; timeout_s: 1 now holds."""
    h = Harness(_rubric({"id": "r", "kind": "regex", "dimension": "d", "pattern": "(a|aa)+$",
                         "timeout_s": 1}))
    t0 = time.perf_counter()
    v = h.score_batch([Sample(id="x", completion="a" * 41 + "!")])[0].verdicts["r"]
    assert v.status == "abstain" and v.reason.startswith("timeout")
    # the engine polls its clock coarsely (2.4 s for a 1 s limit idle; more on a loaded CPU);
    # the stdlib `re` needs minutes here
    assert time.perf_counter() - t0 < 20


def test_schema_pattern_is_time_limited_too():
    schema = {"type": "object", "properties": {"t": {"type": "string", "pattern": "(a|aa)+$"}}}
    h = Harness(_rubric({"id": "s", "kind": "json_schema", "dimension": "d", "schema": schema,
                         "timeout_s": 1}))
    res = h.score_batch([Sample(id="x", completion=json.dumps({"t": "a" * 41 + "!"})),
                         Sample(id="y", completion=json.dumps({"t": "aaa"}))])
    assert res[0].verdicts["s"].status == "abstain" and res[1].verdicts["s"].status == "pass"


def test_python_check_that_never_returns_neither_hangs_the_batch_nor_the_exit(slow_funcs):
    script = textwrap.dedent("""
        from rewards import Harness, Sample
        h = Harness({"dimensions": {"d": {}}, "checks": [{"id": "p", "kind": "python",
                     "dimension": "d", "function": "slow_funcs:forever", "timeout_s": 0.5}]})
        v = h.score_batch([Sample(id="x", completion="y")])[0].verdicts["p"]
        print(v.status, v.reason)
    """)
    t0 = time.perf_counter()
    path = os.pathsep.join(filter(None, [str(slow_funcs), os.environ.get("PYTHONPATH")]))
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=60, env={**os.environ, "PYTHONPATH": path})
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("abstain timeout after 0.5s")
    assert time.perf_counter() - t0 < 30  # the pool thread used to keep the process alive


def test_non_finite_python_values_abstain_and_json_stays_strict(tmp_path, slow_funcs):
    r = _rubric({"id": "p", "kind": "python", "dimension": "d", "function": "slow_funcs:nan"})
    rubric, inp, out = tmp_path / "r.yaml", tmp_path / "in.jsonl", tmp_path / "o.jsonl"
    rubric.write_text(json.dumps(r))
    inp.write_text('{"id": 1, "completion": "x"}\n')
    assert main(["--rubric", str(rubric), "--input", str(inp), "--output", str(out)]) == 0
    row = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in output"))
    assert row["verdicts"]["p"]["status"] == "abstain" and "finite" in row["verdicts"]["p"]["reason"]


def test_zero_concurrency_is_refused():
    with pytest.raises(ValueError, match="concurrency: expected an integer >= 1"):
        Harness(_rubric({"id": "l", "kind": "length", "dimension": "d"}), concurrency=0)
    with pytest.raises(ValueError, match="timeout_s"):
        Harness(_rubric({"id": "l", "kind": "length", "dimension": "d"}), timeout_s=math.nan)


@pytest.mark.parametrize("field,value,match", [
    ("pitfall", "false", "pitfall: expected true or false, got 'false'"),
    ("cache", "no", "cache: expected true or false, got 'no'"),
    ("weight", math.nan, "weight: expected a finite number"),
    ("timeout_s", math.inf, "timeout_s: expected a finite number"),
])
def test_strict_common_fields(field, value, match):
    with pytest.raises(RubricError, match=match):
        load_rubric(_rubric({"id": "l", "kind": "length", "dimension": "d", field: value}))


def test_pitfall_string_no_longer_changes_the_score():
    """`pitfall: "false"` used to become a pitfall: the fail removed half the dimension."""
    with pytest.raises(RubricError):
        load_rubric(_rubric({"id": "a", "kind": "length", "dimension": "d", "max": 1,
                             "pitfall": "false", "weight": 0.5}))


def test_summary_write_failure_leaves_no_output_and_no_tmp(tmp_path, fuzz):
    rubric, inp = tmp_path / "r.yaml", tmp_path / "in.jsonl"
    rubric.write_bytes(fuzz.dump_rubric(fuzz.BASE_RUBRIC))
    inp.write_bytes(fuzz.dump_samples(fuzz.BASE_SAMPLES))
    out = tmp_path / "o.jsonl"
    # a 250-byte name is legal; its temp file's name (".<name>.<random>.tmp") is not (> 255)
    summary = tmp_path / ("s" * 245 + ".json")
    code = main(["--rubric", str(rubric), "--input", str(inp), "--output", str(out),
                 "--summary-json", str(summary)])
    assert code == 2 and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "r.yaml"]


def test_lone_surrogate_never_reaches_the_cache(tmp_path, capsys, fuzz):
    rubric, inp = tmp_path / "r.yaml", tmp_path / "in.jsonl"
    rubric.write_bytes(fuzz.dump_rubric(fuzz.BASE_RUBRIC))
    inp.write_bytes(fuzz.BAD_LINES["lone-surrogate"] + b"\n")
    code = main(["--rubric", str(rubric), "--input", str(inp), "--output", str(tmp_path / "o"),
                 "--cache", str(tmp_path / "c.sqlite")])
    assert code == 2 and "in.jsonl:1: a string holds a lone UTF-16 surrogate" in capsys.readouterr().err


def test_redact_covers_bearer_key_shapes_and_the_value():
    key = "abc123secretvalue"
    text = f"Authorization: Bearer {key}; key={key}; other sk-proj-{key}; ghp_{'x' * 24}"
    out = redact(text, (key,))
    assert key not in out and "sk-proj" not in out and "ghp_" not in out
    assert out.count("[redacted]") >= 4


def test_over_long_output_path_is_exit_2_not_a_traceback(tmp_path, capsys, fuzz):
    rubric, inp = tmp_path / "r.yaml", tmp_path / "in.jsonl"
    rubric.write_bytes(fuzz.dump_rubric(fuzz.BASE_RUBRIC))
    inp.write_bytes(fuzz.dump_samples(fuzz.BASE_SAMPLES))
    code = main(["--rubric", str(rubric), "--input", str(inp),
                 "--output", str(tmp_path / ("o" * 300))])
    assert code == 2 and "File name too long" in capsys.readouterr().err


def test_lone_surrogate_sample_from_python_scores_with_a_cache(tmp_path):
    rubric = _rubric({"id": "s", "kind": "regex", "dimension": "d", "pattern": "x",
                      "cache": True})
    h = Harness(rubric, cache_path=tmp_path / "c.sqlite")
    for _ in range(2):  # miss, then hit
        res = h.score_batch([Sample(id="u", completion="x \ud800")])
        assert res[0].verdicts["s"].status == "pass"
    assert h.cache.hits == 1


def test_key_shaped_judge_flag_is_exit_2_without_echo(tmp_path, capsys, fuzz):
    rubric, inp = tmp_path / "r.yaml", tmp_path / "in.jsonl"
    rubric.write_bytes(fuzz.dump_rubric(fuzz.BASE_RUBRIC))
    inp.write_bytes(fuzz.dump_samples(fuzz.BASE_SAMPLES))
    key = "sk-live-0123456789abcdefghij"
    code = main(["--rubric", str(rubric), "--input", str(inp), "--output", str(tmp_path / "o"),
                 "--judge-base-url", "http://127.0.0.1:9/v1", "--judge-model", "m",
                 "--judge-api-key-env", key])
    err = capsys.readouterr().err
    assert code == 2 and "NAME of an environment variable" in err and key not in err


def test_an_empty_string_sample_id_is_refused(tmp_path):
    from rewards.sample import SampleError, read_jsonl

    path = tmp_path / "s.jsonl"
    path.write_text('{"id": "a", "completion": "x"}\n{"id": "", "completion": "y"}\n')
    with pytest.raises(SampleError, match=r"s\.jsonl:2: key 'id' must be a non-empty string"):
        read_jsonl(path)


def test_control_character_message_reads_once(tmp_path):
    from rewards.sample import SampleError, read_jsonl

    path = tmp_path / "s.jsonl"
    path.write_text('{"id": "a", "completion": "tab\there"}\n')
    with pytest.raises(SampleError, match=r"Invalid control character at column") as e:
        read_jsonl(path)
    assert "at at" not in str(e.value)
