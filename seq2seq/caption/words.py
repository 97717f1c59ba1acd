"""The caption vocabulary: words, lowercased, punctuation split off; rare words become <unk>.

Captions are short and their words few, so a word-level vocabulary (as in neuraltalk and Show,
Attend and Tell) is what users expect to read in a model's outputs; references are tokenised the
same way before scoring, so a hypothesis and its references meet on equal terms.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """ "Two Blue squares, on the right." -> ["two", "blue", "squares", ",", "on", "the", "right", "."]"""
    return _TOKEN.findall(text.lower())


def normalise(text: str) -> str:
    """A caption as the model writes it: its tokens joined by spaces."""
    return " ".join(tokenize(text))


class Vocabulary:
    """Words <-> ids; ids 0..3 are padding, start, end and unknown."""

    def __init__(self, words: Sequence[str]) -> None:
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int = 1) -> Vocabulary:
        """The words seen at least ``min_count`` times, most frequent first (ties alphabetical)."""
        counts = Counter(w for c in captions for w in tokenize(c))
        kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, caption: str) -> list[int]:
        return [self.index.get(w, UNK) for w in tokenize(caption)]

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.words[i] for i in ids if i not in (PAD, BOS, EOS))
