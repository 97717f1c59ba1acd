"""The errors a user can fix, reported by the command line as one line without a traceback.

Every one derives from ``UserError`` (a bad recipe, a bad data file, an unusable checkpoint,
options that cannot work together), which is exactly what the command line catches; Python
callers can catch it the same way. ``UserError`` and ``ConfigError`` are defined beside the
config, which imports nothing else of the package.
"""

from __future__ import annotations

from pathlib import Path

from seq2seq.config import ConfigError, UserError


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be used for what was asked; the message says which file and why."""


class TrainingError(UserError, RuntimeError):
    """Training cannot go on; the message says why and what to do."""


class DataError(UserError, ValueError):
    """Data that cannot be read as the task needs it; the message names the file (and line)."""


def relative_to_here(path: str | Path) -> str:
    """What to add to 'no such file' for a relative path: a checkpoint keeps its data paths as
    given, so ``seq2seq evaluate`` run from another folder than training looks for them here."""
    if Path(path).is_absolute():
        return ""
    return (f" in {Path.cwd()}; relative data paths (also a checkpoint's) are read from the folder you run in: "
            "run from the folder training ran in, or give absolute paths")  # fmt: skip


USER_ERRORS: tuple[type[BaseException], ...] = (UserError,)

__all__ = [
    "USER_ERRORS",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "TrainingError",
    "UserError",
    "relative_to_here",
]
