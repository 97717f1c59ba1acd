"""The embedded piano-roll corpus: generated on the fly, no files, no network; small enough to learn on a
CPU in about a minute, yet with rules a model has to discover.

``chords``: pieces in a random major key (any of the 12), one chord per bar of four frames,
following the cycle I - vi - IV - V from a random one of its chords; a bar holds the bass (the
root), the triad and a melody that climbs the chord (root, third, fifth, octave) or, in half of
the pieces, descends it. The first frame leaves the key open (a major triad is I, IV or V of
three keys), the first chord change settles it, and from then on the rules fix every frame: a
model that learned them continues a primer exactly. As every piece is one of 96 equally likely
renderings, the best NLL that independent key outputs can reach is known exactly
(``chord_corpus`` returns it): at each frame, the summed binary entropies of the keys under the
renderings that agree with the frames so far; so is the best any model can reach, modelling a
frame jointly (``joint_bound``), and whether a generated frame obeys the rules (``rule_share``)."""

from __future__ import annotations

import functools
import random

import numpy as np

from seq2seq.music.rolls import KEYS, LOWEST

MAJOR = (0, 2, 4, 5, 7, 9, 11)  # semitones of the scale degrees above the tonic
DEGREES = {"I": 0, "ii": 1, "IV": 3, "V": 4, "vi": 5}  # scale-degree index of each chord's root
CYCLE = ("I", "vi", "IV", "V")
MELODIES = ((0, 1, 2, 3), (3, 2, 1, 0))  # the bar's melody notes: root, third, fifth, octave; up or down
BAR = 4  # frames per chord
MAX_BARS = 16


def chord_notes(tonic: int, chord: str) -> tuple[int, list[int], list[int]]:
    """MIDI notes of one chord of the key: bass root (octave 2-3), triad (octave 3-4) and the
    chord's melody notes root, third, fifth, octave (octave 5)."""
    d = DEGREES[chord]
    pcs = [tonic + MAJOR[(d + 2 * i) % 7] + 12 * ((d + 2 * i) // 7) for i in range(3)]  # root, third, fifth
    bass = 36 + pcs[0]
    triad = [48 + p for p in pcs]
    melody = [72 + pcs[0], 72 + pcs[1], 72 + pcs[2], 84 + pcs[0]]
    return bass, triad, melody


def render(tonic: int, start: int, melody: int, bars: int) -> np.ndarray:
    """One piece as a (bars * 4, 88) roll: key, first chord of the cycle, melody up (0) or down (1)."""
    roll = np.zeros((bars * BAR, KEYS), dtype=np.uint8)
    for bar in range(bars):
        bass, triad, notes = chord_notes(tonic, CYCLE[(start + bar) % len(CYCLE)])
        for step, which in enumerate(MELODIES[melody]):
            for note in (bass, *triad, notes[which]):
                roll[bar * BAR + step, note - LOWEST] = 1
    return roll


HYPOTHESES = [(tonic, start, melody) for tonic in range(12) for start in range(len(CYCLE)) for melody in range(2)]


@functools.lru_cache(maxsize=1)
def _best_per_frame() -> np.ndarray:
    """(hypotheses, MAX_BARS * 4) best expected NLL of each frame of each rendering, for
    independent key outputs that know the rules: under a uniform prior, each key sounds with the
    fraction of renderings agreeing with the frames so far that have it."""
    rolls = np.stack([render(*h, MAX_BARS) for h in HYPOTHESES]).astype(bool)  # (H, T, 88)
    best = np.zeros(rolls.shape[:2])
    for h in range(len(rolls)):
        same = (rolls == rolls[h]).all(axis=2)  # (H, T): frame t agrees with rendering h
        agree = np.cumprod(same, axis=1).astype(bool)  # all frames up to t agree
        for t in range(1, rolls.shape[1]):
            p = rolls[agree[:, t - 1], t].mean(axis=0)
            q = p[(p > 0) & (p < 1)]
            best[h, t] = (-q * np.log(q) - (1 - q) * np.log(1 - q)).sum()
    return best


@functools.lru_cache(maxsize=1)
def _best_joint_per_frame() -> np.ndarray:
    """(hypotheses, MAX_BARS * 4) the NLL of each frame of each rendering for a model that knows
    the rules and models a frame jointly: minus the log of the share of the renderings agreeing
    with the frames before it that also agree with this one."""
    rolls = np.stack([render(*h, MAX_BARS) for h in HYPOTHESES]).astype(bool)
    best = np.zeros(rolls.shape[:2])
    for h in range(len(rolls)):
        agree = np.cumprod((rolls == rolls[h]).all(axis=2), axis=1).sum(axis=0)  # (T,) renderings agreeing so far
        best[h, 1:] = np.log(agree[:-1] / agree[1:])
    return best


def _drawn(pieces: int, seed: int, min_bars: int, max_bars: int) -> list[tuple[int, int]]:
    """(hypothesis, bars) of each piece of a split."""
    rng = random.Random(seed)
    return [(rng.randrange(len(HYPOTHESES)), rng.randint(min_bars, max_bars)) for _ in range(pieces)]


def chord_corpus(pieces: int, seed: int, min_bars: int = 8, max_bars: int = MAX_BARS) -> tuple[list[np.ndarray], float]:
    """``pieces`` rolls and the best NLL per predicted frame (all but each piece's first) that a
    model with independent key outputs can expect on them, in nats."""
    drawn = _drawn(pieces, seed, min_bars, max_bars)
    best = _best_per_frame()
    rolls = [render(*HYPOTHESES[h], bars) for h, bars in drawn]
    total = sum(float(best[h, 1 : bars * BAR].sum()) for h, bars in drawn)
    return rolls, total / sum(len(r) - 1 for r in rolls)


def joint_bound(pieces: int, seed: int, split: str = "valid") -> float:
    """The best NLL per predicted frame that any model (a joint frame output) can expect on a
    split of ``chord_splits(pieces, seed)``, in nats: below the independent outputs' bound, which
    has to spread the uncertainty about a frame over its keys."""
    index = ("train", "valid", "test").index(split)
    n = pieces if split == "train" else max(1, pieces // 5)
    drawn = _drawn(n, seed + index, 8, MAX_BARS)
    best = _best_joint_per_frame()
    return sum(float(best[h, 1 : bars * BAR].sum()) for h, bars in drawn) / sum(bars * BAR - 1 for _, bars in drawn)


@functools.lru_cache(maxsize=1)
def chord_frames() -> frozenset[bytes]:
    """Every frame the rules allow (bass, triad and one melody note of a chord of the cycle, in
    any key), as the bytes of its (88,) uint8 row."""
    return frozenset(render(*h, len(CYCLE))[t].tobytes() for h in HYPOTHESES for t in range(len(CYCLE) * BAR))


def rule_share(roll: np.ndarray) -> float:
    """The share of a roll's frames that are frames the rules allow: a measure of coherent chords
    in generated music (1.0 for every piece of the corpus)."""
    allowed = chord_frames()
    return float(np.mean([np.asarray(f, dtype=np.uint8).tobytes() in allowed for f in roll]))


def chord_splits(pieces: int, seed: int) -> dict[str, tuple[list[np.ndarray], float]]:
    """The embedded data set: ``pieces`` training pieces, a fifth as many for validation and for
    test, each split with its best expected NLL (see ``chord_corpus``)."""
    sizes = {"train": pieces, "valid": max(1, pieces // 5), "test": max(1, pieces // 5)}
    return {split: chord_corpus(n, seed + i) for i, (split, n) in enumerate(sizes.items())}
