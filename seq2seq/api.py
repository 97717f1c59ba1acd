"""The Python API: load a checkpoint and use it, or train a recipe, as the command line does.

    model = seq2seq.load("runs/demo/translation/best.pt")
    model.translate("I see three red dogs.")          # -> a string
    model.translate(["...", "..."], beam=5, nbest=3)   # -> per line, [(translation, score), ...]

    labels = seq2seq.load("video.pt").label("clip.mp4")      # per-frame labels, confidences, segments
    roll = seq2seq.load("chords.pt").generate(steps=64)      # a piano roll; roll.to_midi("out.mid")
    text = seq2seq.load("text.pt").generate(primer="The", steps=200)
    label, p = seq2seq.load("classify.pt").classify("the film was not bad")
    seq2seq.load("caption.pt").caption("scene.png")           # -> "a red circle at the top left"
    answer, p = seq2seq.load("vqa.pt").answer("scene.png", "what colour is the square?")

    seq2seq.train("toy/reverse", overrides={"train.epochs": 2}, out="runs/toy")

Every default comes from the checkpoint (its ``[search]`` section, its precision, its sampling
rate), exactly as for the command line, which is a thin layer over these classes: the same call
gives the same result from both (tested for each task).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seq2seq.commands import search_options
from seq2seq.config import Config, SearchConfig
from seq2seq.errors import UserError
from seq2seq.inference import Loaded, load_model

if TYPE_CHECKING:
    from seq2seq.music.midi import MidiPiece


class Model:
    """A loaded checkpoint: ``task``, ``cfg`` (its config), ``model`` (the torch module, in eval
    mode), ``device`` and ``path``. ``load`` returns the subclass of the checkpoint's task."""

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.task, self.cfg, self.model = loaded.task, loaded.cfg, loaded.model
        self.device, self.path = loaded.device, loaded.path

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.cfg.task} {self.cfg.model.kind} from {self.path}>"

    def evaluate(self, split: str = "valid") -> dict[str, float]:
        """The validation metrics of a split of the checkpoint's own data (what training reported)."""
        from seq2seq.trainer import validate

        return validate(self.task, self.model, self.device, self.cfg.train.amp, split).metrics


# -- translation ------------------------------------------------------------------------------
class TranslationModel(Model):
    """A translation checkpoint: ``translate`` text with its subwords and beam search."""

    def search(
        self, beam: int | None = None, nbest: int | None = None, length_penalty: float | None = None, **keys: Any
    ) -> SearchConfig:
        """The checkpoint's ``[search]`` with the given values instead (None: the checkpoint's);
        ``keys``: other [search] keys by name (``min_length``, ``block_ngram_repeat``, ...)."""
        search = search_options(self.cfg.search, beam_size=beam, nbest=nbest, length_penalty=length_penalty, **keys)
        if search.nbest > search.beam_size:
            raise UserError(f"nbest {search.nbest}: give 1 to the beam size ({search.beam_size})")
        return search

    def translator(self, amp: str | None = None, batch_tokens: int | None = None, warn=None):
        """The ``Translator`` the command line uses: the checkpoint's precision unless ``amp``."""
        from seq2seq.translation.translator import BATCH_TOKENS, Translator

        return Translator(
            self.model, self.task.subwords, self.task.max_src_len, amp=amp or self.cfg.train.amp,
            batch_tokens=batch_tokens or BATCH_TOKENS, warn=warn,
        )  # fmt: skip

    def translate(
        self,
        lines: str | Sequence[str],
        beam: int | None = None,
        nbest: int | None = None,
        length_penalty: float | None = None,
        amp: str | None = None,
        min_length: int | None = None,
        block_ngram_repeat: int | None = None,
    ) -> str | list[str] | list[list[tuple[str, float]]]:
        """Translate one line (-> a string) or a list of lines (-> a list of strings); with
        ``nbest`` > 1, each line gives its n-best list of (translation, score), best first.
        ``min_length`` / ``block_ngram_repeat``: as ``translate --min-length`` / ``--block-ngram-repeat``."""
        search = self.search(beam, nbest, length_penalty, min_length=min_length, block_ngram_repeat=block_ngram_repeat)
        one = isinstance(lines, str)
        results = self.translator(amp).translate([lines] if one else list(lines), search)
        if search.nbest > 1:
            return results[0] if one else results
        best = [hyps[0][0] for hyps in results]
        return best[0] if one else best


# -- video --------------------------------------------------------------------------------------
@dataclass
class Labels:
    """The labels of one clip (or feature sequence): one per sampled frame, with its probability
    and time, and the segments they form."""

    labels: list[str]
    confidences: list[float]
    times: list[float]  # seconds (frame indices for features without a frame rate)
    segments: list[dict[str, Any]]
    scores: dict[str, float] | None = None  # against the truth, when given
    files: dict[str, str] = field(default_factory=dict)  # what was written, when asked


class VideoModel(Model):
    """A video checkpoint: ``label`` a clip (decoded and embedded as in training) or features."""

    def labeller(
        self, batch_size: int = 32, timeout: float | None = None, format: str = "csv", tier: str | None = None
    ):
        from seq2seq.video.label import TIMEOUT, Labeller

        return Labeller(self.loaded, batch_size, TIMEOUT if timeout is None else timeout, format, tier=tier)

    def label(
        self,
        clip: str | Path | np.ndarray,
        out: str | Path | None = None,
        truth: str | Path | None = None,
        format: str = "csv",
        tier: str | None = None,
    ) -> Labels:
        """Label a clip (a file, a URL), a features file (``.npy``, (D, T) as in a layout's
        features/) or a (time, features) array of the features it was trained on. With ``out``,
        the labels (``format`` "csv": NAME.labels.csv; "mstcn": MS-TCN's results file NAME),
        segments JSON and timeline PNG are written there too; ``truth`` (a label file, or an ELAN /
        CVAT / VIA export beside a clip, ``tier`` naming its tier or attribute) adds scores."""
        from seq2seq.video.decode import as_source
        from seq2seq.video.label import FeatureLabeller

        out_dir = None if out is None else Path(out)
        truth_path = None if truth is None else Path(truth)
        if isinstance(clip, np.ndarray) or str(clip).lower().endswith(".npy"):
            labeller = FeatureLabeller(self.loaded, format)
            if isinstance(clip, np.ndarray):
                result = labeller.label(np.asarray(clip, dtype=np.float32), "features", out_dir, truth_path)
            else:
                result = labeller.label(labeller.read(Path(clip)), Path(clip).stem, out_dir, truth_path, str(clip))
        else:
            result = self.labeller(format=format, tier=tier).label(as_source(str(clip)), out_dir, truth=truth_path)
        return Labels(
            [self.task.labels[c] for c in result.labels], result.confidences, result.times,
            [s.as_dict() for s in result.segments], result.scores, dict(result.outputs),
        )  # fmt: skip


# -- music and text -----------------------------------------------------------------------------
@dataclass
class PianoRoll:
    """A generated piano roll: ``roll`` (time, 88) of 0/1 (the primer's frames first), on the
    checkpoint's ``grid``, and how to write it as MIDI. From a primer file these are the
    primer's: ``bpm`` (its tempo at its first note), ``time_signature``, ``velocities`` (of the
    primer's notes, by frame and key: they keep their own), ``velocity`` (the primer's median
    velocity: every generated note's) and ``offset`` (its silence before the first note, in
    frames, so its bars stay where they were); otherwise 120 bpm, 4/4, velocity 80."""

    roll: np.ndarray
    primer_frames: int
    grid: str
    bpm: float = 120.0
    time_signature: tuple[int, int] = (4, 4)
    velocity: int = 80
    velocities: np.ndarray | None = None
    offset: int = 0

    def to_midi(self, path: str | Path, bpm: float | None = None) -> Path:
        """Write the roll as a MIDI file at ``bpm`` (None: the roll's own, the primer's tempo)."""
        from seq2seq.music.midi import roll_to_midi

        return roll_to_midi(
            self.roll, path, self.grid, self.bpm if bpm is None else bpm, self.velocity,
            velocities=self.velocities, time_signature=self.time_signature, offset=self.offset,
        )  # fmt: skip

    def to_png(self, path: str | Path) -> Path:
        from seq2seq.music.plots import piano_roll_png

        return piano_roll_png(self.roll, path, self.primer_frames, f"{Path(path).stem}: primer + continuation")


class MusicModel(Model):
    """A piano-roll checkpoint: ``generate`` a continuation of a primer."""

    def generate(
        self,
        primer: str | Path | np.ndarray | MidiPiece | None = None,
        steps: int = 256,
        temperature: float | None = None,
        top_k: int | None = None,
        seed: int | None = None,
    ) -> PianoRoll:
        """Continue ``primer`` (a MIDI file, one read with ``seq2seq.music.midi.read_midi``, a
        (time, 88) roll, or None: the checkpoint's) by ``steps`` frames; temperature and top_k
        default to the checkpoint's [search]. A MIDI primer's tempo, time signature and
        velocities go with the result (``PianoRoll``)."""
        from seq2seq.music.generate import continue_roll
        from seq2seq.music.midi import MidiPiece, read_midi

        if steps < 1:
            raise UserError("steps must be at least 1")
        search = search_options(self.cfg.search, temperature=temperature, top_k=top_k)
        if primer is None:
            piece = MidiPiece(self.task.primer_roll())
        elif isinstance(primer, np.ndarray):
            piece = MidiPiece(primer)
        elif isinstance(primer, MidiPiece):
            piece = primer
        else:
            piece = read_midi(primer, self.cfg.data.grid)
        roll = piece.roll
        continuation = continue_roll(self.model, roll, steps, search.temperature, search.top_k, seed)
        return PianoRoll(
            np.concatenate([roll, continuation]), len(roll), self.cfg.data.grid, piece.bpm, piece.time_signature,
            piece.velocity, piece.velocities, piece.offset,
        )  # fmt: skip


class TextModel(Model):
    """A character checkpoint: ``generate`` text after a primer."""

    def generate(
        self,
        primer: str | None = None,
        steps: int = 256,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> str:
        """The continuation of ``primer`` (default: the start of the training text), ``steps``
        characters; temperature, top_k and top_p default to the checkpoint's [search]."""
        from seq2seq.text.generate import continue_text

        if steps < 1:
            raise UserError("steps must be at least 1")
        s = search_options(self.cfg.search, temperature=temperature, top_k=top_k, top_p=top_p)
        primer = self.task.primer if primer is None else primer
        self.task.vocab.check(primer, "primer", strict=False)
        return continue_text(self.model, self.task.vocab, primer, steps, s.temperature, s.top_k, s.top_p, seed)


# -- classification -----------------------------------------------------------------------------
class ClassifierModel(Model):
    """A classify checkpoint: ``classify`` texts (a text model) or (time, dim) feature arrays (a
    model of action segments), each into its likeliest label and that label's probability."""

    def classify(
        self, inputs: str | np.ndarray | Sequence[str] | Sequence[np.ndarray]
    ) -> tuple[str, float] | list[tuple[str, float]]:
        """One input (a string, or a (time, dim) array of raw features as in the layout's
        features/NAME.npy transposed) -> (label, probability); a list of them -> a list."""
        one = isinstance(inputs, (str, np.ndarray))
        items = [inputs] if one else list(inputs)
        probs = self.probabilities(items)
        top = probs.argmax(-1)
        out = [(self.task.labels[int(c)], float(probs[i, c])) for i, c in enumerate(top.tolist())]
        return out[0] if one else out

    def probabilities(self, items: Sequence[str] | Sequence[np.ndarray]) -> np.ndarray:
        """(n, classes) probabilities of each input, classes in the order of ``task.labels``."""
        task = self.task
        if not items:
            return np.zeros((0, len(task.labels)), dtype=np.float32)
        if task.text:
            bad = [i for i, x in enumerate(items) if not isinstance(x, str) or not x.strip()]
            if bad:
                raise UserError(f"input {bad[0] + 1}: the model classifies non-empty text, got {items[bad[0]]!r:.40}")
            xs = task.encode(items)
        else:
            dim = task.dims.input_dim
            for i, x in enumerate(items):
                if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != dim or len(x) == 0:
                    shape = getattr(x, "shape", type(x).__name__)
                    raise UserError(f"input {i + 1}: features of shape {shape}; the model takes (time, {dim}) "
                                    f"arrays, time >= 1")  # fmt: skip
            xs = [np.asarray(x, dtype=np.float32) for x in items]
        return task.probabilities(self.model, xs).numpy()


# -- captioning ---------------------------------------------------------------------------------
class CaptionModel(Model):
    """A caption checkpoint: ``caption`` images or clips (files, features extracted as in training),
    images as uint8 arrays ((H, W, 3) RGB; (H, W) grey and (H, W, 4) RGBA made RGB as image files
    are) or (steps, dim) float feature arrays, with the core's beam search."""

    def caption(
        self,
        inputs: str | Path | np.ndarray | Sequence[str | Path | np.ndarray],
        beam: int | None = None,
        nbest: int | None = None,
        length_penalty: float | None = None,
        **keys: Any,
    ) -> str | list[str] | list[tuple[str, float]] | list[list[tuple[str, float]]]:
        """One input (an image or clip file, a uint8 image array, or a (steps, dim) float array of
        its raw features) -> its caption; a list -> a list. With ``nbest`` > 1 each input gives
        [(caption, score), ...]; ``keys``: other [search] keys (``min_length``, ...)."""
        search = search_options(self.cfg.search, beam_size=beam, nbest=nbest, length_penalty=length_penalty, **keys)
        if search.nbest > search.beam_size:
            raise UserError(f"nbest {search.nbest}: at most the beam size ({search.beam_size})")
        one = isinstance(inputs, (str, Path, np.ndarray))
        results = self.task.caption(self.model, self.features([inputs] if one else list(inputs)), search)
        out = results if search.nbest > 1 else [hyps[0][0] for hyps in results]
        return out[0] if one else out

    def features(self, inputs: Sequence[str | Path | np.ndarray]) -> list[np.ndarray]:
        """(steps, dim) features of each input: files and uint8 image arrays extracted with the
        checkpoint's settings, float arrays taken as features already."""
        from seq2seq.caption.media import fresh

        def is_feats(x) -> bool:
            return isinstance(x, np.ndarray) and x.dtype != np.uint8

        dim = self.task.dims.input_dim
        if self.task.media == "clip" and any(isinstance(x, np.ndarray) and not is_feats(x) for x in inputs):
            raise UserError("a uint8 image array given to a model that captions clips: give clip files "
                            f"or (steps, {dim}) float feature arrays")  # fmt: skip
        media = [x if isinstance(x, np.ndarray) else Path(x) for x in inputs if not is_feats(x)]
        made = iter(fresh(media, self.task.spec(), str(self.device)) if media else [])
        feats = [x if is_feats(x) else next(made) for x in inputs]
        for i, f in enumerate(feats):
            if f.ndim != 2 or f.shape[1] != dim or len(f) == 0:
                raise UserError(f"input {i + 1}: features of shape {f.shape}; the model takes (steps, {dim}) arrays")
        return feats

    def attention_plot(
        self,
        path: str | Path | np.ndarray,
        out: str | Path,
        caption: str | None = None,
        features: np.ndarray | None = None,
    ) -> Path:
        """The figure of each word's attention (of ``caption``, default the model's own) over the
        image at ``path`` (a file or a uint8 image array; or over a clip's frames), written as a
        PNG at ``out``; ``features``: the file's, when already extracted."""
        from seq2seq.caption.plots import plot_clip_attention, plot_image_attention
        from seq2seq.vision.images import as_rgb, picture, read_image

        feats = self.features([path])[0] if features is None else features
        caption = self.caption(feats, nbest=1) if caption is None else caption
        weights = self.task.attention(self.model, feats, caption)
        words = [*caption.split(), "<end>"]
        if self.task.media == "clip":
            return plot_clip_attention(words, weights, out, self.task.spec().fps)
        pixels = as_rgb(path) if isinstance(path, np.ndarray) else read_image(path)
        return plot_image_attention(picture(pixels, self.task.spec()), words, weights, out)


# -- visual question answering ------------------------------------------------------------------
class VqaModel(Model):
    """A vqa checkpoint: ``answer`` questions about images (files or (H, W, 3) uint8 RGB arrays;
    (H, W) grey and (H, W, 4) RGBA ones are made RGB as image files are),
    each image embedded by the checkpoint's own CNN and preprocessing."""

    def grids(self, images: Sequence[str | Path | np.ndarray]) -> np.ndarray:
        """Raw grid features (n, cells, dim) of each image (a file read once however often named)."""
        extractor = self.task.extractor(self.device)
        done: dict[str, np.ndarray] = {}
        out = []
        for image in images:
            if isinstance(image, np.ndarray):
                out.append(extractor.image(image))
                continue
            if str(image) not in done:
                done[str(image)] = extractor.image(image)
            out.append(done[str(image)])
        return np.stack(out)

    def _questions(self, questions: Sequence[str]) -> list[tuple[int, ...]]:
        from seq2seq.vqa.data import words

        for i, q in enumerate(questions):
            if not isinstance(q, str) or not q.strip():
                raise UserError(f"question {i + 1}: empty question; ask something about the image")
            if not words(q):
                raise UserError(f"question {i + 1}: {q!r} has no words (punctuation is dropped); ask in words")
        return [self.task.encode(q) for q in questions]

    def probabilities(self, images: Sequence[str | Path | np.ndarray], questions: Sequence[str]) -> np.ndarray:
        """(n, answers) probabilities, answers in the order of ``task.answers``."""
        if len(images) != len(questions):
            raise UserError(f"{len(images)} images for {len(questions)} questions: give one image per question")
        ids = self._questions(questions)
        if not ids:
            return np.zeros((0, len(self.task.answers)), dtype=np.float32)
        return self.task.probabilities(self.model, ids, self.grids(images)).numpy()

    def answer(
        self, image: str | Path | np.ndarray | Sequence[str | Path | np.ndarray], question: str | Sequence[str]
    ) -> tuple[str, float] | list[tuple[str, float]]:
        """One image and question -> (answer, probability); lists of them (one image per question)
        -> a list."""
        one = isinstance(question, str)
        images = [image] if one else list(image)
        probs = self.probabilities(images, [question] if one else list(question))
        out = [(self.task.answers[int(c)], float(probs[i, c])) for i, c in enumerate(probs.argmax(-1).tolist())]
        return out[0] if one else out

    def attention(self, image: str | Path | np.ndarray, question: str) -> np.ndarray:
        """Where the question looks: (hops, rows, cols) weights over the image grid, each hop
        summing to 1."""
        import torch

        (ids,) = self._questions([question])
        grid = self.task.reduce(self.grids([image])).to(self.device)
        with torch.no_grad():
            weights = self.model.attention(torch.tensor([ids]), torch.tensor([len(ids)]), grid)[0].float().cpu()
        side = int(round(weights.shape[1] ** 0.5))
        return weights.view(weights.shape[0], side, side).numpy()

    def plot_attention(self, image: str | Path | np.ndarray, question: str, out_png: str | Path) -> Path:
        """The picture the CNN saw with each hop's attention drawn over it, titled by the question
        and its answer; written atomically to ``out_png``."""
        from seq2seq.vision.images import as_rgb, picture, read_image
        from seq2seq.vqa.plots import plot_attention

        pixels = as_rgb(image) if isinstance(image, np.ndarray) else read_image(image)
        answer, p = self.answer(image, question)
        title = f"{question.strip()}  ->  {answer} ({p:.2f})"
        return plot_attention(picture(pixels, self.task.spec()), self.attention(image, question), title, out_png)

    def scores(self, split: str = "valid") -> dict[str, Any]:
        """Accuracy overall, per question type and on held-out pairs (``novel``) of a split of the
        checkpoint's data, with the number of questions of each (``questions``)."""
        return self.task.report(self.model, split)


HANDLES: dict[str, type[Model]] = {
    "translation": TranslationModel,
    "video": VideoModel,
    "music": MusicModel,
    "text": TextModel,
    "classify": ClassifierModel,
    "caption": CaptionModel,
    "vqa": VqaModel,
}


def load(path: str | Path, device: str = "auto") -> Model:
    """The checkpoint at ``path`` as the handle of its task (``TranslationModel``, ``VideoModel``,
    ``MusicModel``, ``TextModel``, ``ClassifierModel``, ``CaptionModel``, ``VqaModel``; a ``Model`` for
    others), on
    ``device`` ('auto': a GPU when there is one)."""
    loaded = load_model(path, device)
    return HANDLES.get(loaded.cfg.task, Model)(loaded)


def train(
    recipe: str | Path | Config,
    overrides: Mapping[str, Any] | Sequence[str] = (),
    out: str | Path | None = None,
    resume: bool | str | Path = False,
) -> dict[str, Any]:
    """Train a recipe (a TOML file, a shipped recipe's name such as ``toy/reverse``, or a
    ``Config``) with the same Trainer as ``seq2seq train``; ``overrides`` as
    ``{"train.lr": 0.001}`` or ``["train.lr=0.001"]``; ``out``: the run folder. ``resume``:
    continue the run in ``out`` (True) or from a checkpoint; then only how long it runs may
    change. Returns the run's summary (steps, best metric, output files)."""
    from seq2seq.config import override
    from seq2seq.registry import check, load_config
    from seq2seq.trainer import Trainer

    assignments = [f"{k}={v}" for k, v in overrides.items()] if isinstance(overrides, Mapping) else list(overrides)
    if out is not None:
        assignments.append(f"train.out_dir={out}")
    if isinstance(recipe, Config):
        cfg = override(recipe, assignments)
        check(cfg)
    else:
        cfg = load_config(recipe, assignments)
    if resume:
        start = Path(cfg.train.out_dir) if resume is True else Path(resume)
        resumable = [a for a in assignments if not a.startswith("train.out_dir=")]
        return Trainer.resume(start, resumable, task=cfg.task).fit()
    return Trainer.from_config(cfg).fit()


__all__ = ["CaptionModel", "ClassifierModel", "Labels", "Model", "MusicModel", "PianoRoll", "TextModel",
           "TranslationModel", "VideoModel", "VqaModel", "load", "train"]  # fmt: skip
