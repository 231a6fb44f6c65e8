"""The files and directories a user names: each way they can be wrong is one `UserError` line.

Why one place: every command reads a file someone passed (a stack file, a plan, a policy config, stack
outputs) or writes into a directory they chose, and each can be missing, a directory, unreadable,
not UTF-8 or not JSON. Each of those is a user mistake (exit 2, one line naming the argument, the path
and what is wrong), never a traceback or exit 1. Importable without any SDK.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hastack.errors import UserError


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of `path`; `what` names it in errors (`--config`, `plan file`, ...)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what} {path}: does not exist") from None
    except IsADirectoryError:
        raise UserError(f"{what} {path}: is a directory, not a file") from None
    except NotADirectoryError:
        raise UserError(f"{what} {path}: a part of the path is a file, not a directory") from None
    except PermissionError:
        raise UserError(f"{what} {path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{what} {path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x})") from None
    except OSError as exc:
        raise UserError(f"{what} {path}: cannot be read ({exc.strerror or exc})") from None


def read_json(path: Path, what: str) -> Any:
    """The JSON document in `path` (any JSON value: the caller checks its shape)."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{what} {path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def output_dir(path: Path, what: str) -> Path:
    """`path` as a directory to write into, created if missing; refused when it is a file or not writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {path}: is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserError(f"{what} {path}: a part of the path is a file, not a directory") from None
    except OSError as exc:
        raise UserError(f"{what} {path}: cannot be created ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"{what} {path}: not writable")
    return path


def output_file(path: Path, what: str) -> Path:
    """`path` as a file to (over)write: its directory is created; refused when `path` is a directory."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} {path}: is a directory, not a file")
    output_dir(path.parent, what)
    return path
