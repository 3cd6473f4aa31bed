import pytest

from rewards import RubricError, load_rubric

BASE = {
    "scale": [0, 5],
    "dimensions": {"fidelity": {"weight": 2}, "style": {"weight": 1, "min_coverage": 0.4}},
    "checks": [
        {"id": "ok", "kind": "json_valid", "dimension": "fidelity", "gate": True},
        {"id": "short", "kind": "length", "dimension": "style", "unit": "words", "max": 50},
    ],
}


def with_check(**over):
    d = {**BASE, "checks": [dict(BASE["checks"][0], **over), BASE["checks"][1]]}
    return d


def test_loads_typed_objects():
    r = load_rubric(BASE)
    assert r.scale == (0.0, 5.0)
    assert r.dimensions["style"].min_coverage == 0.4
    assert r.dimensions["fidelity"].min_coverage == 0.5  # default
    assert [c.kind for c in r.built] == ["json_valid", "length"]
    assert r.checks[1].params == {"unit": "words", "max": 50}


@pytest.mark.parametrize("rubric, key, expect", [
    (with_check(kind="jsn_valid"), "checks[0] (ok).kind", "known kinds: copied_spans, field_match"),
    (with_check(dimension="nope"), "checks[0] (ok).dimension", "missing dimension 'nope'"),
    (with_check(weight=0), "checks[0] (ok).weight", "positive"),
    (with_check(weight=-1), "checks[0] (ok).weight", "positive"),
    (with_check(gate="sometimes"), "checks[0] (ok).gate", "true, false or 'global'"),
    (with_check(allow_fenc=True), "checks[0] (ok).allow_fenc", "Extra inputs"),
    ({**BASE, "dimensions": {**BASE["dimensions"], "empty": {}}}, "dimensions.empty", "no checks"),
    ({**BASE, "scale": [5, 0]}, "scale", "low < high"),
    ({**BASE, "checks": [BASE["checks"][0], BASE["checks"][0] | {"dimension": "style"}]},
     "checks[1].id", "duplicate"),
    ({**BASE, "checks": [{"kind": "length", "dimension": "style"}]}, "checks[0].id", "missing"),
    ({**BASE, "checks": [BASE["checks"][0], {"id": "r", "kind": "regex", "dimension": "style",
                                             "pattern": "("}]},
     "checks[1] (r).pattern", "invalid regular expression"),
    ({**BASE, "dimensions": {"fidelity": {"weight": "heavy"}, "style": {}}},
     "dimensions.fidelity.weight",
     "expected a number"),
])
def test_errors_name_key_path_and_expectation(rubric, key, expect):
    with pytest.raises(RubricError) as e:
        load_rubric(rubric)
    assert key in str(e.value) and expect in str(e.value)


def test_file_errors_name_the_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("scale: [0, 1]\ndimensions: {d: {}}\nchecks:\n  - {id: a, kind: nope, dimension: d}\n")
    with pytest.raises(RubricError, match=r"bad\.yaml: checks\[0\] \(a\)\.kind: unknown kind 'nope'"):
        load_rubric(p)
    with pytest.raises(RubricError, match="not found"):
        load_rubric(tmp_path / "missing.yaml")
    p.write_text("checks: [unclosed")
    with pytest.raises(RubricError, match="invalid YAML"):
        load_rubric(p)


def test_hash_is_canonical():
    h = load_rubric(BASE).hash
    reordered = {"checks": BASE["checks"], "dimensions": dict(reversed(list(BASE["dimensions"].items()))),
                 "scale": [0, 5]}
    assert load_rubric(reordered).hash == h
    assert load_rubric(with_check(weight=2)).hash != h
    assert load_rubric({**BASE, "scale": [0, 1]}).hash != h


def test_pitfall_weight_is_a_share():
    with pytest.raises(RubricError, match=r"pitfall.*\(0, 1\]"):
        load_rubric(with_check(pitfall=True, weight=2))


def test_control_character_in_rubric_file_is_named_with_its_byte_offset(tmp_path):
    """A NUL byte: a RubricError with line and byte offset (rewards.score exits 2), not the YAML
    reader's traceback."""
    path = tmp_path / "r.yaml"
    path.write_bytes(b"scale: [0, 5]\nversion: 1\x00\n")
    with pytest.raises(RubricError, match=r"r\.yaml: line 2: control character U\+0000 at "
                                          r"byte offset 24"):
        load_rubric(path)


def test_a_misspelled_required_key_is_named():
    bad = {**BASE, "checks": [{"id": "ok", "kind": "json_valid", "dimenson": "fidelity"}]}
    with pytest.raises(RubricError, match=r"checks\[0\]\.dimension: required string is "
                                          r"missing; found 'dimenson' \(a typo of 'dimension'"):
        load_rubric(bad)
