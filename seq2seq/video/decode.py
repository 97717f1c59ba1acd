"""Decoding clips with PyAV: frames sampled to a target rate by timestamp, one at a time.

Sampling by timestamp (not by index) keeps variable-frame-rate clips right: sample k stands for
time ``k / fps`` seconds after the first frame and shows the last frame shown at that time.
Frames are yielded as they are decoded, so memory stays bounded whatever the clip's length.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from seq2seq.errors import DataError

EPS = 1e-6  # seconds; timestamps are exact fractions, rounding must not drop a frame
TIMEOUT = 10.0  # seconds an opened URL may stay silent (open and each read) before it counts as lost
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")

Source = str | Path  # a file path, or a URL kept as the text FFmpeg opens (Path would fold "//" to "/")


class DecodeError(DataError):
    """A clip that cannot be decoded; the message names the file and says why."""


class OpenError(DecodeError):
    """A URL that cannot be opened (unreachable, refused, silent past the timeout): the message
    names the URL and gives FFmpeg's reason."""


def is_url(text: str | Path) -> bool:
    """Whether ``text`` names an FFmpeg URL (``scheme://...``: rtsp, http(s), udp, tcp, file, ...)."""
    return isinstance(text, str) and _URL.match(text) is not None


def as_source(text: str | Path) -> Source:
    """A URL stays text; anything else becomes a Path."""
    return text if is_url(text) else Path(text)


def clip_name(source: Source) -> str:
    """The file stem that names a clip's outputs. A path gives its stem; a URL its last path part
    without extension (``rtsp://cam/live`` -> ``live``, ``file:///v/a.mp4`` -> ``a``), else its host
    and port (``udp://@:1234`` -> ``udp-1234``), with characters other than letters, digits,
    ``.``, ``_`` and ``-`` replaced by ``_``."""
    if not is_url(source):
        return Path(source).stem
    parts = urlsplit(str(source))
    last = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    stem = Path(last).stem if last not in ("", ".", "..") else ""
    if not stem:
        try:
            port = parts.port
        except ValueError:  # a port that is not a number
            port = None
        stem = (parts.hostname or parts.scheme) + (f"-{port}" if port else "")
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", stem).lstrip(".")[:100]
    return stem or parts.scheme


def unique_names(sources: list[Source], taken: dict[str, str] | None = None) -> dict[Source, str]:
    """The output name of each clip: its ``clip_name``, unless another clip of ``sources`` (or a
    different source in ``taken``: name -> source already written under it) has the same name;
    then the clip's folder is put in front (``a/x.mp4``, ``b/x.mp4`` -> ``a-x``, ``b-x``), and a
    number if that still repeats. Deterministic: the same clips give the same names."""
    taken = dict(taken or {})
    by_name: dict[str, list[Source]] = {}
    for s in sources:
        by_name.setdefault(clip_name(s), []).append(s)
    names: dict[Source, str] = {}
    for s in sources:
        name = clip_name(s)
        owner = taken.get(name)
        if len({str(x) for x in by_name[name]}) > 1 or (owner is not None and owner != source_id(s)):
            parent = Path(str(s)).parent.name if not is_url(s) else urlsplit(str(s)).hostname or "url"
            base = f"{re.sub(r'[^A-Za-z0-9._-]', '_', parent) or 'clip'}-{name}"
            name, n = base, 2
            while name in taken and taken[name] != source_id(s):
                name, n = f"{base}-{n}", n + 1
        names[s] = name
        taken[name] = source_id(s)
    return names


def source_id(source: Source) -> str:
    """What identifies a clip's source: its absolute path, or the URL."""
    return str(source) if is_url(source) else str(Path(source).resolve())


@dataclass
class Sample:
    """One sampled frame: its index at the target rate, its time, the decoded frame it shows."""

    index: int
    time: float  # seconds from the first frame
    source: int  # index of the decoded frame (native rate)
    frame: object  # av.VideoFrame; .to_ndarray(width=, height=, format="rgb24") converts it
    # With Frames(slots=True): the decoded frames shown during this sample's slot [k / fps, (k + 1) / fps),
    # in order (those that take this sample's label in a video at the source's rate); else None.
    shown: list | None = None


@dataclass
class VideoInfo:
    path: Source
    width: int
    height: int
    fps: float  # the stream's average rate (0 when unknown)
    duration: float  # seconds (0 when unknown)
    audio: bool


def open_video(path: Source, timeout: float = TIMEOUT):
    """The opened container of a file or URL (``timeout``: seconds a URL may stay silent)."""
    import av

    if is_url(path):
        try:
            container = av.open(path, timeout=timeout)
        except av.error.ExitError:  # FFmpeg's interrupt: the timeout ran out
            raise OpenError(f"{path}: cannot open: no answer within {timeout:g} s (--timeout)") from None
        except av.error.FFmpegError as e:
            raise OpenError(f"{path}: cannot open: {e.strerror or e}") from None
    elif not path.is_file():
        raise DecodeError(f"{path}: no such file")
    else:
        container = _open_file(path)
    if not container.streams.video:
        what = "no streams at all (an empty clip)" if not container.streams else "no video stream"
        container.close()
        raise DecodeError(f"{path}: has {what}")
    return container


def _open_file(path: Path):
    import av

    try:
        return av.open(str(path))
    except av.error.EOFError:
        raise DecodeError(f"{path}: ends before its first frame (an empty or truncated clip)") from None
    except av.error.FFmpegError as e:
        raise DecodeError(f"{path}: not a readable video, corrupt or truncated ({e.strerror or e})") from None


def _expected_end(container, stream) -> float | None:
    """The stream's declared duration in seconds, when the file states one we can trust."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and len(container.streams) == 1:
        return container.duration / 1_000_000
    return None


def probe(path: str | Path, timeout: float = TIMEOUT) -> VideoInfo:
    """Size, rate, duration (0 for a live stream) and whether there is a sound track, without decoding."""
    path = as_source(path)
    container = open_video(path, timeout)
    with container:
        s = container.streams.video[0]
        end = _expected_end(container, s) or 0.0
        rate = float(s.average_rate) if s.average_rate else 0.0
        return VideoInfo(path, s.codec_context.width, s.codec_context.height, rate, end, bool(container.streams.audio))


class Frames:
    """Iterable over the decoded frames of ``path``'s (a file or URL) first video stream, at ``fps``
    samples per second (None: every decoded frame); ``timeout``: seconds a URL may stay silent.
    After a full pass, ``decoded`` is the number of frames the clip decoded to and ``first_time``
    the time of its first frame in the file's timeline, and ``rate`` the stream's declared frame
    rate (0 when unknown) once iteration has started.
    With ``slots`` each sample also carries the decoded frames of its time slot (``Sample.shown``);
    a sample is then yielded once the next one is decoded (the slot is complete), one sample
    later than without.
    Raises DecodeError for an unreadable, truncated or empty clip, naming the frame where
    decoding failed."""

    def __init__(
        self,
        path: str | Path,
        fps: float | None = None,
        threads: int = 0,
        timeout: float = TIMEOUT,
        slots: bool = False,
    ) -> None:
        if fps is not None and fps <= 0:
            raise ValueError(f"the sampling rate must be positive, got {fps}")
        if slots and fps is None:
            raise ValueError("slots need a sampling rate: without one every decoded frame is a sample")
        self.path, self.fps, self.threads, self.timeout = as_source(path), fps, threads, timeout
        self.slots = slots
        self.decoded = 0
        self.first_time = 0.0
        self.rate = 0.0

    def __iter__(self) -> Iterator[Sample]:
        if not self.slots:
            yield from self._samples()
            return
        held = None  # the latest sample: its slot takes decoded frames until the next sample comes
        try:
            for item in self._samples(shown=True):
                if isinstance(item, Sample):
                    if held is not None:
                        yield held
                    held, item.shown = item, []
                else:  # a decoded frame, after the samples at or before its time: in the latest one's slot
                    held.shown.append(item)
        except DecodeError:  # a stream that breaks off: what was decoded before it still counts
            if held is not None:
                yield held
            raise
        if held is not None:
            yield held

    def _samples(self, shown: bool = False) -> Iterator:
        """The samples; with ``shown``, each decoded frame too (the av.VideoFrame itself), placed
        after the samples whose time is at or before its own and before the later ones. A failure
        comes after what was decoded before it."""
        import av

        path = self.path
        container = open_video(path, self.timeout)
        with container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame and slice threads
            if self.threads:
                stream.codec_context.thread_count = self.threads
            self.rate = float(stream.average_rate) if stream.average_rate else 0.0
            nominal = 1.0 / self.rate if self.rate else 0.0
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
                        for sample in _emit(pending, t, step, index, self._slot(pending, shown)):
                            index += isinstance(sample, Sample)
                            yield sample
                    pending = (source, t, frame)
                    source += 1
                    self.decoded = source
            except av.error.ExitError:  # FFmpeg's interrupt: the read timeout ran out
                raise DecodeError(
                    f"{path}: no data for {self.timeout:g} s (--timeout) after frame {source}; the stream stopped"
                ) from None
            except av.error.FFmpegError as e:
                why = e.strerror or e
                what = "the stream broke off" if is_url(path) else "the file is corrupt"
                raise DecodeError(f"{path}: decoding failed at frame {source} ({why}); {what}") from None
            if pending is None:
                raise DecodeError(f"{path}: no frames could be decoded (an empty clip)")
            last = pending[2]
            last_duration = float(last.duration * last.time_base) if last.duration and last.time_base else nominal
            end = pending[1] + (last_duration or step or 1.0)
            declared = _expected_end(container, stream)  # None for a live stream: nothing to check
            if declared is not None and declared > 0 and end + first < 0.9 * declared - 0.5:
                raise DecodeError(
                    f"{path}: truncated: frames end at {end + first:.2f} s of the {declared:.2f} s the file declares"
                )
            yield from _emit(pending, end, step, index, self._slot(pending, shown))

    def _slot(self, pending, shown: bool) -> int | None:
        """With ``shown``: the sample whose slot the pending decoded frame is in (as ``sample_slot``)."""
        return int(pending[1] * self.fps + EPS) if shown else None


def frames(path: str | Path, fps: float | None = None, threads: int = 0, timeout: float = TIMEOUT) -> Frames:
    """The sampled frames of a clip (see ``Frames``)."""
    return Frames(path, fps, threads, timeout)


def _emit(pending, next_time: float, step: float, index: int, slot: int | None = None) -> Iterator:
    """The samples the pending frame stands for: every sample time in [its time, next_time); with
    ``slot`` (the sample whose slot the frame is in) the frame itself too, just after that sample."""
    source, t, frame = pending
    if not step:
        yield Sample(index, t, source, frame)
        return
    placed = slot is None
    while index * step < next_time - EPS:
        if index * step >= t - EPS or index == 0:
            if not placed and index > slot:
                yield frame
                placed = True
            yield Sample(index, index * step, source, frame)
        index += 1
    if not placed:
        yield frame
