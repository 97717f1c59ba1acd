"""Per-frame CNN features: the packaged pretrained EfficientNet-Lite0 (offline, the default) or any
torchvision classification backbone, without its classifier.

``Extractor`` decodes a clip (``decode.frames``, sampled to ``fps`` by timestamp) in a background
thread, turns each frame into the square picture the backbone's weights expect (``Extraction``:
resize then centre crop, or the whole frame stretched; the interpolation, mean and std of its
training), runs the backbone in batches (on the GPU when there is one) and optionally appends
log-mel audio features. At most a few batches of frames are held at a time.

``extract`` writes the layout of ``seq2seq.video.layout`` (features/NAME.npy as (D, T), and
groundTruth/NAME.txt when the clip has a label file), skips clips already done, and records how
the features were made in ``extraction.json`` (plus ``backbone.pt`` for a randomly initialised or
local backbone; pretrained weights are referred to by name and SHA-256) so a checkpoint trained on
them labels new clips the same way, and refuses features made another way (``check_same``).
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from seq2seq.errors import UserError
from seq2seq.video import pretrained
from seq2seq.video.decode import Frames, Sample, Source, clip_name, is_url, source_id, unique_names

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class BackboneError(UserError, ValueError):
    """A backbone or weights that cannot be used; the message says what would work."""


class ExtractionMismatch(UserError, ValueError):
    """Features made with other extraction settings than a checkpoint was trained on."""


@dataclass
class Extraction:
    """How features were made: stored in extraction.json and in checkpoints trained on them.

    The defaults of the preprocessing fields are what records written before they existed meant
    (the whole frame stretched, bilinear, ImageNet statistics); ``spec_for`` fills them in from
    the backbone's weights."""

    backbone: str = "resnet18"
    weights: str = "DEFAULT"  # weights name, a local .pt file, or "none" (random, seeded)
    size: int = 224  # the backbone sees size x size pictures
    fps: float = 15.0  # sampled frames per second
    audio: bool = False
    n_mels: int = 64
    seed: int = 0  # initialisation seed of a random backbone
    dim: int = 0  # features per frame (backbone + audio), filled in by the extractor
    resize: str = "stretch"  # "stretch": the whole frame to size x size; "crop": see ``crop``
    crop: float = 1.0  # "crop": the shorter side scaled to size / crop, then the centre size x size
    interpolation: str = "bilinear"  # or "bicubic": how frames are scaled
    mean: tuple[float, float, float] = IMAGENET_MEAN  # RGB, on 0..1 pixels
    std: tuple[float, float, float] = IMAGENET_STD
    weights_sha256: str = ""  # of the pretrained or local weights file ("" for random weights)

    @classmethod
    def from_dict(cls, raw: dict) -> Extraction:
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known}
        return cls(**values)

    def describe(self, images: bool = False) -> str:
        """One line: backbone, weights, picture, sampling (``images``: features of still images,
        a grid of cells each, no sampling rate)."""
        if self.resize == "crop":
            picture = f"shorter side scaled to {round(self.size / self.crop)} px, centre {self.size} x {self.size}"
        else:
            picture = f"the whole frame stretched to {self.size} x {self.size} px"
        weights = self.weights + (f" sha256 {self.weights_sha256[:12]}" if self.weights_sha256 else "")
        audio = f" + {self.n_mels} log-mel audio" if self.audio else ""
        return (f"{self.backbone} (weights {weights}), {picture}, {self.interpolation}, mean "
                f"{'/'.join(f'{m:.3f}' for m in self.mean)} std {'/'.join(f'{s:.3f}' for s in self.std)}, "
                + (f"{self.dim} per cell" if images else f"{self.fps:g} fps, {self.dim} per frame{audio}"))  # fmt: skip


def is_named(weights: str) -> bool:
    """Whether ``weights`` names published weights (not a file, not random)."""
    return weights not in ("none", "") and not Path(weights).suffix


def spec_for(
    backbone: str = pretrained.NAME,
    weights: str = "DEFAULT",
    size: int | None = None,
    fps: float = 15.0,
    audio: bool = False,
    n_mels: int = 64,
    seed: int = 0,
    crop: float | None = None,
) -> Extraction:
    """The extraction of ``backbone`` with ``weights``, preprocessed as those weights were trained:
    the packaged EfficientNet-Lite0 as its TensorFlow release, torchvision weights as their own
    ``transforms()`` (resize, centre crop, interpolation, mean, std); random or local weights see
    the whole frame stretched, with ImageNet statistics. ``size`` None: the weights' own input
    size; ``crop`` (0 < crop <= 1) overrides the fraction of the shorter side kept."""
    spec = Extraction(backbone=backbone, weights=weights, fps=fps, audio=audio, n_mels=n_mels, seed=seed)
    if backbone == pretrained.NAME and is_named(weights):
        if weights not in (pretrained.WEIGHTS, "DEFAULT"):
            raise BackboneError(f"'{weights}' is not a weights name of {backbone}; use {pretrained.WEIGHTS} "
                                "(packaged, offline), a local weights file, or none")  # fmt: skip
        spec.weights, spec.weights_sha256 = pretrained.WEIGHTS, pretrained.SHA256
        spec.size, spec.resize, spec.crop = pretrained.SIZE, "crop", pretrained.CROP
        spec.interpolation, spec.mean, spec.std = pretrained.INTERPOLATION, pretrained.MEAN, pretrained.STD
    elif is_named(weights):
        transform = _torchvision_weights(spec).transforms()
        spec.size = int(transform.crop_size[0])
        spec.resize, spec.crop = "crop", transform.crop_size[0] / transform.resize_size[0]
        spec.interpolation = transform.interpolation.value  # "bilinear", "bicubic"
        spec.mean, spec.std = tuple(transform.mean), tuple(transform.std)
    elif weights not in ("none", ""):
        path = Path(weights)
        if not path.is_file():
            raise BackboneError(f"{path}: no such weights file")
        spec.weights_sha256 = pretrained.file_sha256(path)
    if size is not None:
        spec.size = size
    if crop is not None:
        if not 0 < crop <= 1:
            raise BackboneError(f"--crop {crop:g}: give the fraction of the shorter side to keep, in (0, 1]")
        spec.resize, spec.crop = "crop", crop
    return spec


def check_same(made: dict | None, expected: dict | None, where: str, needed_by: str) -> None:
    """Refuse features whose extraction record ``made`` (from ``where``) differs from ``expected``
    (a checkpoint's, ``needed_by``): features of another backbone, weights, picture size or rate
    would be scored or labelled silently wrong. No record at ``expected``: nothing to check."""
    if not expected:
        return
    want = asdict(Extraction.from_dict(expected))
    if not made:
        raise ExtractionMismatch(
            f"{where}: no extraction record, but {needed_by} was trained on features made with "
            f"{Extraction.from_dict(expected).describe()}; extract the clips with `seq2seq extract-features` "
            "and those settings"
        )
    have = asdict(Extraction.from_dict(made))
    diff = [f"{k} {have[k]} (wants {want[k]})" for k in want if have[k] != want[k]]
    if diff:
        raise ExtractionMismatch(
            f"{where}: features made with {', '.join(diff)}: not the extraction {needed_by} was trained on; "
            "extract the clips again with its settings (`seq2seq info` shows them)"
        )


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


def _torchvision_weights(spec: Extraction):
    """The torchvision weights enum member ``spec.weights`` of ``spec.backbone``."""
    builder_weights = _builder_weights(spec.backbone)
    if spec.weights not in builder_weights.__members__:
        choices = ", ".join(builder_weights.__members__)
        raise BackboneError(
            f"'{spec.weights}' is not a weights name of {spec.backbone}; use one of {choices}, "
            "a local weights file, or none"
        )
    return builder_weights[spec.weights]


def _builder_weights(backbone: str):
    import torchvision

    try:
        return torchvision.models.get_model_weights(backbone)
    except (ValueError, KeyError):
        names = ", ".join(sorted(torchvision.models.list_models(module=torchvision.models))[:12])
        raise BackboneError(
            f"unknown backbone '{backbone}'; use {pretrained.NAME} (packaged, pretrained) or a torchvision "
            f"classification model: {names}, ..."
        ) from None


def load_backbone(spec: Extraction, state: dict | None = None) -> nn.Module:
    """The backbone of ``spec`` without its classifier, in eval mode, on the CPU. ``state`` (a
    state dict, e.g. from a checkpoint) takes precedence over ``spec.weights``."""
    import torchvision

    packaged = spec.backbone == pretrained.NAME
    if not packaged:
        _builder_weights(spec.backbone)  # an unknown name is refused before anything is loaded
    if is_named(spec.weights) and state is None:
        if packaged:
            if spec.weights not in (pretrained.WEIGHTS, "DEFAULT"):
                raise BackboneError(f"'{spec.weights}' is not a weights name of {spec.backbone}; use "
                                    f"{pretrained.WEIGHTS}, a local weights file, or none")  # fmt: skip
            return strip_classifier(pretrained.load(spec.size, spec.weights_sha256 or pretrained.SHA256)).eval()
        weights = _torchvision_weights(spec)
        state = torch.load(fetch_weights(weights, spec), map_location="cpu", weights_only=True)
        kwargs = {"num_classes": len(weights.meta["categories"]), **BUILDER_ARGS.get(spec.backbone, {})}
        with torch.random.fork_rng(devices=[]):
            model = torchvision.models.get_model(spec.backbone, weights=None, **kwargs)
        model.load_state_dict(state)
        return strip_classifier(model).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        if packaged:
            model = pretrained.build(spec.size)
        else:
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


def picture(frame, spec: Extraction) -> np.ndarray:
    """(size, size, 3) uint8 RGB: the square picture the backbone sees of an ``av.VideoFrame``,
    scaled as ``spec`` says (swscale, with its interpolation)."""
    size, how = spec.size, spec.interpolation.upper()
    if spec.resize == "stretch":
        return frame.to_ndarray(width=size, height=size, format="rgb24", interpolation=how)
    short = round(size / spec.crop)  # the shorter side, before the centre crop
    scale = short / min(frame.width, frame.height)
    width, height = max(size, round(frame.width * scale)), max(size, round(frame.height * scale))
    image = frame.to_ndarray(width=width, height=height, format="rgb24", interpolation=how)
    top, left = round((height - size) / 2), round((width - size) / 2)  # as torchvision's center_crop
    return np.ascontiguousarray(image[top : top + size, left : left + size])


def background(produce: Callable[[], Iterator], depth: int = 2) -> Iterator:
    """The items of ``produce()``, made in a thread while the caller works on the previous ones, at
    most ``depth`` ahead (bounded memory). An exception there is raised here, at its place in the
    sequence; when the caller stops early (an error, Ctrl-C, ``close``) the thread stops too."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        source = produce()
        try:
            for item in source:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as e:  # handed to the caller, who raises it
            put((done, e))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=run, name="decode", daemon=True)
    thread.start()
    try:
        while True:
            item, error = items.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()


class Extractor:
    """Features of clips, batch by batch: ``stream(path)`` yields (samples, features (B, D))."""

    def __init__(self, spec: Extraction, device: torch.device, batch_size: int = 32, state: dict | None = None):
        self.spec, self.device, self.batch_size = spec, device, batch_size
        self.model = load_backbone(spec, state).to(device)
        self.mean = torch.tensor(spec.mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(spec.std, device=device).view(1, 3, 1, 1)
        with torch.inference_mode():
            probe = torch.zeros(1, 3, spec.size, spec.size, device=device)
            self.visual_dim = int(self.model(probe).flatten(1).shape[1])
        spec.dim = self.visual_dim + (spec.n_mels if spec.audio else 0)

    @torch.inference_mode()
    def embed(self, images: np.ndarray) -> np.ndarray:
        """(B, size, size, 3) uint8 RGB -> (B, visual_dim) float32."""
        x = torch.from_numpy(images).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        x = (x - self.mean) / self.std
        return self.model(x).flatten(1).float().cpu().numpy()

    def pictures(self, frames: Frames, keep_frames: bool = False) -> Iterator[tuple[list[Sample], np.ndarray]]:
        """(samples, pictures (B, size, size, 3) uint8) in batches of ``batch_size``; the decoded
        frames are dropped from the samples unless ``keep_frames``."""
        batch: list[Sample] = []
        images: list[np.ndarray] = []
        for sample in frames:
            images.append(picture(sample.frame, self.spec))
            if not keep_frames:
                sample.frame = sample.shown = None  # the decoded pictures are not needed any more
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield batch, np.stack(images)
                batch, images = [], []
        if batch:
            yield batch, np.stack(images)

    def stream(
        self, path: str | Path, frames: Frames | None = None, keep_frames: bool = False
    ) -> Iterator[tuple[list[Sample], np.ndarray]]:
        """(samples, features (B, dim)) for consecutive batches of the clip's sampled frames,
        decoded and scaled in a thread while the backbone embeds the previous batch; the decoded
        pictures are dropped from the samples unless ``keep_frames``."""
        from seq2seq.video.audio import LogMel

        frames = frames or Frames(path, self.spec.fps)
        mel = None
        batches = background(lambda: self.pictures(frames, keep_frames))
        try:
            for samples, images in batches:
                if self.spec.audio and mel is None:  # after the first frame: first_time is known
                    mel = LogMel(frames.path, self.spec.fps, self.spec.n_mels, frames.first_time, frames.timeout)
                feats = self.embed(images)
                if mel is not None:
                    feats = np.concatenate([feats, mel([s.time for s in samples])], axis=1)
                yield samples, feats
        finally:
            batches.close()
            if mel is not None:
                mel.close()

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
        return None if is_named(self.spec.weights) else {k: v.cpu() for k, v in self.model.state_dict().items()}


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
    tier: str | None = None,
) -> ExtractReport:
    """Features (and frame labels, when a clip has a label file) of each clip into the layout at
    ``out``. A clip that fails is reported and the others go on. ``tier``: the ELAN tier or VIA
    attribute that holds the labels, when such a file has several.

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
                frame_labels = labels_for_samples(label_file, sources, times, decoded, tier=tier)
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
