"""The embedded caption data: generated images and clips written as real files, with their
reference captions, cached in a folder (generated once, read back on later runs).

- ``captioned_images``: scenes of ``seq2seq.vision.scenes`` (PNG files) captioned by
  ``seq2seq.caption.describe`` (what is where: colours, shapes, counts, positions).
- ``captioned_clips``: clips (.mp4) of ``seq2seq.caption.clips`` with captions of what happens
  in them, in order ("a red circle appears, moves, turns striped and blue and leaves to the left").
"""

from __future__ import annotations

import sys
from pathlib import Path


def captioned_images(folder: Path, count: int, seed: int, size: int, max_things: int) -> list[tuple[Path, list[str]]]:
    """``count`` scene images in ``folder`` with their reference captions (drawn when missing)."""
    from seq2seq.caption.describe import describe
    from seq2seq.vision.scenes import read_scenes, write_scenes

    scenes = read_scenes(folder) if (folder / "scenes.jsonl").is_file() else []
    if len(scenes) != count:
        print(f"caption: drawing {count} scenes into {folder}", file=sys.stderr)
        scenes = write_scenes(folder, count, seed=seed, size=size, max_things=max_things)
    return [(path, describe(scene)) for path, scene in scenes]


def captioned_clips(folder: Path, count: int, seed: int) -> list[tuple[Path, list[str]]]:
    """``count`` clips of ``seq2seq.caption.clips`` in ``folder`` with their reference captions
    (written when its ``clips.jsonl`` does not list that many)."""
    from seq2seq.caption.clips import write_captioned_clips
    from seq2seq.caption.formats import read_captions

    index = folder / "clips.jsonl"
    if index.is_file():
        items = read_captions(index, "jsonl")
        if len(items) == count:
            return [(item.media, list(item.captions)) for item in items]
    print(f"caption: writing {count} clips into {folder}", file=sys.stderr)
    return write_captioned_clips(folder, count, seed=seed)
