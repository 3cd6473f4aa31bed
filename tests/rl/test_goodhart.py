"""Goodhart alarm on synthetic series: trips when the reward rises while quality falls,
stays quiet on honest runs; names the step where the trend began."""

import math
import random
import subprocess
import sys

import pytest

from rl.goodhart import (
    GoodhartConfig,
    GoodhartMonitor,
    group_diversity,
    mann_kendall,
    trend_start,
)


def run(n, reward, signals=None, length=None, groups=None, cfg=None, group_rewards=None,
        top=None):
    m, alarms = GoodhartMonitor(cfg), []
    for t in range(n):
        alarms += m.update(t, reward(t), {k: f(t) for k, f in (signals or {}).items()},
                           None if length is None else length(t),
                           None if groups is None else groups(t),
                           None if group_rewards is None else group_rewards(t), top)
    return alarms


def noisy(seed, scale=0.05):
    rng = random.Random(seed)
    return lambda: rng.gauss(0, scale)


def test_mann_kendall_matches_the_closed_form():
    tau, p_up, p_down = mann_kendall(list(range(10)))
    # S = 45, Var = 10*9*25/18 = 125, z = 45/sqrt(125): one-sided normal tail
    z = 45 / math.sqrt(125)
    assert tau == pytest.approx(1.0) and p_up == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)))
    assert p_down == pytest.approx(1 - p_up)
    assert mann_kendall([3.0] * 12) == (0.0, 1.0, 1.0)  # all ties: no trend, no division by 0
    tau, p_up, p_down = mann_kendall(list(range(10, 0, -1)))
    assert tau == pytest.approx(-1.0) and p_down < 1e-4 < p_up
    # ties: the variance drops the tie terms (4 pairs of equal values)
    tied = [1, 1, 2, 2, 3, 3, 4, 4, 5, 6]
    s, var = 41, (10 * 9 * 25 - 4 * (2 * 1 * 9)) / 18
    z = s / math.sqrt(var)
    assert mann_kendall(tied)[1] == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)))


def test_trend_start_finds_the_knot():
    steps = list(range(100))
    y = [1.0 if t < 60 else 1.0 - 0.02 * (t - 60) for t in steps]
    assert trend_start(steps, y) == 60


def test_reward_up_audit_down_trips_and_names_the_start():
    e1, e2 = noisy(1), noisy(2)
    alarms = run(120, reward=lambda t: 0.3 + 0.004 * t + e1(),
                 signals={"audit": lambda t: 0.8 + e2() - (0.006 * (t - 50) if t > 50 else 0)})
    assert [a.signal for a in alarms] == ["audit"]
    a = alarms[0]
    assert a.kind == "divergence" and a.signal_tau < 0 and a.reward_tau > 0
    assert 50 < a.step < 100                 # caught within ~50 steps of the turn
    assert abs(a.start_step - 50) <= 10      # and the turn is located
    assert "step" in a.message and "audit" in a.message


@pytest.mark.parametrize("seed", range(10))
def test_honest_run_stays_quiet(seed):
    """Reward rising, audit flat noise (or rising with it), lengths stable: no alarm."""
    e1, e2, e3 = noisy(seed), noisy(seed + 100), noisy(seed + 200, 5.0)
    alarms = run(150, reward=lambda t: 0.3 + 0.004 * t + e1(),
                 signals={"audit": lambda t: 0.8 + e2(),
                          "check/total": lambda t: 0.5 + 0.002 * t + e2(),
                          "eval": lambda t: None if t % 10 else 0.6 + e2()},
                 length=lambda t: 100 + e3())
    assert alarms == []


def test_audit_falling_without_reward_rising_is_not_goodhart():
    e1, e2 = noisy(3), noisy(4)
    alarms = run(120, reward=lambda t: 0.5 + e1(),
                 signals={"audit": lambda t: 0.9 - 0.005 * t + e2()})
    assert alarms == []


def test_sparse_eval_signal_trips():
    """Held-out eval every 5 steps (None in between) still trips once it has enough points."""
    e1, e2 = noisy(5), noisy(6, 0.02)
    alarms = run(200, reward=lambda t: 0.2 + 0.003 * t + e1(),
                 signals={"eval": lambda t: None if t % 5 else 0.7 - 0.004 * t + e2()},
                 cfg=GoodhartConfig(window=80))
    assert [a.signal for a in alarms] == ["eval"]


def test_length_blow_up_trips_and_stable_length_does_not():
    e = noisy(7, 3.0)
    grow = run(120, reward=lambda t: 0.5, length=lambda t: 80 + (4 * (t - 40) if t > 40 else 0) + e())
    assert [(a.signal, a.kind) for a in grow] == [("length", "length")]
    assert "completion length blowing up" in grow[0].message
    assert abs(grow[0].start_step - 40) <= 10
    # a 30% drift up is significant but nowhere near 2x: not a blow-up
    drift = run(120, reward=lambda t: 0.5, length=lambda t: 80 + 0.2 * t + e())
    assert drift == []


def test_diversity_collapse_trips():
    def groups(t):
        distinct = max(1, 8 - t // 10)       # 8 distinct answers per group, down to 1
        return [[f"answer {i % distinct}" for i in range(8)] for _ in range(4)]
    alarms = run(100, reward=lambda t: 0.5, groups=groups)
    assert [a.signal for a in alarms] == ["diversity"]
    # no reward trend rides on this kind: the message must not need one (it raised TypeError)
    assert alarms[0].message.startswith(f"GOODHART ALARM at step {alarms[0].step}: answer "
                                        "diversity within groups collapsing")
    assert run(100, reward=lambda t: 0.5,
               groups=lambda t: [[f"a{t}-{i}" for i in range(8)]] * 4) == []


def _classifier(t, right):
    """8 groups of 4 label answers: early groups split over labels; from step 20 on, groups
    agree, `right(t, k)` deciding whether group k agrees on the gold label (reward 1) or not."""
    groups, rewards = [], []
    for k in range(8):
        if t < 20:
            g = [f"label{(k + i) % 3}" for i in range(4)]
            r = [1.0 if x == "label0" else 0.0 for x in g]
        else:
            ok = right(t, k)
            g, r = ["label0" if ok else "label1"] * 4, [1.0 if ok else 0.0] * 4
        groups.append(g)
        rewards.append(r)
    return groups, rewards


def test_a_classifier_agreeing_on_right_answers_is_not_a_collapse():
    # the main job's shape: groups converge on the gold label as the reward rises. Without
    # the rewards this is the diversity alarm's textbook trip (checked below), with them it
    # is a confident classifier
    def right(t, k):
        return True
    series = [_classifier(t, right) for t in range(80)]
    assert run(80, reward=lambda t: 0.3 + 0.005 * t, groups=lambda t: series[t][0],
               group_rewards=lambda t: series[t][1], top=1.0) == []
    assert [a.signal for a in run(80, reward=lambda t: 0.3 + 0.005 * t,
                                  groups=lambda t: series[t][0])] == ["diversity"]


def test_collapse_onto_a_wrong_answer_still_trips():
    def right(t, k):
        return k < 2          # 6 of 8 groups collapse onto a label the harness fails
    series = [_classifier(t, right) for t in range(80)]
    alarms = run(80, reward=lambda t: 0.5, groups=lambda t: series[t][0],
                 group_rewards=lambda t: series[t][1], top=1.0)
    assert [a.signal for a in alarms] == ["diversity"]


def test_group_diversity_counts_full_marks_groups_as_diverse():
    groups = [["a", "a"], ["b", "b"], ["c", "d"]]
    assert group_diversity(groups, [[5.0, 5.0], [4.0, 4.0], [0.0, 5.0]], top=5.0) == \
        pytest.approx((1 + 1 / 2 + 1) / 3)
    # an unscored (NaN/None) member means the group is not known to be right
    assert group_diversity([["a", "a"]], [[1.0, math.nan]], top=1.0) == pytest.approx(0.5)
    assert group_diversity([["a", "a"]], [[1.0, None]], top=1.0) == pytest.approx(0.5)


def test_group_diversity():
    assert group_diversity([["a", "a ", "b", "c"], ["x", "x"]]) == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert group_diversity([["only"]]) is None


@pytest.mark.parametrize("kw, key", [({"alpha": 1.5}, "goodhart.alpha"),
                                      ({"window": 0}, "goodhart.window"),
                                      ({"min_points": 50}, "goodhart.min_points")])
def test_config_errors_name_the_key(kw, key):
    with pytest.raises(ValueError, match=key):
        GoodhartConfig(**kw)


def test_module_is_pure():
    code = "import sys, rl.goodhart; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
