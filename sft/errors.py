"""The one exception type for bad user input (config, paths, data rows, checkpoints).

Entry points catch it, print the message alone (no traceback: the message already names the
file, line or key) and exit with status 2, the conventional "usage error" code; anything else
is a bug and keeps its traceback and status 1.
"""

from __future__ import annotations

USER_ERROR_EXIT = 2


class UserInputError(ValueError):
    """Bad input from the user; the message says what, where and how to fix it."""
