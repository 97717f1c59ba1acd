"""Toy problems on random symbol sequences: the smallest end-to-end use of the core, for the demo
and for tests that must show a model really learns.

- ``copy``, ``reverse``, ``sort``: sequence to sequence (``encoder_decoder``)
- ``delay``: label step t with the symbol at t-1 (a causal ``tagger`` can do it)
- ``ahead``: label step t with the symbol at t+1 (needs the future: a bidirectional ``tagger``)
- ``cycle``: sequences x_t = (a + d t) mod N; predict the next symbol (``language_model``)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from seq2seq.config import Config, ConfigError, Section, key
from seq2seq.nn.models import Dims, length_mask
from seq2seq.search import greedy, max_lengths
from seq2seq.task import Batch, LossOutput, State, Task, eval_batches, length_batches, pad, split_time

PAD, BOS, EOS, FIRST = 0, 1, 2, 3
Problem = Literal["copy", "reverse", "sort", "delay", "ahead", "cycle"]
PROBLEMS = {
    "copy": "encoder_decoder",
    "reverse": "encoder_decoder",
    "sort": "encoder_decoder",
    "delay": "tagger",
    "ahead": "tagger",
    "cycle": "language_model",
}


@dataclass(frozen=True)
class ToyData(Section):
    problem: Problem = key("reverse", "copy / reverse / sort (encoder_decoder), delay / ahead (tagger), cycle "
                           "(language_model)")  # fmt: skip
    symbols: int = key(10, "distinct symbols", min=2)
    min_len: int = key(3, "shortest sequence", min=1)
    max_len: int = key(8, "longest sequence", min=1)
    train_size: int = key(4000, "training sequences", min=1)
    valid_size: int = key(300, "validation sequences", min=1)
    seed: int = key(7, "data seed, independent of train.seed")


def make_examples(d: ToyData, n: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """(input ids, target ids) pairs. Symbols are ids FIRST..FIRST+symbols-1; tagger targets are
    label indices 0..symbols (``symbols`` meaning 'no symbol')."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(d.min_len, d.max_len)
        if d.problem == "cycle":
            a, step = rng.randrange(d.symbols), rng.randrange(1, d.symbols)
            xs = [FIRST + (a + step * t) % d.symbols for t in range(length + 1)]
            out.append((xs, xs))
            continue
        xs = [FIRST + rng.randrange(d.symbols) for _ in range(length)]
        if d.problem == "copy":
            ys = list(xs)
        elif d.problem == "reverse":
            ys = xs[::-1]
        elif d.problem == "sort":
            ys = sorted(xs)
        else:
            labels = [x - FIRST for x in xs]
            none = [d.symbols]
            ys = none + labels[:-1] if d.problem == "delay" else labels[1:] + none
        out.append((xs, ys))
    return out


class ToyTask(Task):
    name = "toy"
    Data = ToyData
    kinds = ("encoder_decoder", "tagger", "language_model")
    metrics = {"loss": "min", "accuracy": "max", "sequence_accuracy": "max"}

    @classmethod
    def check(cls, cfg: Config) -> None:
        d, kind = cfg.data, cfg.model.kind
        if PROBLEMS[d.problem] != kind:
            raise ConfigError(f"data.problem '{d.problem}' needs model.kind = '{PROBLEMS[d.problem]}', not '{kind}'")
        if d.min_len > d.max_len:
            raise ConfigError(f"data: need min_len <= max_len, got {d.min_len} > {d.max_len}")
        if kind == "encoder_decoder" and cfg.train.tbptt > 0:
            raise ConfigError("train.tbptt applies to taggers and language models, not encoder_decoder")

    def dims_of(self) -> Dims:
        s, kind = self.cfg.data.symbols, self.cfg.model.kind
        return Dims(input_vocab=FIRST + s, output_size=s + 1 if kind == "tagger" else FIRST + s,
                    pad_id=PAD, bos_id=BOS, eos_id=EOS)  # fmt: skip

    def prepare(self, restored: dict[str, Any] | None = None) -> Dims:
        d = self.cfg.data
        self.train = make_examples(d, d.train_size, d.seed)
        self.valid = make_examples(d, d.valid_size, d.seed + 1)
        self.dims = self.dims_of()
        return self.dims

    def dataset(self) -> list[tuple[list[int], list[int]]]:
        return self.train

    def train_batches(self, epoch: int) -> list[list[int]]:
        t = self.cfg.train
        return length_batches([len(x) for x, _ in self.train], t.batch_size, t.batch_tokens, t.seed, epoch)

    def collate(self, examples: list[tuple[list[int], list[int]]]) -> Batch:
        kind = self.cfg.model.kind
        if kind == "encoder_decoder":
            src, src_lengths = pad([x for x, _ in examples])
            tgt_in, _ = pad([[BOS, *y] for _, y in examples])
            tgt_out, _ = pad([[*y, EOS] for _, y in examples])
            return {"src": src, "src_lengths": src_lengths, "tgt_in": tgt_in, "tgt_out": tgt_out}
        if kind == "tagger":
            x, lengths = pad([x for x, _ in examples])
            y, _ = pad([y for _, y in examples])
            return {"x": x, "y": y, "lengths": lengths}
        x, lengths = pad([x[:-1] for x, _ in examples])
        y, _ = pad([x[1:] for x, _ in examples])
        return {"x": x, "y": y, "lengths": lengths}

    def chunks(self, batch: Batch, length: int):
        return split_time(batch, length)

    def loss(self, model: nn.Module, batch: Batch, state: State = None) -> LossOutput:
        if self.cfg.model.kind == "encoder_decoder":
            logits = model(batch["src"], batch["src_lengths"], batch["tgt_in"])
            mask = batch["tgt_out"] != PAD
            return LossOutput(*self.token_nll(model, logits, batch["tgt_out"], mask))
        logits, state = model(batch["x"], batch["lengths"], state)
        mask = length_mask(batch["lengths"], batch["x"].size(1), logits.device)
        return LossOutput(*self.token_nll(model, logits, batch["y"], mask), state=state)

    def decode(self, model: nn.Module, inputs: list[list[int]]) -> list[list[int]]:
        """Greedy outputs (ids) of an encoder-decoder for input id lists."""
        device = next(model.parameters()).device
        src, lengths = pad(inputs)
        state = model.start(src.to(device), lengths)
        first = torch.full((len(inputs),), BOS, device=device)
        out, _ = greedy(model, state, first, max_lengths(lengths, 1.0, 2).to(device), EOS)
        return [[t for t in row if t not in (PAD, EOS)] for row in out.tolist()]

    def split(self, split: str) -> list[tuple[list[int], list[int]]]:
        if split != "valid":
            raise ConfigError(f"the toy task has train and valid splits, not '{split}'")
        if not hasattr(self, "valid"):  # restored from a checkpoint: regenerate (deterministic)
            self.valid = make_examples(self.cfg.data, self.cfg.data.valid_size, self.cfg.data.seed + 1)
        return self.valid

    def valid_batches(self, split: str = "valid"):
        examples = self.split(split)
        return eval_batches(examples, [len(x) for x, _ in examples], self.collate)

    @torch.no_grad()
    def scores(self, model: nn.Module, split: str, loss: float) -> dict[str, float]:
        """Accuracy over target steps and over whole sequences (greedy decoding for an
        encoder-decoder, the argmax of each step otherwise)."""
        device = next(model.parameters()).device
        examples = self.split(split)
        right = tokens = seqs_right = 0
        for start in range(0, len(examples), 256):
            chunk = examples[start : start + 256]
            if self.cfg.model.kind == "encoder_decoder":
                hyps = self.decode(model, [x for x, _ in chunk])
                for hyp, (_, ref) in zip(hyps, chunk, strict=True):
                    seqs_right += hyp == ref
                    right += sum(a == b for a, b in zip(hyp, ref, strict=False))
                    tokens += len(ref)
                continue
            batch = self.collate(chunk)
            logits, _ = model(batch["x"].to(device), batch["lengths"])
            mask = length_mask(batch["lengths"], batch["x"].size(1), device)
            hit = (logits.argmax(-1) == batch["y"].to(device)) & mask
            right += int(hit.sum())
            tokens += int(mask.sum())
            seqs_right += int((hit | ~mask).all(dim=1).sum())
        return {"accuracy": right / tokens, "sequence_accuracy": seqs_right / len(examples)}
