"""``seq2seq label``: raw clips in, a label for every frame out, as one bounded-memory pipeline.

decode (``decode.Frames``, sampled as at training time) -> backbone features in batches
(``features.Extractor``, the checkpoint's own backbone) -> the tagger. Offline, a bidirectional
tagger reads the whole clip's features (a few KB per frame; the pictures are not kept). With
``--stream`` a causal tagger labels each batch as it is decoded, carrying its state, and each
segment is printed as soon as it closes: memory stays constant however long the clip.

Per clip it writes NAME.labels.csv (frame, time, label, confidence), NAME.segments.json and
NAME.timeline.png (with the ground truth when given), and with --annotate a copy of the clip
with the current label drawn on every frame.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from seq2seq.inference import Loaded
from seq2seq.video.decode import Frames, Sample
from seq2seq.video.features import Extraction, Extractor
from seq2seq.video.layout import labels_for_samples, write_text

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".ogv")


class LabelError(ValueError):
    """A checkpoint or request that labelling cannot serve; the message says what would."""


def expand_clips(paths: list[str]) -> list[Path]:
    """Files as given; folders replaced by the video files inside them (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise LabelError(f"{p}: no video files ({', '.join(VIDEO_SUFFIXES)}) in this folder")
            out += found
        else:
            out.append(p)
    return out


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

    clip: Path
    labels: list[int] = field(default_factory=list)  # class per sampled frame
    segments: list[Segment] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    truth: list[str] | None = None  # true label per sampled frame, when given
    scores: dict[str, float] | None = None


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


class Labeller:
    """Labels clips with a video checkpoint: the checkpoint's backbone, sampling and tagger."""

    def __init__(self, loaded: Loaded, batch_size: int = 32) -> None:
        task = loaded.task
        if not task.extraction:
            raise LabelError(
                f"{loaded.path}: trained on precomputed features with no extraction record, so it cannot "
                "label raw clips; train on the output of `seq2seq extract-features` (it writes extraction.json)"
            )
        self.loaded, self.task, self.model = loaded, task, loaded.model
        self.spec = Extraction.from_dict(task.extraction)
        self.extractor = Extractor(self.spec, loaded.device, batch_size, state=task.backbone)
        if self.extractor.spec.dim != loaded.cfg.model.input_dim:
            raise LabelError(
                f"{loaded.path}: the backbone gives {self.extractor.spec.dim} features per frame but the "
                f"tagger expects {loaded.cfg.model.input_dim}"
            )
        self.causal = bool(getattr(self.model, "causal", False))

    def check_stream(self) -> None:
        """Streaming needs a tagger that never looks ahead."""
        if not self.causal:
            raise LabelError(
                f"{self.loaded.path}: --stream needs a causal tagger (model.bidirectional = false); this one is "
                "bidirectional, so it labels offline"
            )

    def probabilities(self, clip: Path, stream: bool, frames: Frames, keep_frames: bool = False) -> Iterator:
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
        clip: Path,
        out_dir: Path,
        stream: bool = False,
        truth: Path | None = None,
        annotate: Path | None = None,
        on_segment: Callable[[Segment], None] | None = None,
    ) -> Result:
        """Label one clip and write its outputs; raises on a clip that cannot be read."""
        if stream:
            self.check_stream()
        names = self.task.labels
        name = clip.stem
        frames = Frames(clip, self.spec.fps)
        segmenter = Segmenter(names, on_segment)
        result = Result(clip)
        sources, times, confs = [], [], []
        csv_path = out_dir / f"{name}.labels.csv"
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{csv_path.name}.", suffix=".tmp", dir=out_dir)
        writer = Annotator(annotate, self.spec.fps) if (annotate is not None and stream) else None
        try:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
                rows = csv.writer(f)
                rows.writerow(["frame", "time", "label", "confidence"])
                for samples, probs in self.probabilities(clip, stream, frames, keep_frames=writer is not None):
                    top = probs.argmax(-1)
                    for s, cls, p in zip(samples, top.tolist(), probs, strict=True):
                        conf = float(p[cls])
                        rows.writerow([s.index, f"{s.time:.3f}", names[cls], f"{conf:.4f}"])
                        segmenter.add(s.index, s.time, cls, conf)
                        result.labels.append(cls)
                        sources.append(s.source)
                        times.append(s.time)
                        confs.append(conf)
                        if writer is not None:
                            writer.write(s, names[cls], conf)
                            s.frame = None
            if writer is not None:
                writer.close()
            os.replace(tmp, csv_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            if writer is not None:
                writer.abort()
            raise
        end = (times[-1] + 1.0 / self.spec.fps) if times else 0.0
        result.segments = segmenter.finish(len(result.labels), end)
        result.outputs["labels"] = str(csv_path)
        seg_path = out_dir / f"{name}.segments.json"
        payload = {"clip": str(clip), "fps": self.spec.fps, "segments": [s.as_dict() for s in result.segments]}
        write_text(seg_path, json.dumps(payload, indent=2) + "\n")
        result.outputs["segments"] = str(seg_path)
        true_names = None
        if truth is not None:
            true_names = labels_for_samples(truth, sources, times, frames.decoded)
            from seq2seq.video.metrics import Scores

            background = frozenset(self.loaded.cfg.data.background)
            result.truth = true_names
            result.scores = Scores(background=background).add([names[c] for c in result.labels], true_names)
        from seq2seq.video.plots import plot_timelines

        png = plot_timelines(
            out_dir / f"{name}.timeline.png",
            [(name, [names[c] for c in result.labels], true_names)],
            names,
            fps=self.spec.fps,
            confidence=[confs],
        )
        result.outputs["timeline"] = str(png)
        if annotate is not None and writer is None:
            annotator = Annotator(annotate, self.spec.fps)
            try:
                for s in Frames(clip, self.spec.fps):
                    annotator.write(s, names[result.labels[s.index]], confs[s.index])
                annotator.close()
            except BaseException:
                annotator.abort()
                raise
        if annotate is not None:
            result.outputs["annotated"] = str(annotate)
        return result


class Annotator:
    """Writes sampled frames with their label drawn on them to an .mp4 (renamed into place on close)."""

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

    def write(self, sample: Sample, label: str, confidence: float) -> None:
        import av
        from PIL import Image, ImageDraw

        frame = sample.frame
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
