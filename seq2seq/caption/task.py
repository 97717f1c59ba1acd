"""CaptionTask: media in, a sentence out, with the core's captioner (or, for clips, the
encoder-decoder over frame features: S2VT's recurrent encoder and attentional decoder).

Sources of examples (``data.source``):

- ``generated-images``: scenes of ``seq2seq.vision.scenes`` written as PNG files, with the
  reference captions of ``seq2seq.caption.describe`` (what is where, several phrasings each);
- ``generated-clips``: generated clips written as .mp4 files, with their captions;
- ``files``: a caption file (COCO captions JSON, Karpathy split JSON, MSR-VTT / MSVD CSV) read
  by ``seq2seq.caption.formats``.

Features are extracted once into a cache folder (``cached``) with the settings of ``[data]``,
which the checkpoint stores; each (item, reference) pair is one training example. Validation
captions every item with the core's beam search and scores BLEU-1..4 and chrF against all of its
references.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from seq2seq.caption.media import CaptionDataError, Media, cached, media_of
from seq2seq.caption.words import BOS, EOS, PAD, Vocabulary, normalise
from seq2seq.config import Config, ConfigError, Section, key
from seq2seq.nn.models import Dims
from seq2seq.task import Batch, Examples, LossOutput, State, Task, eval_batches, length_batches, pad
from seq2seq.video.features import Extraction, spec_for

Split = tuple[list[np.ndarray], list[list[str]]]  # features (steps, dim) per item, its references


@dataclass(frozen=True)
class CaptionData(Section):
    source: Literal["generated-images", "generated-clips", "files"] = key(
        "generated-images", "`generated-images` (scenes with captions of what is where), `generated-clips` "
        "(clips with captions) or `files` (a caption file)",
    )  # fmt: skip
    root: str = key("data/caption", "where generated media and every extracted feature are cached")
    train: str = key("", "`files`: the caption file of the training items (COCO / Karpathy JSON, MSR-VTT CSV)")
    valid: str = key("", "`files`: the caption file of the validation items (may be the training file)")
    train_split: str = key("", "`files`: keep the items of this split (Karpathy `train`); empty: all of the file")
    valid_split: str = key("", "`files`: the validation items' split (Karpathy `val`); empty: all of the file")
    format: Literal["auto", "coco", "karpathy", "msrvtt", "csv", "tsv", "jsonl"] = key(
        "auto", "`files`: the caption file's format (auto: from its suffix and keys; docs/caption.md)"
    )
    media_root: str = key("", "`files`: the folder the caption file's media names are relative to")
    generated_train: int = key(2000, "generated: training images or clips", min=1)
    generated_valid: int = key(200, "generated: validation images or clips", min=1)
    max_things: int = key(4, "generated images: at most this many shapes per scene (1..9)", min=1, max=9)
    seed: int = key(1, "generated: seed of the scenes or clips")
    image_size: int = key(0, "pictures the backbone sees, in px (0: its weights' own; 128 gives EfficientNet-Lite0 "
                             "a 4 x 4 grid, 224 a 7 x 7 one)", min=0)  # fmt: skip
    backbone: str = key("efficientnet_lite0", "the CNN (the packaged one, offline, or a torchvision model)")
    weights: str = key("DEFAULT", "the backbone's weights: DEFAULT, a torchvision weights name or a local file")
    fps: float = key(4.0, "clips: frames sampled per second", gt=0)
    min_count: int = key(1, "words seen fewer times in the training captions become <unk>", min=1)
    normalize: bool = key(True, "standardise features by the training items' mean and std")


class CaptionTask(Task):
    name = "caption"
    Data = CaptionData
    kinds = ("captioner", "encoder_decoder")
    metrics = {"loss": "min", "bleu1": "max", "bleu2": "max", "bleu3": "max", "bleu4": "max", "chrf": "max",
               "cider": "max", "exact": "max"}  # fmt: skip
    search_keys = frozenset({"beam_size", "length_penalty", "max_len_offset", "nbest", "min_length",
                             "block_ngram_repeat"})  # fmt: skip

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.vocab: Vocabulary | None = None
        self.mean: Tensor | None = None
        self.std: Tensor | None = None
        self.extraction: dict = {}
        self.media: Media = "clip" if cfg.data.source == "generated-clips" else "image"
        self.max_len = 0  # words of the longest training caption
        self.splits: dict[str, Split] = {}
        self.paths: dict[str, list[Path]] = {}  # the media files of each split read
        # (start, end) seconds of each item of a caption file's split: a segment of its clip
        self.spans: dict[str, list[tuple[float, float] | None]] = {}
        self.pairs: list[tuple[int, list[int]]] = []

    @classmethod
    def check(cls, cfg: Config) -> None:
        d = cfg.data
        if d.source == "files" and not (d.train and d.valid):
            raise ConfigError("data.source = 'files' needs data.train and data.valid (caption files)")
        if cfg.train.tbptt:
            raise ConfigError("train.tbptt: a caption is written whole; set it to 0")

    # -- data --------------------------------------------------------------------------------
    def spec(self) -> Extraction:
        """The extraction settings: the checkpoint's when restored, else ``[data]``'s."""
        if self.extraction:
            return Extraction.from_dict(self.extraction)
        d = self.cfg.data
        return spec_for(d.backbone, d.weights, size=d.image_size or None, fps=d.fps)

    def read_split(self, split: str) -> Split:
        """The features and normalised references of a split (``train`` or ``valid``)."""
        if split in self.splits:
            return self.splits[split]
        paths, refs = self.media_and_captions(split)
        folder = self.features_folder()
        unique = list(dict.fromkeys(paths))  # a clip with several captioned segments is extracted once
        found, record = cached(unique, self.media, folder, self.spec(), self.cfg.train.device, self.extraction or None)
        self.extraction = self.extraction or record
        of = dict(zip(unique, found, strict=True))
        spans = self.spans.get(split) or [None] * len(paths)
        fps = self.spec().fps
        feats = [of[p] if span is None else segment(of[p], span, fps, p) for p, span in zip(paths, spans, strict=True)]
        self.splits[split] = (feats, [[normalise(r) for r in rs] for rs in refs])
        self.paths[split] = list(paths)
        return self.splits[split]

    def note_overlap(self) -> None:
        """A stderr note when validation items (media and segment) are training items too: one
        Karpathy file given as data.train and data.valid without the splits trains on all of it, and
        validation, best.pt and evaluate then score memory, not captioning."""
        seen = set(zip(self.paths["train"], self.spans.get("train") or [None] * len(self.paths["train"]), strict=True))
        valid = list(
            zip(self.paths["valid"], self.spans.get("valid") or [None] * len(self.paths["valid"]), strict=True)
        )
        both = [p for p, span in valid if (p, span) in seen]
        if both:
            print(f"caption: note: {len(both)} of {len(valid)} validation {self.media}s are training ones too (the "
                  f"first: {both[0]}); give data.train_split and data.valid_split (Karpathy: train, val) or a "
                  "separate validation file, so that validation scores unseen ones", file=sys.stderr)  # fmt: skip

    def features_folder(self) -> Path:
        s = self.spec()
        rate = f"-{s.fps:g}fps" if self.media == "clip" else ""
        return self.generated_folder().parent / f"features-{s.backbone}-{Path(s.weights).stem}-{s.size}px{rate}"

    def generated_folder(self) -> Path:
        """The folder of the generated media of ``[data]`` (their count, seed and size)."""
        d = self.cfg.data
        if d.source == "files":
            return Path(d.root) / "files" / "media"
        if d.source == "generated-clips":
            return Path(d.root) / f"clips-seed{d.seed}" / "media"
        return Path(d.root) / f"images-{d.image_size}px-{d.max_things}things-seed{d.seed}" / "media"

    def media_and_captions(self, split: str) -> tuple[list[Path], list[list[str]]]:
        d = self.cfg.data
        if split not in ("train", "valid"):
            raise ConfigError(f"split '{split}': the caption task has train and valid")
        count = d.generated_train if split == "train" else d.generated_valid
        folder = self.generated_folder() / f"{split}-{count}"
        if d.source == "generated-images":
            from seq2seq.caption.generated import captioned_images

            seed = d.seed * 1000 + (0 if split == "train" else 1)  # one random stream per split
            items = captioned_images(folder, count, seed, d.image_size or 224, d.max_things)
        elif d.source == "generated-clips":
            from seq2seq.caption.generated import captioned_clips

            # clip i has seed + i: the validation clips' seeds start far past the training ones'
            seed = d.seed * 1_000_000 + (0 if split == "train" else 500_000)
            items = captioned_clips(folder, count, seed)
        else:
            return self.from_file(split)
        return [p for p, _ in items], [c for _, c in items]

    def from_file(self, split: str) -> tuple[list[Path], list[list[str]]]:
        """The items of a caption file (``seq2seq.caption.formats``) of one split; an item with a
        start and end (a segment of a longer clip, as MSVD's) is captioned from that segment's
        frames only (``segment``)."""
        from seq2seq.caption.formats import SPLITS, CaptionFileError, read_captions

        d = self.cfg.data
        path, wanted = (d.train, d.train_split) if split == "train" else (d.valid, d.valid_split)
        try:
            items = read_captions(path, d.format, d.media_root or None)
        except CaptionFileError as e:
            if "no split in its entries" not in str(e):
                raise
            # a file whose entries and name say no split (a COCO file renamed, a TSV): it is all
            # of the split it is given for (data.train or data.valid)
            items = read_captions(path, d.format, d.media_root or None, split=split)
        if wanted:
            items = [i for i in items if i.split == SPLITS.get(wanted, wanted)]
        if not items:
            raise CaptionDataError(f"{path}: no items of split {wanted!r}; check data.{split}_split")
        kinds = {media_of(i.media) for i in items}
        if len(kinds) > 1:
            raise CaptionDataError(f"{path}: mixes images and clips; caption one kind per model")
        self.media = kinds.pop()
        self.spans[split] = [None if i.start is None else (i.start, i.end) for i in items]
        return [Path(i.media) for i in items], [list(i.captions) for i in items]

    def prepare(self, restored: dict[str, Any] | None = None) -> Dims:
        feats, refs = self.read_split("train")
        self.read_split("valid")  # read now: bad validation data fails before training
        if not restored:
            self.note_overlap()
        if restored:
            self.vocab = Vocabulary(restored["words"])
        else:
            self.vocab = Vocabulary.build([r for rs in refs for r in rs], self.cfg.data.min_count)
        self.pairs = [(i, self.vocab.encode(r)) for i, rs in enumerate(refs) for r in rs]
        self.max_len = max(len(ids) for _, ids in self.pairs)
        dim = feats[0].shape[1]
        if self.cfg.data.normalize:
            every = np.concatenate([f.astype(np.float32) for f in feats])
            self.mean = torch.from_numpy(every.mean(0))
            self.std = torch.from_numpy(every.std(0)).clamp(min=1e-3)
        else:
            self.mean, self.std = torch.zeros(dim), torch.ones(dim)
        print(f"caption: {len(feats)} training {self.media}s, {len(self.pairs)} captions, {len(self.vocab)} words, "
              f"{feats[0].shape[0]} steps of {dim} features", file=sys.stderr)  # fmt: skip
        # an image's cells are a square feature map: the captioner codes their rows and columns
        side = math.isqrt(feats[0].shape[0])
        grid = side if self.media == "image" and side * side == feats[0].shape[0] else 0
        self.dims = Dims(input_dim=dim, output_size=len(self.vocab), pad_id=PAD, bos_id=BOS, eos_id=EOS, grid=grid)
        return self.dims

    def dataset(self) -> list[tuple[int, list[int]]]:
        return self.pairs

    def train_batches(self, epoch: int) -> list[list[int]]:
        t = self.cfg.train
        return length_batches([len(ids) + 1 for _, ids in self.pairs], t.batch_size, t.batch_tokens, t.seed, epoch)

    def inputs(self, feats: Sequence[np.ndarray]) -> tuple[Tensor, Tensor]:
        """Normalised, padded features (batch, steps, dim) and lengths (batch,) of raw (steps, dim) arrays."""
        lengths = torch.tensor([len(f) for f in feats], dtype=torch.long)
        x = torch.zeros(len(feats), int(lengths.max()), feats[0].shape[1])
        for i, f in enumerate(feats):
            x[i, : len(f)] = (torch.from_numpy(np.asarray(f, dtype=np.float32)) - self.mean) / self.std
        return x, lengths

    def collate_split(self, feats: Sequence[np.ndarray], pairs: list[tuple[int, list[int]]]) -> Batch:
        x, lengths = self.inputs([feats[i] for i, _ in pairs])
        tgt_in, _ = pad([[BOS, *ids] for _, ids in pairs], PAD)
        tgt_out, _ = pad([[*ids, EOS] for _, ids in pairs], PAD)
        return {"feats": x, "lengths": lengths, "tgt_in": tgt_in, "tgt_out": tgt_out}

    def collate(self, examples: list[tuple[int, list[int]]]) -> Batch:
        return self.collate_split(self.splits["train"][0], examples)

    # -- the loss and validation -------------------------------------------------------------
    def loss(self, model: nn.Module, batch: Batch, state: State = None) -> LossOutput:
        logits = model(batch["feats"], batch["lengths"], batch["tgt_in"])
        return LossOutput(*self.token_nll(model, logits, batch["tgt_out"], batch["tgt_out"] != PAD))

    def valid_batches(self, split: str = "valid") -> Iterator[Batch]:
        feats, refs = self.read_split(split)
        pairs = [(i, self.vocab.encode(r)) for i, rs in enumerate(refs) for r in rs]
        return eval_batches(pairs, [len(ids) + 1 for _, ids in pairs], lambda ps: self.collate_split(feats, ps))

    @torch.no_grad()
    def caption(self, model: nn.Module, feats: Sequence[np.ndarray], search) -> list[list[tuple[str, float]]]:
        """The ``search.nbest`` best captions (text, score) of each (steps, dim) feature array,
        by the core's beam search (an ``Ensemble`` of models too); a caption has one word at least."""
        from seq2seq.search import beam_search

        device = next(model.parameters()).device
        out: list[list[tuple[str, float]]] = []
        for start in range(0, len(feats), 64):
            x, lengths = self.inputs(feats[start : start + 64])
            state = model.start(x.to(device), lengths)
            first = torch.full((len(x),), BOS, dtype=torch.long, device=device)
            # min_length 1 at least: no reference is empty, and a blank caption says nothing
            hyps = beam_search(
                model, state, first, self.max_len + search.max_len_offset, EOS, beam_size=search.beam_size,
                alpha=search.length_penalty, nbest=search.nbest, pad_id=PAD, blocked=(BOS,),
                min_length=max(1, search.min_length), block_ngram_repeat=search.block_ngram_repeat,
            )  # fmt: skip
            out += [[(self.vocab.decode(h.tokens), h.score) for h in row] for row in hyps]
        return out

    @torch.no_grad()
    def attention(self, model: nn.Module, feats: np.ndarray, caption: str) -> np.ndarray:
        """Each word's (and the end's) attention over the steps of one item: (words + 1, steps)."""
        if getattr(getattr(model, "decoder", None), "attention", None) is None:
            raise CaptionDataError("the model attends to nothing (model.attention = none): no attention to plot")
        device = next(model.parameters()).device
        x, lengths = self.inputs([feats])
        tgt_in = torch.tensor([[BOS, *self.vocab.encode(caption)]], device=device)
        _, weights = model.decoder(tgt_in, model.start(x.to(device), lengths))
        return weights[0].float().cpu().numpy()

    def scores(self, model: nn.Module, split: str, loss: float) -> dict[str, float]:
        feats, refs = self.read_split(split)
        hyps = [h[0][0] for h in self.caption(model, feats, self.cfg.search)]
        return {**caption_scores(hyps, refs), "exact": exact(hyps, refs)}

    def examples(self, model: nn.Module, split: str, n: int, folder: Path) -> Examples:
        """The first ``n`` items' captions beside their first reference, and the first image's
        attention per word (the Show, Attend and Tell figure) when the model attends."""
        feats, refs = self.read_split(split)
        hyps = [h[0][0] for h in self.caption(model, feats[:n], self.cfg.search)]
        rows = "\n".join(f"| {h} | {r[0]} |" for h, r in zip(hyps, refs, strict=False))
        images = {}
        if hyps and self.media == "image" and getattr(model.decoder, "attention", None) is not None:
            from seq2seq.caption.plots import plot_image_attention
            from seq2seq.vision.images import picture, read_image

            path = self.paths[split][0]
            weights = self.attention(model, feats[0], hyps[0])
            images["attention"] = plot_image_attention(picture(read_image(path), self.spec()),
                                                       [*hyps[0].split(), "<end>"], weights,
                                                       folder / "attention.png")  # fmt: skip
        return Examples({"captions": "| caption | first reference |\n|---|---|\n" + rows}, images)

    # -- inference ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"words": list(self.vocab.words), "mean": self.mean, "std": self.std, "extraction": self.extraction,
                "media": self.media, "max_len": self.max_len}  # fmt: skip

    def restore(self, state: dict[str, Any], dims: Dims, where: str = "checkpoint") -> None:
        from seq2seq.errors import CheckpointError

        self.dims = dims
        self.vocab = Vocabulary(state.get("words") or [])
        if len(self.vocab) != dims.output_size:
            raise CheckpointError(f"{where}: its vocabulary has {len(self.vocab)} words but the network was built "
                                  f"for {dims.output_size}: they do not belong together")  # fmt: skip
        self.mean, self.std = state["mean"], state["std"]
        self.extraction, self.media = dict(state["extraction"]), state["media"]
        self.max_len = int(state["max_len"])

    def describe(self) -> dict[str, str]:
        features = Extraction.from_dict(self.extraction).describe(images=self.media == "image")
        return {"captions": f"{len(self.vocab)} words, at most {self.max_len} in training",
                "features": features, "media": f"{self.media}s",
                "trained on": self.cfg.data.train or self.cfg.data.source}  # fmt: skip


def segment(feats: np.ndarray, span: tuple[float, float | None], fps: float, path: Path) -> np.ndarray:
    """The rows of a clip's features (steps, dim) sampled in [start, end) seconds: sample k is at
    k / fps from the clip's first frame (``seq2seq.video.decode.Frames``); ``end`` None: to the
    clip's end."""
    start, end = span
    first = math.ceil(start * fps - 1e-9)
    last = len(feats) if end is None else math.ceil(end * fps - 1e-9)
    if last <= first or first >= len(feats):
        until = "its end" if end is None else f"{end:g} s"
        raise CaptionDataError(
            f"{path}: the segment {start:g} s to {until} has no frame sampled at {fps:g} fps "
            f"(the clip has {len(feats) / fps:.1f} s of them); check the caption file's times"
        )
    return feats[first:last]


def exact(hyps: list[str], refs: list[list[str]]) -> float:
    """Percent of captions that are one of their item's references word for word: on generated
    data, whose references say everything, the share of items described exactly right."""
    return 100.0 * sum(h in r for h, r in zip(hyps, refs, strict=True)) / max(len(hyps), 1)


def caption_scores(hyps: list[str], refs: list[list[str]]) -> dict[str, float]:
    """BLEU-1..4, chrF and CIDEr-D of ``hyps`` against all references of each (``seq2seq.caption.metrics``)."""
    from seq2seq.caption.metrics import caption_scores as scores

    return scores(hyps, refs)
