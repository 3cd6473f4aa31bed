"""Goodhart alarm: the reward rises while what it stands for falls. Pure Python, no torch.

A policy trained on a harness learns whatever the harness pays for; when that stops being
quality, the reward keeps climbing while held-out signals (audit checks the reward never
sees, a check's pass rate, the held-out eval score) fall. Judge biases get exploited after
tens to hundreds of steps (CHERRL, 2026), so the alarm watches trends, not single steps:

| alarm | fires when (over the last `window` steps, for `patience` consecutive updates) |
|---|---|
| divergence | reward trend up (Mann-Kendall, one-sided p < alpha) AND a signal trend down (p < alpha / #signals, Bonferroni) |
| length | length trend up (p < alpha) AND recent mean length >= `length_ratio` x the run's first-window median |
| diversity | distinct-completion share per group trend down (p < alpha) AND recent mean <= `diversity_floor`; a group whose completions all score the scale's maximum counts as diverse (agreeing on a right answer is not collapse) |

Mann-Kendall: S = Σ_{i<j} sign(y_j − y_i), Var S = n(n−1)(2n+5)/18 − tie terms, z = S/√Var
(scipy.stats.kendalltau of y against the step index). Rank-based, so one outlier step or a
reward on a different scale from the audit does not trip it, and no raw threshold has to be tuned per
rubric. Each alarm names the step where the trend began: the knot of the best least-squares
hinge fit y = a + b·max(0, t − t_k) over the signal's stored history (up to `history` steps).
Each signal alarms once (latched) until `reset()`.

Intended call (rl/grpo.py, once per step after the reward metrics; not wired yet):

    from rl.goodhart import GoodhartConfig, GoodhartMonitor
    monitor = GoodhartMonitor(GoodhartConfig(**cfg.audit.goodhart))      # window, alpha, ...
    alarms = monitor.update(step, reward=metrics["reward/total"],
                            signals={"audit": summary["audit_mean"],
                                     **{f"check/{c}": s["pass_rate"]
                                        for c, s in summary["checks"].items()},
                                     "eval": eval_score_or_None},          # None: not measured
                            length=metrics["rollout/len_mean"],
                            groups=[[c.text for c in g] for g in rollout_groups])
    for a in alarms:                    # log loudly, wandb.alert(title=a.signal, text=a.message),
        ...                             # table the step's samples; on_alarm=stop: checkpoint,
                                        # exit with a distinct code naming a.start_step
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GoodhartConfig:
    # steps per trend test: ~30 steps is where CHERRL-style exploitation becomes visible, and
    # Mann-Kendall needs >= 10 points for its normal approximation to hold
    window: int = 30
    min_points: int = 10
    # one-sided significance per test; signals share it (Bonferroni) so 20 checks do not make
    # 20 chances of a false alarm. Testing every step on overlapping windows inflates the
    # false-alarm rate: on 200 synthetic 150-step honest runs (3 signals, noise sd 0.05),
    # alpha 0.01 alarmed on 7%, 0.001 on 0%, while a 0.006/step audit decline was still
    # caught in 30/30 runs, a median 30 steps after it began
    alpha: float = 0.001
    bonferroni: bool = True
    # consecutive updates a condition must hold: testing every step re-uses 29 of 30 points,
    # so a single crossing is far likelier by chance than alpha suggests
    patience: int = 3
    # steps of history kept per series for locating where a trend began
    history: int = 200
    length_ratio: float = 2.0
    diversity_floor: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"goodhart.alpha: expected a number in (0, 1), got {self.alpha!r}")
        for key in ("window", "min_points", "patience", "history"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise ValueError(f"goodhart.{key}: expected a positive integer, "
                                 f"got {getattr(self, key)!r}")
        if self.min_points < 4 or self.min_points > self.window:
            raise ValueError(f"goodhart.min_points: expected 4 <= min_points <= window "
                             f"({self.window}), got {self.min_points}")
        if self.history < self.window:
            raise ValueError(f"goodhart.history: expected >= window ({self.window})")


@dataclass(frozen=True)
class Alarm:
    step: int          # the update at which the alarm fired
    signal: str        # "audit", "check/<id>", "eval", "length" or "diversity"
    kind: str          # "divergence" | "length" | "diversity"
    start_step: int    # where the signal's trend began (hinge fit)
    signal_tau: float
    signal_p: float
    reward_tau: float | None = None
    reward_p: float | None = None

    @property
    def message(self) -> str:
        if self.kind == "divergence":  # only a divergence alarm has a reward trend
            what = (f"reward rising (tau {self.reward_tau:+.2f}, p {self.reward_p:.1e}) while "
                    f"{self.signal} falls")
        else:
            what = {"length": "completion length blowing up",
                    "diversity": "answer diversity within groups collapsing"}[self.kind]
        return (f"GOODHART ALARM at step {self.step}: {what} (tau {self.signal_tau:+.2f}, "
                f"p {self.signal_p:.1e}); trend began at step {self.start_step}")


def mann_kendall(y: Sequence[float]) -> tuple[float, float, float]:
    """(tau, p_up, p_down) of the Mann-Kendall trend test of `y` in step order: Kendall's tau
    between the step index and y (scipy.stats.kendalltau: tau-b, ties corrected in the
    variance) and its one-sided normal-approximation p-values for a rising / falling series.
    No continuity correction (scipy has none): on the synthetic runs of GoodhartConfig's alpha
    comment the alarms are the same as with it (0 of 200 honest runs, 30 of 30 declines).
    A series with < 3 points or one value has no trend: (0, 1, 1)."""
    from scipy.stats import kendalltau

    if len(y) < 3 or len(set(y)) == 1:
        return 0.0, 1.0, 1.0
    r = kendalltau(range(len(y)), y, method="asymptotic", alternative="greater")
    return float(r.statistic), float(r.pvalue), 1.0 - float(r.pvalue)


def trend_start(steps: Sequence[int], y: Sequence[float]) -> int:
    """Knot t_k of the least-squares hinge y = a + b·max(0, t − t_k): where a flat series
    turned. Candidates are the observed steps except the last 3 (a slope needs points)."""
    best, best_sse = steps[0], math.inf
    for k in range(0, max(1, len(steps) - 3)):
        x = [max(0, t - steps[k]) for t in steps]
        sse = _hinge_sse(x, y)
        if sse < best_sse - 1e-12:
            best, best_sse = steps[k], sse
    return best


def _hinge_sse(x: Sequence[float], y: Sequence[float]) -> float:
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    b = sxy / sxx if sxx > 0 else 0.0
    return sum((yi - my - b * (xi - mx)) ** 2 for xi, yi in zip(x, y, strict=True))


def group_diversity(groups: Sequence[Sequence[str]],
                    rewards: Sequence[Sequence[float | None]] | None = None,
                    top: float | None = None) -> float | None:
    """Mean over groups (completions of one prompt) of distinct completions / group size,
    after stripping whitespace; None when no group has 2+ members.

    With `rewards` (per group, aligned with `groups`; None/NaN = unscored) and `top` (the
    rubric scale's maximum), a group whose every completion is scored at `top` counts as
    fully diverse: agreeing on an answer the harness gives full marks is what a confident
    policy does — a classifier's groups agree by design (the main job's support classifier
    raised this alarm on an honest run whose reward rose) — so only groups collapsing onto
    an answer below full marks count as collapse."""
    shares = []
    for k, g in enumerate(groups):
        if len(g) < 2:
            continue
        r = rewards[k] if rewards is not None else None
        if r is not None and top is not None and all(
                x is not None and x == x and x >= top - 1e-9 for x in r):
            shares.append(1.0)
        else:
            shares.append(len({c.strip() for c in g}) / len(g))
    return sum(shares) / len(shares) if shares else None


@dataclass
class _Series:
    maxlen: int
    points: deque = field(default_factory=deque)

    def add(self, step: int, value: float | None) -> None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return
        self.points.append((step, float(value)))
        while len(self.points) > self.maxlen:
            self.points.popleft()

    def window(self, step: int, width: int) -> tuple[list[int], list[float]]:
        pts = [(s, v) for s, v in self.points if s > step - width]
        return [s for s, _ in pts], [v for _, v in pts]


class GoodhartMonitor:
    """Feed one update per RL step; returns the alarms that fired at this step."""

    def __init__(self, cfg: GoodhartConfig | None = None):
        self.cfg = cfg or GoodhartConfig()
        self.series: dict[str, _Series] = {}
        self.streak: dict[str, int] = {}
        self.fired: dict[str, Alarm] = {}
        self.first_lengths: list[float] = []

    def reset(self) -> None:
        self.__init__(self.cfg)

    def _add(self, name: str, step: int, value: float | None) -> None:
        self.series.setdefault(name, _Series(self.cfg.history)).add(step, value)

    def _trend(self, name: str, step: int) -> tuple[float, float, float] | None:
        """(tau, p_up, p_down) over the window, or None with too few points."""
        s = self.series.get(name)
        if s is None:
            return None
        _, y = s.window(step, self.cfg.window)
        if len(y) < self.cfg.min_points:
            return None
        return mann_kendall(y)

    def _hold(self, key: str, condition: bool) -> bool:
        """True once `condition` has held for `patience` consecutive updates."""
        self.streak[key] = self.streak.get(key, 0) + 1 if condition else 0
        return self.streak[key] >= self.cfg.patience and key not in self.fired

    def _fire(self, step: int, name: str, kind: str, tau: float, p: float,
              reward_tr: tuple[float, float, float] | None = None) -> Alarm:
        steps, y = zip(*self.series[name].points, strict=True)
        alarm = Alarm(step, name, kind, trend_start(steps, y), tau, p,
                      None if reward_tr is None else reward_tr[0],
                      None if reward_tr is None else reward_tr[1])
        self.fired[name] = alarm
        return alarm

    def update(self, step: int, reward: float | None,
               signals: Mapping[str, float | None] | None = None,
               length: float | None = None,
               groups: Sequence[Sequence[str]] | None = None,
               group_rewards: Sequence[Sequence[float | None]] | None = None,
               top: float | None = None) -> list[Alarm]:
        """One step's signals; `groups`/`group_rewards`/`top` feed the diversity signal
        (`group_diversity`)."""
        cfg, out = self.cfg, []
        signals = dict(signals or {})
        self._add("reward", step, reward)
        for name, v in signals.items():
            self._add(name, step, v)
        rtr = self._trend("reward", step)
        reward_up = rtr is not None and rtr[1] < cfg.alpha
        alpha_sig = cfg.alpha / max(1, len(signals)) if cfg.bonferroni else cfg.alpha
        for name in signals:
            tr = self._trend(name, step)
            falling = reward_up and tr is not None and tr[2] < alpha_sig
            if self._hold(name, falling):
                out.append(self._fire(step, name, "divergence", tr[0], tr[2], rtr))
        if length is not None:
            out += self._length(step, length)
        if groups is not None:
            self._add("diversity", step, group_diversity(groups, group_rewards, top))
            tr = self._trend("diversity", step)
            recent = self.series["diversity"].window(step, max(3, cfg.patience))[1]
            low = bool(recent) and sum(recent) / len(recent) <= cfg.diversity_floor
            if self._hold("diversity", tr is not None and tr[2] < cfg.alpha and low):
                out.append(self._fire(step, "diversity", "diversity", tr[0], tr[2]))
        return out

    def _length(self, step: int, length: float) -> list[Alarm]:
        cfg = self.cfg
        self._add("length", step, length)
        if len(self.first_lengths) < cfg.window:
            self.first_lengths.append(float(length))
        tr = self._trend("length", step)
        base = sorted(self.first_lengths)[len(self.first_lengths) // 2]
        recent = self.series["length"].window(step, max(3, cfg.patience))[1]
        blown = base > 0 and sum(recent) / len(recent) >= cfg.length_ratio * base
        if self._hold("length", tr is not None and tr[1] < cfg.alpha and blown):
            return [self._fire(step, "length", "length", tr[0], tr[1])]
        return []
