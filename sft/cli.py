"""The one Hydra entry-point wrapper every recipe uses (`sft.train`, `rl.grpo`, `rl.ppo`,
`rl.evaluate`, `rl.pipeline`), so they all exit the same way:

    0  done (or pre-empted after a checkpoint)
    2  bad input: a UserInputError / RubricError / TaskError from the recipe, or Hydra's own
       config error (unknown key, bad group option) before the recipe starts
    1  a bug (a traceback)

    def cli() -> None:
        hydra_cli("grpo", train)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sft.errors import USER_ERROR_EXIT, UserInputError

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def user_errors() -> tuple[type[Exception], ...]:
    """The exception types that mean "the input is wrong" (exit 2), not "a bug" (exit 1)."""
    from rewards import RubricError
    from rewards.tasks import TaskError

    return (UserInputError, RubricError, TaskError)


def hydra_cli(config_name: str, fn: Callable[[Any], Any],
              on_user_error: Callable[[Any], None] | None = None) -> None:
    """Compose conf/<config_name>.yaml from the command line and call `fn(cfg)`.

    `on_user_error(cfg)` runs after the error is printed and before exit 2 (e.g. SFT removes
    the empty run dir Hydra created)."""
    import hydra

    entered = False

    @hydra.main(config_path=str(CONF_DIR), config_name=config_name, version_base="1.3")
    def _main(cfg) -> None:
        nonlocal entered
        entered = True
        try:
            fn(cfg)
        except user_errors() as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            if on_user_error is not None:
                on_user_error(cfg)
            sys.exit(USER_ERROR_EXIT)

    try:
        _main()
    except SystemExit as e:
        # Hydra exits 1 for config errors (unknown key, bad group option) before fn runs
        if e.code == 1 and not entered:
            sys.exit(USER_ERROR_EXIT)
        raise
