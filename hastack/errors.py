"""The CLI's one error type and its exit codes (importable without any SDK).

Exit codes, shared by every sub-command:
  0  done (or nothing to do);
  1  the command ran and said no: policy violations found, a DR run refused or not finished;
  2  a user mistake (unknown stack, bad flag, unreadable or malformed file): one line, no traceback.

Modules raise `UserError` (or a subclass) where they detect the mistake; the root command group
(`hastack/cli.py`) prints it as `error: <message>` on stderr and exits 2. Nothing else prints user
errors.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USER_ERROR = 2


class UserError(Exception):
    """A mistake the user can fix: the message names the argument or key, the bad value, what is allowed."""

    exit_code = EXIT_USER_ERROR
