"""Piano rolls and the polyphonic benchmarks in the Boulanger-Lewandowski et al. (2012) layout.

A piano roll is a ``(time, 88)`` uint8 array of 0/1: row t is one frame of the grid, column k is
piano key k, i.e. MIDI note ``LOWEST + k`` (21, A0, up to 108, C8).

The benchmarks (JSB Chorales, Nottingham, MuseData, Piano-midi.de) come in two forms, both read
here into ``{"train": [roll, ...], "valid": [...], "test": [...]}``:

- ``.mat`` (MATLAB v5, as shipped with the TCN code): arrays ``traindata``, ``validdata``,
  ``testdata``, each a 1 x N cell array of T x 88 0/1 arrays;
- ``.pickle`` (the original files): a dict with keys ``train``, ``valid``, ``test``, each a list of
  pieces, each a list of frames, each a list of the MIDI notes (21..108) sounding in that frame.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from seq2seq.checkpoint import atomic_write
from seq2seq.errors import DataError

KEYS = 88
LOWEST = 21  # MIDI note of key 0 (A0)
HIGHEST = LOWEST + KEYS - 1  # 108 (C8)
SPLITS = ("train", "valid", "test")
MAT_KEYS = {"train": "traindata", "valid": "validdata", "test": "testdata"}

Splits = dict[str, list[np.ndarray]]


class MusicDataError(DataError):
    """Data that cannot be used: the message names the file (and piece / frame) and what to do."""


def notes_to_roll(frames: list, where: str) -> np.ndarray:
    """A piece as a list of frames of MIDI note numbers -> a (time, 88) uint8 roll."""
    roll = np.zeros((len(frames), KEYS), dtype=np.uint8)
    for t, notes in enumerate(frames):
        if not isinstance(notes, (list, tuple, set, frozenset, np.ndarray)):
            raise MusicDataError(f"{where}, frame {t}: expected a list of MIDI notes, got {type(notes).__name__}")
        for note in notes:
            if isinstance(note, (float, np.floating)) and float(note).is_integer():
                note = int(note)
            if not isinstance(note, (int, np.integer)) or isinstance(note, bool):
                raise MusicDataError(f"{where}, frame {t}: {note!r} is not a MIDI note number")
            if not LOWEST <= note <= HIGHEST:
                raise MusicDataError(
                    f"{where}, frame {t}: note {note} is outside the 88 piano keys (MIDI {LOWEST}..{HIGHEST})"
                )
            roll[t, note - LOWEST] = 1
    return roll


def roll_to_notes(roll: np.ndarray) -> list[list[int]]:
    """(time, 88) roll -> per frame, the sorted MIDI notes that sound."""
    return [[LOWEST + int(k) for k in np.flatnonzero(frame)] for frame in roll]


def check_roll(array: object, where: str) -> np.ndarray:
    """A (time, 88) 0/1 array as uint8, or an error saying what is wrong with it."""
    if not isinstance(array, np.ndarray) or array.ndim != 2 or array.shape[1] != KEYS:
        shape = " x ".join(map(str, array.shape)) if isinstance(array, np.ndarray) else type(array).__name__
        raise MusicDataError(f"{where} is {shape}, expected a T x {KEYS} array (one column per piano key)")
    if array.size and not np.isin(array, (0, 1)).all():
        raise MusicDataError(f"{where} holds values other than 0 and 1; expected a binary piano roll")
    return array.astype(np.uint8)


def read_mat(path: str | Path) -> Splits:
    """The ``.mat`` form: ``traindata`` / ``validdata`` / ``testdata`` cell arrays of T x 88 arrays."""
    import scipy.io

    path = Path(path)
    try:
        raw = scipy.io.loadmat(str(path))
    except Exception as e:  # scipy raises several types for a foreign or truncated file
        raise MusicDataError(f"{path}: not a readable MATLAB .mat file ({str(e)[:200] or type(e).__name__})") from None
    found = sorted(k for k in raw if not k.startswith("__"))
    missing = [k for k in MAT_KEYS.values() if k not in raw]
    if missing:
        raise MusicDataError(
            f"{path}: expected the arrays {', '.join(MAT_KEYS.values())} (Boulanger-Lewandowski layout); "
            f"found: {', '.join(found) or 'nothing'}"
        )
    out: Splits = {}
    for split, key in MAT_KEYS.items():
        cells = raw[key]
        if not (isinstance(cells, np.ndarray) and cells.dtype == object):
            raise MusicDataError(f"{path}: '{key}' must be a cell array of T x {KEYS} arrays, got a plain array")
        out[split] = [check_roll(a, f"{path}: {key}[{i}]") for i, a in enumerate(cells.reshape(-1))]
    return out


class _PlainUnpickler(pickle.Unpickler):
    """Plain containers and numbers only (plus numpy arrays): a pickle cannot run code here."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("builtins", "set"),
        ("__builtin__", "set"),
        ("builtins", "frozenset"),
        ("__builtin__", "frozenset"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a benchmark pickle holds plain lists")
        if module == "__builtin__":
            module = "builtins"
        return super().find_class(module, name)


def read_pickle(path: str | Path) -> Splits:
    """The original ``.pickle`` form: {"train" | "valid" | "test": [piece: [frame: [MIDI notes]]]}."""
    path = Path(path)
    try:
        # latin1: the original files are Python 2 pickles
        raw = _PlainUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except Exception as e:
        raise MusicDataError(f"{path}: not a readable piano-roll pickle ({str(e)[:200] or type(e).__name__})") from None
    if not isinstance(raw, dict) or any(s not in raw for s in SPLITS):
        found = ", ".join(map(str, raw)) if isinstance(raw, dict) else type(raw).__name__
        raise MusicDataError(
            f"{path}: expected a dict with keys train, valid, test (lists of pieces of note lists); found: {found}"
        )
    out: Splits = {}
    for split in SPLITS:
        pieces = raw[split]
        if not isinstance(pieces, (list, tuple)):
            raise MusicDataError(f"{path}: '{split}' must be a list of pieces, got {type(pieces).__name__}")
        rolls = []
        for i, piece in enumerate(pieces):
            if not isinstance(piece, (list, tuple)):
                raise MusicDataError(f"{path}: {split}[{i}] must be a list of frames, got {type(piece).__name__}")
            rolls.append(notes_to_roll(list(piece), f"{path}: {split}[{i}]"))
        out[split] = rolls
    return out


def read_rolls(path: str | Path) -> Splits:
    """A benchmark file in either form, chosen by its suffix."""
    path = Path(path)
    if not path.is_file():
        raise MusicDataError(f"{path}: no such file (prepare one with datasets/prepare_polyphonic.py)")
    if path.suffix.lower() == ".mat":
        return read_mat(path)
    if path.suffix.lower() in (".pickle", ".pkl"):
        return read_pickle(path)
    raise MusicDataError(f"{path}: unknown piano-roll file type '{path.suffix}'; use a .mat or .pickle file")


def write_mat(path: str | Path, splits: Splits) -> None:
    """Write splits in the ``.mat`` form (atomically), readable by ``read_mat``."""
    import scipy.io

    cells = {}
    for split, key in MAT_KEYS.items():
        arr = np.empty((1, len(splits[split])), dtype=object)
        for i, roll in enumerate(splits[split]):
            arr[0, i] = np.asarray(roll, dtype=np.uint8)
        cells[key] = arr
    atomic_write(path, lambda f: scipy.io.savemat(f, cells))


def transpose(roll: np.ndarray, shift: int) -> np.ndarray:
    """The roll moved up by ``shift`` semitones (down when negative); notes must stay on the keys."""
    if shift == 0:
        return roll
    out = np.zeros_like(roll)
    if shift > 0:
        out[:, shift:] = roll[:, :-shift]
    else:
        out[:, :shift] = roll[:, -shift:]
    return out


def shifts_within_keys(roll: np.ndarray, limit: int) -> list[int]:
    """The shifts in -limit..limit that keep every note of ``roll`` on the 88 keys."""
    used = np.flatnonzero(roll.any(axis=0))
    if used.size == 0:
        return [0]
    low, high = int(used.min()), int(used.max())
    return [s for s in range(-limit, limit + 1) if low + s >= 0 and high + s < KEYS]
