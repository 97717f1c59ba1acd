"""The embedded corpora: generated on the fly, no files, no network; small enough to learn on a
CPU in about a minute, yet with rules a model has to discover.

``chords``: pieces in a random major key (any of the 12), one chord per bar of four frames. The
chord after each bar follows a fixed table of allowed moves (I -> IV, V or vi; ii -> V; IV -> I,
V or ii; V -> I or vi; vi -> ii or IV), chosen uniformly; a bar holds the bass (the root), the
triad, and a melody that climbs the chord: root, third, fifth, octave. Everything but the choice
of the next chord is determined by the rules (the first frame gives the key), so the best NLL a
model with independent key outputs can reach is known exactly: 0 inside a bar, and at a bar's
first frame the summed binary entropies of the keys' probabilities under the allowed chords
(``chord_corpus`` returns it; a joint model could go lower, to the log of the number of choices).

``text``: English-like sentences with quotations and bracketed asides, wrapped into lines, for
the character model and for ``seq2seq inspect`` (quotes, brackets and line position are the
properties it looks for).
"""

from __future__ import annotations

import math
import random
import textwrap

import numpy as np

from seq2seq.music.rolls import KEYS, LOWEST

MAJOR = (0, 2, 4, 5, 7, 9, 11)  # semitones of the scale degrees above the tonic
DEGREES = {"I": 0, "ii": 1, "IV": 3, "V": 4, "vi": 5}  # scale-degree index of each chord's root
MOVES = {"I": ("IV", "V", "vi"), "ii": ("V",), "IV": ("I", "V", "ii"), "V": ("I", "vi"), "vi": ("ii", "IV")}
BAR = 4  # frames per chord


def chord_notes(tonic: int, chord: str) -> tuple[int, list[int], list[int]]:
    """MIDI notes of one chord of the key: bass root (octave 2-3), triad (octave 3-4) and the four
    melody notes of its bar (octave 5)."""
    d = DEGREES[chord]
    pcs = [tonic + MAJOR[(d + 2 * i) % 7] + 12 * ((d + 2 * i) // 7) for i in range(3)]  # root, third, fifth
    bass = 36 + pcs[0]
    triad = [48 + p for p in pcs]
    melody = [72 + pcs[0], 72 + pcs[1], 72 + pcs[2], 84 + pcs[0]]
    return bass, triad, melody


def _binary_entropy(p: float) -> float:
    return 0.0 if p in (0.0, 1.0) else -(p * math.log(p) + (1 - p) * math.log(1 - p))


def change_entropy(chord: str) -> float:
    """Best expected NLL (nats) of the first frame after ``chord`` for independent key outputs:
    each key sounds with the fraction of allowed next chords that hold it (the same in any key)."""
    frames = [{bass, *triad, melody[0]} for bass, triad, melody in (chord_notes(0, c) for c in MOVES[chord])]
    keys = set().union(*frames)
    return sum(_binary_entropy(sum(k in f for f in frames) / len(frames)) for k in keys)


def chord_piece(rng: random.Random, bars: int) -> tuple[np.ndarray, float]:
    """One piece: a (bars * 4, 88) roll and the best expected NLL (nats, summed over its frames)
    of independent key outputs that know the rules."""
    tonic = rng.randrange(12)
    chord, entropy = "I", 0.0
    roll = np.zeros((bars * BAR, KEYS), dtype=np.uint8)
    for bar in range(bars):
        if bar > 0:
            entropy += change_entropy(chord)
            chord = rng.choice(MOVES[chord])
        bass, triad, melody = chord_notes(tonic, chord)
        for step in range(BAR):
            t = bar * BAR + step
            for note in (bass, *triad, melody[step]):
                roll[t, note - LOWEST] = 1
    return roll, entropy


def chord_corpus(pieces: int, seed: int, min_bars: int = 8, max_bars: int = 16) -> tuple[list[np.ndarray], float]:
    """``pieces`` rolls and the best NLL per predicted frame (all but each piece's first) that a
    model with independent key outputs can expect on them, in nats."""
    rng = random.Random(seed)
    rolls, entropy = [], 0.0
    for _ in range(pieces):
        roll, h = chord_piece(rng, rng.randint(min_bars, max_bars))
        rolls.append(roll)
        entropy += h
    return rolls, entropy / sum(len(r) - 1 for r in rolls)


def chord_splits(pieces: int, seed: int) -> dict[str, tuple[list[np.ndarray], float]]:
    """The embedded data set: ``pieces`` training pieces, a fifth as many for validation and for
    test, each split with its best expected NLL (see ``chord_corpus``)."""
    sizes = {"train": pieces, "valid": max(1, pieces // 5), "test": max(1, pieces // 5)}
    return {split: chord_corpus(n, seed + i) for i, (split, n) in enumerate(sizes.items())}


NAMES = ("Anna", "Tom", "Maria", "Sam", "Lena", "Oskar")
SUBJECTS = ("the cat", "a dog", "my friend", "the old man", "the teacher", "a small bird", "her brother")
VERBS = ("saw", "liked", "found", "painted", "followed", "asked about", "forgot", "carried")
OBJECTS = ("the red house", "a small boat", "the river", "some bread", "the garden", "a long letter", "the key")
PLACES = ("near the bridge", "in the morning", "after the rain", "by the window", "at the market")
SAYS = ("said", "asked", "whispered", "answered")


def _clause(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS + NAMES)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"


def _sentence(rng: random.Random) -> str:
    clause = _clause(rng)
    if rng.random() < 0.3:
        clause += f" ({rng.choice(PLACES)})"
    if rng.random() < 0.35:
        mark = "?" if rng.random() < 0.3 else ","
        return f'"{clause[0].upper()}{clause[1:]}{mark}" {rng.choice(SAYS)} {rng.choice(NAMES)}.'
    return f"{clause[0].upper()}{clause[1:]}."


def short_text(sentences: int, seed: int, width: int = 64) -> str:
    """Paragraphs of generated sentences, wrapped at ``width`` characters."""
    rng = random.Random(seed)
    paragraphs, left = [], sentences
    while left > 0:
        n = min(left, rng.randint(3, 7))
        left -= n
        paragraphs.append(textwrap.fill(" ".join(_sentence(rng) for _ in range(n)), width))
    return "\n\n".join(paragraphs) + "\n"
