"""The translation task: parallel text (or the generated numbers corpus) -> SentencePiece ids ->
length-bucketed batches for the core's encoder-decoder; validation BLEU with the core's beam search.

Recipe keys (``[data]``) are documented in docs/translation.md.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seq2seq.checkpoint import CheckpointError
from seq2seq.config import ConfigError
from seq2seq.losses import token_nll
from seq2seq.task import Batch, LossOutput, State, Task, length_batches, pad
from seq2seq.translation import numbers
from seq2seq.translation.subwords import BOS, EOS, PAD, Subwords, build
from seq2seq.translation.text import read_parallel, write_lines
from seq2seq.translation.translator import Options, Translator

Pair = tuple[list[int], list[int]]


@dataclass
class TranslationData:
    corpus: str = "files"  # files | numbers (the generated English -> German corpus)
    train_src: str = ""  # line-aligned UTF-8 text, plain or .gz
    train_tgt: str = ""
    valid_src: str = ""
    valid_tgt: str = ""
    test_src: str = ""  # optional: translated and scored with the best checkpoint after training
    test_tgt: str = ""
    subwords: str = "joint"  # joint (one model for both sides) | separate
    subword_type: str = "unigram"  # unigram | bpe
    vocab_size: int = 8000  # per model
    subword_models: list[str] = field(default_factory=list)  # existing SentencePiece models instead of training
    # Subword regularisation: > 0 draws a new segmentation of every training sentence each epoch
    # (unigram: sampling among the n-best, flatter as alpha falls; bpe: BPE-dropout rate alpha).
    subword_alpha: float = 0.0
    subword_nbest: int = 64  # unigram candidates to sample from; -1: all of them
    max_len: int = 100  # training pairs with a side longer than this (subwords) are dropped
    max_ratio: float = 3.0  # ... and pairs whose longer side exceeds the shorter this many times
    valid_size: int = 0  # 0: the whole validation set; else its first N pairs (faster evaluation)
    # The generated corpus (corpus = "numbers"):
    generated_train: int = 20000
    generated_valid: int = 500
    generated_test: int = 500
    max_number: int = 999
    seed: int = 1


def filter_pairs(pairs: list[Pair], max_len: int, max_ratio: float) -> tuple[list[int], dict[str, int]]:
    """Drop pairs with an empty side, a side longer than ``max_len``, or a length ratio above
    ``max_ratio``. Returns the indices of the kept pairs and how many were dropped for each reason."""
    kept: list[int] = []
    dropped = {"empty": 0, "too long": 0, "length ratio": 0}
    for i, (src, tgt) in enumerate(pairs):
        if not src or not tgt:
            dropped["empty"] += 1
        elif len(src) > max_len or len(tgt) > max_len:
            dropped["too long"] += 1
        elif max(len(src), len(tgt)) > max_ratio * min(len(src), len(tgt)):
            dropped["length ratio"] += 1
        else:
            kept.append(i)
    return kept, dropped


def collate_pairs(examples: list[Pair]) -> Batch:
    """Pad (source ids, target ids) pairs into src (batch, src_len) with src_lengths (batch,),
    tgt_in = BOS + target and tgt_out = target + EOS (batch, tgt_len + 1)."""
    src, src_lengths = pad([x for x, _ in examples], PAD)
    tgt_in, _ = pad([[BOS, *y] for _, y in examples], PAD)
    tgt_out, _ = pad([[*y, EOS] for _, y in examples], PAD)
    return {"src": src, "src_lengths": src_lengths, "tgt_in": tgt_in, "tgt_out": tgt_out}


class TranslationTask(Task):
    name = "translation"
    Data = TranslationData
    kinds = ("encoder_decoder",)

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.subwords: Subwords | None = None
        self.train_pairs: list[Pair] = []
        self.train_kept: list[int] = []  # line indices of the training pairs that passed the filter
        self.sampled_epoch: int | None = None  # the epoch train_pairs were sampled for, if any
        self.train_text: tuple[list[str], list[str]] | None = None
        self.valid_text: tuple[list[str], list[str]] | None = None
        self.max_src_len = self.max_tgt_len = 0

    # -- data --------------------------------------------------------------------------------
    def split_text(self, split: str) -> tuple[list[str], list[str]]:
        """(source lines, target lines) of a split: train, valid or test."""
        d = self.cfg.data
        if d.corpus == "numbers":
            train = numbers.corpus(d.generated_train, d.seed, d.max_number)
            if split == "train":
                return train
            seen = set(train[0])
            valid = numbers.corpus(d.generated_valid, d.seed + 1, d.max_number, seen)
            if split == "valid":
                return valid
            return numbers.corpus(d.generated_test, d.seed + 2, d.max_number, seen | set(valid[0]))
        if d.corpus != "files":
            raise ConfigError(f"data.corpus '{d.corpus}': use files or numbers")
        src, tgt = getattr(d, f"{split}_src"), getattr(d, f"{split}_tgt")
        if not src or not tgt:
            raise ConfigError(f"data.{split}_src and data.{split}_tgt: give both files (line-aligned text)")
        return read_parallel(src, tgt, split)

    def prepare(self) -> None:
        d, m = self.cfg.data, self.cfg.model
        if m.kind != "encoder_decoder":
            raise ConfigError(f"the translation task needs model.kind = 'encoder_decoder', not '{m.kind}'")
        if d.subword_alpha < 0 or (d.subword_type == "bpe" and d.subword_alpha >= 1):
            raise ConfigError(
                f"data.subword_alpha {d.subword_alpha}: use 0 (off) or above (unigram), or a dropout rate "
                f"in [0, 1) for bpe"
            )
        if d.subword_alpha > 0 and d.subword_type == "unigram" and not (d.subword_nbest == -1 or d.subword_nbest > 1):
            raise ConfigError(
                f"data.subword_nbest {d.subword_nbest}: sampling needs -1 (all segmentations) or more than 1"
            )
        self.train_text = self.split_text("train")
        self.valid_text = self.split_text("valid")
        self.subwords = build(*self.train_text, d.subwords, d.subword_type, d.vocab_size, d.subword_models, "data")
        self._encode_train()
        m.input_vocab, m.input_dim, m.output_size = self.subwords.src_size, 0, self.subwords.tgt_size
        m.pad_id, m.bos_id, m.eos_id = PAD, BOS, EOS
        if m.share_embeddings and not self.subwords.joint:
            raise ConfigError("model.share_embeddings needs data.subwords = 'joint' (one vocabulary for both sides)")

    def _encode_train(self) -> None:
        d = self.cfg.data
        src, tgt = self.train_text
        pairs = list(zip(self.subwords.encode_src(src), self.subwords.encode_tgt(tgt), strict=True))
        self.train_kept, dropped = filter_pairs(pairs, d.max_len, d.max_ratio)
        self.train_pairs = [pairs[i] for i in self.train_kept]
        self.sampled_epoch = None
        if not self.train_pairs:
            raise ConfigError(
                f"data: all {len(pairs)} training pairs were dropped ({json.dumps(dropped)}); "
                f"raise data.max_len or data.max_ratio"
            )
        self.max_src_len = max(len(s) for s, _ in self.train_pairs)
        self.max_tgt_len = max(len(t) for _, t in self.train_pairs)
        reasons = ", ".join(f"{n} {why}" for why, n in dropped.items() if n)
        print(
            f"translation: {len(self.train_pairs)} of {len(pairs)} training pairs kept"
            + (f", {len(pairs) - len(self.train_pairs)} dropped ({reasons}; data.max_len = {d.max_len}, "
               f"data.max_ratio = {d.max_ratio})" if reasons else "")
            + f"; vocabulary {self.subwords.src_size}"
            + ("" if self.subwords.joint else f" / {self.subwords.tgt_size}")
            + f" {d.subwords} {d.subword_type} subwords",
            file=sys.stderr,
        )  # fmt: skip

    def dataset(self) -> list[Pair]:
        return self.train_pairs

    def train_batches(self, epoch: int) -> list[list[int]]:
        t, d = self.cfg.train, self.cfg.data
        if d.subword_alpha > 0 and self.sampled_epoch != epoch:
            self._sample_train(epoch)
        # The padded size of a batch is set by its longer side (the target has BOS/EOS added).
        lengths = [max(len(s), len(y) + 1) for s, y in self.train_pairs]
        return length_batches(lengths, t.batch_size, t.batch_tokens, t.seed, epoch)

    def _sample_train(self, epoch: int) -> None:
        """Replace the training ids by this epoch's sampled segmentations (subword regularisation),
        the same for a seed and epoch on every run and rank. Which pairs train stays the filter's
        choice on the best segmentation; validation and translation always use the best one."""
        d = self.cfg.data
        src, tgt = self.train_text
        src, tgt = [src[i] for i in self.train_kept], [tgt[i] for i in self.train_kept]
        seed = (self.cfg.train.seed * 1_000_003 + epoch) % 2**32
        src_ids, tgt_ids = self.subwords.sample(src, tgt, d.subword_alpha, d.subword_nbest, seed)
        self.train_pairs = list(zip(src_ids, tgt_ids, strict=True))
        self.sampled_epoch = epoch

    def collate(self, examples: list[Pair]) -> Batch:
        return collate_pairs(examples)

    # -- training ----------------------------------------------------------------------------
    def loss(self, model: nn.Module, batch: Batch, state: State = None) -> LossOutput:
        logits = model(batch["src"], batch["src_lengths"], batch["tgt_in"])
        mask = batch["tgt_out"] != PAD
        return LossOutput(*self.token_nll(logits, batch["tgt_out"], mask))

    def options(self) -> Options:
        s = self.cfg.search
        return Options(s.beam_size, s.length_penalty, 1, s.max_len_ratio, s.max_len_offset, amp=self.cfg.train.amp)

    def translator(self, model: nn.Module) -> Translator:
        return Translator(model, self.subwords, self.max_src_len)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Validation loss (no smoothing), perplexity, and BLEU / chrF of beam-search translations
        against the raw references (detokenised text, sacreBLEU's defaults)."""
        from seq2seq.train import to_device
        from seq2seq.translation.bleu import score

        if self.valid_text is None:  # restored from a checkpoint: read the data now
            self.valid_text = self.split_text("valid")
        src, ref = self.valid_text
        if self.cfg.data.valid_size > 0:
            src, ref = src[: self.cfg.data.valid_size], ref[: self.cfg.data.valid_size]
        device = next(model.parameters()).device
        pairs = list(zip(self.subwords.encode_src(src), self.subwords.encode_tgt(ref), strict=True))
        pairs = [(s[: self.max_src_len], t) for s, t in pairs if s and t]
        total = torch.zeros((), device=device)
        count = torch.zeros((), device=device)
        for group in length_batches([len(s) for s, _ in pairs], 64, 0, 0, 0, shuffle=False):
            batch = to_device(self.collate([pairs[i] for i in group]), device)
            logits = model(batch["src"], batch["src_lengths"], batch["tgt_in"])
            loss, n = token_nll(logits, batch["tgt_out"], batch["tgt_out"] != PAD)
            total, count = total + loss, count + n
        loss = float(total / count.clamp(min=1))
        hyps = self.translator(model).best(src, self.options())
        scores = score(hyps, ref)
        return {"loss": loss, "ppl": float(torch.tensor(loss).exp()), "bleu": scores.bleu, "chrf": scores.chrf}

    # -- inference ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "subwords": self.subwords.state() if self.subwords else None,
            "max_src_len": self.max_src_len,
            "max_tgt_len": self.max_tgt_len,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        where = "checkpoint"
        loaded = Subwords.from_state(state.get("subwords"), where)
        m = self.cfg.model
        if (loaded.src_size, loaded.tgt_size) != (m.input_vocab, m.output_size):
            raise CheckpointError(
                f"{where}: its SentencePiece model has {loaded.src_size}/{loaded.tgt_size} pieces but the network "
                f"was built for {m.input_vocab}/{m.output_size}: the subword model and weights do not belong together"
            )
        retrained = self.subwords is not None and self.subwords.state() != loaded.state()
        self.subwords = loaded
        self.max_src_len, self.max_tgt_len = int(state["max_src_len"]), int(state["max_tgt_len"])
        if retrained and self.train_text is not None:  # resumed: ids must come from the stored model
            self._encode_train()

    def after_training(self, model: nn.Module, out_dir: str) -> dict[str, str]:
        """With test files (or the generated corpus): translate the test set with the best
        checkpoint, write the translations and their scores; draw one sentence's attention."""
        from seq2seq.translation.bleu import score
        from seq2seq.translation.plots import plot_attention

        d, out = self.cfg.data, Path(out_dir)
        outputs: dict[str, str] = {}
        translator = self.translator(model)
        src, _ = self.valid_text or self.split_text("valid")
        line = next((s for s in src if s.strip()), None)
        if line is not None and self.cfg.model.attention != "none":
            hyp = translator.best([line], self.options())[0]
            outputs["attention plot"] = str(plot_attention(*translator.attention(line, hyp), out / "attention.png"))
        if d.corpus == "numbers" or (d.test_src and d.test_tgt):
            src, ref = self.split_text("test")
            hyps = translator.best(src, self.options())
            write_lines(out / "test.hyp", hyps)
            result = score(hyps, ref)
            (out / "test_scores.json").write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
            print(f"test: {result.bleu_text}\n      {result.chrf_text}", file=sys.stderr)
            outputs["test translations"] = str(out / "test.hyp")
            outputs["test scores"] = str(out / "test_scores.json")
        return outputs
