"""What the recipes' command modules share with the command line, without importing it.

A recipe's command module (``registry.COMMANDS``) defines

- ``register(sub)``: its own sub-commands (``translate``, ``label``, ...);
- ``EVALUATE``: a ``Handler`` for ``seq2seq evaluate -m CKPT`` on a checkpoint of its task;
- ``EVALUATE_FILES``: ``{flag: Handler}`` for ``seq2seq evaluate`` without a checkpoint, chosen
  by the flag the user gives (``--hyp`` scores translations, ``--folds`` video checkpoints, ...);
- ``GENERATE``: a ``Handler`` for ``seq2seq generate -m CKPT``.

The command line dispatches to exactly one handler, which declares only its own flags.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from seq2seq.errors import UserError


@dataclass(frozen=True)
class Handler:
    """A task's part of a shared command: its flags and what it runs."""

    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str = ""


class DefaultsFormatter(argparse.HelpFormatter):
    """--help shows each option's default (unless its text already says it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = action.default not in (None, False, argparse.SUPPRESS) and action.option_strings
        if shown and "default" not in text.lower() and not isinstance(action, argparse._HelpAction):
            text += " (default: %(default)s)"
        return text


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu, cuda or cuda:N")


def writable_file(path: str | Path, flag: str) -> Path:
    """Check, before any work, that ``path`` can be written as a file (``flag`` names the option
    in the message): not a folder, and its folder exists or can be made and takes new files."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path}: a folder; give a file name")
    writable_folder(path.parent, flag, shown=path)
    return path


def writable_folder(folder: str | Path, flag: str, shown: Path | None = None) -> Path:
    """Check, before any work and without creating anything, that files can be created in
    ``folder``: it, or the nearest folder above it that exists (where it would be made), is a
    folder this process may write (not read-only, not someone else's)."""
    folder = Path(folder)
    shown = shown or folder
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{flag} {shown}: {probe} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=probe):  # made and gone at once: what a real write would meet
            pass
    except OSError as e:
        raise UserError(f"{flag} {shown}: cannot write in {probe} ({e.strerror}); choose another folder") from None
    return folder


def warn(message: str) -> None:
    """A warning line on stderr, in the command line's style."""
    print(f"seq2seq: warning: {message}", file=sys.stderr)


# The command-line flag of each [search] key, for messages about a flag's value.
SEARCH_FLAGS = {
    "beam_size": "--beam",
    "length_penalty": "--length-penalty",
    "max_len_ratio": "--max-len-ratio",
    "max_len_offset": "--max-len-offset",
    "nbest": "--nbest",
    "min_length": "--min-length",
    "block_ngram_repeat": "--block-ngram-repeat",
    "temperature": "--temperature",
    "top_k": "--top-k",
    "top_p": "--top-p",
}


def search_options(search, **given):
    """The checkpoint's ``[search]`` (a ``SearchConfig``) with the flags given (None: not given),
    checked like a recipe's values; a bad value names its flag."""
    import dataclasses

    from seq2seq.config import ConfigError

    given = {k: v for k, v in given.items() if v is not None}
    try:
        return dataclasses.replace(search, **given)
    except ConfigError as e:
        message = str(e)
        for name, flag in SEARCH_FLAGS.items():
            message = message.replace(f"search.{name}:", f"{flag}:")
        raise ConfigError(message) from None
