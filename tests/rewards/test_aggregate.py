"""Property tests of aggregation (hypothesis) plus worked examples."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.aggregate import aggregate
from rewards.rubric import load_rubric
from rewards.verdict import Verdict

status_st = st.sampled_from(["pass", "fail", "abstain"])
value_st = st.one_of(st.none(), st.floats(0, 1))


@st.composite
def rubric_and_verdicts(draw):
    n_dims = draw(st.integers(1, 3))
    dims = {f"d{i}": {"weight": draw(st.floats(0.1, 5)),
                      "min_coverage": draw(st.floats(0, 1))} for i in range(n_dims)}
    checks, verdicts = [], {}
    for i in range(draw(st.integers(n_dims, 8))):
        dim = f"d{i % n_dims}"
        pitfall = draw(st.booleans()) and i >= n_dims
        checks.append({"id": f"c{i}", "kind": "length", "dimension": dim,
                       "weight": draw(st.floats(0.05, 1 if pitfall else 4)),
                       "gate": draw(st.sampled_from([False, False, True])), "pitfall": pitfall})
        verdicts[f"c{i}"] = Verdict(draw(status_st), draw(value_st))
    scale = draw(st.sampled_from([[0, 1], [0, 5], [1, 10]]))
    return load_rubric({"scale": scale, "dimensions": dims, "checks": checks}), verdicts


@settings(max_examples=300, deadline=None)
@given(rubric_and_verdicts())
def test_score_within_scale_and_dimensions_in_unit_interval(rv):
    rubric, verdicts = rv
    score, norm, dims, cov = aggregate(rubric, verdicts)
    if score is not None:
        assert rubric.scale[0] - 1e-9 <= score <= rubric.scale[1] + 1e-9
        assert 0 <= norm <= 1
    for v in dims.values():
        assert v is None or 0 <= v <= 1
    assert all(0 <= c <= 1 for c in cov.values())


@settings(max_examples=300, deadline=None)
@given(rubric_and_verdicts(), st.data())
def test_abstain_never_counts_as_fail(rv, data):
    """An abstaining check scores its dimension at least as high as the same check failing."""
    rubric, verdicts = rv
    cid = data.draw(st.sampled_from(list(verdicts)))
    dim = next(c.dimension for c in rubric.checks if c.id == cid)
    as_fail = aggregate(rubric, dict(verdicts, **{cid: Verdict("fail")}))[2][dim]
    as_abstain = aggregate(rubric, dict(verdicts, **{cid: Verdict("abstain")}))[2][dim]
    if as_fail is not None and as_abstain is not None:
        assert as_abstain >= as_fail - 1e-9


@settings(max_examples=200, deadline=None)
@given(rubric_and_verdicts(), st.randoms())
def test_check_order_does_not_change_results(rv, rnd):
    rubric, verdicts = rv
    raw = rubric.canonical()
    checks = [dict(id=c["id"], kind=c["kind"], dimension=c["dimension"], weight=c["weight"],
                   gate=c["gate"], pitfall=c["pitfall"], **c["params"]) for c in raw["checks"]]
    rnd.shuffle(checks)
    shuffled = load_rubric({"scale": raw["scale"], "dimensions": raw["dimensions"], "checks": checks})
    a, b = aggregate(rubric, verdicts), aggregate(shuffled, verdicts)
    assert a[0] == pytest.approx(b[0]) if a[0] is not None else b[0] is None
    assert a[2].keys() == b[2].keys()
    for k in a[2]:
        assert (a[2][k] is None and b[2][k] is None) or a[2][k] == pytest.approx(b[2][k])


@settings(max_examples=200, deadline=None)
@given(rubric_and_verdicts(), st.data())
def test_failed_gate_zeroes_its_dimension(rv, data):
    rubric, verdicts = rv
    cid = data.draw(st.sampled_from([c.id for c in rubric.checks]))
    spec = next(c for c in rubric.checks if c.id == cid)
    spec.gate = True
    dims = aggregate(rubric, dict(verdicts, **{cid: Verdict("fail")}))[2]
    assert dims[spec.dimension] == 0.0


@settings(max_examples=100, deadline=None)
@given(rubric_and_verdicts())
def test_all_abstain_gives_none_not_zero(rv):
    rubric, verdicts = rv
    score, norm, dims, cov = aggregate(rubric, {c: Verdict("abstain") for c in verdicts})
    assert score is None and norm is None
    assert all(v is None for v in dims.values())


def _rubric(**dim):
    return load_rubric({"scale": [0, 5], "dimensions": {"a": {"weight": 3, **dim}, "b": {"weight": 1}},
                        "checks": [
                            {"id": "a1", "kind": "length", "dimension": "a", "weight": 2},
                            {"id": "a2", "kind": "length", "dimension": "a", "weight": 1},
                            {"id": "pit", "kind": "length", "dimension": "a", "weight": 0.25, "pitfall": True},
                            {"id": "b1", "kind": "length", "dimension": "b", "gate": "global"},
                            {"id": "b2", "kind": "length", "dimension": "b"}]})


def V(s, v=None):
    return Verdict(s, v)


def test_worked_example():
    r = _rubric()
    score, norm, dims, _ = aggregate(r, {"a1": V("pass"), "a2": V("fail"), "pit": V("pass"),
                                         "b1": V("pass"), "b2": V("pass", 0.5)})
    assert dims == {"a": pytest.approx(2 / 3), "b": pytest.approx(0.75)}
    assert norm == pytest.approx((3 * 2 / 3 + 0.75) / 4)
    assert score == pytest.approx(5 * norm)
    # a failed pitfall subtracts its weight from the dimension
    dims = aggregate(r, {"a1": V("pass"), "a2": V("fail"), "pit": V("fail"),
                         "b1": V("pass"), "b2": V("pass")})[2]
    assert dims["a"] == pytest.approx(2 / 3 - 0.25)
    # abstain re-normalises: a2 out, a1 alone carries the dimension
    dims = aggregate(r, {"a1": V("pass"), "a2": V("abstain"), "pit": V("pass"),
                         "b1": V("pass"), "b2": V("pass")})[2]
    assert dims["a"] == 1.0
    # a global gate zeroes the total
    assert aggregate(r, {"a1": V("pass"), "a2": V("pass"), "pit": V("pass"),
                         "b1": V("fail"), "b2": V("pass")})[0] == 0.0


def test_coverage_floor_masks_sample():
    r = _rubric(min_coverage=0.8)
    score, _, dims, cov = aggregate(r, {"a1": V("pass"), "a2": V("abstain"), "pit": V("abstain"),
                                        "b1": V("pass"), "b2": V("pass")})
    assert cov["a"] == pytest.approx(2 / 3.25) and dims["a"] is None and score is None


def test_skipped_checks_leave_coverage_and_total():
    r = _rubric(min_coverage=0.9)
    skipped = Verdict("abstain", skipped=True)
    score, _, dims, cov = aggregate(r, {"a1": V("pass"), "a2": skipped, "pit": skipped,
                                        "b1": V("pass"), "b2": V("pass")})
    assert cov["a"] == 1.0 and dims["a"] == 1.0 and score == 5.0
    # a dimension whose checks were all skipped drops out of the total
    score, _, dims, _ = aggregate(r, {"a1": skipped, "a2": skipped, "pit": skipped,
                                      "b1": V("pass"), "b2": V("pass", 0.5)})
    assert dims["a"] is None and score == pytest.approx(5 * 0.75)
