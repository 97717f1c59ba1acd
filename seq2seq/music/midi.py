"""MIDI files <-> piano rolls on a musical grid, and a folder of MIDI files as a data set.

Quantisation works in beats, not seconds, so tempo changes do not stretch the grid: a note
starting at MIDI tick s and ending at tick e sounds in frames ``round(s / resolution * per_beat)``
up to ``round(e / resolution * per_beat)`` (at least one frame), where ``per_beat`` is 1, 2 or 4
frames per quarter note for the quarter, eighth and sixteenth grid. Drum tracks are ignored.
"""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path

import numpy as np

from seq2seq.checkpoint import atomic_write
from seq2seq.music.rolls import HIGHEST, KEYS, LOWEST, SPLITS, MusicDataError, Splits

GRIDS = {"quarter": 1, "eighth": 2, "sixteenth": 4}  # frames per quarter note
MIDI_SUFFIXES = (".mid", ".midi")


def warn(message: str) -> None:
    """One line on stderr: data that was skipped or changed, and why."""
    print(f"seq2seq: warning: {message}", file=sys.stderr)


def per_beat(grid: str) -> int:
    if grid not in GRIDS:
        raise MusicDataError(f"unknown grid '{grid}'; use one of {', '.join(GRIDS)}")
    return GRIDS[grid]


def midi_to_roll(path: str | Path, grid: str) -> tuple[np.ndarray, int]:
    """Read one MIDI file into a (time, 88) roll. Returns the roll and how many notes were dropped
    for lying outside the 88 piano keys. A corrupt file or one without notes is an error."""
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

    spans = [(frame(n.start), frame(n.end), n.pitch - LOWEST) for n in kept]
    spans = [(s, max(e, s + 1), k) for s, e, k in spans]
    start = min(s for s, _, _ in spans)  # leading silence is not part of the piece
    roll = np.zeros((max(e for _, e, _ in spans) - start, KEYS), dtype=np.uint8)
    for s, e, k in spans:
        roll[s - start : e - start, k] = 1
    return roll, len(notes) - len(kept)


def roll_to_midi(
    roll: np.ndarray, path: str | Path, grid: str, bpm: float = 120.0, velocity: int = 80, program: int = 0
) -> Path:
    """Write a (time, 88) roll as a one-track MIDI file (atomically). Consecutive frames of a key
    become one held note, as a piano roll cannot tell a held note from a repeated one."""
    import pretty_midi

    step = 60.0 / bpm / per_beat(grid)
    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    inst = pretty_midi.Instrument(program=program)
    on = np.vstack([np.zeros((1, KEYS), np.int8), np.asarray(roll, np.int8), np.zeros((1, KEYS), np.int8)])
    change = np.diff(on, axis=0)  # +1 at a note's first frame, -1 after its last
    for key in range(KEYS):
        starts, ends = np.flatnonzero(change[:, key] == 1), np.flatnonzero(change[:, key] == -1)
        for s, e in zip(starts, ends, strict=True):
            inst.notes.append(pretty_midi.Note(velocity, LOWEST + key, s * step, e * step))
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
