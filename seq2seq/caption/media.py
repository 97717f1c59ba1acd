"""Feature vectors of the media a caption describes: an image's grid cells (``seq2seq.vision.grid``)
or a clip's sampled frames (``seq2seq.video.features``), as (steps, dim) float arrays.

``cached`` extracts a list of files once into a features folder (skipping what is already there,
refusing a folder made with other settings) and reads them back; ``fresh`` extracts files for
inference without writing anything. Both use the extraction settings the task stores in its
checkpoint, so a captioner always sees features made the way it was trained on.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import numpy as np

from seq2seq.errors import DataError, UserError
from seq2seq.video.features import Extraction, check_same

Media = Literal["image", "clip"]
CLIP_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov")


class CaptionDataError(DataError):
    """Caption data that cannot be used; the message names the file and what to do."""


def media_of(path: str | Path) -> Media:
    """Whether a file is an image or a clip, by its suffix (anything else is an error naming it)."""
    from seq2seq.vision.images import IMAGE_SUFFIXES

    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in CLIP_SUFFIXES:
        return "clip"
    raise CaptionDataError(f"{path}: neither an image ({', '.join(IMAGE_SUFFIXES)}) nor a clip "
                           f"({', '.join(CLIP_SUFFIXES)})")  # fmt: skip


def no_frames(path: str | Path) -> CaptionDataError:
    return CaptionDataError(f"{path}: no frames could be decoded from this clip; give a clip with video frames")


def cached(paths: Sequence[Path], media: Media, folder: Path, spec: Extraction, device: str = "auto",
           expected: dict | None = None) -> tuple[list[np.ndarray], dict]:  # fmt: skip
    """The (steps, dim) float16 features of every file, extracted into ``folder`` once; returns
    them and the folder's extraction record. ``expected``: a checkpoint's record, which the
    folder's must equal."""
    from seq2seq.vision.grid import read_extraction

    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise CaptionDataError(f"{missing[0]}: no such {media} file ({len(missing)} of {len(paths)} missing)")
    if expected:
        check_same(read_extraction(folder) or asdict(spec), expected, str(folder), "the captioner")
    dev = _device(device)
    if media == "image":
        from seq2seq.vision.grid import extract_images, load_grid

        files = extract_images(list(paths), folder, spec, str(dev), progress=sys.stderr.isatty())
        feats = [load_grid(files[Path(p)]).astype(np.float16) for p in paths]
    else:
        from seq2seq.video.decode import unique_names
        from seq2seq.video.features import Extractor, extract

        report = extract(list(paths), folder, Extractor(spec, dev), float16=True,
                         progress=sys.stderr.isatty())  # fmt: skip
        if report.failed:
            clip, why = next(iter(report.failed.items()))
            raise CaptionDataError(f"{clip}: {why}" if str(clip) not in why else why)
        names = unique_names(list(paths))
        feats = []
        for p in paths:
            f = np.load(folder / "features" / f"{names[p]}.npy", allow_pickle=False).T
            if len(f) == 0:
                raise no_frames(p)
            feats.append(np.ascontiguousarray(f, dtype=np.float16))
    return feats, read_extraction(folder) or {}


def fresh(paths: Sequence[Path | np.ndarray], spec: Extraction, device: str = "auto") -> list[np.ndarray]:
    """(steps, dim) float32 features of images or clips (files, or (H, W, 3) uint8 image arrays)
    for inference, nothing written."""
    out: list[np.ndarray] = []
    grid = clips = None
    for path in paths:
        if isinstance(path, np.ndarray) or media_of(path) == "image":
            from seq2seq.vision.grid import GridExtractor

            grid = grid or GridExtractor(spec, device)
            out.append(grid.image(path))
        else:
            from seq2seq.video.features import Extractor

            if not Path(path).is_file():
                raise CaptionDataError(f"{path}: no such clip file")
            clips = clips or Extractor(spec, _device(device))
            try:
                feats, _, _, _ = clips.clip(path)
            except ValueError as e:
                if isinstance(e, UserError):  # the decoder's own one-line reason (no video stream, ...)
                    raise
                raise no_frames(path) from None  # a video stream without a single decodable frame
            out.append(feats)
    return out


def _device(device: str):
    """``auto``: a GPU when there is one."""
    from seq2seq.runtime import resolve_device

    return resolve_device(device)
