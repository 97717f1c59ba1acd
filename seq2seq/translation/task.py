"""The translation task: parallel text (or the generated numbers corpus) -> SentencePiece ids ->
length-bucketed batches for the core's encoder-decoder; validation BLEU with the core's beam search.

Recipe keys (``[data]``) are documented in docs/translation.md (generated from ``TranslationData``).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from seq2seq.config import Config, ConfigError, Section, key
from seq2seq.errors import CheckpointError
from seq2seq.nn.models import Dims
from seq2seq.records import write_json
from seq2seq.task import Batch, Examples, LossOutput, State, Task, eval_batches, length_batches, pad
from seq2seq.translation import multi30k, numbers
from seq2seq.translation.subwords import BOS, EOS, PAD, Subwords, build
from seq2seq.translation.text import read_parallel, write_lines
from seq2seq.translation.translator import Translator

Pair = tuple[list[int], list[int]]
SPLITS = {"train": "train", "valid": "valid", "val": "valid", "dev": "valid", "test": "test"}


@dataclass(frozen=True)
class TranslationData(Section):
    corpus: Literal["files", "numbers"] = key("files", "`files` (the paths below) or `numbers` (the generated corpus)")
    train_src: str = key("", "training source text, line-aligned UTF-8, plain or `.gz`")
    train_tgt: str = key("", "training target text, line by line with train_src")
    valid_src: str = key("", "validation source text (BLEU during training)")
    valid_tgt: str = key("", "validation target text")
    test_src: str = key("", "optional: translated and scored with `best.pt` after training")
    test_tgt: str = key("", "optional: the test references")
    fetch: Literal["none", "multi30k"] = key(
        "none", "`multi30k`: the files above are Multi30k's and, when missing, are prepared from `source` first "
        "(all in one folder, named as datasets/prepare_multi30k.py writes them)",
    )  # fmt: skip
    source: str = key(multi30k.PUBLIC, "`fetch`: a local folder of the raw files, or the public repository's URL")
    subwords: Literal["joint", "separate"] = key("joint", "`joint` (one model for both sides) or `separate` models")
    subword_type: Literal["unigram", "bpe"] = key("unigram", "`unigram` or `bpe`")
    vocab_size: int = key(8000, "pieces per model (a small corpus may give fewer)", min=8)
    subword_models: tuple[str, ...] = key((), "existing SentencePiece model file(s) instead of training")
    subword_alpha: float = key(
        0.0,
        "subword regularisation: above 0, every training sentence gets a new segmentation each epoch, sampled from "
        "the unigram model (smaller alpha: more varied, shorter pieces; Kudo 2018 used 0.1-0.5) or, for `bpe`, "
        "BPE-dropout with this rate; validation and translation keep the best segmentation",
        min=0,
    )
    subword_nbest: int = key(
        64, "unigram only: sample among this many best segmentations (-1: all of them, which with alpha 0.1 makes "
        "about twice as many pieces)", min=-1,
    )  # fmt: skip
    max_len: int = key(100, "training pairs with a side longer than this (subwords) are dropped", min=1)
    max_ratio: float = key(3.0, "... and pairs whose longer side is more than this many times the shorter", min=1)
    valid_size: int = key(0, "validate on the first N pairs only (0: all)", min=0)
    generated_train: int = key(20000, "`numbers`: training pairs of the generated corpus", min=1)
    generated_valid: int = key(500, "`numbers`: validation pairs", min=1)
    generated_test: int = key(500, "`numbers`: test pairs", min=1)
    max_number: int = key(999, "`numbers`: largest count in the generated corpus", min=2, max=999)
    seed: int = key(1, "`numbers`: seed of the generated corpus")


def fetched_folder(d: TranslationData) -> Path:
    """The one folder of a ``fetch = "multi30k"`` recipe's files, each named SPLIT.LANG.gz as
    ``seq2seq.translation.multi30k`` writes them; anything else is a ConfigError."""
    named = {k: getattr(d, k) for k in ("train_src", "train_tgt", "valid_src", "valid_tgt", "test_src", "test_tgt")}
    folders = {Path(v).parent for v in named.values() if v}
    written = {f"{split}.{lang}.gz" for split in multi30k.SPLITS for lang in multi30k.LANGS}
    odd = [f"data.{k} = {v!r}" for k, v in named.items() if v and Path(v).name not in written]
    if odd or len(folders) > 1:
        raise ConfigError(
            f"data.fetch = 'multi30k': {odd[0] if odd else 'the files are in more than one folder'}; the files "
            f"must be FOLDER/{{train,val,test_2016_flickr}}.{{en,de}}.gz in one folder (or set data.fetch = 'none')"
        )
    return folders.pop()


def cell(text: str) -> str:
    """``text`` as one cell of a markdown table."""
    return text.replace("|", "\\|").replace("\n", " ")


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
    metrics = {"loss": "min", "ppl": "min", "bleu": "max", "chrf": "max"}
    search_keys = frozenset({
        "beam_size", "length_penalty", "max_len_ratio", "max_len_offset", "nbest", "min_length", "block_ngram_repeat",
        "temperature", "top_k", "top_p",
    })  # fmt: skip

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.subwords: Subwords | None = None
        self.train_pairs: list[Pair] = []
        self.train_kept: list[int] = []  # line indices of the training pairs that passed the filter
        self.sampled_epoch: int | None = None  # the epoch train_pairs were sampled for, if any
        self.train_text: tuple[list[str], list[str]] | None = None
        self.texts: dict[str, tuple[list[str], list[str]]] = {}
        self.max_src_len = self.max_tgt_len = 0

    @classmethod
    def check(cls, cfg: Config) -> None:
        d, m = cfg.data, cfg.model
        if d.subword_type == "bpe" and d.subword_alpha >= 1:
            raise ConfigError(f"data.subword_alpha {d.subword_alpha}: a BPE-dropout rate is below 1")
        if d.subword_alpha > 0 and d.subword_type == "unigram" and not (d.subword_nbest == -1 or d.subword_nbest > 1):
            raise ConfigError(
                f"data.subword_nbest {d.subword_nbest}: sampling needs -1 (all segmentations) or more than 1"
            )
        if m.share_embeddings and d.subwords != "joint":
            raise ConfigError("model.share_embeddings needs data.subwords = 'joint' (one vocabulary for both sides)")
        if d.corpus == "files":
            for split in ("train", "valid"):
                if not getattr(d, f"{split}_src") or not getattr(d, f"{split}_tgt"):
                    raise ConfigError(f"data.{split}_src and data.{split}_tgt: give both files (line-aligned text)")
        if bool(d.test_src) != bool(d.test_tgt):
            raise ConfigError("data.test_src and data.test_tgt: give both files or neither")
        if d.fetch == "multi30k":
            fetched_folder(d)
        elif d.source != multi30k.PUBLIC:
            raise ConfigError("data.source is read only with data.fetch = 'multi30k': set that too, or drop it")
        if cfg.train.tbptt > 0:
            raise ConfigError("train.tbptt applies to taggers and language models; set it to 0 for translation")

    # -- data --------------------------------------------------------------------------------
    def split_text(self, split: str) -> tuple[list[str], list[str]]:
        """(source lines, target lines) of a split: train, valid (val, dev) or test."""
        if split not in SPLITS:
            raise ConfigError(f"split '{split}': use train, valid or test")
        split = SPLITS[split]
        if split in self.texts:
            return self.texts[split]
        d = self.cfg.data
        if d.corpus == "numbers":
            train = numbers.corpus(d.generated_train, d.seed, d.max_number)
            seen = set(train[0])
            valid = numbers.corpus(d.generated_valid, d.seed + 1, d.max_number, seen)
            test = numbers.corpus(d.generated_test, d.seed + 2, d.max_number, seen | set(valid[0]))
            self.texts = {"train": train, "valid": valid, "test": test}
            return self.texts[split]
        src, tgt = getattr(d, f"{split}_src"), getattr(d, f"{split}_tgt")
        if not src or not tgt:
            raise ConfigError(f"data.{split}_src and data.{split}_tgt: the recipe names no {split} files")
        if d.fetch == "multi30k" and not (Path(src).is_file() and Path(tgt).is_file()):
            folder = fetched_folder(d)
            print(f"data: {src if not Path(src).is_file() else tgt} is missing: preparing Multi30k in {folder} "
                  f"from {d.source}")  # fmt: skip
            multi30k.prepare(d.source, folder)
        self.texts[split] = read_parallel(src, tgt, split)
        return self.texts[split]

    def prepare(self, restored: dict[str, Any] | None = None) -> Dims:
        d = self.cfg.data
        self.train_text = self.split_text("train")
        self.split_text("valid")  # read now: a bad validation file fails before training, not after an epoch
        if restored:  # resumed: the ids must come from the run's own subword model
            self.subwords = Subwords.from_state(restored.get("subwords"), "checkpoint")
        else:
            self.subwords = build(*self.train_text, d.subwords, d.subword_type, d.vocab_size, d.subword_models, "data")
        self._encode_train()
        self.dims = Dims(input_vocab=self.subwords.src_size, output_size=self.subwords.tgt_size,
                         pad_id=PAD, bos_id=BOS, eos_id=EOS)  # fmt: skip
        return self.dims

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
        return LossOutput(*self.token_nll(model, logits, batch["tgt_out"], mask))

    def translator(self, model: nn.Module) -> Translator:
        """The checkpoint's translator: its subwords, length limit and precision (``train.amp``)."""
        return Translator(model, self.subwords, self.max_src_len, amp=self.cfg.train.amp)

    def scored_text(self, split: str) -> tuple[list[str], list[str]]:
        src, ref = self.split_text(split)
        n = self.cfg.data.valid_size if SPLITS.get(split) == "valid" else 0
        return (src[:n], ref[:n]) if n > 0 else (src, ref)

    def valid_batches(self, split: str = "valid") -> Iterator[Batch]:
        """The split's pairs (sources cut to the longest trained on, empty pairs left out)."""
        src, ref = self.scored_text(split)
        pairs = list(zip(self.subwords.encode_src(src), self.subwords.encode_tgt(ref), strict=True))
        pairs = [(s[: self.max_src_len], t) for s, t in pairs if s and t]
        return eval_batches(pairs, [max(len(s), len(t) + 1) for s, t in pairs], self.collate)

    @torch.no_grad()
    def scores(self, model: nn.Module, split: str, loss: float) -> dict[str, float]:
        """Perplexity, and BLEU / chrF of beam-search translations against the raw references
        (detokenised text, sacreBLEU's defaults)."""
        from seq2seq.translation.bleu import score

        src, ref = self.scored_text(split)
        result = score(self.translator(model).best(src, self.cfg.search), ref)
        return {"ppl": math.exp(min(loss, 700.0)), "bleu": result.bleu, "chrf": result.chrf}

    def examples(self, model: nn.Module, split: str, n: int, folder: Path) -> Examples:
        """The first ``n`` lines of ``split`` translated (with the recipe's search) beside their
        references, and the attention map of the first one."""
        src, ref = self.scored_text(split)
        kept = [(s, r) for s, r in zip(src, ref, strict=True) if s.strip()][:n]
        if not kept:
            return Examples()
        translator = self.translator(model)
        hyps = translator.best([s for s, _ in kept], self.cfg.search)
        rows = "\n".join(f"| {cell(s)} | {cell(h)} | {cell(r)} |" for (s, r), h in zip(kept, hyps, strict=True))
        text = {"translations": "| source | translation | reference |\n|---|---|---|\n" + rows}
        images = {}
        if self.cfg.model.attention != "none":
            from seq2seq.translation.plots import plot_attention

            images["attention"] = plot_attention(*translator.attention(kept[0][0], hyps[0]), folder / "attention.png")
        return Examples(text, images)

    # -- inference ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "subwords": self.subwords.state() if self.subwords else None,
            "max_src_len": self.max_src_len,
            "max_tgt_len": self.max_tgt_len,
        }

    def describe(self) -> dict[str, str]:
        d = self.cfg.data
        sizes = f"{self.subwords.src_size}" + ("" if self.subwords.joint else f" / {self.subwords.tgt_size}")
        data = "generated numbers corpus" if d.corpus == "numbers" else f"{d.train_src} -> {d.train_tgt}"
        return {
            "subwords": f"{'joint' if self.subwords.joint else 'separate'} SentencePiece, {sizes} pieces",
            "longest source": f"{self.max_src_len} subwords (longer lines are translated sentence by sentence)",
            "trained on": data,
        }

    def restore(self, state: dict[str, Any], dims: Dims, where: str = "checkpoint") -> None:
        loaded = Subwords.from_state(state.get("subwords"), where)
        if (loaded.src_size, loaded.tgt_size) != (dims.input_vocab, dims.output_size):
            raise CheckpointError(
                f"{where}: its SentencePiece model has {loaded.src_size}/{loaded.tgt_size} pieces but the network "
                f"was built for {dims.input_vocab}/{dims.output_size}: the subword model and weights do not belong "
                "together"
            )
        self.subwords, self.dims = loaded, dims
        self.max_src_len, self.max_tgt_len = int(state["max_src_len"]), int(state["max_tgt_len"])

    def after_training(self, model: nn.Module, out_dir: str) -> dict[str, str]:
        """With test files (or the generated corpus): translate the test set with the best
        checkpoint, write the translations and their scores; draw one sentence's attention."""
        from seq2seq.translation.bleu import score
        from seq2seq.translation.plots import plot_attention

        d, out = self.cfg.data, Path(out_dir)
        outputs: dict[str, str] = {}
        translator = self.translator(model)
        src, _ = self.split_text("valid")
        line = next((s for s in src if s.strip()), None)
        if line is not None and self.cfg.model.attention != "none":
            hyp = translator.best([line], self.cfg.search)[0]
            outputs["attention plot"] = str(plot_attention(*translator.attention(line, hyp), out / "attention.png"))
        if d.corpus == "numbers" or (d.test_src and d.test_tgt):
            src, ref = self.split_text("test")
            hyps = translator.best(src, self.cfg.search)
            write_lines(out / "test.hyp", hyps)
            result = score(hyps, ref)
            write_json(out / "test_scores.json", result.as_dict())
            print(f"test: {result.bleu_text}\n      {result.chrf_text}", file=sys.stderr)
            outputs["test translations"] = str(out / "test.hyp")
            outputs["test scores"] = str(out / "test_scores.json")
        return outputs
