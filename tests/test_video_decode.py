"""The generator's clips decode to the frames and labels they claim; sampling by timestamp; bad clips."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest

from seq2seq.video.decode import DecodeError, as_source, clip_name, frames, is_url, probe
from seq2seq.video.layout import labels_for_samples, read_frame_labels, read_segments
from seq2seq.video.synth import LABELS, write_clip


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm", ".avi"])
def test_clip_decodes_to_its_frames_and_labels(clips, suffix):
    clip = write_clip(clips / f"c{suffix}", seed=3, size=64)
    samples = list(frames(clip.video))
    assert [s.source for s in samples] == list(range(len(clip.labels)))
    assert [s.time for s in samples] == pytest.approx(clip.times, abs=2e-3)
    assert read_frame_labels(clip.frame_labels) == clip.labels
    assert set(clip.labels) <= set(LABELS) and {"appear", "leave"} <= set(clip.labels)
    image = samples[0].frame.to_ndarray(width=32, height=32, format="rgb24")
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    info = probe(clip.video)
    assert (info.width, info.height, info.audio) == (64, 64, False)
    assert info.fps == pytest.approx(clip.fps, rel=0.01)


def test_segments_csv_and_per_frame_labels_agree_at_any_rate(clips):
    clip = write_clip(clips / "rate.mp4", seed=5, size=64, fps=20)
    native = list(frames(clip.video))
    for fps in (20, 7.5):
        samples = list(frames(clip.video, fps=fps))
        duration = clip.times[-1] + 1 / clip.fps
        assert len(samples) == math.ceil(duration * fps - 1e-6)
        assert [s.time for s in samples] == pytest.approx([k / fps for k in range(len(samples))])
        sources, times = [s.source for s in samples], [s.time for s in samples]
        from_txt = labels_for_samples(clip.frame_labels, sources, times, len(native))
        from_csv = labels_for_samples(clip.segments, sources, times, len(native))
        assert from_txt == from_csv == [clip.labels[s] for s in sources]
    unit, segs = read_segments(clip.segments)
    assert unit == "seconds" and segs[0].start == 0.0


def test_slots_hand_each_decoded_frame_to_the_latest_sample_at_or_before_it(clips):
    """Frames(slots=True), what streaming annotation at the source's rate reads: every decoded
    frame once, in order, in the slot of the sample ``sample_slot`` gives it (as offline), at a
    sampling rate below and above the clip's own; samples are the same as without slots."""
    from seq2seq.video.decode import Frames
    from seq2seq.video.label import sample_slot

    clip = write_clip(clips / "slots.mkv", seed=8, size=32, fps=10, vfr=True)
    native = [s.time for s in frames(clip.video)]
    for fps in (4, 25):
        plain = [(s.index, s.time, s.source) for s in frames(clip.video, fps=fps)]
        slotted = list(Frames(clip.video, fps, slots=True))
        assert [(s.index, s.time, s.source) for s in slotted] == plain
        shown = [(s.index, f.time) for s in slotted for f in s.shown]
        assert [t for _, t in shown] == pytest.approx([t + shown[0][1] for t in native])  # file times
        assert [k for k, _ in shown] == [sample_slot(t, fps, len(plain)) for t in native]
        assert fps < 10 or any(not s.shown for s in slotted)  # faster sampling: some slots show no new frame


def test_variable_frame_rate_is_sampled_by_timestamp(clips):
    clip = write_clip(clips / "vfr.mkv", seed=8, size=64, fps=10, vfr=True)
    gaps = np.diff(clip.times)
    assert gaps.max() > 1.3 * gaps.min()  # really irregular
    samples = list(frames(clip.video, fps=10))
    for s in samples:
        # the frame shown at time t is the last one that started at or before t
        shown = max(i for i, t in enumerate(clip.times) if t <= s.time + 1e-6)
        assert s.source == shown
    assert samples[-1].time <= clip.times[-1] + 0.15


def test_frame_label_count_mismatch_names_both_counts(clips, tmp_path):
    clip = write_clip(clips / "short.mp4", seed=2, size=64)
    bad = tmp_path / "short.txt"
    bad.write_text("\n".join(clip.labels[:-3]) + "\n")
    n = len(clip.labels)
    with pytest.raises(ValueError, match=f"{n - 3} labels but the clip decodes to {n} frames"):
        labels_for_samples(bad, list(range(n)), [0.0] * n, n)


def _encode_bytes(path: Path, n: int = 40, fmt: str | None = None) -> bytes:
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream("libx264", rate=15)
        s.width = s.height = 64
        s.pix_fmt = "yuv420p"
        for i in range(n):
            img = np.random.default_rng(i).integers(0, 255, (64, 64, 3), dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path.read_bytes()


def test_bad_clips_give_one_line_errors(tmp_path):
    data = _encode_bytes(tmp_path / "ok.mp4")
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 2])
    mkv = _encode_bytes(tmp_path / "ok.mkv", fmt="matroska")
    (tmp_path / "truncated.mkv").write_bytes(mkv[: len(mkv) // 3])
    (tmp_path / "garbage.mp4").write_bytes(b"not a video at all " * 50)
    with av.open(str(tmp_path / "sound.m4a"), "w", format="mp4") as c:  # audio only
        s = c.add_stream("aac", rate=16000)
        for i in range(5):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    for name in ("empty.mkv", "empty.mp4"):  # a video stream but zero frames
        c = av.open(str(tmp_path / name), "w")
        s = c.add_stream("libx264", rate=15)
        s.width = s.height = 64
        s.pix_fmt = "yuv420p"
        c.start_encoding()
        c.close()
    expected = {
        "truncated.mp4": "corrupt or truncated",
        "truncated.mkv": "truncated",
        "garbage.mp4": "not a readable video",
        "sound.m4a": "has no video stream",
        "empty.mkv": "empty",
        "empty.mp4": "empty",
        "missing.mp4": "no such file",
    }
    for name, message in expected.items():
        with pytest.raises(DecodeError, match=message) as err:
            list(frames(tmp_path / name))
        text = str(err.value)
        assert str(tmp_path / name) in text and "\n" not in text


@pytest.mark.parametrize(
    "url, stem",
    [
        ("rtsp://cam.local/live", "live"),
        ("http://host/hls/stream.m3u8?token=abc#t=3", "stream"),
        ("udp://@:1234", "udp-1234"),
        ("https://example.com/", "example.com"),
        ("rtsp://user:secret@10.0.0.5:554/", "10.0.0.5-554"),
        ("file:///abs/path/My%20Clip%3F.mp4", "My_Clip_"),
        ("srt://relay/..", "relay"),
        ("http://host/.hidden.mp4", "hidden"),
    ],
)
def test_urls_stay_text_and_name_outputs_by_a_safe_stem(url, stem):
    assert is_url(url) and as_source(url) == url  # not a Path: "//" survives
    assert clip_name(url) == stem


def test_paths_are_not_urls():
    for text in ("clip.mp4", "/data/clips/clip.mp4", "C:/clips/clip.mp4", "a:b.mp4", "2x://clip.mp4"):
        assert not is_url(text) and as_source(text) == Path(text)
    assert not is_url(Path("rtsp://cam/live"))  # a Path has lost its "//" already
    assert clip_name(Path("/data/clip.final.mp4")) == "clip.final"
