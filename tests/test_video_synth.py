"""The generator's two families of scenes: same story and label files, a different look."""

from __future__ import annotations

import av
import numpy as np
import pytest

from seq2seq.video.layout import read_frame_labels
from seq2seq.video.synth import LABELS, write_clip


def decoded(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(np.float32)


def test_both_families_tell_the_same_story_with_a_different_look(tmp_path):
    flat = write_clip(tmp_path / "flat.mp4", seed=5, size=48, family="flat")
    textured = write_clip(tmp_path / "textured.mp4", seed=5, size=48, family="textured")
    for clip in (flat, textured):
        frames = decoded(clip.video)
        assert len(frames) == len(clip.labels) == len(read_frame_labels(clip.frame_labels))
        assert set(clip.labels) <= set(LABELS) and {"appear", "leave"} <= set(clip.labels)
        assert clip.labels[0] in ("background", "appear")
    # empty-scene frames: a flat background is smooth, a textured one is not
    a = decoded(flat.video)[[i for i, label in enumerate(flat.labels) if label == "background"]]
    b = decoded(textured.video)[[i for i, label in enumerate(textured.labels) if label == "background"]]
    assert len(a) > 2 and len(b) > 2

    def contrast(frames: np.ndarray) -> float:  # of 4x4 block means: the pixel noise averages out
        n, h, w, _ = frames.shape
        blocks = frames.reshape(n, h // 4, 4, w // 4, 4, 3).mean((2, 4))
        return float(np.abs(np.diff(blocks, axis=2)).mean())

    assert contrast(b) > 2 * contrast(a), (contrast(a), contrast(b))
    # the textured camera shakes: its empty frames differ more from one another
    assert np.abs(np.diff(b, axis=0)).mean() > np.abs(np.diff(a, axis=0)).mean()
    with pytest.raises(ValueError, match="unknown family of scenes 'glossy'; use one of flat, textured"):
        write_clip(tmp_path / "x.mp4", seed=1, family="glossy")
