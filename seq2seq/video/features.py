"""Per-frame CNN features: any torchvision classification backbone without its classifier.

``Extractor`` decodes a clip (``decode.frames``, sampled to ``fps`` by timestamp), resizes each
frame to ``size`` x ``size`` and normalises it as ImageNet backbones expect, runs the backbone in
batches (on the GPU when there is one) and optionally appends log-mel audio features. Only one
batch of frames is held at a time.

``extract`` writes the layout of ``seq2seq.video.layout`` (features/NAME.npy as (D, T), and
groundTruth/NAME.txt when the clip has a label file), skips clips already done, and records how
the features were made in ``extraction.json`` (plus ``backbone.pt`` for a randomly initialised or
local backbone) so a checkpoint trained on them can label new clips the same way.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from seq2seq.errors import UserError
from seq2seq.video.decode import Frames, Sample, Source, clip_name, is_url, source_id, unique_names

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class BackboneError(UserError, ValueError):
    """A backbone or weights that cannot be used; the message says what would work."""


@dataclass
class Extraction:
    """How features were made: stored in extraction.json and in checkpoints trained on them."""

    backbone: str = "resnet18"
    weights: str = "DEFAULT"  # torchvision weights name, a local .pt file, or "none" (random, seeded)
    size: int = 224  # frames are resized to size x size
    fps: float = 15.0  # sampled frames per second
    audio: bool = False
    n_mels: int = 64
    seed: int = 0  # initialisation seed of a random backbone
    dim: int = 0  # features per frame (backbone + audio), filled in by the extractor

    @classmethod
    def from_dict(cls, raw: dict) -> Extraction:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})


def strip_classifier(model: nn.Module) -> nn.Module:
    """Replace the last linear layer (the classifier of every torchvision classification model) by
    an identity, so the model outputs the features that fed it."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    if last is None:
        raise BackboneError(f"{type(model).__name__} has no linear classifier to remove")
    parent = model.get_submodule(last.rsplit(".", 1)[0]) if "." in last else model
    setattr(parent, last.rsplit(".", 1)[-1], nn.Identity())
    return model


# What torchvision's builders set besides num_classes when they load these models' weights.
BUILDER_ARGS = {
    "inception_v3": {"transform_input": True, "aux_logits": True, "init_weights": False},
    "googlenet": {"transform_input": True, "aux_logits": True, "init_weights": False},
}


def fetch_weights(weights, spec: Extraction) -> Path:
    """The file of torchvision weights ``weights``: from torch's cache (downloaded into it when
    missing), its SHA-256 checked against the hash prefix in its published name every time, before
    it is loaded, so a file altered in the cache is refused rather than loaded (torchvision checks
    only while downloading, and loads with weights_only=False)."""
    url = weights.url
    filename = url.rsplit("/", 1)[-1]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / filename
    found = re.search(r"-([a-f0-9]{6,})\.", filename)
    prefix = found.group(1) if found else None
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(cached), hash_prefix=prefix, progress=True)
        except (OSError, RuntimeError, ValueError) as e:
            raise BackboneError(
                f"{spec.backbone} weights {spec.weights}: cannot fetch {url} ({str(e).splitlines()[0][:120]}); "
                f"offline, put the file at {cached}, give a local weights file with --weights FILE, or use "
                "--weights none"
            ) from None
    if prefix is not None:
        digest = hashlib.sha256(cached.read_bytes()).hexdigest()
        if not digest.startswith(prefix):
            raise BackboneError(
                f"{cached}: its SHA-256 ({digest[:12]}...) does not start with {prefix}, the hash its published "
                "name carries: the file was altered or damaged; delete it and fetch it again"
            )
    return cached


def load_backbone(spec: Extraction, state: dict | None = None) -> nn.Module:
    """The backbone of ``spec`` without its classifier, in eval mode, on the CPU. ``state`` (a
    state dict, e.g. from a checkpoint) takes precedence over ``spec.weights``."""
    import torchvision

    try:
        builder_weights = torchvision.models.get_model_weights(spec.backbone)
    except (ValueError, KeyError):
        names = ", ".join(sorted(torchvision.models.list_models(module=torchvision.models))[:12])
        raise BackboneError(
            f"unknown backbone '{spec.backbone}'; torchvision classification models include {names}, ..."
        ) from None
    named = spec.weights not in ("none", "") and not Path(spec.weights).suffix and state is None
    if named:
        if spec.weights not in builder_weights.__members__:
            choices = ", ".join(builder_weights.__members__)
            raise BackboneError(
                f"'{spec.weights}' is not a weights name of {spec.backbone}; use one of {choices}, "
                "a local weights file, or none"
            )
        weights = builder_weights[spec.weights]
        state = torch.load(fetch_weights(weights, spec), map_location="cpu", weights_only=True)
        kwargs = {"num_classes": len(weights.meta["categories"]), **BUILDER_ARGS.get(spec.backbone, {})}
        with torch.random.fork_rng(devices=[]):
            model = torchvision.models.get_model(spec.backbone, weights=None, **kwargs)
        model.load_state_dict(state)
        return strip_classifier(model).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = torchvision.models.get_model(spec.backbone, weights=None)
    expected = set(model.state_dict())  # with the classifier, whose weights a file may hold
    model = strip_classifier(model)
    if state is None and spec.weights not in ("none", ""):
        path = Path(spec.weights)
        if not path.is_file():
            raise BackboneError(f"{path}: no such weights file")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise BackboneError(f"{path}: not a readable state dict ({type(e).__name__}: {e})") from None
        for key in ("state_dict", "model"):  # common wrappers
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
    if state is not None:
        own = model.state_dict()
        foreign = [k for k in state if k not in expected]
        if foreign:
            raise BackboneError(
                f"weights hold {len(foreign)} tensors that {spec.backbone} does not have, e.g. '{foreign[0]}': "
                "weights of another model?"
            )
        kept = {k: v for k, v in state.items() if k in own}  # drops the removed classifier's weights
        missing = [k for k in own if k not in kept]
        if missing:
            raise BackboneError(f"weights for {spec.backbone} lack {len(missing)} tensors, e.g. '{missing[0]}'")
        bad = [k for k, v in kept.items() if v.shape != own[k].shape]
        if bad:
            raise BackboneError(
                f"weights tensor '{bad[0]}' has shape {tuple(kept[bad[0]].shape)}, "
                f"{spec.backbone} needs {tuple(own[bad[0]].shape)}"
            )
        model.load_state_dict(kept)
    return model.eval()


class Extractor:
    """Features of clips, batch by batch: ``stream(path)`` yields (samples, features (B, D))."""

    def __init__(self, spec: Extraction, device: torch.device, batch_size: int = 32, state: dict | None = None):
        self.spec, self.device, self.batch_size = spec, device, batch_size
        self.model = load_backbone(spec, state).to(device)
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
        with torch.inference_mode():
            probe = torch.zeros(1, 3, spec.size, spec.size, device=device)
            self.visual_dim = int(self.model(probe).flatten(1).shape[1])
        spec.dim = self.visual_dim + (spec.n_mels if spec.audio else 0)

    @torch.inference_mode()
    def embed(self, images: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) uint8 RGB -> (B, visual_dim) float32."""
        x = torch.from_numpy(images).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        x = (x - self.mean) / self.std
        return self.model(x).flatten(1).float().cpu().numpy()

    def stream(
        self, path: str | Path, frames: Frames | None = None, keep_frames: bool = False
    ) -> Iterator[tuple[list[Sample], np.ndarray]]:
        """(samples, features (B, dim)) for consecutive batches of the clip's sampled frames; the
        decoded pictures are dropped from the samples unless ``keep_frames``."""
        from seq2seq.video.audio import LogMel

        frames = frames or Frames(path, self.spec.fps)
        mel = None
        batch: list[Sample] = []
        try:
            for sample in frames:
                if self.spec.audio and mel is None:  # after the first frame: first_time is known
                    mel = LogMel(frames.path, self.spec.fps, self.spec.n_mels, frames.first_time, frames.timeout)
                batch.append(sample)
                if len(batch) == self.batch_size:
                    yield batch, self._features(batch, mel, keep_frames)
                    batch = []
            if batch:
                yield batch, self._features(batch, mel, keep_frames)
        finally:
            if mel is not None:
                mel.close()

    def _features(self, batch: list[Sample], mel, keep_frames: bool = False) -> np.ndarray:
        size = self.spec.size
        images = np.stack([s.frame.to_ndarray(width=size, height=size, format="rgb24") for s in batch])
        if not keep_frames:
            for s in batch:
                s.frame = None  # the decoded picture is not needed any more
        feats = self.embed(images)
        if mel is not None:
            feats = np.concatenate([feats, mel([s.time for s in batch])], axis=1)
        return feats

    def clip(self, path: str | Path) -> tuple[np.ndarray, list[int], list[float], int]:
        """All features of a clip (T, dim), each sample's source frame and time, and the number of
        decoded frames."""
        frames = Frames(path, self.spec.fps)
        feats, sources, times = [], [], []
        for samples, f in self.stream(path, frames):
            feats.append(f)
            sources += [s.source for s in samples]
            times += [s.time for s in samples]
        return np.concatenate(feats), sources, times, frames.decoded

    def backbone_state(self) -> dict | None:
        """The backbone's weights when they cannot be fetched by name (random or local)."""
        named = self.spec.weights not in ("none", "") and not Path(self.spec.weights).suffix
        return None if named else {k: v.cpu() for k, v in self.model.state_dict().items()}


def source_record(video: Source) -> dict:
    """What identifies the file a clip's features were made from: its absolute path, size and
    modification time (a URL: the URL alone)."""
    if is_url(video):
        return {"path": str(video)}
    stat = Path(video).stat()
    return {"path": source_id(video), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def read_sources(out: Path) -> dict[str, dict]:
    """The layout's sources.json (name -> source record); empty if there is none."""
    path = out / "sources.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        from seq2seq.video.layout import LayoutError

        raise LayoutError(f"{path}: not readable JSON ({e}); delete it to extract every clip again") from None


@dataclass
class ExtractReport:
    done: list[str]
    skipped: list[str]
    failed: dict[str, str]  # clip -> why
    frames: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def write_extraction(out: Path, spec: Extraction, backbone_state: dict | None) -> None:
    """Record how the layout's features were made; refuses to mix different extractions."""
    from seq2seq.checkpoint import atomic_write
    from seq2seq.video.layout import LayoutError, write_text

    path = out / "extraction.json"
    if path.is_file():
        old = Extraction.from_dict(json.loads(path.read_text(encoding="utf-8")))
        if asdict(old) != asdict(spec):
            raise LayoutError(
                f"{path}: {out} holds features made with {asdict(old)}; "
                f"these would be {asdict(spec)}. Use another output folder"
            )
    else:
        write_text(path, json.dumps(asdict(spec), indent=2) + "\n")
    if backbone_state is not None and not (out / "backbone.pt").is_file():
        atomic_write(out / "backbone.pt", lambda f: torch.save(backbone_state, f))


def extract(
    videos: list[Source],
    out: Path,
    extractor: Extractor,
    labels: Path | None = None,
    float16: bool = False,
    bundle: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> ExtractReport:
    """Features (and frame labels, when a clip has a label file) of each clip into the layout at
    ``out``. A clip that fails is reported and the others go on.

    Each clip's outputs are named after it (``decode.unique_names``: clips of different folders
    with the same file name get distinct names, said on stderr), and ``sources.json`` records which
    file each name came from (path, size, modification time): a clip counts as already done only
    when its own source, unchanged, was extracted under that name."""
    from tqdm import tqdm

    from seq2seq.video.layout import (
        find_label_file,
        labels_for_samples,
        read_mapping,
        write_mapping,
        write_npy,
        write_text,
    )

    out.mkdir(parents=True, exist_ok=True)
    write_extraction(out, extractor.spec, extractor.backbone_state())
    mapping_path = out / "mapping.txt"
    mapping = read_mapping(mapping_path) if mapping_path.is_file() else []
    report = ExtractReport([], [], {}, 0, 0.0)
    started = time.perf_counter()
    recorded = read_sources(out)
    named = unique_names(videos, {name: record["path"] for name, record in recorded.items()})
    for video, name in named.items():
        if name != clip_name(video):
            print(f"extract-features: {video} is stored as '{name}': another clip has the name '{clip_name(video)}'",
                  file=sys.stderr)  # fmt: skip
    names = []
    bar = tqdm(videos, unit="clip", disable=not progress, dynamic_ncols=True)
    for video in bar:
        name = named[video]
        names.append(name)
        target = out / "features" / f"{name}.npy"
        label_file = find_label_file(video, labels)
        if (
            target.is_file()
            and not overwrite
            and recorded.get(name) == source_record(video)
            and (label_file is None or (out / "groundTruth" / f"{name}.txt").is_file())
        ):
            report.skipped.append(name)
            continue
        try:
            feats, sources, times, decoded = extractor.clip(video)
            frame_labels = None
            if label_file is not None:
                frame_labels = labels_for_samples(label_file, sources, times, decoded)
        except ValueError as e:  # DecodeError, LayoutError: the clip's own problem
            report.failed[str(video)] = str(e)
            continue
        write_npy(target, feats.T.astype(np.float16 if float16 else np.float32))
        if frame_labels is not None:
            mapping += sorted(set(frame_labels) - set(mapping))
            write_text(out / "groundTruth" / f"{name}.txt", "".join(f"{x}\n" for x in frame_labels))
        recorded[name] = source_record(video)
        write_text(out / "sources.json", json.dumps(recorded, indent=2) + "\n")
        report.done.append(name)
        report.frames += len(times)
        report.seconds = time.perf_counter() - started
        bar.set_postfix(frames_per_s=f"{report.fps:.1f}")
    if mapping:
        write_mapping(mapping_path, mapping)
    if bundle:
        done = set(report.done) | set(report.skipped)
        write_text(out / "splits" / f"{bundle}.bundle", "".join(f"{n}\n" for n in names if n in done))
    report.seconds = time.perf_counter() - started
    return report
