"""The embedded text: generated on the fly, no files, no network; small enough to learn on a CPU
in about a minute, yet with rules a model has to discover.

English-like sentences with quotations and bracketed asides, wrapped into lines, for the
character model and for ``seq2seq inspect`` (quotes, brackets and line position are the
properties it looks for). What is inside quotes or brackets has the grammar of what is outside,
so a model can only close them by remembering that they are open.
"""

from __future__ import annotations

import random
import textwrap

NAMES = ("Anna", "Tom", "Maria", "Sam", "Lena", "Oskar")
SUBJECTS = ("the cat", "a dog", "my friend", "the old man", "the teacher", "a small bird", "her brother")
VERBS = ("saw", "liked", "found", "painted", "followed", "asked about", "forgot", "carried")
OBJECTS = ("the red house", "a small boat", "the river", "some bread", "the garden", "a long letter", "the key")
SAYS = ("said", "asked", "whispered", "answered")


def _clause(rng: random.Random) -> str:
    """Subject, verb, object; sometimes with a bracketed clause of the same grammar after it, so
    only a memory of the open bracket tells where the ')' goes."""
    clause = f"{rng.choice(SUBJECTS + NAMES)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
    if rng.random() < 0.25:
        clause += f" ({rng.choice(SUBJECTS + NAMES)} {rng.choice(VERBS)} {rng.choice(OBJECTS)})"
    return clause[0].upper() + clause[1:]


def _sentence(rng: random.Random) -> str:
    """A statement, or a quotation of one to three sentences followed by who said it: a sentence
    inside quotes ends like one outside, so only a memory of the open quote tells where the
    closing '"' goes."""
    if rng.random() < 0.35:
        said = " ".join(f"{_clause(rng)}{rng.choice('..?')}" for _ in range(rng.randint(1, 3)))
        return f'"{said}" {rng.choice(SAYS)} {rng.choice(NAMES)}.'
    return f"{_clause(rng)}."


def short_text(sentences: int, seed: int, width: int = 64) -> str:
    """Paragraphs of generated sentences, wrapped at ``width`` characters."""
    rng = random.Random(seed)
    paragraphs, left = [], sentences
    while left > 0:
        n = min(left, rng.randint(3, 7))
        left -= n
        paragraphs.append(textwrap.fill(" ".join(_sentence(rng) for _ in range(n)), width))
    return "\n\n".join(paragraphs) + "\n"
