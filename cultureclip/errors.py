"""The one error contract of the ``cultureclip`` commands.

A command reports bad input by raising: `UserError` or one of the exception types the project
(like transformers' argument classes) already raises for bad values and paths, `USER_ERRORS`.
`cultureclip.cli` prints those as one line, ``cultureclip <command>: error: ...``, and exits 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input a user can fix: the message names the value and says how to fix it (a
    `ValueError`, so callers of the library that catch those catch it too)."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # UserError, config dataclasses' checks, HFValidationError, RunFolderError, InvalidRowError
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)
"""Exceptions that carry a user's mistake, not a bug."""


def one_line(error: BaseException) -> str:
    """The error's message on one line (a multi-line message is joined with ``" | "``)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " | ".join(lines) or type(error).__name__
