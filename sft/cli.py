"""The one Hydra entry-point wrapper every recipe uses (`sft.train`, `rl.grpo`, `rl.ppo`,
`rl.evaluate`, `rl.pipeline`), so they all exit the same way:

    0  done (or pre-empted after a checkpoint)
    2  bad input: a UserInputError / RubricError / TaskError from the recipe, or Hydra's own
       config error (unknown key, bad group option) before the recipe starts
    1  a bug (a traceback)
    3  stopped by the Goodhart alarm (`audit.on_alarm=stop`), after a checkpoint

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


def compose(name: str, overrides: list[str]):
    """A primary config from conf/ with overrides, inside or outside a running Hydra app (the
    pipeline's stages, rl.evaluate's `tasks=[...]`)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return hydra_compose(name, overrides=overrides)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(name, overrides=overrides)


def user_errors() -> tuple[type[Exception], ...]:
    """The exception types that mean "the input is wrong" (exit 2), not "a bug" (exit 1)."""
    from rewards import RubricError
    from rewards.tasks import TaskError

    return (UserInputError, RubricError, TaskError)


def secret_overrides(argv: list[str]) -> str | None:
    """Why a command-line override must not run (None if all are fine): a credential-named
    key (`judge.api_key=...`) or a credential-shaped value. Hydra would write it into
    .hydra/overrides.yaml and W&B into the run's command line before the recipe could refuse
    it, so it is refused before Hydra starts; the message names the key, never the value."""
    from rewards.validate import SECRET_KEYS, has_key_shape

    for arg in argv:
        key, sep, value = arg.lstrip("+~").partition("=")
        if not sep or key.startswith("hydra."):
            continue
        leaf = key.rsplit(".", 1)[-1]
        if SECRET_KEYS.search(leaf) and not leaf.endswith("_env") and value not in ("", "null"):
            return (f"{key}: a credential does not belong in the config (it would be written "
                    f"to .hydra/ and W&B); put it in an environment variable and name that "
                    f"variable instead (e.g. {key.rsplit('.', 1)[0] + '.' if '.' in key else ''}"
                    "api_key_env=MY_KEY_VAR)")
        if has_key_shape(value):
            return (f"{key}: the value looks like a credential (an API key or token); name "
                    "the environment variable that holds it instead (*.api_key_env=VAR)")
    return None


def hydra_cli(config_name: str, fn: Callable[[Any], Any],
              on_user_error: Callable[[Any], None] | None = None) -> None:
    """Compose conf/<config_name>.yaml from the command line and call `fn(cfg)`.

    `on_user_error(cfg)` runs after the error is printed and before exit 2 (e.g. SFT removes
    the empty run dir Hydra created)."""
    refused = secret_overrides(sys.argv[1:])
    if refused:
        print(f"error: {refused}", file=sys.stderr, flush=True)
        sys.exit(USER_ERROR_EXIT)
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
        except Exception as e:  # a deliberate stop with its own status (e.g. 3: Goodhart)
            code = getattr(e, "exit_code", None)
            if not isinstance(code, int):
                raise
            print(f"stopped: {e}", file=sys.stderr, flush=True)
            sys.exit(code)

    try:
        _main()
    except SystemExit as e:
        # Hydra exits 1 for config errors (unknown key, bad group option) before fn runs
        if e.code == 1 and not entered:
            sys.exit(USER_ERROR_EXIT)
        raise
