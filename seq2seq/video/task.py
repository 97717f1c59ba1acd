"""VideoTask: label every frame of a video from its per-frame features with the core ``Tagger``.

Trains on the layout of ``seq2seq.video.layout`` (features/, groundTruth/, mapping.txt,
splits/). The loss is cross-entropy (optionally class-weighted) plus the smoothing loss of
action segmentation (Farha and Gall, 2019): the squared difference of consecutive frames'
log-probabilities, truncated at tau^2, weighted by lambda; it discourages flickering labels.
Long videos can be trained on in windows (``data.chunk``); a causal tagger can also use the
core's truncated BPTT (``train.tbptt``). Validation reports the segmentation metrics of
``seq2seq.video.metrics``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from seq2seq.config import Config, ConfigError, Section, key
from seq2seq.losses import class_weighted_nll
from seq2seq.nn.models import Dims, length_mask
from seq2seq.records import write_json
from seq2seq.task import Batch, Examples, LossOutput, State, Task, eval_batches, length_batches, split_time
from seq2seq.video.layout import LayoutError, Video, label_file_names, read_bundle, read_mapping, read_video
from seq2seq.video.metrics import Scores


@dataclass(frozen=True)
class VideoData(Section):
    root: str = key("data/video", "the layout folder: features/, groundTruth/, mapping.txt, splits/")
    train: str = key("train", "split bundle to train on (splits/NAME.bundle); `{split}` becomes data.split")
    valid: str = key("valid", "split bundle scored during training and by `seq2seq evaluate`")
    split: int = key(1, "cross-validation fold substituted into `{split}`", min=1)
    background: tuple[str, ...] = key(("background",), "labels left out of the segment metrics")
    centre: bool = key(False, "subtract each clip's own mean feature first: removes what stays the same through "
                       "a clip (background, lighting, camera); not with a causal tagger")  # fmt: skip
    normalize: bool = key(True, "standardise features with the training videos' mean and std (kept in the checkpoint)")
    chunk: int = key(0, "> 0: train on half-overlapping windows of this many frames instead of whole videos", min=0)
    sample_rate: int = key(1, "keep every n-th frame (features and labels alike)", min=1)
    length_tolerance: int = key(0, "frames by which features and labels may differ (trimmed); 0: must match", min=0)
    class_weights: Literal["none", "balanced"] = key("none", "none / balanced (inverse class frequency, mean weight 1 "
                                                     "over frames)")  # fmt: skip
    smooth_weight: float = key(0.15, "lambda of the smoothing loss (MS-TCN: 0.15); 0 turns it off", min=0)
    smooth_tau: float = key(4.0, "truncation of the log-probability differences (MS-TCN: 4)", gt=0)
    feature_noise: float = key(0.0, "std of Gaussian noise added to the normalised training features", min=0)
    time_stretch: float = key(0.0, "s > 0: each training clip is replayed at a random speed in [1/(1+s), 1+s] "
                              "(frames repeated or skipped, labels alike)", min=0, max=3)  # fmt: skip


def stretch(length: int, s: float) -> np.ndarray:
    """Frame indices that replay ``length`` frames at a random speed r, log-uniform in
    [1/(1+s), 1+s]: round(length / r) frames, frame j showing input frame floor((j + 1/2) r), so
    r < 1 repeats frames (a slower take of the same actions) and r > 1 skips them. Drawn from
    torch's generator, so a seeded run, and a resumed one, replays the same speeds."""
    r = math.exp((2 * float(torch.rand(())) - 1) * math.log1p(s))
    n = max(1, round(length / r))
    return np.minimum(((np.arange(n) + 0.5) * r).astype(np.int64), length - 1)


def bundle_name(template: str, split: int) -> str:
    return template.replace("{split}", str(split))


def load_split(root: Path, bundle: str, index: dict[str, int], d: VideoData, dim: int | None) -> list[Video]:
    path = root / "splits" / f"{bundle}.bundle"
    if not path.is_file():
        found = sorted(p.stem for p in (root / "splits").glob("*.bundle"))
        raise LayoutError(f"{path}: no such split bundle; {root} has {', '.join(found) or 'none'}")
    names = read_bundle(path)
    if not names:
        raise LayoutError(f"{path}: lists no videos")
    videos = []
    for name in names:
        video = read_video(root, name, index, dim, d.length_tolerance, d.sample_rate)
        if d.centre:
            video.features = centred(video.features)
        videos.append(video)
        dim = videos[0].features.shape[1]
    return videos


def centred(feats: np.ndarray) -> np.ndarray:
    """(time, dim) features of one whole clip minus their mean over its frames (data.centre)."""
    return feats - feats.mean(0, keepdims=True)


class VideoTask(Task):
    name = "video"
    Data = VideoData
    kinds = ("tagger",)
    metrics = {"loss": "min", "accuracy": "max", "edit": "max", "f1@10": "max", "f1@25": "max", "f1@50": "max"}

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.labels: list[str] = []
        self.mean: Tensor | None = None
        self.std: Tensor | None = None
        self.extraction: dict[str, Any] | None = None
        self.backbone: dict[str, Tensor] | None = None
        self.train_videos: list[Video] = []
        self.valid_videos: list[Video] = []
        self.scored: dict[str, list[Video]] = {}  # bundle -> videos, read when first scored
        self.items: list[tuple[int, int, int]] = []  # (video, start, end) training windows
        self.weights: Tensor | None = None
        self.resolved_root: Path | None = None  # a restored task's data folder (see ``restore``)
        self.root_note = ""  # where else a restored task looked for it, for the message

    # -- data --------------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return self.resolved_root or Path(self.cfg.data.root)

    @classmethod
    def check(cls, cfg: Config) -> None:
        if cfg.train.tbptt > 0 and cfg.model.bidirectional:
            raise ConfigError("train.tbptt needs a causal tagger (model.bidirectional = false); use data.chunk")
        if cfg.data.centre and not cfg.model.bidirectional:
            raise ConfigError(
                "data.centre needs each whole clip before its first label, which a causal tagger "
                "(model.bidirectional = false, for --stream) does not wait for: set data.centre = false"
            )

    def prepare(self, restored: dict[str, Any] | None = None) -> Dims:
        d = self.cfg.data
        if restored:  # a resumed run: its own data, found as evaluate finds it, not data.root from the cwd
            self.resolved_root, self.root_note = resolve_root(d.root, restored, Path(self.cfg.train.out_dir))
        if not self.root.is_dir():
            what = f"the run's data.root {d.root!r}{self.root_note}" if restored else "data.root"
            raise LayoutError(f"{self.root}: no such data folder ({what}); see docs/video.md for the layout")
        mapping = self.root / "mapping.txt"
        if not mapping.is_file() and (self.root / "features").is_dir():
            raise LayoutError(
                f"{mapping}: no such file: {self.root} has features but no labels; extract-features writes "
                f"groundTruth/ and mapping.txt only for clips with a label file ({label_file_names()}, beside "
                "the clip or in --labels DIR); see docs/video.md"
            )
        self.labels = read_mapping(mapping)
        index = {name: i for i, name in enumerate(self.labels)}
        self.read_extraction()
        dim = self.extraction["dim"] if self.extraction else None
        self.train_videos = load_split(self.root, bundle_name(d.train, d.split), index, d, dim)
        dim = self.train_videos[0].features.shape[1]
        self.valid_videos = load_split(self.root, bundle_name(d.valid, d.split), index, d, dim)
        self.scored["valid"] = self.valid_videos
        all_feats = np.concatenate([v.features for v in self.train_videos])
        if d.normalize:
            self.mean = torch.from_numpy(all_feats.mean(0))
            self.std = torch.from_numpy(all_feats.std(0)).clamp(min=1e-6)
        else:
            self.mean, self.std = torch.zeros(dim), torch.ones(dim)
        if d.class_weights == "balanced":
            counts = np.bincount(np.concatenate([v.labels for v in self.train_videos]), minlength=len(self.labels))
            w = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / len(self.labels), 0.0)
            w = w / (w[np.concatenate([v.labels for v in self.train_videos])].mean())  # mean weight 1 per frame
            self.weights = torch.tensor(w, dtype=torch.float32)
        self.items = []
        for i, v in enumerate(self.train_videos):
            n = len(v.labels)
            if d.chunk <= 0 or n <= d.chunk:
                self.items.append((i, 0, n))
            else:
                starts = list(range(0, n - d.chunk, max(1, d.chunk // 2))) + [n - d.chunk]
                self.items += [(i, s, s + d.chunk) for s in starts]
        self.dims = Dims(input_dim=dim, output_size=len(self.labels))
        return self.dims

    def read_extraction(self) -> None:
        """How the features were made (written by extract-features), kept so `label` can redo it."""
        path = self.root / "extraction.json"
        if not path.is_file():
            self.extraction = self.backbone = None
            return
        try:
            self.extraction = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise LayoutError(f"{path}: not readable JSON ({e}); extract the features again") from None
        backbone = self.root / "backbone.pt"
        self.backbone = None
        if backbone.is_file():
            from seq2seq.checkpoint import verify

            verify(backbone)  # a truncated or damaged file is named, not loaded
            try:
                self.backbone = torch.load(backbone, map_location="cpu", weights_only=True)
            except Exception as e:  # a foreign or tampered file: refused, never run
                raise LayoutError(f"{backbone}: not a backbone state dict written by extract-features "
                                  f"({type(e).__name__}); extract the features again") from None  # fmt: skip
            tensors = isinstance(self.backbone, dict) and all(
                isinstance(v, torch.Tensor) for v in self.backbone.values()
            )
            if not tensors:
                raise LayoutError(f"{backbone}: not a backbone state dict written by extract-features; extract again")

    def dataset(self) -> list[tuple[int, int, int]]:
        return self.items

    def train_batches(self, epoch: int) -> list[list[int]]:
        t = self.cfg.train
        lengths = [end - start for _, start, end in self.items]
        return length_batches(lengths, t.batch_size, t.batch_tokens, t.seed, epoch)

    def normalise(self, feats: Tensor) -> Tensor:
        """(..., dim) raw features -> the standardised features the model was trained on."""
        return (feats - self.mean.to(feats.device)) / self.std.to(feats.device)

    def collate(self, items: list[tuple[int, int, int]]) -> Batch:
        videos = [(self.train_videos[i], s, e) for i, s, e in items]
        feats, labels = [v.features[s:e] for v, s, e in videos], [v.labels[s:e] for v, s, e in videos]
        if self.cfg.data.time_stretch > 0:
            picks = [stretch(len(y), self.cfg.data.time_stretch) for y in labels]
            feats = [f[i] for f, i in zip(feats, picks, strict=True)]
            labels = [y[i] for y, i in zip(labels, picks, strict=True)]
        batch = self.pad(feats, labels)
        if self.cfg.data.feature_noise > 0:
            batch["x"] = batch["x"] + self.cfg.data.feature_noise * torch.randn_like(batch["x"])
        return batch

    def pad(self, feats: list[np.ndarray], labels: list[np.ndarray] | None = None) -> Batch:
        """Normalised features (batch, time, dim), labels (batch, time) and lengths (batch,)."""
        lengths = torch.tensor([len(f) for f in feats], dtype=torch.long)
        x = torch.zeros(len(feats), int(lengths.max()), feats[0].shape[1])
        y = torch.zeros(len(feats), int(lengths.max()), dtype=torch.long)
        for i, f in enumerate(feats):
            x[i, : len(f)] = self.normalise(torch.from_numpy(np.asarray(f, dtype=np.float32)))
            if labels is not None:
                y[i, : len(f)] = torch.from_numpy(labels[i])
        return {"x": x, "y": y, "lengths": lengths}

    def chunks(self, batch: Batch, length: int):
        return split_time(batch, length)

    # -- training ----------------------------------------------------------------------------
    def loss(self, model: nn.Module, batch: Batch, state: State = None) -> LossOutput:
        logits, state = model(batch["x"], batch["lengths"], state)
        mask = length_mask(batch["lengths"], batch["x"].size(1), logits.device)
        total, count = class_weighted_nll(logits, batch["y"], mask, self.weights)
        d = self.cfg.data
        if d.smooth_weight > 0 and logits.size(1) > 1:
            total = total + d.smooth_weight * smoothing_loss(logits, mask, d.smooth_tau)
        return LossOutput(total, count, state)

    # -- evaluation --------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, model: nn.Module, feats: list[np.ndarray]) -> list[Tensor]:
        """Class probabilities (time, classes) of each video's raw features (time, dim), each a
        whole clip."""
        device = next(model.parameters()).device
        if self.cfg.data.centre:  # a layout's videos are centred when read: centring is idempotent
            feats = [centred(np.asarray(f, dtype=np.float32)) for f in feats]
        out = []
        for start in range(0, len(feats), 8):
            batch = self.pad(feats[start : start + 8])
            logits, _ = model(batch["x"].to(device), batch["lengths"])
            probs = torch.softmax(logits.float(), dim=-1).cpu()
            out += [p[:n] for p, n in zip(probs, batch["lengths"].tolist(), strict=True)]
        return out

    def score(self, model: nn.Module, videos: list[Video]) -> tuple[Scores, list[Tensor]]:
        """Segmentation scores of ``videos`` (per video and overall) and the predicted classes."""
        scores = Scores(background=frozenset(self.background_ids()))
        preds = [p.argmax(-1) for p in self.predict(model, [v.features for v in videos])]
        for v, p in zip(videos, preds, strict=True):
            scores.add(p.tolist(), v.labels.tolist(), name=v.name)
        return scores, preds

    def background_ids(self) -> set[int]:
        return {i for i, name in enumerate(self.labels) if name in self.cfg.data.background}

    def videos(self, split: str) -> list[Video]:
        """The videos of ``split``: ``valid`` (the recipe's validation bundle) or a bundle name."""
        if split not in self.scored:
            if not self.root.is_dir():
                raise LayoutError(
                    f"{self.root}: no such data folder (the checkpoint's data.root {self.cfg.data.root!r}"
                    f"{self.root_note}); give the layout folder with --data ROOT"
                )
            d = self.cfg.data
            index = {name: i for i, name in enumerate(self.labels)}
            bundle = bundle_name(d.valid, d.split) if split == "valid" else split
            self.check_features()
            self.scored[split] = load_split(self.root, bundle, index, d, self.dims.input_dim)
        return self.scored[split]

    def check_features(self) -> None:
        """Refuse a data root whose features were made otherwise than those the model was trained
        on (another backbone, weights, picture size or rate would score silently wrong)."""
        from seq2seq.video.features import check_same

        path = self.root / "extraction.json"
        try:
            made = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise LayoutError(f"{path}: not readable JSON ({e}); extract the features again") from None
        check_same(made, self.extraction, str(path), "the model")

    def valid_batches(self, split: str = "valid") -> Iterator[Batch]:
        videos = self.videos(split)
        return eval_batches(videos, [len(v.labels) for v in videos],
                            lambda vs: self.pad([v.features for v in vs], [v.labels for v in vs]))  # fmt: skip

    def scores(self, model: nn.Module, split: str, loss: float) -> dict[str, float]:
        scores, _ = self.score(model, self.videos(split))
        summary = scores.summary()
        return {k: summary[k] for k in ("accuracy", "edit", "f1@10", "f1@25", "f1@50")}

    def examples(self, model: nn.Module, split: str, n: int, folder: Path) -> Examples:
        """The timelines of the first ``n`` videos of ``split``: prediction (with its confidence)
        over the truth."""
        from seq2seq.video.plots import plot_timelines

        shown = self.videos(split)[:n]
        if not shown:
            return Examples()
        probs = self.predict(model, [v.features for v in shown])
        rows = [(v.name, [self.labels[i] for i in p.argmax(-1).tolist()], [self.labels[i] for i in v.labels.tolist()])
                for v, p in zip(shown, probs, strict=True)]  # fmt: skip
        confidence = [p.max(-1).values.tolist() for p in probs]
        png = plot_timelines(folder / "timelines.png", rows, self.labels, None, confidence)
        return Examples(images={"timelines": png})

    def after_training(self, model: nn.Module, out_dir: str) -> dict[str, str]:
        """Per-video validation scores (JSON) and the timeline of the first validation videos."""
        from seq2seq.video.plots import plot_timelines

        scores, preds = self.score(model, self.valid_videos)
        out = Path(out_dir)
        report = {"overall": scores.summary(), "videos": scores.per_video}
        write_json(out / "valid_scores.json", report)
        shown = self.valid_videos[:4]
        png = plot_timelines(
            out / "valid_timelines.png",
            [
                (v.name, [self.labels[i] for i in p.tolist()], [self.labels[i] for i in v.labels])
                for v, p in zip(shown, preds, strict=False)
            ],
            self.labels,
        )
        return {"validation scores": str(out / "valid_scores.json"), "validation timelines": str(png)}

    # -- inference ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        root = self.root.resolve()
        return {
            # Where the data was, so that a checkpoint evaluated from another folder finds it: the
            # absolute path (right when the run folder moves alone) and the path from the run
            # folder (right when both move together); config values stay as the user wrote them.
            "root": str(root),
            "root_from_run": os.path.relpath(root, Path(self.cfg.train.out_dir).resolve()),
            "labels": list(self.labels),
            "mean": self.mean,
            "std": self.std,
            "extraction": self.extraction,
            "backbone": self.backbone,
        }

    def describe(self) -> dict[str, str]:
        out = {"labels": ", ".join(self.labels), "trained on": f"{self.cfg.data.root} ({self.cfg.data.train})"}
        e = self.extraction
        if e:
            from seq2seq.video.features import Extraction

            spec = Extraction.from_dict(e)
            out["features"] = spec.describe()
            if self.backbone:
                size = sum(v.numel() * v.element_size() for v in self.backbone.values()) / 1e6
                out["backbone"] = f"its weights are in the file ({size:.1f} MB: random or from a local file)"
            elif spec.weights_sha256:
                out["backbone"] = (
                    f"weights referred to by name and SHA-256 {spec.weights_sha256[:16]}... (not in the file)"
                )
            else:
                out["backbone"] = f"weights referred to by name ({spec.weights}; not in the file)"
            out["labels raw clips"] = "yes"
        else:
            out["features"] = f"{self.dims.input_dim} precomputed per frame; cannot label raw clips"
        return out

    def restore(self, state: dict[str, Any], dims: Dims, where: str = "checkpoint") -> None:
        self.dims = dims
        checkpoint = Path(where)
        run = checkpoint.resolve().parent if checkpoint.is_file() else None
        self.resolved_root, self.root_note = resolve_root(self.cfg.data.root, state, run)
        self.labels = list(state.get("labels", []))
        self.mean, self.std = state.get("mean"), state.get("std")
        self.extraction, self.backbone = state.get("extraction"), state.get("backbone")


def resolve_root(given: str, state: dict[str, Any], run: Path | None) -> tuple[Path, str]:
    """The data folder of a restored checkpoint (evaluated, or resumed), whatever the current
    folder, and a note for a message when it is not found. An absolute data.root is used as it
    is; a relative one was relative to where training ran, so the folders recorded at training
    are tried instead: the absolute one, then the one relative to the ``run`` folder (the
    checkpoint's; a resumed run's train.out_dir). Checkpoints that recorded neither keep
    data.root relative to the current folder."""
    if Path(given).is_absolute():
        return Path(given), ""
    tried = []
    if state.get("root"):
        tried.append(Path(state["root"]))
    if state.get("root_from_run") and run is not None:
        tried.append(run / state["root_from_run"])
    for candidate in tried:
        if candidate.is_dir():
            return candidate, ""
    if not tried:
        return Path(given), ""
    return tried[0], "; looked in " + " and ".join(str(t) for t in tried)


def smoothing_loss(logits: Tensor, mask: Tensor, tau: float) -> Tensor:
    """Summed truncated MSE between consecutive frames' log-probabilities (the later frame learns
    from the earlier one, which is detached), averaged over classes. logits: (batch, time,
    classes); mask: (batch, time)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    diff = (logp[:, 1:] - logp[:, :-1].detach()) ** 2
    per_frame = diff.clamp(max=tau * tau).mean(-1)
    both = mask[:, 1:] & mask[:, :-1]
    return per_frame.masked_fill(~both, 0.0).sum()
