"""The Goodhart alarm in a running RL loop (any recipe): feeds rl.goodhart's monitor once per
step and acts on what it raises.

Signals per step: the reward (`reward/total`), the audit score (rubric checks marked
`audit: true`: scored on every batch, never paid for), each check's pass rate, the completion
length and the share of distinct completions per group. On an alarm: a loud log line, a W&B
alert, the step's samples as the `alarm_samples` table, and with `audit.on_alarm=stop` a
checkpoint and exit code 3 (GoodhartStop) naming the step where the trend began.

    monitor = build_monitor(cfg)          # None when audit.enabled=false
    alarms = watch(run, monitor, metrics, batch, group_size)
"""

from __future__ import annotations

import sys
from typing import Any

from rl.experience import Batch, sample_table
from rl.goodhart import Alarm, GoodhartConfig, GoodhartMonitor
from rl.state import Run

# exit status of a run stopped by the alarm (0 done, 1 a bug, 2 bad input)
GOODHART_EXIT = 3


class GoodhartStop(RuntimeError):
    """`audit.on_alarm=stop`: the run checkpointed and stops; entry points exit 3."""

    exit_code = GOODHART_EXIT


def build_monitor(cfg) -> GoodhartMonitor | None:
    """The monitor `cfg.audit` describes (None when disabled); bad settings name the key."""
    from omegaconf import OmegaConf

    from sft.errors import UserInputError

    audit = cfg.get("audit")
    if audit is None or not audit.get("enabled", True):
        return None
    if audit.get("on_alarm", "warn") not in ("warn", "stop"):
        raise UserInputError(f"audit.on_alarm={audit.on_alarm!r}: expected warn or stop")
    settings = OmegaConf.to_container(audit.get("goodhart") or {}, resolve=True)
    try:
        return GoodhartMonitor(GoodhartConfig(**settings))
    except (TypeError, ValueError) as e:
        raise UserInputError(f"audit.goodhart: {e}") from e


def step_signals(metrics: dict[str, Any]) -> dict[str, float | None]:
    """What must not fall while the reward rises: the audit score and every check's pass
    rate (reward checks included: a check the policy learns to skip is a signal too)."""
    out: dict[str, float | None] = {}
    if "audit/score" in metrics:
        out["audit"] = metrics["audit/score"]
    for key, value in metrics.items():
        if key.endswith("/pass_rate") and key.startswith(("reward/check/", "audit/check/")):
            out[key.removesuffix("/pass_rate")] = value
    return out


def watch(run: Run, monitor: GoodhartMonitor | None, metrics: dict[str, Any], batch: Batch,
          group_size: int) -> list[Alarm]:
    """Update the monitor with this step (call on every rank: the metrics are global) and act
    on its alarms on rank 0; metrics gain `alarm/*` flags."""
    if monitor is None:
        return []
    texts = [g.text for g in batch.gens]
    rewards = [float(x) for x in batch.rewards.tolist()]
    groups = [texts[i:i + group_size] for i in range(0, len(texts), group_size)]
    group_rewards = [rewards[i:i + group_size] for i in range(0, len(rewards), group_size)]
    alarms = monitor.update(run.step, metrics.get("reward/total"), step_signals(metrics),
                            metrics.get("rollout/len_mean"), groups, group_rewards,
                            top=float(run.task.scale[1]))
    for alarm in alarms:
        metrics[f"alarm/{alarm.kind}"] = 1.0
        if run.rank == 0:
            print(f"[{run.cfg.stage}] {alarm.message}", file=sys.stderr, flush=True)
            run.tracker.alert(f"Goodhart alarm: {alarm.signal}", alarm.message)
            cols, rows = sample_table(batch, int(run.cfg.train.get("table_rows", 8)))
            run.tracker.log_table("alarm_samples", cols, rows, step=run.step)
    return alarms


def stop_message(alarms: list[Alarm]) -> str:
    first = min(alarms, key=lambda a: a.start_step)
    return (f"audit.on_alarm=stop: {len(alarms)} alarm(s); the first trend began at step "
            f"{first.start_step} ({first.message}). The last checkpoint holds this step; "
            "inspect tables/alarm_samples.jsonl and resume with audit.on_alarm=warn to go on")
