"""``seq2seq label``: raw clips in, a label for every frame out, as one bounded-memory pipeline.

decode (``decode.Frames``, sampled as at training time) -> backbone features in batches
(``features.Extractor``, the checkpoint's own backbone) -> the tagger. Offline, a bidirectional
tagger reads the whole clip's features (a few KB per frame; the pictures are not kept). With
``--stream`` a causal tagger labels each batch as it is decoded, carrying its state, and each
segment is printed as soon as it closes: memory stays constant however long the clip, and a
clip may be a URL (a camera, a live stream: see ``decode.is_url``). Ctrl-C while streaming
keeps the outputs of the frames labelled so far.

Per clip it writes NAME.labels.csv (frame, time, label, confidence; or with --format mstcn
MS-TCN's results file NAME), NAME.segments.json and NAME.timeline.png (with the ground truth when
given), and with --annotate a copy of the clip with the current label drawn on every frame (at
the clip's own rate by default). ``FeatureLabeller`` does the same for precomputed (D, T)
features (``label --features``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import chain
from pathlib import Path

import numpy as np
import torch

from seq2seq.errors import UserError
from seq2seq.inference import Loaded
from seq2seq.video.decode import EPS, TIMEOUT, DecodeError, Frames, Sample, Source, as_source, clip_name, probe
from seq2seq.video.features import Extraction, Extractor
from seq2seq.video.layout import labels_for_samples, write_text

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".ogv")


class LabelError(UserError, ValueError):
    """A checkpoint or request that labelling cannot serve; the message says what would."""


def expand_clips(paths: list[str]) -> list[Source]:
    """Files and URLs (kept as text) as given; folders replaced by the video files inside them (sorted)."""
    out: list[Source] = []
    for p in map(as_source, paths):
        if isinstance(p, Path) and p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise LabelError(f"{p}: no video files ({', '.join(VIDEO_SUFFIXES)}) in this folder")
            out += found
        else:
            out.append(p)
    return out


def feature_files(path: Path) -> list[Path]:
    """A .npy features file as given, or the .npy files of a folder (sorted; a layout folder's
    features/ when it holds none itself)."""
    if path.is_file():
        if path.suffix.lower() != ".npy":
            raise LabelError(f"--features {path}: not a .npy file; give (D, T) .npy features or a folder of them")
        return [path]
    if not path.is_dir():
        raise LabelError(f"--features {path}: no such file or folder")
    found = sorted(path.glob("*.npy")) or sorted((path / "features").glob("*.npy"))
    if not found:
        raise LabelError(f"--features {path}: no .npy files in this folder (nor in its features/)")
    return found


@dataclass
class Segment:
    label: str
    start_frame: int
    end_frame: int  # exclusive
    start: float  # seconds
    end: float
    confidence: float  # mean top probability over the segment

    def as_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


@dataclass
class Result:
    """What labelling one clip produced."""

    clip: Source
    labels: list[int] = field(default_factory=list)  # class per sampled frame
    times: list[float] = field(default_factory=list)  # each sampled frame's time, seconds
    confidences: list[float] = field(default_factory=list)  # the probability of each frame's label
    segments: list[Segment] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    truth: list[str] | None = None  # true label per sampled frame, when given
    scores: dict[str, float] | None = None
    stopped: str = ""  # why labelling ended before the clip did (--stream keeps what it labelled)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM, SIGHUP) during streaming labelling, after the frames labelled so far
    were written: ``result``; the exception's text is the signal's name."""

    def __init__(self, result: Result, signal: str = "SIGINT") -> None:
        super().__init__(signal)
        self.result = result


class Segmenter:
    """Turns (frame, time, class, confidence) one at a time into closed segments."""

    def __init__(self, names: list[str], on_close: Callable[[Segment], None] | None = None) -> None:
        self.names, self.on_close = names, on_close
        self.segments: list[Segment] = []
        self.current: list | None = None  # [class, start frame, start time, confidence sum, frames]

    def add(self, frame: int, time: float, cls: int, conf: float) -> None:
        if self.current is not None and self.current[0] != cls:
            self._close(frame, time)
        if self.current is None:
            self.current = [cls, frame, time, 0.0, 0]
        self.current[3] += conf
        self.current[4] += 1

    def _close(self, frame: int, time: float) -> None:
        cls, start, t0, total, n = self.current
        seg = Segment(self.names[cls], start, frame, t0, time, total / n)
        self.segments.append(seg)
        self.current = None
        if self.on_close is not None:
            self.on_close(seg)

    def finish(self, frames: int, end_time: float) -> list[Segment]:
        if self.current is not None:
            self._close(frames, end_time)
        return self.segments

    def finish_all(self, kept: list[tuple[int, float, int, int, float]], end_time: float) -> list[Segment]:
        """The segments of labelled frames given all at once: (frame, time, source, class, confidence)."""
        for frame, time, _, cls, conf in kept:
            self.add(frame, time, cls, conf)
        return self.finish(len(kept), end_time)


class Labeller:
    """Labels clips with a video checkpoint: the checkpoint's backbone, sampling and tagger."""

    def __init__(
        self, loaded: Loaded, batch_size: int = 32, timeout: float = TIMEOUT, fmt: str = "csv", tier: str | None = None
    ) -> None:
        self.timeout = timeout  # seconds a URL may stay silent
        self.tier = tier  # the ELAN tier or VIA attribute of truth files that have several
        self.format = fmt  # of the labels file: "csv" (NAME.labels.csv) or "mstcn" (MS-TCN's results file)
        task = loaded.task
        if not task.extraction:
            raise LabelError(
                f"{loaded.path}: trained on precomputed features with no extraction record, so it cannot "
                "label raw clips; train on the output of `seq2seq extract-features` (it writes extraction.json)"
            )
        self.loaded, self.task, self.model = loaded, task, loaded.model
        self.spec = Extraction.from_dict(task.extraction)
        self.extractor = Extractor(self.spec, loaded.device, batch_size, state=task.backbone)
        if self.extractor.spec.dim != task.dims.input_dim:
            raise LabelError(
                f"{loaded.path}: the backbone gives {self.extractor.spec.dim} features per frame but the "
                f"tagger expects {task.dims.input_dim}"
            )
        self.causal = bool(getattr(self.model, "causal", False))

    def check_stream(self) -> None:
        """Streaming needs a tagger that never looks ahead."""
        if not self.causal:
            raise LabelError(
                f"{self.loaded.path}: --stream needs a causal tagger (model.bidirectional = false); this one is "
                "bidirectional, so it labels offline"
            )

    def probabilities(self, clip: Source, stream: bool, frames: Frames, keep_frames: bool = False) -> Iterator:
        """(samples, probabilities (B, classes)) batch by batch. Offline: features of the whole
        clip first, then one pass of the tagger; streaming: each batch through the causal tagger
        with its state carried."""
        device = self.loaded.device
        if stream:
            state = None
            for samples, feats in self.extractor.stream(clip, frames, keep_frames=keep_frames):
                x = self.task.normalise(torch.from_numpy(feats).to(device))[None]
                with torch.no_grad():
                    logits, state = self.model(x, None, state)
                yield samples, torch.softmax(logits[0].float(), -1).cpu().numpy()
            return
        kept: list[Sample] = []
        feats = []
        for samples, f in self.extractor.stream(clip, frames):
            kept += samples
            feats.append(f)
        probs = self.task.predict(self.model, [np.concatenate(feats)])[0].numpy()
        yield kept, probs

    def label(
        self,
        clip: Source,
        out_dir: Path | None,
        stream: bool = False,
        truth: Path | None = None,
        annotate: Path | None = None,
        on_segment: Callable[[Segment], None] | None = None,
        name: str | None = None,
        annotate_rate: str = "source",
    ) -> Result:
        """Label one clip (a file or a URL) and, unless ``out_dir`` is None, write its outputs
        there, named ``name`` (default: the clip's ``clip_name``). Raises on a clip that cannot be
        read or whose ``truth`` does not fit, leaving nothing of its own behind. With ``stream``,
        labelling that stops early keeps what it labelled (outputs that cover the frames so far,
        ``"stopped"`` in the segments file): on Ctrl-C it then raises ``Interrupted`` (a
        KeyboardInterrupt carrying the result), when the source breaks off (a network drop, a
        truncated file) a DecodeError that says what was kept. ``annotate_rate``: the annotated
        video at the clip's own rate ("source": every decoded frame, labelled as the sampled frame
        whose time slot it falls in, i.e. the latest sampled frame at or before it; offline this
        reads the clip a second time, streaming takes the frames as they are decoded) or at the
        sampling rate ("sampled")."""
        if stream:
            self.check_stream()
        names = self.task.labels
        source_rate = annotate_rate == "source"
        writing = annotate is not None and stream  # annotated as labelled, not in a second pass
        # streaming at the source's rate: each sample brings the decoded frames of its slot along
        frames = Frames(clip, self.spec.fps, timeout=self.timeout, slots=writing and source_rate)
        segmenter = Segmenter(names, on_segment)
        kept: list[tuple[int, float, int, int, float]] = []  # (frame, time, source frame, class, confidence)
        batches = self.probabilities(clip, stream, frames, keep_frames=writing)
        first = next(batches)  # opens the source: one that cannot be opened or decoded leaves no files
        every = frames.slots and frames.rate > 0  # a stream that declares no rate is annotated as sampled
        writer = Annotator(annotate, frames.rate if every else self.spec.fps) if writing else None
        stopped: BaseException | None = None
        try:
            try:
                for samples, probs in chain([first], batches):
                    top = probs.argmax(-1)
                    for s, cls, p in zip(samples, top.tolist(), probs, strict=True):
                        conf = float(p[cls])
                        kept.append((s.index, s.time, s.source, cls, conf))  # one step: a Ctrl-C keeps it whole
                        segmenter.add(s.index, s.time, cls, conf)
                        if writer is not None:
                            for frame in s.shown if every else [s.frame]:
                                writer.write(frame, names[cls], conf)
                            s.frame = s.shown = None
            except (KeyboardInterrupt, DecodeError) as e:
                if not stream or not kept:
                    raise
                stopped = e
            if writer is not None:
                writer.close()
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        end = kept[-1][1] + 1.0 / self.spec.fps
        if stopped is None:
            segments = segmenter.finish(len(kept), end)
        else:  # the Ctrl-C may have hit inside the segmenter: rebuild from what was kept
            segments = Segmenter(names).finish_all(kept, end)
            for seg in segments[len(segmenter.segments) :] if on_segment is not None else []:
                on_segment(seg)
        name = name or clip_name(clip)
        result = self._write(clip, name, out_dir, kept, segments, truth if stopped is None else None, frames, stopped)
        if annotate is not None and writer is None:
            rate = (probe(clip, self.timeout).fps or self.spec.fps) if source_rate else self.spec.fps
            annotator = Annotator(annotate, rate)
            try:
                for s in Frames(clip, None if source_rate else self.spec.fps, timeout=self.timeout):
                    k = sample_slot(s.time, self.spec.fps, len(kept)) if source_rate else s.index
                    annotator.write(s.frame, names[result.labels[k]], kept[k][4])
                annotator.close()
            except BaseException as e:
                annotator.abort()
                if not isinstance(e, KeyboardInterrupt):  # a clip that fails keeps no outputs
                    for path in result.outputs.values():
                        Path(path).unlink(missing_ok=True)
                raise
        if annotate is not None:
            result.outputs["annotated"] = str(annotate)
        if isinstance(stopped, KeyboardInterrupt):
            raise Interrupted(result, str(stopped) if str(stopped).startswith("SIG") else "SIGINT") from None
        if stopped is not None:
            raise DecodeError(f"{stopped}; kept the {len(kept)} frames labelled before that in {out_dir}") from None
        return result

    def _write(
        self,
        clip: Source,
        name: str,
        out_dir: Path | None,
        kept: list[tuple[int, float, int, int, float]],
        segments: list[Segment],
        truth: Path | None,
        frames: Frames,
        stopped: BaseException | None,
    ) -> Result:
        """The result, and (with ``out_dir``) its files (``write_outputs``), after the ground truth
        (if given) was read and checked, so a clip that fails writes nothing."""
        names = self.task.labels
        result = Result(clip, labels=[k[3] for k in kept], segments=segments)
        result.times, result.confidences = [k[1] for k in kept], [k[4] for k in kept]
        true_names = None
        if truth is not None:
            from seq2seq.video.metrics import Scores

            true_names = labels_for_samples(
                truth, [k[2] for k in kept], [k[1] for k in kept], frames.decoded, tier=self.tier
            )
            unknown = sorted(set(true_names) - set(names))
            if unknown:
                frame = true_names.index(unknown[0])
                raise LabelError(
                    f"{truth}: label '{unknown[0]}' (sampled frame {frame}) is not one the model knows "
                    f"({', '.join(names)}); name the labels as in the training data"
                )
            background = frozenset(self.loaded.cfg.data.background)
            result.truth = true_names
            result.scores = Scores(background=background).add([names[c] for c in result.labels], true_names)
        if stopped is not None:
            if isinstance(stopped, KeyboardInterrupt):
                result.stopped = f"interrupted ({stopped if str(stopped).startswith('SIG') else 'Ctrl-C'})"
            else:
                result.stopped = str(stopped)
        if out_dir is not None:
            result.outputs.update(
                write_outputs(
                    out_dir, name, clip, names, kept, segments, self.spec.fps, true_names, result.stopped, self.format
                )  # fmt: skip
            )
        return result


def sample_slot(time: float, fps: float, samples: int) -> int:
    """The sampled frame whose time slot [k / fps, (k + 1) / fps) holds a decoded frame shown at
    ``time`` seconds: the label that frame gets in an annotated video at the source's rate."""
    return min(samples - 1, int(time * fps + EPS))


def write_outputs(
    out_dir: Path,
    name: str,
    clip: Source,
    names: list[str],
    kept: list[tuple[int, float, int, int, float]],
    segments: list[Segment],
    fps: float | None,
    true_names: list[str] | None = None,
    stopped: str = "",
    fmt: str = "csv",
) -> dict[str, str]:
    """Write one clip's (or feature file's) labels, each file atomically: NAME.labels.csv (or with
    ``fmt`` "mstcn" the MS-TCN results file NAME), NAME.segments.json and NAME.timeline.png.
    ``kept``: (frame, time, source frame, class, confidence) per labelled frame."""
    from seq2seq.video.plots import plot_timelines
    from seq2seq.video.predictions import write_mstcn

    outputs = {}
    if fmt == "mstcn":
        outputs["labels"] = str(write_mstcn(out_dir / name, [names[k[3]] for k in kept]))
    else:
        table = io.StringIO(newline="")
        rows = csv.writer(table)
        rows.writerow(["frame", "time", "label", "confidence"])
        rows.writerows([i, f"{t:.3f}", names[c], f"{p:.4f}"] for i, t, _, c, p in kept)
        write_text(out_dir / f"{name}.labels.csv", table.getvalue())
        outputs["labels"] = str(out_dir / f"{name}.labels.csv")
    seg_path = out_dir / f"{name}.segments.json"
    payload = {"clip": str(clip), "fps": fps, "segments": [s.as_dict() for s in segments]}
    if stopped:
        payload["stopped"] = stopped
    write_text(seg_path, json.dumps(payload, indent=2) + "\n")
    outputs["segments"] = str(seg_path)
    png = plot_timelines(
        out_dir / f"{name}.timeline.png",
        [(name, [names[k[3]] for k in kept], true_names)],
        names,
        fps=fps,
        confidence=[[k[4] for k in kept]],
    )
    outputs["timeline"] = str(png)
    return outputs


class FeatureLabeller:
    """Labels precomputed features (a layout's ``features/NAME.npy``, (D, T), e.g. MS-TCN's I3D
    features) with a video checkpoint trained on features like them: every frame gets a label
    (with ``data.sample_rate`` n, every n-th frame is labelled and its label repeated, as MS-TCN
    does). Times are seconds when the checkpoint knows the features' frame rate, else frame
    indices."""

    def __init__(self, loaded: Loaded, fmt: str = "csv") -> None:
        self.loaded, self.task, self.model, self.format = loaded, loaded.task, loaded.model, fmt
        extraction = self.task.extraction or {}
        self.fps = float(extraction["fps"]) if extraction.get("fps") else None

    def read(self, path: Path) -> np.ndarray:
        """A features file (D, T) as (T, D) float32, checked against what the model takes: its
        width, and when an ``extraction.json`` sits beside it or one folder up (our layout), that
        the features were made as the checkpoint's were (another tool's features have none)."""
        from seq2seq.video.features import check_same
        from seq2seq.video.layout import read_features

        record = next((f for f in (path.parent / "extraction.json", path.parent.parent / "extraction.json")
                       if f.is_file()), None)  # fmt: skip
        if record is not None and self.task.extraction:
            check_same(json.loads(record.read_text(encoding="utf-8")), self.task.extraction, str(record),
                       str(self.loaded.path))  # fmt: skip
        feats = read_features(path, self.task.dims.input_dim, f"as {self.loaded.path} was trained on")
        x = np.array(feats, dtype=np.float32).T  # a copy: the file is memory-mapped read-only
        if not np.isfinite(x).all():
            raise LabelError(f"{path}: holds NaN or infinite values")
        return x

    def label(
        self,
        feats: np.ndarray,
        name: str = "features",
        out_dir: Path | None = None,
        truth: Path | None = None,
        source: str = "",
    ) -> Result:
        """Label (T, D) raw features; with ``out_dir`` write the outputs there, named ``name``."""
        from seq2seq.video.metrics import Scores
        from seq2seq.video.predictions import read_labels

        if feats.ndim != 2 or feats.shape[1] != self.task.dims.input_dim or len(feats) == 0:
            raise LabelError(f"features of shape {feats.shape}: the model takes (time, {self.task.dims.input_dim})")
        rate = self.loaded.cfg.data.sample_rate
        probs = self.task.predict(self.model, [np.ascontiguousarray(feats[::rate], dtype=np.float32)])[0].numpy()
        probs = np.repeat(probs, rate, axis=0)[: len(feats)]
        top = probs.argmax(-1)
        conf = probs[np.arange(len(top)), top].astype(float)
        step = 1.0 / self.fps if self.fps else 1.0
        kept = [(i, i * step, i, int(c), float(p)) for i, (c, p) in enumerate(zip(top, conf, strict=True))]
        names = self.task.labels
        segments = Segmenter(names).finish_all(kept, len(kept) * step)
        result = Result(source or name, [k[3] for k in kept], [k[1] for k in kept], [k[4] for k in kept], segments)
        if truth is not None:
            true_names = [x for x, _ in read_labels(truth)]
            tolerance = self.loaded.cfg.data.length_tolerance
            if abs(len(true_names) - len(kept)) > tolerance:
                raise LabelError(f"{truth}: {len(true_names)} labels but the features have {len(kept)} frames")
            unknown = sorted(set(true_names) - set(names))
            if unknown:
                raise LabelError(f"{truth}: label '{unknown[0]}' is not one the model knows ({', '.join(names)})")
            n = min(len(true_names), len(kept))  # scored on the frames both have (data.length_tolerance)
            result.truth = true_names[:n]
            background = frozenset(self.loaded.cfg.data.background)
            result.scores = Scores(background=background).add([names[c] for c in result.labels[:n]], result.truth)
        if out_dir is not None:
            result.outputs = write_outputs(
                out_dir, name, source or name, names, kept, segments, self.fps,
                result.truth if result.truth is not None and len(result.truth) == len(kept) else None, fmt=self.format,
            )  # fmt: skip
        return result


class Annotator:
    """Writes frames with their label drawn on them to an .mp4 (renamed into place on close)."""

    def __init__(self, path: Path, fps: float) -> None:
        import av

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=".tmp.mp4", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self.container = av.open(str(self.tmp), "w", format="mp4")
        self.stream = None
        self.rate = Fraction(fps).limit_denominator(1001)

    def write(self, frame, label: str, confidence: float) -> None:
        """Append an ``av.VideoFrame`` with ``label`` and ``confidence`` drawn in its corner."""
        import av
        from PIL import Image, ImageDraw

        w, h = frame.width - frame.width % 2, frame.height - frame.height % 2
        if self.stream is None:
            self.stream = self.container.add_stream("libx264", rate=self.rate)
            self.stream.width, self.stream.height, self.stream.pix_fmt = w, h, "yuv420p"
        image = Image.fromarray(frame.to_ndarray(width=w, height=h, format="rgb24"))
        draw = ImageDraw.Draw(image)
        text = f"{label} {confidence:.2f}"
        box = draw.textbbox((4, 2), text)
        draw.rectangle((0, 0, box[2] + 4, box[3] + 3), fill=(0, 0, 0))
        draw.text((4, 2), text, fill=(255, 255, 255))
        out = av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")
        for packet in self.stream.encode(out):
            self.container.mux(packet)

    def close(self) -> None:
        if self.stream is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
        self.container.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # already broken; the temporary file goes either way
            pass
        self.tmp.unlink(missing_ok=True)
