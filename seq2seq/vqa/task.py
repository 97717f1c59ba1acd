"""VqaTask: an image and a question in, the answer out, with the ``vqa`` model kind.

Two sources of questions (``data.source``):

- ``generated``: scenes of ``seq2seq.vision.scenes`` with the questions of
  ``seq2seq.vqa.questions``, written once as PNG files and JSONL question files under
  ``data.root`` (``train.jsonl``, ``valid.jsonl``, ``test.jsonl``; rewritten only when the
  generation keys change) and then read exactly as ``files`` reads a user's;
- ``files``: question files (``seq2seq.vqa.data``: JSONL, CSV or TSV) naming image files.

The question is lower-cased words (a word not in the training questions reads as ``<unk>``); the
image is its grid of CNN features (``seq2seq.vision.grid``), extracted once into a features
folder and cached there; how they were made is kept in the checkpoint, and features made
otherwise are refused (``seq2seq.video.features.check_same``). Validation reports accuracy, and
accuracy per question type (``accuracy_colour``, ...) when the questions have types; after
training, ``valid_scores.json`` and (with a test split) ``test_scores.json`` hold them.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from seq2seq.config import Config, ConfigError, Section, key
from seq2seq.nn.models import Dims
from seq2seq.records import write_json
from seq2seq.task import Batch, Examples, LossOutput, State, Task, eval_batches, length_batches, pad
from seq2seq.vqa.data import Asked, VqaDataError, read_questions, words

if TYPE_CHECKING:
    from seq2seq.video.features import Extraction

PAD, UNK = 0, 1
SPECIALS = ("<pad>", "<unk>")
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class VqaData(Section):
    source: Literal["generated", "files"] = key(
        "generated", "`generated` (scenes and questions written under data.root) or `files` (question files)"
    )
    train: str = key("", "`files`: the training question file (.jsonl, .csv or .tsv; docs/vqa.md)")
    valid: str = key("", "`files`: the validation question file")
    test: str = key("", "`files`: a test question file, scored after training (optional)")
    root: str = key("data/vqa", "`generated`: where the scenes and question files are written")
    features: str = key("", "the grid-features folder; empty: grid-BACKBONE-SIZE beside the training questions")
    backbone: str = key("efficientnet_lite0", "the CNN of the grid features (or a torchvision classifier)")
    weights: str = key("DEFAULT", "its weights: DEFAULT (the packaged ImageNet ones), a torchvision name, a file, none")
    size: int = key(0, "the pictures' side the CNN sees (224: 7 x 7 cells, 128: 4 x 4); 0: the weights' own", min=0)
    generated_train: int = key(2000, "`generated`: training scenes (each with data.questions_per_type questions of "
                               "each type that has an answer)",
                               min=1)  # fmt: skip
    generated_valid: int = key(300, "`generated`: validation scenes", min=1)
    generated_test: int = key(500, "`generated`: test scenes (0: none)", min=0)
    questions_per_type: int = key(1, "`generated`: at most this many distinct questions of each type per scene",
                                  min=1)  # fmt: skip
    image_size: int = key(192, "`generated`: the side of the drawn scenes in pixels", min=32)
    min_things: int = key(1, "`generated`: fewest things in a scene", min=1, max=9)
    max_things: int = key(4, "`generated`: most things in a scene", min=1, max=9)
    held_out: tuple[str, ...] = key(
        ("red triangle", "blue square"), "`generated`: colour-shape pairs no training or validation question is "
        "about; the test split asks about them (its `novel` accuracy)",
    )  # fmt: skip
    seed: int = key(1, "`generated`: seed of the scenes and questions")
    components: int = key(
        64, "each cell's features standardised and projected on this many principal axes of the training cells "
        "(fewer inputs to learn from: faster, and less to overfit); 0: all features", min=0,
    )  # fmt: skip


def note_seen(train: Sequence[Asked], valid: Sequence[Asked]) -> None:
    """A stderr note when validation questions are training ones (the same image, words and
    answer): one question file given as data.train and data.valid trains on all of it, and
    validation and best.pt then score memory, not answering."""
    seen = {(q.image.resolve(), tuple(words(q.question)), q.answer) for q in train}
    both = [q for q in valid if (q.image.resolve(), tuple(words(q.question)), q.answer) in seen]
    if both:
        print(f"vqa: note: {len(both)} of {len(valid)} validation questions are training ones too (the first: "
              f"{both[0].where}); give a validation file of other images, so that validation scores unseen ones",
              file=sys.stderr)  # fmt: skip


def principal_axes(grids: np.ndarray, components: int, most: int = 50_000) -> tuple[Tensor, Tensor, Tensor]:
    """The mean and std (dim,) of the cells of ``grids`` (images, cells, dim) and the first
    ``components`` principal axes (dim, components) of the standardised cells, each scaled by
    1 / sqrt(its variance) (0: every feature, unrotated), from at most ``most`` evenly spaced cells."""
    cells = grids.reshape(-1, grids.shape[-1])
    cells = torch.from_numpy(cells[:: max(1, len(cells) // most)].astype(np.float32))
    mean, std = cells.mean(0), cells.std(0).clamp(min=1e-3)
    dim = cells.shape[1]
    if components == 0 or components >= dim:
        return mean, std, torch.eye(dim)
    z = (cells - mean) / std
    values, vectors = torch.linalg.eigh(z.T @ z / len(z))  # ascending eigenvalues
    # each axis scaled to unit variance (whitened): the first ones would otherwise be ~100 times
    # larger than the rest and saturate the model's tanh
    scale = values[-components:].clamp(min=1e-6).rsqrt()
    return mean, std, (vectors[:, -components:] * scale).flip(-1).contiguous()


@dataclass(frozen=True)
class Example:
    ids: tuple[int, ...]  # the question's word ids
    image: int  # row of the task's grid array
    answer: int
    type: str
    novel: bool  # about a held-out colour-shape pair


class VqaTask(Task):
    name = "vqa"
    Data = VqaData
    kinds = ("vqa",)
    metrics = {"loss": "min", "accuracy": "max"}

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.vocab: list[str] = []
        self.answers: list[str] = []
        self.extraction: dict[str, Any] = {}
        self.index: dict[str, int] = {}
        self.answer_index: dict[str, int] = {}
        self.grids: np.ndarray | None = None  # (images, cells, dim) float16
        # The training cells' mean and std (dim,) and their first principal axes (dim, components):
        # each cell is standardised and projected on them (``reduce``).
        self.mean: Tensor | None = None
        self.std: Tensor | None = None
        self.basis: Tensor | None = None
        self.reduced: Tensor | None = None  # every image's reduced grid (images, cells, components)
        self.rows: dict[Path, int] = {}
        self.splits: dict[str, list[Example]] = {}
        self._extractor = None

    @classmethod
    def check(cls, cfg: Config) -> None:
        d = cfg.data
        if d.source == "files" and not (d.train and d.valid):
            raise ConfigError("data.source = 'files' needs data.train and data.valid (question files)")
        if d.min_things > d.max_things:
            raise ConfigError(f"data.min_things {d.min_things} is above data.max_things {d.max_things}")
        from seq2seq.vision.scenes import COLOURS, SHAPES

        pairs = {f"{c} {s}" for c in COLOURS for s in SHAPES}
        bad = [p for p in d.held_out if p not in pairs]
        if bad:
            raise ConfigError(f"data.held_out: {bad[0]!r} is not a colour and a shape such as 'red triangle'")
        if cfg.train.tbptt:
            raise ConfigError("train.tbptt: a vqa model reads each question whole; set it to 0")
        m, defaults = cfg.model, type(cfg.model)()
        unread = [k for k in ("attention", "hops") if getattr(m, k) != getattr(defaults, k)]
        if not m.image and unread:
            raise ConfigError(f"model.{unread[0]} is not used by a question-only vqa model (model.image = false); "
                              "remove it")  # fmt: skip

    # -- data --------------------------------------------------------------------------------
    def question_files(self) -> dict[str, Path]:
        """The question file of each split there is (generated ones written first)."""
        d = self.cfg.data
        if d.source == "generated":
            from seq2seq.vqa.generate import generate

            return generate(d)
        return {s: Path(getattr(d, s)) for s in SPLITS if getattr(d, s)}

    def features_folder(self, files: dict[str, Path]) -> Path:
        """data.features, or grid-BACKBONE-SIZE beside the training questions."""
        d = self.cfg.data
        if d.features:
            return Path(d.features)
        spec = self.spec()
        return files["train"].parent / f"grid-{spec.backbone}-{spec.size}"

    def spec(self) -> Extraction:
        """How the grid features are made: the checkpoint's, or the config's for a new run."""
        from seq2seq.video.features import Extraction
        from seq2seq.vision.grid import grid_spec

        if self.extraction:
            return Extraction.from_dict(self.extraction)
        d = self.cfg.data
        return grid_spec(d.backbone, d.weights, d.size or None)

    def read_split(self, split: str) -> list[Asked]:
        files = self.question_files()
        if split not in files:
            raise ConfigError(f"split '{split}': this run has {', '.join(files)} (data.{split} is not set)")
        self.load_grids(files)
        return read_questions(files[split])

    def load_grids(self, files: dict[str, Path]) -> None:
        """Grid features of every image the question files name, extracted once into the features
        folder (all splits in one call, so each image keeps its features name)."""
        if self.grids is not None:
            return
        from seq2seq.runtime import resolve_device
        from seq2seq.video.features import check_same
        from seq2seq.vision.grid import extract_images, load_grid, read_extraction

        images = sorted({q.image for path in files.values() for q in read_questions(path)})
        folder = self.features_folder(files)
        expected = self.extraction or None
        made = read_extraction(folder)
        if expected and made:
            check_same(made, expected, str(folder), "this checkpoint")
        device = str(resolve_device(self.cfg.train.device))
        out = extract_images(images, folder, self.spec(), device, progress=self.cfg.train.progress)
        made = read_extraction(folder)
        check_same(made, expected, str(folder), "this checkpoint")
        self.extraction = made
        self.rows = {path: i for i, path in enumerate(images)}
        self.grids = np.stack([load_grid(out[path]).astype(np.float16) for path in images])

    def prepare(self, restored: dict[str, Any] | None = None) -> Dims:
        if restored:
            self.extraction = dict(restored.get("extraction") or {})
        train = self.read_split("train")
        if restored:
            self.vocab, self.answers = list(restored["vocab"]), list(restored["answers"])
        else:
            counts = Counter(w for q in train for w in words(q.question))
            self.vocab = [*SPECIALS, *sorted(counts, key=lambda w: (-counts[w], w))]
            self.answers = sorted({q.answer for q in train})
        self.use_vocab()
        if restored:
            self.mean, self.std, self.basis = restored["mean"], restored["std"], restored["basis"]
        else:
            images = sorted({self.rows[q.image] for q in train})
            self.mean, self.std, self.basis = principal_axes(self.grids[images], self.cfg.data.components)
        self.splits["train"] = self.encode_examples(train)
        valid = self.read_split("valid")
        self.splits["valid"] = self.encode_examples(valid)
        if not restored:
            note_seen(train, valid)
        self.dims = Dims(input_vocab=len(self.vocab), output_size=len(self.answers),
                         image_dim=int(self.basis.shape[1]), pad_id=PAD)  # fmt: skip
        return self.dims

    def use_vocab(self) -> None:
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.answer_index = {a: i for i, a in enumerate(self.answers)}

    def encode(self, question: str) -> tuple[int, ...]:
        """Word ids of a question (unknown words: <unk>; a question of no words reads as one <unk>,
        though the readers and ``answer`` refuse one)."""
        return tuple(self.index.get(w, UNK) for w in words(question)) or (UNK,)

    def known(self, question: str) -> bool:
        """Whether any word of the question occurs in the training questions (else the answer is
        the model's guess from the image alone)."""
        return any(w in self.index for w in words(question))

    def encode_examples(self, asked: Sequence[Asked]) -> list[Example]:
        held_out = set(self.cfg.data.held_out) if self.cfg.data.source == "generated" else set()
        out = []
        for q in asked:
            if q.answer not in self.answer_index:
                raise VqaDataError(f"{q.where}: answer {q.answer!r} never occurs in the training questions, so no "
                                   f"model of them can give it ({len(self.answers)} answers)")  # fmt: skip
            novel = bool(q.subject) and q.subject in held_out
            out.append(Example(self.encode(q.question), self.rows[q.image], self.answer_index[q.answer], q.type, novel))
        return out

    def dataset(self) -> list[Example]:
        return self.splits["train"]

    def train_batches(self, epoch: int) -> list[list[int]]:
        t = self.cfg.train
        return length_batches([len(e.ids) for e in self.splits["train"]], t.batch_size, t.batch_tokens, t.seed, epoch)

    def collate(self, examples: list[Example]) -> Batch:
        question, lengths = pad([e.ids for e in examples], PAD)
        if self.reduced is None:
            self.reduced = self.reduce(self.grids)
        grid = self.reduced[[e.image for e in examples]]
        answer = torch.tensor([e.answer for e in examples], dtype=torch.long)
        return {"question": question, "lengths": lengths, "grid": grid, "answer": answer}

    def reduce(self, grids: np.ndarray) -> Tensor:
        """(n, cells, dim) raw features -> (n, cells, components): standardised by the training
        cells' mean and std, then projected on their principal axes."""
        out = [((torch.from_numpy(np.asarray(grids[i : i + 256], dtype=np.float32)) - self.mean) / self.std)
               @ self.basis for i in range(0, len(grids), 256)]  # fmt: skip
        return torch.cat(out) if out else torch.zeros(0, 0, self.basis.shape[1])

    # -- the loss and validation -------------------------------------------------------------
    def loss(self, model: nn.Module, batch: Batch, state: State = None) -> LossOutput:
        logits = model(batch["question"], batch["lengths"], batch["grid"])[:, None]  # one "step" each
        y = batch["answer"].to(logits.device)[:, None]
        total, count = self.token_nll(model, logits, y, torch.ones_like(y, dtype=torch.bool))
        return LossOutput(total, count)

    def examples_of(self, split: str) -> list[Example]:
        if split not in self.splits:
            self.splits[split] = self.encode_examples(self.read_split(split))
        return self.splits[split]

    def valid_batches(self, split: str = "valid") -> Iterator[Batch]:
        examples = self.examples_of(split)
        return eval_batches(examples, [len(e.ids) for e in examples], self.collate)

    @torch.no_grad()
    def probabilities(self, model: nn.Module, questions: Sequence[Sequence[int]], grids: np.ndarray) -> Tensor:
        """Answer probabilities (n, answers) of word-id lists and their raw (n, cells, dim) grids."""
        device = next(model.parameters()).device
        out = torch.zeros(len(questions), len(self.answers))
        for start in range(0, len(questions), 128):
            q, lengths = pad(questions[start : start + 128], PAD)
            grid = self.reduce(grids[start : start + 128]).to(device)
            out[start : start + 128] = torch.softmax(model(q.to(device), lengths, grid).float(), dim=-1).cpu()
        return out

    def predictions(self, model: nn.Module, split: str) -> tuple[list[Example], list[int]]:
        examples = self.examples_of(split)
        grids = self.grids[[e.image for e in examples]]
        return examples, self.probabilities(model, [e.ids for e in examples], grids).argmax(-1).tolist()

    def scores(self, model: nn.Module, split: str, loss: float) -> dict[str, float]:
        return {k: v for k, v in self.report(model, split).items() if isinstance(v, float)}

    def report(self, model: nn.Module, split: str) -> dict[str, Any]:
        """accuracy, accuracy_TYPE per question type, accuracy_novel (questions about held-out
        pairs), and the number of questions of each."""
        examples, pred = self.predictions(model, split)
        right = [p == e.answer for e, p in zip(examples, pred, strict=True)]
        out: dict[str, Any] = {"accuracy": float(np.mean(right)) if right else 0.0}
        counts: dict[str, int] = {"all": len(right)}
        groups: dict[str, list[bool]] = {}
        for e, ok in zip(examples, right, strict=True):
            if e.type:
                groups.setdefault(e.type, []).append(ok)
            if e.novel:
                groups.setdefault("novel", []).append(ok)
        for name in sorted(groups, key=lambda g: (g == "novel", g)):
            out[f"accuracy_{name}"] = float(np.mean(groups[name]))
            counts[name] = len(groups[name])
        out["questions"] = counts
        return out

    def examples(self, model: nn.Module, split: str, n: int, folder: Path) -> Examples:
        """The first ``n`` questions of ``split`` with their answers (and the truth)."""
        examples, pred = self.predictions(model, split)
        rows = ["| question | answer | truth |", "|---|---|---|"]
        for e, p in list(zip(examples, pred, strict=True))[:n]:
            question = " ".join(self.vocab[i] for i in e.ids)
            rows.append(f"| {question} | {self.answers[p]} | {self.answers[e.answer]} |")
        return Examples(text={"answers": "\n".join(rows)})

    def after_training(self, model: nn.Module, out_dir: str) -> dict[str, str]:
        """valid_scores.json and, with a test split, test_scores.json (accuracy per type)."""
        out = {}
        for split in ("valid", "test"):
            if split == "test" and "test" not in self.question_files():
                continue
            path = Path(out_dir) / f"{split}_scores.json"
            write_json(path, self.report(model, split))
            out[f"{split} scores"] = str(path)
        return out

    # -- inference ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"vocab": list(self.vocab), "answers": list(self.answers), "extraction": dict(self.extraction),
                "mean": self.mean, "std": self.std, "basis": self.basis}  # fmt: skip

    def restore(self, state: dict[str, Any], dims: Dims, where: str = "checkpoint") -> None:
        self.dims = dims
        self.vocab, self.answers = list(state.get("vocab", [])), list(state.get("answers", []))
        self.extraction = dict(state.get("extraction") or {})
        self.mean, self.std, self.basis = state.get("mean"), state.get("std"), state.get("basis")
        self.use_vocab()

    def extractor(self, device: torch.device | str = "cpu"):
        """The checkpoint's grid extractor (made once): new images are embedded as in training."""
        from seq2seq.vision.grid import GridExtractor

        if self._extractor is None:
            self._extractor = GridExtractor(self.spec(), device)
        return self._extractor

    def describe(self) -> dict[str, str]:
        from seq2seq.video.features import Extraction

        d = self.cfg.data
        what = {"generated": f"generated scenes ({d.root})", "files": d.train}[d.source]
        return {
            "answers": ", ".join(self.answers),
            "trained on": what,
            "question words": str(len(self.vocab) - len(SPECIALS)),
            "image features": Extraction.from_dict(self.extraction).describe(images=True)
            if self.extraction
            else "none",
        }
