"""Next-step prediction of piano rolls and characters: the ``music`` task.

The metric, defined once (``score``):

- piano rolls: the negative log-likelihood of each frame given the frames before it, summed over
  the 88 keys (independent Bernoulli outputs), averaged over all predicted frames of the split,
  in nats per time step. Each piece's first frame has no frames before it and is not predicted,
  as in the published JSB Chorales / Nottingham / MuseData / Piano-midi.de figures (Bai et al.,
  2018): a piece of T frames contributes T - 1 predictions.
- text: the same for characters (softmax over the training text's characters), reported in nats
  (``loss``) and bits per character (``bpc`` = nats / ln 2).

Training reads whole pieces (or ``segment``-character pieces of the text) and, with
``train.tbptt``, cuts them into chunks with the recurrent state carried across chunks by the
core trainer. ``data.transpose = k`` shifts each training piece by a random -k..k semitones each
epoch (staying on the 88 keys): the commonest augmentation for these benchmarks.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from seq2seq.config import ConfigError
from seq2seq.losses import bernoulli_nll
from seq2seq.music import corpus
from seq2seq.music.midi import GRIDS, read_midi_folder
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
from seq2seq.music.text import PAD, CharVocab, read_text, segments, split_text
from seq2seq.nn.models import length_mask
from seq2seq.task import Batch, LossOutput, State, Task, length_batches, pad, split_time

FORMATS = ("auto", "mat", "pickle", "midi", "text")
CORPORA = ("chords", "text")
EVAL_CHUNK = 2048  # steps per forward when scoring


@dataclass
class MusicData:
    path: str = ""  # .mat / .pickle piano rolls, a folder of MIDI files, or a .txt file; "": the embedded corpus
    format: str = "auto"  # auto (from the path) | mat | pickle | midi | text
    corpus: str = "chords"  # embedded corpus when path is "": chords | text
    grid: str = "sixteenth"  # MIDI quantisation: quarter | eighth | sixteenth (also the grid MIDI is written on)
    valid_fraction: float = 0.1  # MIDI folders (by file) and text (the end of the file)
    test_fraction: float = 0.1
    transpose: int = 0  # augmentation: each training piece shifted by a random -k..k semitones per epoch
    segment: int = 1000  # text: characters per training sequence (split into train.tbptt chunks)
    eval_batch: int = 32  # sequences per batch when scoring
    average_last: int = 0  # > 1: final.pt is the mean of the last N step checkpoints if better on valid
    corpus_pieces: int = 600  # embedded chords: pieces in the train split (valid and test get a fifth each)
    corpus_sentences: int = 2400  # embedded text: sentences in all
    corpus_seed: int = 11


def data_format(d: MusicData) -> str:
    """The data's format: mat, pickle, midi, text, or chords for the embedded piano rolls."""
    if d.format not in FORMATS:
        raise ConfigError(f"data.format '{d.format}': use one of {', '.join(FORMATS)}")
    if not d.path:
        if d.corpus not in CORPORA:
            raise ConfigError(f"data.corpus '{d.corpus}': use one of {', '.join(CORPORA)}")
        return d.corpus
    if d.format != "auto":
        return d.format
    path = Path(d.path)
    if path.is_dir():
        return "midi"
    suffix = path.suffix.lower()
    formats = {".mat": "mat", ".pickle": "pickle", ".pkl": "pickle", ".txt": "text", ".mid": "midi", ".midi": "midi"}
    if suffix in formats:
        return formats[suffix]
    if not path.exists():
        raise MusicDataError(f"{path}: no such file or folder (data.path)")
    raise MusicDataError(f"{path}: cannot tell the format from the name; set data.format (mat, pickle, midi, text)")


def load_splits(d: MusicData) -> tuple[str, dict[str, list[np.ndarray]] | dict[str, str], list[str]]:
    """('roll' or 'text', {split: rolls or text}, warnings about skipped or changed files)."""
    fmt = data_format(d)
    if d.grid not in GRIDS:
        raise ConfigError(f"data.grid '{d.grid}': use one of {', '.join(GRIDS)}")
    if fmt == "chords":
        return "roll", {s: rolls for s, (rolls, _) in corpus.chord_splits(d.corpus_pieces, d.corpus_seed).items()}, []
    if fmt == "text":
        if d.path:
            text, where = read_text(d.path), d.path
        else:
            text, where = corpus.short_text(d.corpus_sentences, d.corpus_seed), "embedded text"
        return "text", split_text(text, d.valid_fraction, d.test_fraction, where), []
    if fmt == "midi":
        if Path(d.path).is_file():
            raise MusicDataError(f"{d.path}: a single MIDI file; point data.path at a folder of MIDI files")
        splits, problems = read_midi_folder(d.path, d.grid, d.valid_fraction, d.test_fraction)
        return "roll", splits, problems
    splits = read_rolls(d.path)
    for split in SPLITS:
        for i, roll in enumerate(splits[split]):
            if len(roll) < 2:
                raise MusicDataError(f"{d.path}: {split}[{i}] has {len(roll)} frame(s); a piece needs at least 2")
    return "roll", splits, []


class Transposed(Sequence):
    """Training pieces under every shift -k..k: item ``piece * (2k + 1) + shift + k``."""

    def __init__(self, rolls: list[np.ndarray], limit: int) -> None:
        self.rolls, self.limit, self.width = rolls, limit, 2 * limit + 1

    def __len__(self) -> int:
        return len(self.rolls) * self.width

    def __getitem__(self, index: int) -> np.ndarray:
        piece, shift = divmod(index, self.width)
        return transpose(self.rolls[piece], shift - self.limit)


class MusicTask(Task):
    name = "music"
    Data = MusicData
    kinds = ("language_model",)

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.mode = ""  # roll | text
        self.vocab: CharVocab | None = None
        self.splits: dict[str, Any] | None = None
        self.problems: list[str] = []
        self.primer: list[list[int]] | str = []
        self.shifts: list[list[int]] = []  # per training piece, the transpositions that stay on the keys

    # -- data --------------------------------------------------------------------------------
    def prepare(self) -> None:
        d, m = self.cfg.data, self.cfg.model
        if m.kind != "language_model":
            raise ConfigError(f"the music task needs model.kind = 'language_model', not '{m.kind}'")
        if d.transpose < 0 or d.segment < 2 or d.eval_batch < 1:
            raise ConfigError("data: need transpose >= 0, segment >= 2 and eval_batch >= 1")
        self.mode, self.splits, self.problems = load_splits(d)
        if self.mode == "roll":
            m.input_vocab, m.input_dim, m.output_size, m.output = 0, KEYS, KEYS, "sigmoid"
            rolls = self.splits["train"]
            self.shifts = [shifts_within_keys(r, d.transpose) for r in rolls]
            self.train = Transposed(rolls, d.transpose)
            self.primer = roll_to_notes(rolls[0][:16])
        else:
            # The whole file's characters, as char-rnn does: a rare character that first appears
            # in the valid or test part must not stop training at its first evaluation.
            self.vocab = CharVocab.build("".join(self.splits.values()))
            m.input_vocab = m.output_size = len(self.vocab)
            m.input_dim, m.output, m.pad_id = 0, "softmax", PAD
            self.train = segments(self.vocab.encode(self.splits["train"]), d.segment)
            self.primer = self.splits["train"].split("\n", 1)[0][:80]

    def dataset(self) -> Sequence[Any]:
        return self.train

    def train_batches(self, epoch: int) -> list[list[int]]:
        t = self.cfg.train
        if self.mode == "text":
            return length_batches([len(s) - 1 for s in self.train], t.batch_size, t.batch_tokens, t.seed, epoch)
        # One shift per piece and epoch, drawn from (seed, epoch): the same on every run and rank.
        rng = random.Random(t.seed * 7_919 + epoch)
        width, limit = self.train.width, self.train.limit
        items = [i * width + rng.choice(shifts) + limit for i, shifts in enumerate(self.shifts)]
        lengths = [len(r) - 1 for r in self.train.rolls]
        return [[items[i] for i in b] for b in length_batches(lengths, t.batch_size, t.batch_tokens, t.seed, epoch)]

    def collate(self, examples: list[Any]) -> Batch:
        """Rolls -> x, y (batch, time, 88) float, frames 1..T-1 predicting 2..T; text -> x, y
        (batch, time) ids; lengths (batch,) predicted steps."""
        if self.mode == "text":
            x, lengths = pad([s[:-1] for s in examples], PAD)
            y, _ = pad([s[1:] for s in examples], PAD)
            return {"x": x, "y": y, "lengths": lengths}
        lengths = torch.tensor([len(r) - 1 for r in examples], dtype=torch.long)
        frames = torch.zeros(len(examples), int(lengths.max()) + 1, KEYS)
        for i, r in enumerate(examples):
            frames[i, : len(r)] = torch.from_numpy(np.asarray(r, dtype=np.float32))
        return {"x": frames[:, :-1], "y": frames[:, 1:], "lengths": lengths}

    def chunks(self, batch: Batch, length: int) -> Iterator[Batch]:
        return split_time(batch, length)

    # -- training and the metric -------------------------------------------------------------
    def loss(self, model: nn.Module, batch: Batch, state: State = None) -> LossOutput:
        logits, state = model(batch["x"], batch["lengths"], state)
        mask = length_mask(batch["lengths"], batch["x"].size(1), logits.device)
        if self.mode == "text":
            return LossOutput(*self.token_nll(logits, batch["y"], mask), state=state)
        return LossOutput(*bernoulli_nll(logits, batch["y"], mask), state=state)

    @torch.no_grad()
    def score(self, model: nn.Module, examples: list[Any]) -> tuple[float, int]:
        """The metric's (summed NLL in nats, predicted steps) over pieces (rolls) or id sequences:
        every step given all steps before it in its sequence. Long sequences run in chunks of
        EVAL_CHUNK steps with the state carried, which gives the same numbers in bounded memory."""
        device = next(model.parameters()).device
        order = sorted(range(len(examples)), key=lambda i: len(examples[i]))
        total, count = 0.0, 0
        for start in range(0, len(order), self.cfg.data.eval_batch):
            batch = self.collate([examples[i] for i in order[start : start + self.cfg.data.eval_batch]])
            batch = {k: v if k.endswith("lengths") else v.to(device) for k, v in batch.items()}
            state = None
            for chunk in self.chunks(batch, EVAL_CHUNK):
                out = self.loss(model, chunk, state)
                total += float(out.loss)
                count += int(out.count)
                state = out.state
        return total, count

    def split_examples(self, split: str) -> list[Any]:
        """The pieces (rolls) of a split, or its text as one id sequence, for ``score``."""
        if self.splits is None:  # restored from a checkpoint: read the data the run was trained on
            mode, self.splits, _ = load_splits(self.cfg.data)
            if mode != self.mode:
                raise MusicDataError(f"{self.cfg.data.path}: {mode} data, but the checkpoint holds a {self.mode} model")
        data = self.splits[split]
        if self.mode == "roll":
            return list(data)
        self.vocab.check(data, f"{self.cfg.data.path or 'embedded text'} ({split} split)", strict=True)
        return [self.vocab.encode(data)]

    def metrics(self, model: nn.Module, split: str) -> dict[str, float]:
        """{'loss': nats per step, and 'nll' (rolls) or 'bpc' (text)} of one split."""
        total, count = self.score(model, self.split_examples(split))
        nats = total / max(count, 1)
        if self.mode == "text":
            return {"loss": nats, "bpc": nats / math.log(2), "steps": count}
        return {"loss": nats, "nll": nats, "steps": count}

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        out = self.metrics(model, "valid")
        out.pop("steps")
        return out

    def after_training(self, model: nn.Module, out_dir: str) -> dict[str, str]:
        """Choose the final model on the validation split only, then score it on test: the best
        checkpoint, or, with ``data.average_last = N``, the mean of the last N step checkpoints'
        weights when that scores better on valid. Writes final.pt and test_scores.json."""
        import json

        from seq2seq import checkpoint as ckpt_io

        out = Path(out_dir)
        candidates = {"best.pt": self.metrics(model, "valid")}
        chosen, n = "best.pt", self.cfg.data.average_last
        steps = ckpt_io.step_checkpoints(out)[-n:] if n > 1 else []
        if len(steps) > 1:
            best_weights = {k: v.clone() for k, v in model.state_dict().items()}
            averaged = ckpt_io.average(steps)
            model.load_state_dict(averaged["model"])
            name = f"average of the last {len(steps)} checkpoints"
            candidates[name] = self.metrics(model, "valid")
            if candidates[name]["loss"] < candidates["best.pt"]["loss"]:
                chosen = name
                ckpt_io.save(out / "final.pt", averaged)
            else:
                model.load_state_dict(best_weights)
        if chosen == "best.pt":
            ckpt_io.atomic_write(out / "final.pt", lambda f: f.write((out / "best.pt").read_bytes()))
        scores: dict[str, Any] = {"final": chosen, "valid": candidates[chosen], "candidates": candidates}
        unit = "bpc" if self.mode == "text" else "nll"
        shown = ", ".join(f"{k} {v[unit]:.4f}" for k, v in candidates.items())
        line = f"final.pt = {chosen} (valid {unit}: {shown})"
        if self.splits and len(self.splits["test"]):
            scores["test"] = self.metrics(model, "test")
            line += f"; test {unit} {scores['test'][unit]:.4f}"
        path = out / "test_scores.json"
        ckpt_io.atomic_write(path, lambda f: f.write((json.dumps(scores, indent=2) + "\n").encode("utf-8")))
        print(line)
        return {"final checkpoint (chosen on valid)": str(out / "final.pt"), "valid and test scores": str(path)}

    # -- inference ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "chars": self.vocab.chars if self.vocab else [],
            "grid": self.cfg.data.grid,
            "primer": self.primer,
            "problems": self.problems,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.mode = state.get("mode", "")
        self.vocab = CharVocab(state["chars"]) if state.get("chars") else None
        self.primer = state.get("primer", [])
        self.problems = list(state.get("problems", []))

    def primer_roll(self) -> np.ndarray:
        """The default primer of a piano-roll model (the start of its first training piece)."""
        return notes_to_roll(self.primer, "checkpoint primer")


def roll_batch(roll: np.ndarray, device: torch.device) -> Tensor:
    """A (time, 88) roll as a (1, time, 88) float tensor on ``device``."""
    return torch.from_numpy(np.asarray(roll, dtype=np.float32))[None].to(device)
