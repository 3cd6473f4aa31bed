"""One task config -> everything a stage needs to train on or grade a task.

    rt = resolve(cfg.task)                       # suite task, real data or custom
    rt = resolve(cfg.task, cfg.reward.rubric)    # a different rubric for the reward
    rt.split("eval"), rt.metric, rt.scale, rt.rubric, rt.rubric_hash

Which rubric: the explicit `rubric` argument (a path, or the bare name of a rubric shipped in
rewards/tasks/rubrics, e.g. `smoke_brevity`), else `task.rubric`, else `smoke_rubric` (what
`debug=tiny` sets: a rubric the untrained tiny model can partly satisfy), else the task's own
rubric (a custom task must name one). So a smoke rubric never replaces a rubric the user
named: it stands in only for a suite task's own. The scale is the rubric's, so a user's rubric on a suite task
reports on its own scale; the metric stays the task's ("accuracy" for classification: that
rubric scores 1 for a correct label). SFT's evaluation, GRPO, PPO, rl.evaluate and the
pipeline all call this, so the rubric hash a checkpoint records is the one the report shows.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewards.rubric import Rubric, load_rubric
from rewards.sample import Sample
from rewards.tasks.base import RUBRIC_DIR, Task
from rewards.tasks.config import TaskError, plain_config
from rewards.tasks.loading import task_for


@dataclass(frozen=True)
class ResolvedTask:
    """A task config made concrete; `cfg` is the plain config the splits load from."""

    name: str
    task: Task
    metric: str
    scale: tuple[float, float]
    rubric_path: Path
    rubric: Rubric = field(repr=False)
    cfg: dict[str, Any] = field(repr=False)

    @property
    def rubric_hash(self) -> str:
        return self.rubric.hash

    def split(self, split: str) -> list[Sample]:
        """Samples of `split` ("train" | "eval"); TaskError names the bad key."""
        return self.task.load_split(self.cfg, split)


def resolve(task_cfg: Any, rubric: str | Path | None = None,
            smoke_rubric: str | Path | None = None) -> ResolvedTask:
    """See the module docstring; TaskError/RubricError name the key or file that is wrong."""
    cfg = plain_config(task_cfg)
    task = task_for(cfg)
    if not rubric and not cfg.get("rubric") and smoke_rubric:
        rubric = smoke_rubric
        print(f"note: scoring task {cfg.get('name')!r} with the smoke rubric {smoke_rubric} "
              "(reward.smoke_rubric, set by debug=tiny) instead of its own", file=sys.stderr)
    if rubric:
        path = Path(str(rubric)).expanduser()
        builtin = RUBRIC_DIR / f"{rubric}.yaml"
        if not path.is_file() and path.name == str(rubric) and builtin.is_file():
            path = builtin  # a bare name: a rubric shipped in rewards/tasks/rubrics
        if not path.is_file():
            raise TaskError(f"reward.rubric: {path} is not a file (nor the name of a rubric "
                            f"in {RUBRIC_DIR})")
    else:
        path = task.rubric_path_for(cfg)
    try:
        loaded = load_rubric(path)
    except OSError as e:  # unreadable file; RubricError already names file and key
        raise TaskError(f"rubric {path}: {e}") from e
    return ResolvedTask(name=str(cfg.get("name")), task=task, metric=task.metric,
                        scale=loaded.scale, rubric_path=path, rubric=loaded, cfg=cfg)
