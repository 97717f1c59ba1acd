"""The embedded caption data: generated images and clips written as real files, with their
reference captions, cached in a folder (generated once, read back on later runs).

- ``captioned_images``: scenes of ``seq2seq.vision.scenes`` (PNG files) captioned by
  ``seq2seq.caption.describe`` (what is where: colours, shapes, counts, positions).
- ``captioned_clips``: clips (.mp4) with captions of what happens in them, in order, from
  ``seq2seq.caption.clips`` when it is installed, else from the labelled clips of
  ``seq2seq.video.synth`` ("a shape appears , moves , changes and leaves").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from seq2seq.checkpoint import atomic_write

EVENTS = {"appear": "appears", "move": "moves", "change": "changes", "leave": "leaves"}


def captioned_images(folder: Path, count: int, seed: int, size: int, max_things: int) -> list[tuple[Path, list[str]]]:
    """``count`` scene images in ``folder`` with their reference captions (drawn when missing)."""
    from seq2seq.caption.describe import describe
    from seq2seq.vision.scenes import read_scenes, write_scenes

    scenes = read_scenes(folder) if (folder / "scenes.jsonl").is_file() else []
    if len(scenes) != count:
        print(f"caption: drawing {count} scenes into {folder}", file=sys.stderr)
        scenes = write_scenes(folder, count, seed=seed, size=size, max_things=max_things)
    return [(path, describe(scene)) for path, scene in scenes]


def story(labels: list[str]) -> list[str]:
    """References of a labelled clip: its events in order, said three ways."""
    events = []
    for label in labels:
        if label in EVENTS and (not events or events[-1] != EVENTS[label]):
            events.append(EVENTS[label])
    said = ", ".join(events[:-1]) + " and " + events[-1] if len(events) > 1 else events[0]
    return [f"a shape {said}", f"something {said}", "a shape " + " then ".join(events)]


def captioned_clips(folder: Path, count: int, seed: int) -> list[tuple[Path, list[str]]]:
    """``count`` clips in ``folder`` with their reference captions (written when missing)."""
    index = folder / "captions.json"
    if index.is_file():
        listed = json.loads(index.read_text(encoding="utf-8"))
        if len(listed) == count and all((folder / name).is_file() for name in listed):
            return [(folder / name, caps) for name, caps in listed.items()]
    print(f"caption: writing {count} clips into {folder}", file=sys.stderr)
    try:
        from seq2seq.caption.clips import write_captioned_clips

        clips = write_captioned_clips(folder, count, seed=seed)
    except ImportError:
        from seq2seq.video.synth import write_clips

        clips = [(c.video, story(c.labels)) for c in write_clips(folder, count, seed=seed, size=64, fps=8)]
    listed = {Path(p).name: list(caps) for p, caps in clips}
    atomic_write(index, lambda f: f.write((json.dumps(listed, indent=1) + "\n").encode("utf-8")))
    return [(Path(p), list(caps)) for p, caps in clips]
