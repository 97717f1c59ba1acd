"""What a recipe plugs into the shared core: data, a loss and its own scores. The contract:

    cfg  = load_config(recipe)        # seq2seq.registry: keys, types, choices, the task's metric
    task = make_task(cfg)             # the recipe's Task subclass; reads nothing yet
    dims = task.prepare()             # reads the data; returns the sizes and ids (Dims)
    model = build_model(cfg.model, dims)
    Trainer(cfg.train, task, model).fit()

Data flows one way: a task reads its config and never writes into it (configs are frozen); what
it learns from the data (sizes, vocabularies, label names, normalisation) it returns as ``Dims``
or keeps as its own state (``state`` / ``restore``), which checkpoints store.

A task never trains and never loops over validation data itself: ``seq2seq.trainer`` does both, for
every task. A task declares (class attributes) its name, its ``[data]`` dataclass, the model kinds
it can use, its validation metrics with their direction and the ``[search]`` keys it reads; the
loader checks a recipe against them before any data is read. It serves a map-style training
dataset with a deterministic list of batches per epoch (so a checkpoint records the data position
as (epoch, batch index) and resumes exactly), computes the summed loss of a batch, collates its
validation split, and adds the scores only it knows (BLEU, segment F1, ...).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from seq2seq.config import Config, ConfigError
from seq2seq.losses import compiled_token_nll, token_nll
from seq2seq.nn.models import Dims

Batch = dict[str, Tensor]
State = tuple[Tensor, ...] | None
Direction = Literal["min", "max"]

# Validation batches: at most this many padded steps each (one longer sequence gets its own).
EVAL_TOKENS = 4096


@dataclass
class LossOutput:
    """The summed loss of a batch, the number of items it sums over, and the carried state."""

    loss: Tensor  # scalar, summed over items
    count: Tensor  # scalar, number of items (tokens, frames, steps)
    state: State = None


@dataclass
class Examples:
    """Example outputs for TensorBoard: {tag: markdown text} and {tag: PNG file}."""

    text: dict[str, str] = field(default_factory=dict)
    images: dict[str, Path] = field(default_factory=dict)


class Task(ABC):
    """Base class of a recipe's task. Subclasses set the class attributes and override the rest."""

    name: ClassVar[str] = ""
    Data: ClassVar[type] = object
    kinds: ClassVar[tuple[str, ...]] = ()  # model kinds this task can train
    # Validation metrics (``loss`` always among them) and whether lower or higher is better.
    metrics: ClassVar[dict[str, Direction]] = {"loss": "min"}
    search_keys: ClassVar[frozenset[str]] = frozenset()  # the [search] keys this task reads
    # > 0: validation runs each batch in chunks of this many steps with the state carried (the
    # same numbers in bounded memory, for causal models over long sequences).
    eval_chunk: ClassVar[int] = 0

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.dims: Dims | None = None

    @classmethod
    def check(cls, cfg: Config) -> None:
        """Refuse a config this task cannot run (cross-key rules), before any data is read.
        Raise ``ConfigError`` naming the keys."""

    # -- data --------------------------------------------------------------------------------
    @abstractmethod
    def prepare(self, restored: dict[str, Any] | None = None) -> Dims:
        """Read the data and return the model's sizes. ``restored`` is the task state of the
        checkpoint a run resumes from: what was learnt from the data then (a subword model, the
        normalisation) is reused, not recomputed."""

    def restore(self, state: dict[str, Any], dims: Dims, where: str = "checkpoint") -> None:
        """For inference: take back what ``state`` returned, without reading the training data.
        ``where`` names the checkpoint file in messages."""
        self.dims = dims

    def state(self) -> dict[str, Any]:
        """Plain data (str, int, float, list, dict, bytes, tensors) that inference needs."""
        return {}

    def describe(self) -> dict[str, str]:
        """What ``seq2seq info`` shows of a restored task: what the model needs and knows."""
        return {}

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
        """Split a batch along time for truncated BPTT."""
        raise ConfigError(f"train.tbptt: the {self.name} task cannot split its batches along time; set it to 0")

    # -- the loss and validation -------------------------------------------------------------
    @abstractmethod
    def loss(self, model: nn.Module, batch: Batch, state: State = None) -> LossOutput:
        """Summed loss of ``batch`` (training and validation alike; in eval mode the plain
        likelihood, see ``token_nll``); ``state`` is the recurrent state carried from the previous
        chunk of the same sequences, else None."""

    def token_nll(self, model: nn.Module, logits: Tensor, targets: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """The loss over a vocabulary: in training with ``train.label_smoothing`` (compiled when
        ``train.compile`` is on), in evaluation the plain negative log-likelihood. logits:
        (batch, time, vocab); targets, mask: (batch, time). Returns (sum, count)."""
        t = self.cfg.train
        if not model.training:
            return token_nll(logits, targets, mask)
        loss = compiled_token_nll() if t.compile else token_nll
        return loss(logits, targets, mask, t.label_smoothing)

    @abstractmethod
    def valid_batches(self, split: str = "valid") -> Iterator[Batch]:
        """Collated batches of a split (``valid``, or another the task has, e.g. ``test``), in a
        fixed order; ``seq2seq.trainer.validate`` sums their loss. On a task restored from a
        checkpoint (``restore`` without ``prepare``) read the split lazily."""

    def scores(self, model: nn.Module, split: str, loss: float) -> dict[str, float]:
        """The task's own validation metrics of ``model`` (in eval mode) on ``split``, besides the
        loss the core computed: every metric in ``metrics`` but ``loss``."""
        return {}

    def examples(self, model: nn.Module, split: str, n: int, folder: Path) -> Examples:
        """Up to ``n`` example outputs of ``model`` (in eval mode, under no_grad) on ``split`` for
        TensorBoard: markdown text, and PNG figures written into ``folder`` (a temporary folder).
        Draw random numbers only from the global torch RNG or a seeded generator: the trainer
        forks the torch RNG around this call."""
        return Examples()

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


def eval_batches(
    examples: Sequence[Any], lengths: Sequence[int], collate: Callable[[list[Any]], Batch]
) -> Iterator[Batch]:
    """Validation batches of ``examples``: sorted by length, at most ``EVAL_TOKENS`` padded steps
    each, collated by ``collate``. The one batching every task's validation uses."""
    for group in length_batches(lengths, 0, EVAL_TOKENS, 0, 0, shuffle=False):
        yield collate([examples[i] for i in group])
