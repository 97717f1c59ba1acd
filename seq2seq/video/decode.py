"""Decoding clips with PyAV: frames sampled to a target rate by timestamp, one at a time.

Sampling by timestamp (not by index) keeps variable-frame-rate clips right: sample k stands for
time ``k / fps`` seconds after the first frame and shows the last frame shown at that time.
Frames are yielded as they are decoded, so memory stays bounded whatever the clip's length.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

EPS = 1e-6  # seconds; timestamps are exact fractions, rounding must not drop a frame


class DecodeError(ValueError):
    """A clip that cannot be decoded; the message names the file and says why."""


@dataclass
class Sample:
    """One sampled frame: its index at the target rate, its time, the decoded frame it shows."""

    index: int
    time: float  # seconds from the first frame
    source: int  # index of the decoded frame (native rate)
    frame: object  # av.VideoFrame; .to_ndarray(width=, height=, format="rgb24") converts it


@dataclass
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float  # the stream's average rate (0 when unknown)
    duration: float  # seconds (0 when unknown)
    audio: bool


def _open(path: Path):
    import av

    if not path.is_file():
        raise DecodeError(f"{path}: no such file")
    try:
        container = av.open(str(path))
    except av.error.EOFError:
        raise DecodeError(f"{path}: ends before its first frame (an empty or truncated clip)") from None
    except av.error.FFmpegError as e:
        raise DecodeError(f"{path}: not a readable video, corrupt or truncated ({e.strerror or e})") from None
    if not container.streams.video:
        what = "no streams at all (an empty clip)" if not container.streams else "no video stream"
        container.close()
        raise DecodeError(f"{path}: has {what}")
    return container


def _expected_end(container, stream) -> float | None:
    """The stream's declared duration in seconds, when the file states one we can trust."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and len(container.streams) == 1:
        return container.duration / 1_000_000
    return None


def probe(path: str | Path) -> VideoInfo:
    """Size, rate, duration and whether there is a sound track, without decoding."""
    path = Path(path)
    container = _open(path)
    with container:
        s = container.streams.video[0]
        end = _expected_end(container, s) or 0.0
        rate = float(s.average_rate) if s.average_rate else 0.0
        return VideoInfo(path, s.codec_context.width, s.codec_context.height, rate, end, bool(container.streams.audio))


class Frames:
    """Iterable over the decoded frames of ``path``'s first video stream, at ``fps`` samples per
    second (None: every decoded frame). After a full pass, ``decoded`` is the number of frames
    the clip decoded to and ``first_time`` the time of its first frame in the file's timeline.
    Raises DecodeError for an unreadable, truncated or empty clip, naming the frame where
    decoding failed."""

    def __init__(self, path: str | Path, fps: float | None = None, threads: int = 0) -> None:
        if fps is not None and fps <= 0:
            raise ValueError(f"the sampling rate must be positive, got {fps}")
        self.path, self.fps, self.threads = Path(path), fps, threads
        self.decoded = 0
        self.first_time = 0.0

    def __iter__(self) -> Iterator[Sample]:
        import av

        path = self.path
        container = _open(path)
        with container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame and slice threads
            if self.threads:
                stream.codec_context.thread_count = self.threads
            nominal = 1.0 / float(stream.average_rate) if stream.average_rate else 0.0
            step = 1.0 / self.fps if self.fps else 0.0
            first: float | None = None
            pending = None  # (source index, time, frame) waiting for the next frame's time
            index = source = 0
            try:
                for frame in container.decode(stream):
                    t = source * nominal if frame.time is None else float(frame.time)  # no timestamp: nominal rate
                    if first is None:
                        first = self.first_time = t
                    t -= first
                    if pending is not None:
                        for sample in _emit(pending, t, step, index):
                            index += 1
                            yield sample
                    pending = (source, t, frame)
                    source += 1
                    self.decoded = source
            except av.error.FFmpegError as e:
                why = e.strerror or e
                raise DecodeError(f"{path}: decoding failed at frame {source} ({why}); the file is corrupt") from None
            if pending is None:
                raise DecodeError(f"{path}: no frames could be decoded (an empty clip)")
            last = pending[2]
            last_duration = float(last.duration * last.time_base) if last.duration and last.time_base else nominal
            end = pending[1] + (last_duration or step or 1.0)
            declared = _expected_end(container, stream)
            if declared is not None and declared > 0 and end + first < 0.9 * declared - 0.5:
                raise DecodeError(
                    f"{path}: truncated: frames end at {end + first:.2f} s of the {declared:.2f} s the file declares"
                )
            yield from _emit(pending, end, step, index)


def frames(path: str | Path, fps: float | None = None, threads: int = 0) -> Frames:
    """The sampled frames of a clip (see ``Frames``)."""
    return Frames(path, fps, threads)


def _emit(pending, next_time: float, step: float, index: int) -> Iterator[Sample]:
    """The samples the pending frame stands for: every sample time in [its time, next_time)."""
    source, t, frame = pending
    if not step:
        yield Sample(index, t, source, frame)
        return
    while index * step < next_time - EPS:
        if index * step >= t - EPS or index == 0:
            yield Sample(index, index * step, source, frame)
        index += 1
