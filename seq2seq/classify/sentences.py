"""The embedded demo data: generated one-line reviews whose label a bag of words cannot get.

Half the reviews are one clause, ``the film was (not) (very) good``: "not" flips the adjective's
polarity, so the label is an exclusive-or of two words, which no linear bag of words can learn.
The other half contrast two clauses of opposite polarity, ``the food was not bad but boring``,
and the clause after "but" decides. Swapping the two clauses keeps the bag of words and flips the
label, and the generator makes both orders equally likely, so no bag-of-words classifier (of any
form) gets more than half of the contrasts right: at most 75% of the generated reviews
(``bag_of_words_ceiling`` of a set). A recurrent model that reads the order gets them all.
The validation reviews are drawn apart from the training ones (no review in both).
"""

from __future__ import annotations

import random

SUBJECTS = ("the film", "the food", "the hotel", "the book", "the service", "the music", "the room", "the trip")
POSITIVE = ("good", "great", "lovely", "excellent", "fine", "pleasant")
NEGATIVE = ("bad", "awful", "boring", "poor", "terrible", "dull")
INTENSIFIERS = ("", "", "very ", "really ", "quite ")
LABELS = ("negative", "positive")
CONTRAST = 0.5  # the share of two-clause reviews


def _phrase(rng: random.Random, positive: bool) -> str:
    """A (negated) adjective phrase of the given polarity: "very good", "not bad", "not really dull"."""
    negated = rng.random() < 0.5
    adjective = rng.choice(NEGATIVE if positive == negated else POSITIVE)
    return f"{'not ' if negated else ''}{rng.choice(INTENSIFIERS)}{adjective}"


def review(rng: random.Random) -> tuple[str, str]:
    """One generated review and its label (``positive`` or ``negative``)."""
    positive = rng.random() < 0.5
    subject = rng.choice(SUBJECTS)
    if rng.random() < CONTRAST:
        return f"{subject} was {_phrase(rng, not positive)} but {_phrase(rng, positive)}", LABELS[positive]
    return f"{subject} was {_phrase(rng, positive)}", LABELS[positive]


def reviews(n: int, seed: int, exclude: frozenset[str] = frozenset()) -> tuple[list[str], list[str]]:
    """``n`` reviews and their labels, none of them in ``exclude``; the same for the same seed."""
    rng = random.Random(seed)
    pairs: list[tuple[str, str]] = []
    while len(pairs) < n:
        pair = review(rng)
        if pair[0] not in exclude:
            pairs.append(pair)
    return [t for t, _ in pairs], [label for _, label in pairs]


def bag_of_words_ceiling(texts: list[str]) -> float:
    """The best accuracy any bag-of-words classifier can expect on these reviews: every single
    clause, and half of the contrasts (each has a twin, its clauses swapped, with the same words
    and the other label, equally likely)."""
    contrasts = sum(" but " in t for t in texts)
    return 1 - contrasts / 2 / max(len(texts), 1)
