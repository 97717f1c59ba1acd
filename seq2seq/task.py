"""What a recipe plugs into the shared training loop: data, a loss, and a validation metric.

A task never trains: ``seq2seq.train.Trainer`` does, for every task. A task

- reads its data and resolves the model's sizes from it (``prepare``),
- serves a map-style dataset plus a deterministic list of batches per epoch (so a checkpoint can
  record the data position as (epoch, batch index) and resume exactly),
- computes the summed loss of a batch and how many items it covers,
- scores the model on the validation split,
- keeps what inference needs besides weights (vocabularies, label names) as plain data that is
  stored in the checkpoint (``state`` / ``load_state``).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from seq2seq.config import Config
from seq2seq.losses import compiled_token_nll, token_nll

Batch = dict[str, Tensor]
State = tuple[Tensor, ...] | None

# Task name -> "module:Class". Imported lazily so the CLI starts fast and a recipe's optional
# dependencies load only when it is used.
TASKS: dict[str, str] = {
    "toy": "seq2seq.toy:ToyTask",
    "translation": "seq2seq.translation.task:TranslationTask",
    "video": "seq2seq.video.task:VideoTask",
    "music": "seq2seq.music.task:MusicTask",
}


def task_class(name: str) -> type[Task]:
    """The Task subclass registered under ``name``."""
    if name not in TASKS:
        raise KeyError(f"unknown task '{name}'; known tasks: {', '.join(sorted(TASKS))}")
    module, cls = TASKS[name].split(":")
    return getattr(importlib.import_module(module), cls)


@dataclass
class LossOutput:
    """The summed loss of a batch, the number of items it sums over, and the carried state."""

    loss: Tensor  # scalar, summed over items
    count: Tensor  # scalar, number of items (tokens, frames, steps)
    state: State = None


class Task(ABC):
    """Base class of a recipe's task. Subclasses set ``name`` and ``Data`` and override the rest."""

    name: ClassVar[str] = ""
    Data: ClassVar[type] = object
    # Checkpoint model kinds this task can use.
    kinds: ClassVar[tuple[str, ...]] = ("encoder_decoder", "tagger", "language_model")

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    # -- data --------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Read the data and fill in ``cfg.model``'s sizes. Called once before training."""

    @abstractmethod
    def dataset(self) -> Sequence[Any]:
        """Training examples, indexed by the batches of ``train_batches``."""

    @abstractmethod
    def train_batches(self, epoch: int) -> list[list[int]]:
        """Lists of dataset indices, one per batch, in a deterministic order for this epoch."""

    @abstractmethod
    def collate(self, examples: list[Any]) -> Batch:
        """Pad examples into a batch of tensors. Keys ending in ``lengths`` stay on the CPU."""

    def chunks(self, batch: Batch, length: int) -> Iterator[Batch]:
        """Split a batch along time for truncated BPTT; the default does not split."""
        yield batch

    # -- training ----------------------------------------------------------------------------
    @abstractmethod
    def loss(self, model: nn.Module, batch: Batch, state: State = None) -> LossOutput:
        """Summed loss of ``batch``; ``state`` is the recurrent state carried from the previous
        chunk of the same sequences (truncated BPTT), else None."""

    def token_nll(self, logits: Tensor, targets: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """The training loss over a vocabulary: ``losses.token_nll`` with ``train.label_smoothing``,
        compiled when ``train.compile`` is on. logits: (batch, time, vocab); targets, mask:
        (batch, time). Returns (sum, count)."""
        loss = compiled_token_nll() if self.cfg.train.compile else token_nll
        return loss(logits, targets, mask, self.cfg.train.label_smoothing)

    @abstractmethod
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Validation metrics of ``model`` (in eval mode); must include ``cfg.train.metric``.
        Also called on a task restored from a checkpoint (``load_state`` without ``prepare``),
        e.g. by ``seq2seq evaluate``: read the validation data lazily then."""

    def metric_mode(self, metric: str) -> str:
        """'min' if lower is better for this metric, else 'max'."""
        lower_better = ("loss", "nll", "ppl", "perplexity", "bpc", "error", "wer", "cer")
        return "min" if any(w in metric.lower() for w in lower_better) else "max"

    # -- inference ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Plain data (str, int, float, list, dict, bytes, tensors) that inference needs."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what ``state`` returned, for inference from a checkpoint."""

    def after_training(self, model: nn.Module, out_dir: str) -> dict[str, str]:
        """Optional outputs after training (plots, test scores); returns {what: path}."""
        return {}


def pad(seqs: Sequence[Sequence[int]], value: int = 0) -> tuple[Tensor, Tensor]:
    """Pad id lists into (batch, time) int64 and their lengths (batch,)."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    out = torch.full((len(seqs), int(lengths.max()) if len(seqs) else 0), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out, lengths


def split_time(batch: Batch, length: int, lengths_key: str = "lengths") -> Iterator[Batch]:
    """Chunks of ``length`` steps for truncated BPTT. Tensors with the batch's time axis on dim 1
    are sliced; ``lengths_key`` becomes each chunk's real steps (0 for ended sequences)."""
    lengths = batch[lengths_key]
    steps = max(v.size(1) for k, v in batch.items() if k != lengths_key and v.dim() >= 2)
    for start in range(0, steps, length):
        chunk = {}
        for k, v in batch.items():
            if k == lengths_key:
                chunk[k] = (lengths - start).clamp(0, length)
            elif v.dim() >= 2 and v.size(1) == steps:
                chunk[k] = v[:, start : start + length]
            else:
                chunk[k] = v
        yield chunk


def length_batches(
    lengths: Sequence[int], batch_size: int, batch_tokens: int, seed: int, epoch: int, shuffle: bool = True
) -> list[list[int]]:
    """Indices grouped into batches of similar length (little padding), capped by ``batch_size``
    sequences or, if ``batch_tokens`` > 0, by padded tokens; batch order shuffled by (seed, epoch)
    so it is the same on every run and every rank."""
    import random

    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    if shuffle:
        rng.shuffle(order)  # random order among equal lengths
    order.sort(key=lambda i: lengths[i])
    batches, current, longest = [], [], 0
    for i in order:
        longest_next = max(longest, lengths[i])
        too_many = batch_tokens > 0 and longest_next * (len(current) + 1) > batch_tokens
        if current and (too_many or (batch_tokens <= 0 and len(current) >= batch_size)):
            batches.append(current)
            current, longest_next = [], lengths[i]
        current.append(i)
        longest = longest_next
    if current:
        batches.append(current)
    if shuffle:
        rng.shuffle(batches)
    return batches
