"""Next-step prediction of piano rolls: the ``music`` task (characters are the ``text`` task).

The metric, defined once (the core's validation loss): the negative log-likelihood of each frame
given the frames before it, summed over the 88 keys (independent Bernoulli outputs, or with
``model.frame_output = "nade"`` the keys' conditionals given the keys below them in the frame:
the exact joint likelihood), averaged over all predicted frames of the split, in nats per time
step. Each piece's first frame has no frames before it and is not predicted, as in the published
JSB Chorales / Nottingham / MuseData / Piano-midi.de figures (Bai et al., 2018): a piece of T
frames contributes T - 1 predictions.

``data.transpose = k`` shifts each training piece by a random -k..k semitones each epoch (staying
on the 88 keys): the commonest augmentation for these benchmarks. ``data.window = N`` trains on
windows of N predicted frames of the pieces, so batches of ``train.batch_tokens`` frames hold
several rows whatever the corpus (JSB Chorales' pieces are 25-129 frames, Piano-midi.de's
thousands).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from seq2seq.config import Config, ConfigError, Section, key
from seq2seq.losses import bernoulli_nll
from seq2seq.music import corpus
from seq2seq.music.midi import read_midi_folder
from seq2seq.music.rolls import (
    KEYS,
    SPLITS,
    MusicDataError,
    notes_to_roll,
    read_rolls,
    roll_to_notes,
    shifts_within_keys,
    transpose,
)
from seq2seq.nextstep import NextStepTask, average_last_key
from seq2seq.nn.models import Dims, length_mask
from seq2seq.task import Batch, Examples, LossOutput, State, eval_batches, length_batches

Grid = Literal["quarter", "eighth", "sixteenth"]


@dataclass(frozen=True)
class MusicData(Section):
    path: str = key("", '.mat / .pickle piano rolls or a folder of MIDI files; "": the embedded chord corpus')
    format: Literal["auto", "mat", "pickle", "midi"] = key("auto", "auto (from the path) / mat / pickle / midi")
    grid: Grid = key("sixteenth", "MIDI quantisation: quarter / eighth / sixteenth (also the grid MIDI is written on)")
    valid_fraction: float = key(0.1, "MIDI folders: the share of files (by name) for validation", min=0, lt=1)
    test_fraction: float = key(0.1, "MIDI folders: the share of files for test", min=0, lt=1)
    transpose: int = key(0, "training augmentation: each piece shifted by a random -k..k semitones per epoch", min=0)
    window: int = key(
        0, "> 0: training pieces cut into windows of at most N predicted frames (overlapping by one frame, so each "
        "frame is predicted once), so that batches of train.batch_tokens frames hold several rows however long the "
        "pieces; 0: whole pieces. Validation and test always score whole pieces", min=0,
    )  # fmt: skip
    average_last: int = average_last_key()
    corpus_pieces: int = key(600, "embedded chords: pieces in the train split (valid and test get a fifth each)", min=5)
    corpus_seed: int = key(11, "embedded chords: seed")


def data_format(d: MusicData) -> str:
    """The data's format: mat, pickle, midi, or chords for the embedded piano rolls."""
    if not d.path:
        return "chords"
    if d.format != "auto":
        return d.format
    path = Path(d.path)
    if path.is_dir():
        return "midi"
    suffix = path.suffix.lower()
    formats = {".mat": "mat", ".pickle": "pickle", ".pkl": "pickle", ".mid": "midi", ".midi": "midi"}
    if suffix in formats:
        return formats[suffix]
    if suffix == ".txt":
        raise MusicDataError(f'{path}: a text file; characters are the text task\'s (task = "text", recipes/text/)')
    if not path.exists():
        raise MusicDataError(f"{path}: no such file or folder (data.path)")
    raise MusicDataError(f"{path}: cannot tell the format from the name; set data.format (mat, pickle, midi)")


def load_splits(d: MusicData) -> tuple[dict[str, list[np.ndarray]], list[str]]:
    """({split: rolls}, warnings about skipped or changed files)."""
    fmt = data_format(d)
    if fmt == "chords":
        return {s: rolls for s, (rolls, _) in corpus.chord_splits(d.corpus_pieces, d.corpus_seed).items()}, []
    if fmt == "midi":
        if Path(d.path).is_file():
            raise MusicDataError(f"{d.path}: a single MIDI file; point data.path at a folder of MIDI files")
        return read_midi_folder(d.path, d.grid, d.valid_fraction, d.test_fraction)
    splits = read_rolls(d.path)
    for split in SPLITS:
        for i, roll in enumerate(splits[split]):
            if len(roll) < 2:
                raise MusicDataError(f"{d.path}: {split}[{i}] has {len(roll)} frame(s); a piece needs at least 2")
    return splits, []


def windows(rolls: list[np.ndarray], size: int) -> list[np.ndarray]:
    """Each roll cut into windows of ``size`` + 1 frames (``size`` predicted), consecutive ones
    sharing a frame; the last may be shorter (at least 2 frames). ``size`` 0: the rolls as they are."""
    if size <= 0:
        return rolls
    return [r[start : start + size + 1] for r in rolls for start in range(0, max(1, len(r) - 1), size)]


class Transposed(Sequence):
    """Training pieces under every shift -k..k: item ``piece * (2k + 1) + shift + k``."""

    def __init__(self, rolls: list[np.ndarray], limit: int) -> None:
        self.rolls, self.limit, self.width = rolls, limit, 2 * limit + 1

    def __len__(self) -> int:
        return len(self.rolls) * self.width

    def __getitem__(self, index: int) -> np.ndarray:
        piece, shift = divmod(index, self.width)
        return transpose(self.rolls[piece], shift - self.limit)


class MusicTask(NextStepTask):
    name = "music"
    Data = MusicData
    metrics = {"loss": "min", "nll": "min"}
    search_keys = frozenset({"temperature", "top_k"})
    unit = "nll"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.splits: dict[str, list[np.ndarray]] | None = None
        self.problems: list[str] = []
        self.primer: list[list[int]] = []
        self.shifts: list[list[int]] = []  # per training piece, the transpositions that stay on the keys

    @classmethod
    def check(cls, cfg: Config) -> None:
        if cfg.data.path:
            # A path whose format cannot be told fails at load; a missing file of a known format
            # when it is read, so that a shipped recipe loads before its data is prepared.
            data_format(cfg.data)

    # -- data --------------------------------------------------------------------------------
    def prepare(self, restored: dict[str, Any] | None = None) -> Dims:
        d = self.cfg.data
        self.splits, self.problems = load_splits(d)
        rolls = self.splits["train"]
        if not rolls:
            raise MusicDataError(f"{d.path or 'the embedded corpus'}: no training pieces")
        self.primer = roll_to_notes(rolls[0][:16])
        rolls = windows(rolls, d.window)
        self.shifts = [shifts_within_keys(r, d.transpose) for r in rolls]
        self.train = Transposed(rolls, d.transpose)
        self.dims = Dims(input_dim=KEYS, output_size=KEYS, output="sigmoid")
        return self.dims

    def dataset(self) -> Sequence[Any]:
        return self.train

    def train_batches(self, epoch: int) -> list[list[int]]:
        t = self.cfg.train
        # One shift per piece and epoch, drawn from (seed, epoch): the same on every run and rank.
        rng = random.Random(t.seed * 7_919 + epoch)
        width, limit = self.train.width, self.train.limit
        items = [i * width + rng.choice(shifts) + limit for i, shifts in enumerate(self.shifts)]
        lengths = [len(r) - 1 for r in self.train.rolls]
        return [[items[i] for i in b] for b in length_batches(lengths, t.batch_size, t.batch_tokens, t.seed, epoch)]

    def collate(self, examples: list[Any]) -> Batch:
        """Rolls -> x, y (batch, time, 88) float, frames 1..T-1 predicting 2..T; lengths (batch,)
        predicted steps."""
        lengths = torch.tensor([len(r) - 1 for r in examples], dtype=torch.long)
        frames = torch.zeros(len(examples), int(lengths.max()) + 1, KEYS)
        for i, r in enumerate(examples):
            frames[i, : len(r)] = torch.from_numpy(np.asarray(r, dtype=np.float32))
        return {"x": frames[:, :-1], "y": frames[:, 1:], "lengths": lengths}

    # -- training and the metric -------------------------------------------------------------
    def loss(self, model: nn.Module, batch: Batch, state: State = None) -> LossOutput:
        # targets: a joint (nade) output's logits are each key's given the keys below it
        logits, state = model(batch["x"], batch["lengths"], state, targets=batch["y"])
        mask = length_mask(batch["lengths"], batch["x"].size(1), logits.device)
        return LossOutput(*bernoulli_nll(logits, batch["y"], mask), state=state)

    def split_rolls(self, split: str) -> list[np.ndarray]:
        if split not in SPLITS:
            raise ConfigError(f"split '{split}': use one of {', '.join(SPLITS)}")
        if self.splits is None:  # restored from a checkpoint: read the data the run was trained on
            self.splits, _ = load_splits(self.cfg.data)
        return list(self.splits[split])

    def has_split(self, split: str) -> bool:
        return bool(self.split_rolls(split))

    def valid_batches(self, split: str = "valid") -> Iterator[Batch]:
        rolls = self.split_rolls(split)
        if not rolls:
            raise MusicDataError(f"{self.cfg.data.path or 'the embedded corpus'}: the {split} split has no pieces")
        return eval_batches(rolls, [len(r) - 1 for r in rolls], self.collate)

    def scores(self, model: nn.Module, split: str, loss: float) -> dict[str, float]:
        return {"nll": loss}

    def examples(self, model: nn.Module, split: str, n: int, folder: Path) -> Examples:
        """Piano rolls of ``n`` samples (seeds 0, 1, ...) of 48 frames after the first 16 frames of
        the first piece of ``split``, with the recipe's temperature and top-k."""
        from seq2seq.music.generate import continue_roll
        from seq2seq.music.plots import piano_roll_png

        rolls = self.split_rolls(split)
        if not rolls:
            return Examples()
        primer, s = rolls[0][:16], self.cfg.search
        images = {}
        for i in range(n):
            roll = np.concatenate([primer, continue_roll(model, primer, 48, s.temperature, s.top_k, seed=i)])
            images[f"sample_{i}"] = piano_roll_png(roll, folder / f"sample_{i}.png", len(primer), f"sample {i}")
        return Examples(images=images)

    # -- inference ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"grid": self.cfg.data.grid, "primer": self.primer, "problems": self.problems}

    def describe(self) -> dict[str, str]:
        m = self.cfg.model
        joint = f"nade, {m.nade_hidden} hidden units (the keys of a frame jointly)"
        return {
            "frame output": joint if m.frame_output == "nade" else "sigmoid (each key independently)",
            "piano roll": f"88 keys, {self.cfg.data.grid} grid (MIDI is read and written on it)",
            "trained on": self.cfg.data.path or "the embedded chord corpus",
            "default primer": f"{len(self.primer)} frames",
        }

    def restore(self, state: dict[str, Any], dims: Dims, where: str = "checkpoint") -> None:
        self.dims = dims
        self.primer = state.get("primer", [])
        self.problems = list(state.get("problems", []))

    def primer_roll(self) -> np.ndarray:
        """The default primer of a piano-roll model (the start of its first training piece)."""
        return notes_to_roll(self.primer, "checkpoint primer")
