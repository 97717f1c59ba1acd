"""The errors a user can fix, reported by the command line as one line without a traceback.

Every recipe's own errors (a bad data file, an unusable checkpoint, options that cannot work
together) derive from ``UserError``; with ``ConfigError`` (defined beside the config, which
imports nothing of ours) they make ``USER_ERRORS``, exactly what the command line catches.
Modules below the command line never import it.
"""

from __future__ import annotations

from seq2seq.config import ConfigError


class UserError(Exception):
    """A problem with the user's input: the message names the file, line or key and the fix."""


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be used for what was asked; the message says which file and why."""


class TrainingError(UserError, RuntimeError):
    """Training cannot go on; the message says why and what to do."""


class DataError(UserError, ValueError):
    """Data that cannot be read as the task needs it; the message names the file (and line)."""


USER_ERRORS: tuple[type[BaseException], ...] = (UserError, ConfigError)

__all__ = ["USER_ERRORS", "CheckpointError", "ConfigError", "DataError", "TrainingError", "UserError"]
