"""Generated captioned clips: the captions tell what the decoded video shows, in order."""

from __future__ import annotations

import colorsys
import json
import re
from itertools import groupby

import numpy as np
import pytest

from seq2seq.caption.clips import COLOURS, PHRASINGS, write_captioned_clips
from seq2seq.caption.formats import read_captions
from seq2seq.video.decode import frames
from seq2seq.video.layout import read_frame_labels
from seq2seq.video.synth import write_clip


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    out = tmp_path_factory.mktemp("clips")
    return out, write_captioned_clips(out, 4, seed=0, fps=10)


def colour_name(pixels: np.ndarray) -> str:
    """The named colour nearest in hue to the mean of (n, 3) RGB pixels."""
    hue = colorsys.rgb_to_hsv(*(pixels.mean(0) / 255))[0]
    return min(COLOURS, key=lambda n: min(abs(hue - COLOURS[n]), 1 - abs(hue - COLOURS[n])))


def object_pixels(frame: np.ndarray) -> np.ndarray:
    """(size, size) mask of the saturated, bright object on its muted background."""
    f = frame.astype(np.float32)
    top = f.max(-1)
    return ((top - f.min(-1)) / np.maximum(top, 1) > 0.55) & (top > 110)


def test_captions_tell_the_rendered_story_in_order(clips):
    out, written = clips
    truth = [json.loads(line) for line in (out / "clips.jsonl").read_text().splitlines()]
    assert [t["media"] for t in truth] == [p.name for p, _ in written]
    for (path, captions), t in zip(written, truth, strict=True):
        assert len(captions) == len(set(captions)) == PHRASINGS and captions == t["captions"]
        plan = [(label, len(list(run))) for label, run in groupby(read_frame_labels(path.with_suffix(".txt")))]
        assert [list(p) for p in plan] == t["plan"]
        events = [label for label, _ in plan if label in ("move", "change")]
        # every phrasing tells the events of the plan, in order, with the colours
        words = re.findall(r"\b(moves|slides|turns|flickers)\b", captions[0] + " | " + captions[1])
        told = [{"moves": "move", "slides": "move"}.get(w, "change") for w in words]
        assert told == events + events
        assert re.findall("|".join(COLOURS), captions[0]) == t["colours"] and len(t["colours"]) == 1 + events.count(
            "change"
        )
        assert all(f"{t['colours'][0]} {t['shape']}" in c and t["exit"] in c for c in captions)
        # and the decoded video shows it: the first colour as it appears, each change's colour
        # on the first frame after it, the way out as it leaves
        video = [s.frame.to_ndarray(format="rgb24") for s in frames(path)]
        assert len(video) == sum(n for _, n in plan)
        starts = np.cumsum([0] + [n for _, n in plan])
        seen = []
        for k, (label, _) in enumerate(plan):
            if label == "appear" or (label != "background" and plan[k - 1][0] == "change"):
                at = starts[k + 1] - 1 if label == "appear" else starts[k]
                seen.append(colour_name(video[at][object_pixels(video[at])]))
        assert seen == t["colours"], (path, seen)
        leave = next(k for k, (label, _) in enumerate(plan) if label == "leave")
        a, b = (
            np.argwhere(object_pixels(video[i])).mean(0)
            for i in (starts[leave], (starts[leave] + starts[leave + 1]) // 2)
        )
        dy, dx = b - a
        way = ("left" if dx < 0 else "right") if abs(dx) > abs(dy) else ("top" if dy < 0 else "bottom")
        assert way == t["exit"], (path, dx, dy)


def test_the_files_read_as_caption_files(clips):
    out, written = clips
    want = [(p, tuple(c), "train") for p, c in written]
    for name in ("captions.tsv", "clips.jsonl"):
        assert [(i.media, i.captions, i.split) for i in read_captions(out / name)] == want


def test_a_seed_always_gives_the_same_clip_and_captions(clips, tmp_path):
    out, written = clips
    again = write_captioned_clips(tmp_path, 1, seed=2, fps=10, split="test")
    assert again == [(tmp_path / "clip_0002.mp4", written[2][1])]
    assert (tmp_path / "clip_0002.mp4").read_bytes() == (out / "clip_0002.mp4").read_bytes()
    assert read_captions(tmp_path / "captions.tsv")[0].split == "test"
    assert len({tuple(c) for _, c in written}) == len(written)
    # the colours change nothing else: the video recipe's clip of that seed has the same phases
    plain = write_clip(tmp_path / "plain.mp4", 2, size=64, fps=10)
    assert plain.labels == read_frame_labels(out / "clip_0002.txt")
    with pytest.raises(ValueError, match="hues are for the flat family"):
        write_clip(tmp_path / "x.mp4", 2, family="textured", hues=[0.0, 0.5, 0.2])
    with pytest.raises(ValueError, match=r"clip 2: 1 hue\(s\) for 2 change\(s\); give at least 3"):
        write_clip(tmp_path / "x.mp4", 2, size=64, fps=10, hues=[0.0])
