"""ClassifyTask: one label per sequence with the core's ``Classifier`` (model.kind = classifier).

Three sources of examples (``data.source``):

- ``generated``: the embedded reviews of ``seq2seq.classify.sentences`` (the demo);
- ``files``: labelled text files (``seq2seq.classify.data``: .csv with a text,label header or
  .tsv/.txt of label<TAB>text); text becomes SentencePiece pieces as in the translation recipe
  (``seq2seq.translation.subwords``), the model kept in the checkpoint;
- ``video``: a video feature layout (``seq2seq.video.layout``): every ground-truth action segment
  of a video is one example, its frames' features in, its action out.

Validation reports accuracy and macro-F1; after training the validation confusion matrix is drawn
(``confusion.png``) and written with per-class F1 (``valid_scores.json``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from seq2seq.classify.data import ClassifyDataError, Clip, read_labelled, segments
from seq2seq.classify.metrics import accuracy, confusion, macro_f1, per_class_f1
from seq2seq.config import Config, ConfigError, Section, key
from seq2seq.losses import class_weighted_nll
from seq2seq.nn.models import Dims
from seq2seq.records import write_json
from seq2seq.task import Batch, Examples, LossOutput, State, Task, eval_batches, length_batches, pad

Example = tuple[Any, int]  # (token ids or (time, dim) features, class)


@dataclass(frozen=True)
class ClassifyData(Section):
    source: Literal["generated", "files", "video"] = key(
        "generated", "`generated` (the embedded reviews), `files` (labelled text files) or `video` (a feature "
        "layout's action segments)",
    )  # fmt: skip
    train: str = key(
        "", "`files`: the training file (.csv with a text,label header, or .tsv / .txt of `label<TAB>text` lines); "
        "`video`: the split bundle (splits/NAME.bundle), `{split}` becomes data.split",
    )  # fmt: skip
    valid: str = key("", "`files`: the validation file; `video`: its split bundle")
    root: str = key("data/gtea", "`video`: the layout folder (features/, groundTruth/, mapping.txt, splits/)")
    split: int = key(1, "`video`: cross-validation fold substituted into `{split}`", min=1)
    skip: tuple[str, ...] = key(("background",), "`video`: segments with these labels are not examples")
    normalize: bool = key(True, "`video`: standardise features by the training segments' mean and std")
    subword_type: Literal["unigram", "bpe"] = key("unigram", "text: SentencePiece `unigram` or `bpe`")
    vocab_size: int = key(1000, "text: SentencePiece pieces (a small corpus may give fewer)", min=8)
    max_len: int = key(256, "text: pieces kept of each text (longer ones are cut)", min=1)
    class_weights: Literal["none", "balanced"] = key(
        "none", "none / balanced (each class weighted by the inverse of its share of the training examples)"
    )
    generated_train: int = key(3000, "`generated`: training reviews", min=1)
    generated_valid: int = key(500, "`generated`: validation reviews", min=1)
    seed: int = key(1, "`generated`: seed of the reviews")


class ClassifyTask(Task):
    name = "classify"
    Data = ClassifyData
    kinds = ("classifier",)
    metrics = {"loss": "min", "accuracy": "max", "macro_f1": "max"}

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.labels: list[str] = []
        self.subwords = None  # a SentencePiece processor (text sources)
        self.proto: bytes | None = None
        self.mean: Tensor | None = None
        self.std: Tensor | None = None
        self.train_examples: list[Example] = []
        self.splits: dict[str, list[Example]] = {}
        self.weights: Tensor | None = None

    @classmethod
    def check(cls, cfg: Config) -> None:
        d = cfg.data
        if d.source == "files" and not (d.train and d.valid):
            raise ConfigError("data.source = 'files' needs data.train and data.valid (labelled text files)")
        if d.source == "video" and not (d.train and d.valid):
            raise ConfigError("data.source = 'video' needs data.train and data.valid (split bundle names)")
        if cfg.train.tbptt:
            raise ConfigError("train.tbptt: a classifier reads each sequence whole; set it to 0")

    @property
    def text(self) -> bool:
        return self.cfg.data.source != "video"

    # -- data --------------------------------------------------------------------------------
    def prepare(self, restored: dict[str, Any] | None = None) -> Dims:
        d = self.cfg.data
        if self.text:
            (texts, labels), valid = self.read_text("train"), self.read_text("valid")
            self.labels = sorted(set(labels))
            from seq2seq.translation.subwords import train

            where = d.train or "the generated reviews"
            proto = restored["subwords"] if restored else train(texts, d.vocab_size, d.subword_type, where)
            self.use_subwords(proto, "the training data")
            self.train_examples = self.encode_examples(texts, labels, d.train)
            self.splits["valid"] = self.encode_examples(*valid, d.valid)
            dims = Dims(input_vocab=self.subwords.get_piece_size(), output_size=len(self.labels))
        else:
            train_clips = self.read_clips(d.train, None)
            dim = train_clips[0].features.shape[1]
            feats = np.concatenate([c.features for c in train_clips])
            if d.normalize:
                self.mean = torch.from_numpy(feats.mean(0))
                self.std = torch.from_numpy(feats.std(0)).clamp(min=1e-6)
            else:
                self.mean, self.std = torch.zeros(dim), torch.ones(dim)
            self.train_examples = [(c.features, c.label) for c in train_clips]
            self.splits["valid"] = [(c.features, c.label) for c in self.read_clips(d.valid, dim)]
            dims = Dims(input_dim=dim, output_size=len(self.labels))
        if d.class_weights == "balanced":
            counts = np.bincount([y for _, y in self.train_examples], minlength=len(self.labels))
            w = np.where(counts > 0, len(self.train_examples) / np.maximum(counts, 1) / len(self.labels), 0.0)
            self.weights = torch.tensor(w, dtype=torch.float32)
        self.dims = dims
        return dims

    def read_text(self, split: str) -> tuple[list[str], list[str]]:
        d = self.cfg.data
        if d.source == "generated":
            from seq2seq.classify.sentences import reviews

            train = reviews(d.generated_train, d.seed)
            return train if split == "train" else reviews(d.generated_valid, d.seed + 1, frozenset(train[0]))
        return read_labelled(d.train if split == "train" else d.valid)

    def use_subwords(self, proto: bytes, where: str) -> None:
        from seq2seq.translation.subwords import load

        self.proto, self.subwords = proto, load(proto, where)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """SentencePiece ids of each text, cut to data.max_len (at least one piece each)."""
        ids = self.subwords.encode(list(texts), out_type=int)
        from seq2seq.translation.subwords import UNK

        return [(x or [UNK])[: self.cfg.data.max_len] for x in ids]  # a text of no pieces reads as unknown

    def encode_examples(self, texts: Sequence[str], labels: Sequence[str], where: str) -> list[Example]:
        """(ids, class) pairs; a label the training data never had is an error naming ``where``."""
        unknown = sorted(set(labels) - set(self.labels))
        if unknown:
            raise ClassifyDataError(f"{where or 'the generated reviews'}: label(s) {', '.join(map(repr, unknown[:5]))} "
                                    f"never occur in the training data ({', '.join(self.labels)})")  # fmt: skip
        index = {name: i for i, name in enumerate(self.labels)}
        return list(zip(self.encode(texts), [index[y] for y in labels], strict=True))

    def read_clips(self, bundle: str, dim: int | None) -> list[Clip]:
        """The action segments of a split bundle's videos (labels of data.skip left out); the
        classes are mapping.txt's labels but those, and must be the model's when it has some."""
        from seq2seq.video.layout import LayoutError, read_mapping
        from seq2seq.video.task import VideoData, bundle_name, load_split

        d = self.cfg.data
        root = Path(d.root)
        if not root.is_dir():
            raise LayoutError(f"{root}: no such data folder (data.root); see docs/video.md for the layout")
        mapping = read_mapping(root / "mapping.txt")
        missing = [s for s in d.skip if s not in mapping]
        if missing:
            raise ConfigError(f"data.skip: {', '.join(missing)} not in {root / 'mapping.txt'} ({', '.join(mapping)})")
        labels = [name for name in mapping if name not in d.skip]
        if self.labels and labels != self.labels:
            raise LayoutError(f"{root / 'mapping.txt'}: its labels ({', '.join(labels)}) are not the model's "
                              f"({', '.join(self.labels)})")  # fmt: skip
        self.labels = labels
        ours = {i: self.labels.index(name) for i, name in enumerate(mapping) if name not in d.skip}
        skip = {i for i, name in enumerate(mapping) if name in d.skip}
        videos = load_split(root, bundle_name(bundle, d.split), {n: i for i, n in enumerate(mapping)}, VideoData(), dim)
        clips = [c for v in videos for c in segments(v.name, v.features, v.labels, skip)]
        if not clips:
            raise LayoutError(f"{root}/splits/{bundle_name(bundle, d.split)}.bundle: its videos have no segments "
                              f"other than {', '.join(d.skip)}")  # fmt: skip
        for c in clips:
            c.label = ours[c.label]
        return clips

    def dataset(self) -> list[Example]:
        return self.train_examples

    def train_batches(self, epoch: int) -> list[list[int]]:
        t = self.cfg.train
        return length_batches([len(x) for x, _ in self.train_examples], t.batch_size, t.batch_tokens, t.seed, epoch)

    def inputs(self, xs: Sequence[Any]) -> tuple[Tensor, Tensor]:
        """Padded inputs and lengths (batch,): ids (batch, time), or normalised features
        (batch, time, dim) from raw (time, dim) arrays."""
        if self.text:
            return pad(xs, 0)
        lengths = torch.tensor([len(f) for f in xs], dtype=torch.long)
        x = torch.zeros(len(xs), int(lengths.max()), xs[0].shape[1])
        for i, f in enumerate(xs):
            x[i, : len(f)] = (torch.from_numpy(np.asarray(f, dtype=np.float32)) - self.mean) / self.std
        return x, lengths

    def collate(self, examples: list[Example]) -> Batch:
        x, lengths = self.inputs([x for x, _ in examples])
        return {"x": x, "lengths": lengths, "y": torch.tensor([y for _, y in examples], dtype=torch.long)}

    # -- the loss and validation -------------------------------------------------------------
    def loss(self, model: nn.Module, batch: Batch, state: State = None) -> LossOutput:
        logits = model(batch["x"], batch["lengths"])[:, None]  # (batch, 1, classes): one "step" each
        y = batch["y"].to(logits.device)[:, None]
        mask = torch.ones_like(y, dtype=torch.bool)
        if self.weights is not None:
            total, count = class_weighted_nll(logits, y, mask, self.weights)
        else:
            total, count = self.token_nll(model, logits, y, mask)
        return LossOutput(total, count)

    def examples_of(self, split: str) -> list[Example]:
        """The examples of ``split`` (only ``valid``); a restored task reads them when first asked."""
        if split != "valid":
            raise ConfigError(f"split '{split}': the classify task scores only 'valid' (data.valid)")
        if split not in self.splits:
            if self.text:
                self.splits[split] = self.encode_examples(*self.read_text(split), self.cfg.data.valid)
            else:
                self.splits[split] = [(c.features, c.label) for c in self.read_clips(self.cfg.data.valid,
                                                                                     self.dims.input_dim)]  # fmt: skip
        return self.splits[split]

    def valid_batches(self, split: str = "valid") -> Iterator[Batch]:
        examples = self.examples_of(split)
        return eval_batches(examples, [len(x) for x, _ in examples], self.collate)

    @torch.no_grad()
    def probabilities(self, model: nn.Module, xs: Sequence[Any]) -> Tensor:
        """Class probabilities (n, classes) of token-id lists or raw (time, dim) feature arrays."""
        device = next(model.parameters()).device
        order = sorted(range(len(xs)), key=lambda i: len(xs[i]))  # little padding per batch
        out = torch.zeros(len(xs), len(self.labels))
        for start in range(0, len(order), 64):
            chosen = order[start : start + 64]
            x, lengths = self.inputs([xs[i] for i in chosen])
            out[chosen] = torch.softmax(model(x.to(device), lengths).float(), dim=-1).cpu()
        return out

    def matrix(self, model: nn.Module, split: str) -> np.ndarray:
        examples = self.examples_of(split)
        pred = self.probabilities(model, [x for x, _ in examples]).argmax(-1).tolist()
        return confusion([y for _, y in examples], pred, len(self.labels))

    def scores(self, model: nn.Module, split: str, loss: float) -> dict[str, float]:
        m = self.matrix(model, split)
        return {"accuracy": accuracy(m), "macro_f1": macro_f1(m)}

    def examples(self, model: nn.Module, split: str, n: int, folder: Path) -> Examples:
        """The confusion matrix of ``split`` (the figure the run ends with)."""
        from seq2seq.classify.plots import plot_confusion

        return Examples(images={"confusion": plot_confusion(self.matrix(model, split), self.labels,
                                                            folder / "confusion.png")})  # fmt: skip

    def after_training(self, model: nn.Module, out_dir: str) -> dict[str, str]:
        """valid_scores.json (accuracy, macro-F1, per-class F1, the confusion matrix) and confusion.png."""
        from seq2seq.classify.plots import plot_confusion

        m = self.matrix(model, "valid")
        out = Path(out_dir)
        f1 = per_class_f1(m)
        write_json(out / "valid_scores.json", {
            "accuracy": accuracy(m), "macro_f1": macro_f1(m), "examples": int(m.sum()),
            "f1": {name: float(f1[i]) for i, name in enumerate(self.labels)},
            "labels": self.labels, "confusion": m.tolist(),
        })  # fmt: skip
        png = plot_confusion(m, self.labels, out / "confusion.png", "validation")
        return {"validation scores": str(out / "valid_scores.json"), "confusion matrix": str(png)}

    # -- inference ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "subwords": self.proto, "mean": self.mean, "std": self.std}

    def restore(self, state: dict[str, Any], dims: Dims, where: str = "checkpoint") -> None:
        self.dims = dims
        self.labels = list(state.get("labels", []))
        self.mean, self.std = state.get("mean"), state.get("std")
        if self.text:
            self.use_subwords(state.get("subwords") or b"", where)

    def describe(self) -> dict[str, str]:
        d = self.cfg.data
        what = {"generated": "the embedded reviews", "files": d.train, "video": f"{d.root} ({d.train})"}[d.source]
        inputs = (f"text, {self.dims.input_vocab} SentencePiece pieces" if self.text
                  else f"{self.dims.input_dim} features per frame")  # fmt: skip
        return {"labels": ", ".join(self.labels), "trained on": what, "inputs": inputs}
