"""The circuit breaker's states on a hand-driven clock (rewards/breaker.py)."""

import pytest

from rewards.breaker import Breaker


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_opens_after_n_failures_in_a_row_and_a_success_resets_the_count():
    clock = Clock()
    b = Breaker(failures=3, cooldown_s=10, clock=clock)
    for _ in range(2):
        assert b.allow() and b.record(False, "refused") is None
    assert b.record(True) is None  # the streak starts over
    assert [b.record(False, "refused") for _ in range(3)] == [None, None, "opened"]
    assert b.state == "open" and not b.allow() and b.refused == 1
    assert b.retry_in() == 10 and b.last_error == "refused" and b.opened == 1


def test_one_probe_after_the_cooldown_closes_or_reopens():
    clock = Clock()
    b = Breaker(failures=1, cooldown_s=10, clock=clock)
    b.record(False)
    clock.t = 10.0
    assert b.state == "half-open"
    assert b.allow() and not b.allow()  # one probe, the others still refused
    assert b.record(False) is None and b.state == "open"  # failed probe: another cooldown
    clock.t = 19.9
    assert not b.allow()
    clock.t = 20.0
    assert b.allow() and b.record(True) == "closed"
    assert b.state == "closed" and b.allow() and b.allow()


def test_a_probe_that_never_reports_is_replaced_after_a_cooldown():
    clock = Clock()
    b = Breaker(failures=1, cooldown_s=5, clock=clock)
    b.record(False)
    clock.t = 5.0
    assert b.allow()  # the probe's caller is cancelled and never reports
    clock.t = 9.9
    assert not b.allow()
    clock.t = 10.0
    assert b.allow()


@pytest.mark.parametrize("failures, cooldown", [(0, 1), (1, 0), (1, float("nan"))])
def test_bad_settings_are_refused(failures, cooldown):
    with pytest.raises(ValueError, match="breaker"):
        Breaker(failures, cooldown)
