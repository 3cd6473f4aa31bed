"""Fixtures of the RL tests: recipe configs composed the way a user composes them.

`grpo_cfg(root, *overrides, rubric=None)` and `ppo_cfg(...)` compose conf/grpo.yaml or
conf/ppo.yaml with `debug=tiny` — tiny-random, the `smoke_brevity` reward, 8 new tokens:
what `python -m rl.grpo debug=tiny` runs — plus the small batch sizes the tests pin, a run
dir under `root` and, with `rubric` (YAML text), that rubric instead of smoke_brevity.
`trace(out)` is what two GRPO runs must agree on, step by step.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[2] / "conf"

# what every test run shares: no W&B, no progress bar, resumable, no periodic checkpoints
COMMON = ["debug=tiny", "logger=none", "train.progress=false", "train.resume=auto",
          "train.save_every=null", "train.max_steps=2", "optim.lr=1e-2", "train.batch_size=8"]
SIZES = {"grpo": ["train.micro_batch_size=8"],
         "ppo": ["train.micro_batch_size=4", "critic.lr=1e-2"]}
GRPO_TRACE = ("reward/total", "loss/loss", "kl", "policy/grad_norm")


def compose(name: str, overrides: list[str]):
    """conf/<name>.yaml with Hydra overrides, outside a running Hydra app."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        return hydra_compose(name, overrides=overrides)


def tiny_cfg(recipe: str, root: Path, *overrides: str, rubric: str | None = None):
    root.mkdir(parents=True, exist_ok=True)
    extra = [f"run_dir={root / 'run'}"]
    if rubric is not None:
        rubric_file = root / "rubric.yaml"
        if not rubric_file.exists():
            rubric_file.write_text(rubric)
        extra.append(f"reward.rubric={rubric_file}")
    return compose(recipe, COMMON + SIZES[recipe] + extra + list(overrides))


@pytest.fixture(scope="session")
def grpo_cfg():
    return lambda root, *overrides, rubric=None: tiny_cfg("grpo", root, *overrides,
                                                         rubric=rubric)


@pytest.fixture(scope="session")
def ppo_cfg():
    return lambda root, *overrides, rubric=None: tiny_cfg("ppo", root, *overrides,
                                                         rubric=rubric)


@pytest.fixture(scope="session")
def smoke_rubric() -> str:
    """The text of debug=tiny's reward (rewards/tasks/rubrics/smoke_brevity.yaml), for tests
    that run a variant of it."""
    from rewards.tasks.base import RUBRIC_DIR

    return (RUBRIC_DIR / "smoke_brevity.yaml").read_text()


@pytest.fixture(scope="session")
def trace():
    """Per step (reward, loss, KL, grad norm) of a GRPO run: what must be identical."""
    return lambda out: [tuple(h.get(k, math.nan) for k in GRPO_TRACE) for h in out["history"]]
