"""Plain text, character level (char-rnn style): a vocabulary of the characters of a text file.

Id 0 is padding and id 1 stands for a character the training text never had; the model never
sees it in training, so text holding such characters is refused where a score would be wrong
(evaluation) and warned about elsewhere (priming, inspection).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from seq2seq.commands import warn
from seq2seq.errors import DataError

PAD, UNK = 0, 1
FIRST = 2


class TextDataError(DataError):
    """A text that cannot be read or used; the message names the file, line and column."""


def read_text(path: str | Path) -> str:
    """A UTF-8 text file, or an error naming the file and the first undecodable byte."""
    path = Path(path)
    if not path.is_file():
        raise TextDataError(f"{path}: no such text file")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise TextDataError(f"{path}, line {line}: not UTF-8 (byte offset {e.start}); convert it to UTF-8") from None


def split_text(text: str, valid_fraction: float, test_fraction: float, where: str) -> dict[str, str]:
    """Contiguous splits: train first, then valid, then test at the end (cut at line breaks when
    there is one nearby, so no split starts mid-word)."""

    def cut(position: int) -> int:
        newline = text.rfind("\n", max(0, position - 200), position)
        return newline + 1 if newline >= 0 else position

    n = len(text)
    test_start = cut(int(n * (1 - test_fraction))) if test_fraction > 0 else n
    valid_start = cut(int(n * (1 - test_fraction - valid_fraction))) if valid_fraction > 0 else test_start
    splits = {"train": text[:valid_start], "valid": text[valid_start:test_start], "test": text[test_start:]}
    for name, fraction in (("train", 1.0), ("valid", valid_fraction), ("test", test_fraction)):
        if fraction > 0 and len(splits[name]) < 2:
            raise TextDataError(f"{where}: {n} characters are too few for a {name} split; use a longer text")
    return splits


class CharVocab:
    """Characters <-> ids, the most frequent first (ties in code-point order, so deterministic)."""

    def __init__(self, chars: list[str]) -> None:
        self.chars = list(chars)
        self.index = {c: FIRST + i for i, c in enumerate(self.chars)}

    @classmethod
    def build(cls, text: str) -> CharVocab:
        counts = Counter(text)
        return cls(sorted(counts, key=lambda c: (-counts[c], c)))

    def __len__(self) -> int:
        return FIRST + len(self.chars)

    def unseen(self, text: str) -> list[str]:
        return sorted({c for c in text if c not in self.index})

    def check(self, text: str, where: str, strict: bool, first_line: int = 1) -> None:
        """Error (strict) or warn about characters the model never saw, naming the first one's
        line (counted from ``first_line``: a split's lines are named by their line in the file)
        and column."""
        missing = self.unseen(text)
        if not missing:
            return
        first = min(text.index(c) for c in missing)
        line = text.count("\n", 0, first) + first_line
        column = first - (text.rfind("\n", 0, first) + 1) + 1
        shown = " ".join(repr(c) for c in missing[:10]) + (" ..." if len(missing) > 10 else "")
        message = (
            f"{where}, line {line}, column {column}: {len(missing)} character(s) unseen in training: {shown}; "
            f"the model knows {len(self.chars)} characters"
        )
        if strict:
            raise TextDataError(message + ". Replace them, or train on text that has them")
        warn(message + "; they are read as 'unknown'")

    def encode(self, text: str) -> list[int]:
        return [self.index.get(c, UNK) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i - FIRST] if i >= FIRST else "\ufffd" for i in ids if i != PAD)


def segments(ids: list[int], length: int) -> list[list[int]]:
    """Consecutive pieces of ``length + 1`` ids overlapping by one, so piece i predicts ids
    ``i*length+1 .. (i+1)*length`` from the ones before it and every id but the first is a
    target exactly once."""
    return [ids[s : s + length + 1] for s in range(0, max(1, len(ids) - 1), length) if len(ids[s : s + length + 1]) > 1]
