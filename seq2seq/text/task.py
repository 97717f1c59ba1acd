"""Next-step prediction of characters: the ``text`` task (char-rnn style).

The metric is the core's validation loss: the negative log-likelihood of each character given the
characters before it (softmax over the training text's characters), averaged over the split, in
nats (``loss``) and bits per character (``bpc`` = nats / ln 2). The splits are contiguous parts
of one text (train first, then valid, then test); training reads ``segment``-character pieces of
the training part, cut into ``train.tbptt`` chunks with the state carried.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from seq2seq.config import Config, ConfigError, Section, key
from seq2seq.nextstep import NextStepTask, average_last_key
from seq2seq.nn.models import Dims, length_mask
from seq2seq.task import Batch, Examples, LossOutput, State, eval_batches, length_batches, pad
from seq2seq.text import corpus
from seq2seq.text.vocab import PAD, CharVocab, TextDataError, read_text, segments, split_text

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class TextData(Section):
    path: str = key("", 'a UTF-8 text file; "": the embedded generated text')
    valid_fraction: float = key(0.1, "the share of the text (before the test part) for validation", min=0, lt=1)
    test_fraction: float = key(0.1, "the share at the end of the text for test", min=0, lt=1)
    segment: int = key(1000, "characters per training sequence (split into train.tbptt chunks)", min=2)
    average_last: int = average_last_key()
    corpus_sentences: int = key(2400, "embedded text: sentences in all", min=10)
    corpus_seed: int = key(11, "embedded text: seed")


class TextTask(NextStepTask):
    name = "text"
    Data = TextData
    metrics = {"loss": "min", "bpc": "min"}
    search_keys = frozenset({"temperature", "top_k", "top_p"})
    unit = "bpc"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.vocab: CharVocab | None = None
        self.splits: dict[str, str] | None = None
        self.primer = ""

    @classmethod
    def check(cls, cfg: Config) -> None:
        d = cfg.data
        if d.valid_fraction + d.test_fraction >= 1:
            raise ConfigError("data.valid_fraction + data.test_fraction must leave text for training")

    @property
    def where(self) -> str:
        return self.cfg.data.path or "embedded text"

    def read_splits(self) -> dict[str, str]:
        d = self.cfg.data
        text = read_text(d.path) if d.path else corpus.short_text(d.corpus_sentences, d.corpus_seed)
        return split_text(text, d.valid_fraction, d.test_fraction, self.where)

    def prepare(self, restored: dict[str, Any] | None = None) -> Dims:
        self.splits = self.read_splits()
        if restored and restored.get("chars"):
            self.vocab = CharVocab(restored["chars"])
        else:
            # The whole file's characters, as char-rnn does: a rare character that first appears
            # in the valid or test part must not stop training at its first evaluation.
            self.vocab = CharVocab.build("".join(self.splits.values()))
        self.train = segments(self.vocab.encode(self.splits["train"]), self.cfg.data.segment)
        self.primer = self.splits["train"].split("\n", 1)[0][:80]
        self.dims = Dims(input_vocab=len(self.vocab), output_size=len(self.vocab), pad_id=PAD)
        return self.dims

    def dataset(self) -> list[list[int]]:
        return self.train

    def train_batches(self, epoch: int) -> list[list[int]]:
        t = self.cfg.train
        return length_batches([len(s) - 1 for s in self.train], t.batch_size, t.batch_tokens, t.seed, epoch)

    def collate(self, examples: list[list[int]]) -> Batch:
        """Id sequences -> x, y (batch, time) ids, steps 1..T-1 predicting 2..T; lengths (batch,)."""
        x, lengths = pad([s[:-1] for s in examples], PAD)
        y, _ = pad([s[1:] for s in examples], PAD)
        return {"x": x, "y": y, "lengths": lengths}

    def loss(self, model: nn.Module, batch: Batch, state: State = None) -> LossOutput:
        logits, state = model(batch["x"], batch["lengths"], state)
        mask = length_mask(batch["lengths"], batch["x"].size(1), logits.device)
        return LossOutput(*self.token_nll(model, logits, batch["y"], mask), state=state)

    def split_ids(self, split: str) -> list[int]:
        """A split's text as one id sequence; a character the model never saw is an error."""
        if split not in SPLITS:
            raise ConfigError(f"split '{split}': use one of {', '.join(SPLITS)}")
        if self.splits is None:  # restored from a checkpoint: read the text the run was trained on
            self.splits = self.read_splits()
        text = self.splits[split]
        before = "".join(self.splits[s] for s in SPLITS[: SPLITS.index(split)])
        self.vocab.check(text, f"{self.where} ({split} split)", strict=True, first_line=before.count("\n") + 1)
        return self.vocab.encode(text)

    def has_split(self, split: str) -> bool:
        return len(self.split_ids(split)) > 1

    def valid_batches(self, split: str = "valid") -> Iterator[Batch]:
        ids = self.split_ids(split)
        if len(ids) < 2:
            raise TextDataError(f"{self.where}: the {split} split has fewer than 2 characters")
        return eval_batches([ids], [len(ids) - 1], self.collate)

    def scores(self, model: nn.Module, split: str, loss: float) -> dict[str, float]:
        return {"bpc": loss / math.log(2)}

    def examples(self, model: nn.Module, split: str, n: int, folder: Path) -> Examples:
        """``n`` samples of 200 characters (seeds 0, 1, ...) after the first line of ``split``
        (its first 60 characters), with the recipe's sampling settings."""
        from seq2seq.text.generate import continue_text

        text = self.splits[split] if self.splits else ""
        primer = text.split("\n", 1)[0][:60] or text[:60]
        if not primer:
            return Examples()
        s = self.cfg.search
        samples = [continue_text(model, self.vocab, primer, 200, s.temperature, s.top_k, s.top_p, seed=i)
                   for i in range(n)]  # fmt: skip
        quoted = "\n\n".join(f"    {primer}{sample}".replace("\n", "\n    ") for sample in samples)
        return Examples(text={"samples": quoted})

    def state(self) -> dict[str, Any]:
        return {"chars": self.vocab.chars if self.vocab else [], "primer": self.primer}

    def describe(self) -> dict[str, str]:
        return {"characters": f"{len(self.vocab.chars)} (and unknown, padding)", "trained on": self.where,
                "default primer": repr(self.primer)}  # fmt: skip

    def restore(self, state: dict[str, Any], dims: Dims, where: str = "checkpoint") -> None:
        self.dims = dims
        self.vocab = CharVocab(state["chars"])
        self.primer = state.get("primer", "")
