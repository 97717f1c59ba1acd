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
from typing import Any

import torch
from torch import nn

from seq2seq.config import ConfigError
from seq2seq.nn.models import length_mask
from seq2seq.search import greedy, max_lengths
from seq2seq.task import Batch, LossOutput, State, Task, length_batches, pad, split_time

PAD, BOS, EOS, FIRST = 0, 1, 2, 3
PROBLEMS = {
    "copy": "encoder_decoder",
    "reverse": "encoder_decoder",
    "sort": "encoder_decoder",
    "delay": "tagger",
    "ahead": "tagger",
    "cycle": "language_model",
}


@dataclass
class ToyData:
    problem: str = "reverse"
    symbols: int = 10
    min_len: int = 3
    max_len: int = 8
    train_size: int = 4000
    valid_size: int = 300
    seed: int = 7  # data seed, independent of train.seed


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

    def prepare(self) -> None:
        d, m = self.cfg.data, self.cfg.model
        if d.problem not in PROBLEMS:
            raise ConfigError(f"data.problem '{d.problem}': use one of {', '.join(PROBLEMS)}")
        if PROBLEMS[d.problem] != m.kind:
            raise ConfigError(f"data.problem '{d.problem}' needs model.kind = '{PROBLEMS[d.problem]}', not '{m.kind}'")
        if not 1 <= d.min_len <= d.max_len:
            raise ConfigError("data: need 1 <= min_len <= max_len")
        m.input_vocab = FIRST + d.symbols
        m.input_dim = 0
        m.output_size = d.symbols + 1 if m.kind == "tagger" else FIRST + d.symbols
        m.pad_id, m.bos_id, m.eos_id = PAD, BOS, EOS
        self.train = make_examples(d, d.train_size, d.seed)
        self.valid = make_examples(d, d.valid_size, d.seed + 1)

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
        if self.cfg.model.kind == "encoder_decoder":
            raise ConfigError("train.tbptt applies to taggers and language models, not encoder_decoder")
        return split_time(batch, length)

    def loss(self, model: nn.Module, batch: Batch, state: State = None) -> LossOutput:
        if self.cfg.model.kind == "encoder_decoder":
            logits = model(batch["src"], batch["src_lengths"], batch["tgt_in"])
            mask = batch["tgt_out"] != PAD
            return LossOutput(*self.token_nll(logits, batch["tgt_out"], mask))
        logits, state = model(batch["x"], batch["lengths"], state)
        mask = length_mask(batch["lengths"], batch["x"].size(1), logits.device)
        return LossOutput(*self.token_nll(logits, batch["y"], mask), state=state)

    def decode(self, model: nn.Module, inputs: list[list[int]]) -> list[list[int]]:
        """Greedy outputs (ids) of an encoder-decoder for input id lists."""
        device = next(model.parameters()).device
        src, lengths = pad(inputs)
        state = model.start(src.to(device), lengths)
        first = torch.full((len(inputs),), BOS, device=device)
        out, _ = greedy(model, state, first, max_lengths(lengths, 1.0, 2).to(device), EOS)
        return [[t for t in row if t not in (PAD, EOS)] for row in out.tolist()]

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        device = next(model.parameters()).device
        if not hasattr(self, "valid"):  # restored from a checkpoint: regenerate (deterministic)
            self.valid = make_examples(self.cfg.data, self.cfg.data.valid_size, self.cfg.data.seed + 1)
        total = count = 0.0
        right = tokens = seqs_right = 0
        for start in range(0, len(self.valid), 256):
            examples = self.valid[start : start + 256]
            batch = {k: v.to(device) if not k.endswith("lengths") else v for k, v in self.collate(examples).items()}
            out = self.loss(model, batch)
            total, count = total + float(out.loss), count + float(out.count)
            if self.cfg.model.kind == "encoder_decoder":
                hyps = self.decode(model, [x for x, _ in examples])
                for hyp, (_, ref) in zip(hyps, examples, strict=True):
                    seqs_right += hyp == ref
                    right += sum(a == b for a, b in zip(hyp, ref, strict=False))
                    tokens += len(ref)
            else:
                logits, _ = model(batch["x"], batch["lengths"])
                mask = length_mask(batch["lengths"], batch["x"].size(1), device)
                hit = (logits.argmax(-1) == batch["y"]) & mask
                right += int(hit.sum())
                tokens += int(mask.sum())
                seqs_right += int((hit | ~mask).all(dim=1).sum())
        return {"loss": total / count, "accuracy": right / tokens, "sequence_accuracy": seqs_right / len(self.valid)}

    def state(self) -> dict[str, Any]:
        return {}
