"""MIDI files <-> piano rolls on a musical grid, and a folder of MIDI files as a data set.

Quantisation works in beats, not seconds, so tempo changes do not stretch the grid: a note
starting at MIDI tick s and ending at tick e sounds in frames ``round(s / resolution * per_beat)``
up to ``round(e / resolution * per_beat)`` (at least one frame), where ``per_beat`` is 1, 2 or 4
frames per quarter note for the quarter, eighth and sixteenth grid. Drum tracks are ignored.

``read_midi`` also keeps what a roll cannot hold (tempo, time signature, velocities, the silence
before the first note: ``MidiPiece``), and ``roll_to_midi`` takes them back, so a continuation of
a primer file plays at the primer's tempo, in its metre and at its loudness.
"""

from __future__ import annotations

import hashlib
import io
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seq2seq.checkpoint import atomic_write
from seq2seq.music.rolls import HIGHEST, KEYS, LOWEST, SPLITS, MusicDataError, Splits

GRIDS = {"quarter": 1, "eighth": 2, "sixteenth": 4}  # frames per quarter note
MIDI_SUFFIXES = (".mid", ".midi")
DEFAULT_VELOCITY = 80  # of written notes when no primer gives one


def warn(message: str) -> None:
    """One line on stderr: data that was skipped or changed, and why."""
    print(f"seq2seq: warning: {message}", file=sys.stderr)


def per_beat(grid: str) -> int:
    if grid not in GRIDS:
        raise MusicDataError(f"unknown grid '{grid}'; use one of {', '.join(GRIDS)}")
    return GRIDS[grid]


@dataclass
class MidiPiece:
    """A MIDI file on the grid: its ``roll`` and what a roll does not hold, so that a file written
    from it (``roll_to_midi``) plays as the original did.

    ``bpm`` is the tempo at the first note and ``time_signature`` the one in force there (a file
    without either: 120 bpm, 4/4); ``tempos`` and ``time_signatures`` count the distinct ones the
    piece uses from its first note on (more than 1: it changes, and a written roll keeps only the
    first). ``velocities`` is (time, 88), the velocity of the note starting at each frame and key
    (0 elsewhere; of two notes starting together on one key, the louder), ``velocity`` the median
    velocity of its notes. ``offset`` is the silence before the first note, in frames (the roll
    starts at the first note), so that written back the notes fall where they were in the bar."""

    roll: np.ndarray
    dropped: int = 0  # notes outside the 88 piano keys
    bpm: float = 120.0
    time_signature: tuple[int, int] = (4, 4)
    velocities: np.ndarray | None = None
    velocity: int = DEFAULT_VELOCITY  # the median of the notes' velocities
    offset: int = 0
    tempos: int = 1
    time_signatures: int = 1


def read_midi(path: str | Path, grid: str) -> MidiPiece:
    """Read one MIDI file into a (time, 88) roll with its tempo, time signature and velocities
    (``MidiPiece``). A corrupt file, one without notes or with notes only outside the 88 piano
    keys is an error."""
    import pretty_midi

    path = Path(path)
    div = per_beat(grid)
    if not path.is_file():
        raise MusicDataError(f"{path}: no such MIDI file")
    try:
        pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as e:  # mido / pretty_midi raise many types for a damaged file
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise MusicDataError(f"{path}: not a readable MIDI file ({reason})") from None
    notes = [n for inst in pm.instruments if not inst.is_drum for n in inst.notes]
    if not notes:
        raise MusicDataError(f"{path}: holds no notes (drum tracks are ignored)")
    kept = [n for n in notes if LOWEST <= n.pitch <= HIGHEST]
    if not kept:
        raise MusicDataError(f"{path}: all {len(notes)} notes lie outside the 88 piano keys (MIDI {LOWEST}..{HIGHEST})")

    def frame(seconds: float) -> int:
        return int(round(pm.time_to_tick(seconds) / pm.resolution * div))

    spans = [(frame(n.start), frame(n.end), n.pitch - LOWEST, n.velocity) for n in kept]
    spans = [(s, max(e, s + 1), k, v) for s, e, k, v in spans]
    start = min(s for s, *_ in spans)  # leading silence is not part of the piece
    roll = np.zeros((max(e for _, e, *_ in spans) - start, KEYS), dtype=np.uint8)
    velocities = np.zeros_like(roll)
    for s, e, k, v in spans:
        roll[s - start : e - start, k] = 1
        velocities[s - start, k] = max(velocities[s - start, k], min(max(int(v), 1), 127))

    first, last = min(n.start for n in kept), max(n.end for n in kept)
    times, tempi = pm.get_tempo_changes()
    at = max(0, int(np.searchsorted(times, first, side="right")) - 1)  # the tempo in force at the first note
    bpm = float(round(tempi[at], 3)) if len(tempi) else 120.0  # as a file stores it: whole microseconds
    tempos = {round(float(t), 3) for t in tempi[at : max(at + 1, int(np.searchsorted(times, last)))]}
    signatures = sorted(pm.time_signature_changes, key=lambda ts: ts.time)
    before = [(ts.numerator, ts.denominator) for ts in signatures if ts.time <= first]
    meters = before[-1:] or [(4, 4)]  # the one in force at the first note, then the later ones
    meters += [(ts.numerator, ts.denominator) for ts in signatures if first < ts.time < last]
    velocity = int(np.clip(round(float(np.median([n.velocity for n in kept]))), 1, 127))
    return MidiPiece(
        roll, len(notes) - len(kept), bpm, meters[0], velocities, velocity, start, len(tempos), len(set(meters))
    )


def midi_to_roll(path: str | Path, grid: str) -> tuple[np.ndarray, int]:
    """Read one MIDI file into a (time, 88) roll. Returns the roll and how many notes were dropped
    for lying outside the 88 piano keys. A corrupt file or one without notes is an error."""
    piece = read_midi(path, grid)
    return piece.roll, piece.dropped


def roll_to_midi(
    roll: np.ndarray, path: str | Path, grid: str, bpm: float = 120.0, velocity: int = DEFAULT_VELOCITY,
    program: int = 0, *, velocities: np.ndarray | None = None, time_signature: tuple[int, int] = (4, 4),
    offset: int = 0,
) -> Path:  # fmt: skip
    """Write a (time, 88) roll as a one-track MIDI file (atomically) at ``bpm`` in
    ``time_signature``. Consecutive frames of a key become one held note, as a piano roll cannot
    tell a held note from a repeated one. A note starting at a frame and key where
    ``velocities`` (an array of at most the roll's frames, e.g. a primer's) is above 0 takes that
    velocity, every other note ``velocity``. ``offset`` frames of silence come before the roll."""
    import pretty_midi

    if not (math.isfinite(bpm) and bpm > 0):
        raise MusicDataError(f"tempo {bpm} bpm: must be a finite number above 0")
    step = 60.0 / bpm / per_beat(grid)
    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    numerator, denominator = time_signature
    pm.time_signature_changes.append(pretty_midi.TimeSignature(int(numerator), int(denominator), 0.0))
    inst = pretty_midi.Instrument(program=program)
    on = np.vstack([np.zeros((1, KEYS), np.int8), np.asarray(roll, np.int8), np.zeros((1, KEYS), np.int8)])
    change = np.diff(on, axis=0)  # +1 at a note's first frame, -1 after its last
    known = np.zeros((0, KEYS), np.uint8) if velocities is None else np.asarray(velocities)
    for key in range(KEYS):
        starts, ends = np.flatnonzero(change[:, key] == 1), np.flatnonzero(change[:, key] == -1)
        for s, e in zip(starts, ends, strict=True):
            v = int(known[s, key]) if s < len(known) and known[s, key] > 0 else velocity
            inst.notes.append(pretty_midi.Note(v, LOWEST + key, (offset + s) * step, (offset + e) * step))
    inst.notes.sort(key=lambda n: (n.start, n.pitch))
    pm.instruments.append(inst)

    def write(f) -> None:
        buffer = io.BytesIO()
        pm.write(buffer)
        f.write(buffer.getvalue())

    atomic_write(path, write)
    return Path(path)


def _unit(name: str) -> float:
    """A stable number in [0, 1) from a file name: its split does not depend on the other files."""
    return int(hashlib.sha1(name.encode("utf-8")).hexdigest()[:12], 16) / 16**12


def split_files(names: list[str], valid_fraction: float, test_fraction: float) -> dict[str, list[str]]:
    """Assign files to train / valid / test by a hash of their name (deterministic, and adding a
    file never moves another). A split with a positive fraction gets at least one file."""
    ranked = sorted(names, key=_unit)
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for name in ranked:
        u = _unit(name)
        out["test" if u < test_fraction else "valid" if u < test_fraction + valid_fraction else "train"].append(name)
    for split, fraction in (("test", test_fraction), ("valid", valid_fraction)):
        if fraction > 0 and not out[split] and len(out["train"]) > 1:
            out[split].append(out["train"].pop(0))
    return {s: sorted(v) for s, v in out.items()}


def read_midi_folder(
    folder: str | Path, grid: str, valid_fraction: float, test_fraction: float
) -> tuple[Splits, list[str]]:
    """Every readable MIDI file under ``folder`` as a roll, split by file. Unreadable or empty
    files are skipped with a one-line warning each; returns the splits and those warnings."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MusicDataError(f"{folder}: no such folder of MIDI files")
    per_beat(grid)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
    if not files:
        raise MusicDataError(f"{folder}: no .mid or .midi files found")
    rolls: dict[str, np.ndarray] = {}
    problems: list[str] = []
    for path in files:
        name = path.relative_to(folder).as_posix()
        try:
            roll, dropped = midi_to_roll(path, grid)
        except MusicDataError as e:
            problems.append(f"skipped {e}")
            warn(problems[-1])
            continue
        if dropped:
            problems.append(f"{path}: dropped {dropped} notes outside the 88 piano keys (MIDI {LOWEST}..{HIGHEST})")
            warn(problems[-1])
        if len(roll) < 2:
            problems.append(f"skipped {path}: only one frame on the {grid} grid, nothing to predict")
            warn(problems[-1])
            continue
        rolls[name] = roll
    split = split_files(list(rolls), valid_fraction, test_fraction)
    for s, fraction in (("train", 1.0), ("valid", valid_fraction), ("test", test_fraction)):
        if fraction > 0 and not split[s]:
            raise MusicDataError(
                f"{folder}: {len(rolls)} usable MIDI files of {len(files)}, too few for a {s} split; add files"
            )
    if problems:
        warn(f"{folder}: skipped or changed {len(problems)} of {len(files)} MIDI files (see above)")
    return {s: [rolls[n] for n in names] for s, names in split.items()}, problems
