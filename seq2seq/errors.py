"""The errors a user can fix, reported by the command line as one line without a traceback.

Every one derives from ``UserError`` (a bad recipe, a bad data file, an unusable checkpoint,
options that cannot work together), which is exactly what the command line catches; Python
callers can catch it the same way. ``UserError`` and ``ConfigError`` are defined beside the
config, which imports nothing else of the package.
"""

from __future__ import annotations

from seq2seq.config import ConfigError, UserError


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be used for what was asked; the message says which file and why."""


class TrainingError(UserError, RuntimeError):
    """Training cannot go on; the message says why and what to do."""


class DataError(UserError, ValueError):
    """Data that cannot be read as the task needs it; the message names the file (and line)."""


USER_ERRORS: tuple[type[BaseException], ...] = (UserError,)

__all__ = ["USER_ERRORS", "CheckpointError", "ConfigError", "DataError", "TrainingError", "UserError"]
