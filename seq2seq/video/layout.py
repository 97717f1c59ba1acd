"""The temporal-action-segmentation data layout, and the label files of raw clips.

A layout folder (what GTEA, 50Salads and Breakfast releases use, and what ``extract-features``
writes)::

    features/NAME.npy      float array (D, T): D features for each of T frames
    groundTruth/NAME.txt   T lines, one label per frame
    mapping.txt            lines "INDEX LABEL", indices 0, 1, 2, ... in order
    splits/SPLIT.bundle    one video per line ("NAME" or "NAME.txt")

Labels of a raw clip ``NAME.mp4`` come as (``LABEL_FILES``, looked for in this order)
- ``NAME.txt`` or ``NAME.labels.txt``: one label per decoded frame (the clip's own frame rate), or
- ``NAME.csv`` or ``NAME.segments.csv``: segments with a header naming the columns ``start``,
  ``end`` and ``label`` (seconds from the first frame; ``begin`` / ``start_time``, ``stop`` /
  ``end_time``, ``action`` / ``class`` are read too), or ``start_frame``, ``end_frame``, ``label``
  (decoded-frame indices), in any order, other columns ignored; ``end`` is exclusive; times no
  segment covers get the background label, or
- ``NAME.eaf`` (ELAN), ``NAME.xml`` (CVAT for video 1.1), ``NAME.json`` (VIA 3): an annotation
  tool's export, read as segments by ``exports``.
All are turned into one label per sampled frame by ``labels_for_samples``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seq2seq.checkpoint import atomic_write
from seq2seq.errors import DataError
from seq2seq.video.decode import clip_name, is_url


class LayoutError(DataError):
    """Data that does not follow the layout; the message names the file (and line) and the fix."""


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically (a temporary file renamed into place)."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def write_npy(path: str | Path, array: np.ndarray) -> None:
    """Save an array atomically, so an interrupted run never leaves a partial .npy behind."""
    atomic_write(path, lambda f: np.save(f, array))


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise LayoutError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise LayoutError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def read_mapping(path: str | Path) -> list[str]:
    """Label names by index from ``mapping.txt`` (lines "INDEX LABEL", indices 0, 1, ... in order)."""
    path = Path(path)
    names = []
    for n, line in enumerate(_lines(path), 1):
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) != len(names):
            raise LayoutError(f"{path}:{n}: expected '{len(names)} LABEL', got {line!r}")
        names.append(parts[1])
    if not names:
        raise LayoutError(f"{path}: no labels")
    if len(set(names)) != len(names):
        raise LayoutError(f"{path}: a label appears twice")
    return names


def write_mapping(path: str | Path, names: list[str]) -> None:
    write_text(path, "".join(f"{i} {name}\n" for i, name in enumerate(names)))


def read_bundle(path: str | Path) -> list[str]:
    """Video names listed in a split bundle (extensions such as .txt dropped, blank lines skipped)."""
    path = Path(path)
    names = [line for line in _lines(path) if line]
    return [Path(n).stem if Path(n).suffix in (".txt", ".npy", ".mp4", ".avi", ".mkv", ".webm") else n for n in names]


def read_frame_labels(path: str | Path) -> list[str]:
    """One label per line; a blank line inside the file is an error (it would shift every frame)."""
    path = Path(path)
    lines = _lines(path)
    for n, line in enumerate(lines, 1):
        if not line:
            raise LayoutError(f"{path}:{n}: blank line; give one label per frame")
    return lines


@dataclass
class Segment:
    start: float
    end: float
    label: str


# Column names of a segments CSV, as annotation tools spell them (lower-cased, spaces as "_").
SEGMENT_COLUMNS = {
    "start": ("start", "begin", "start_time", "begin_time", "start_sec", "start_s"),
    "end": ("end", "stop", "end_time", "stop_time", "end_sec", "end_s"),
    "start_frame": ("start_frame", "begin_frame"),
    "end_frame": ("end_frame", "stop_frame"),
    "label": ("label", "action", "class", "activity", "phase"),
}


def _segment_columns(path: Path, header: list[str]) -> tuple[str, tuple[int, int, int]]:
    """The unit ("seconds" or "frames") and the (start, end, label) column indices of a header."""
    names = [h.strip().lower().replace(" ", "_") for h in header]

    def column(kind: str) -> int | None:
        found = [i for i, n in enumerate(names) if n in SEGMENT_COLUMNS[kind]]
        return found[0] if found else None

    label = column("label")
    for unit, (a, b) in {"seconds": ("start", "end"), "frames": ("start_frame", "end_frame")}.items():
        start, end = column(a), column(b)
        if start is not None and end is not None and label is not None:
            return unit, (start, end, label)
    raise LayoutError(
        f"{path}:1: header {header}; expected columns start,end,label (seconds) or start_frame,end_frame,label"
    )


def read_segments(path: str | Path) -> tuple[str, list[Segment]]:
    """Segments of a CSV label file; returns the unit ("seconds" or "frames") and the segments."""
    path = Path(path)
    text = "\n".join(_lines(path))
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise LayoutError(f"{path}: empty; expected a header start,end,label")
    unit, (c_start, c_end, c_label) = _segment_columns(path, rows[0])
    width = max(c_start, c_end, c_label) + 1
    segs = []
    for n, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < width:
            raise LayoutError(f"{path}:{n}: expected {len(rows[0])} fields as in the header, got {len(row)}")
        try:
            start, end = float(row[c_start]), float(row[c_end])
        except ValueError:
            raise LayoutError(
                f"{path}:{n}: start and end must be numbers, got {row[c_start]!r}, {row[c_end]!r}"
            ) from None
        if not 0 <= start < end:
            raise LayoutError(f"{path}:{n}: need 0 <= start < end, got {start} and {end}")
        if unit == "frames" and not (start.is_integer() and end.is_integer()):
            raise LayoutError(f"{path}:{n}: frame indices must be whole numbers, got {row[c_start]}, {row[c_end]}")
        segs.append(Segment(start, end, row[c_label].strip()))
    segs.sort(key=lambda s: s.start)
    check_overlaps(path, segs, unit)
    return unit, segs


def check_overlaps(path: Path, segs: list[Segment], unit: str = "seconds") -> None:
    """One line naming the file and the first two segments (sorted by start) that overlap."""
    for a, b in zip(segs, segs[1:], strict=False):
        if b.start < a.end - 1e-9:
            raise LayoutError(
                f"{path}: segments '{a.label}' ({a.start:g}-{a.end:g}) and '{b.label}' ({b.start:g}-{b.end:g}"
                f"{' s' if unit == 'seconds' else ' frames'}) overlap; a frame takes one label"
            )


def labels_for_samples(
    path: str | Path,
    sources: list[int],
    times: list[float],
    decoded: int,
    background: str = "background",
    tier: str | None = None,
) -> list[str]:
    """The label of each sampled frame, from a clip's label file (.txt per frame, .csv segments, or
    an annotation tool's export: ``exports``, where ``tier`` names the ELAN tier or VIA attribute).

    sources[i] is the decoded frame sample i shows and times[i] its time in seconds; ``decoded`` is
    how many frames the clip decoded to (a per-frame file must have exactly that many lines)."""
    from seq2seq.video.exports import EXPORT_SUFFIXES, read_export

    path = Path(path)
    if path.suffix.lower() in (".csv", *EXPORT_SUFFIXES):
        unit, segs = read_segments(path) if path.suffix.lower() == ".csv" else read_export(path, tier)
        keys = times if unit == "seconds" else [float(s) for s in sources]
        j = 0
        order = sorted(range(len(keys)), key=lambda i: keys[i])
        labels = [background] * len(keys)
        for i in order:  # one sweep: both lists sorted by time
            while j < len(segs) and segs[j].end <= keys[i] + 1e-9:
                j += 1
            if j < len(segs) and segs[j].start <= keys[i] + 1e-9:
                labels[i] = segs[j].label
        return labels
    per_frame = read_frame_labels(path)
    if len(per_frame) != decoded:
        raise LayoutError(f"{path}: {len(per_frame)} labels but the clip decodes to {decoded} frames")
    return [per_frame[s] for s in sources]


# The names a clip NAME's label file may have, in the order they are looked for: per-frame text
# first (.txt, .labels.txt), then segment tables (.csv, .segments.csv), then the exports of ELAN,
# CVAT for video and VIA 3 (.eaf, .xml, .json: ``exports``).
LABEL_FILES = (".txt", ".labels.txt", ".csv", ".segments.csv", ".eaf", ".xml", ".json")


def label_file_names(name: str = "NAME") -> str:
    """The label file names looked for, for messages: 'NAME.txt, NAME.labels.txt, ... or ...'."""
    names = [name + suffix for suffix in LABEL_FILES]
    return ", ".join(names[:-1]) + " or " + names[-1]


def find_label_file(video: str | Path, folder: Path | None = None) -> Path | None:
    """The clip's label file (``LABEL_FILES``) next to the clip, or in ``folder`` when given (a URL
    has no "next to": only ``folder``, with NAME from ``decode.clip_name``)."""
    if folder is None and is_url(video):
        return None
    base = folder if folder is not None else Path(video).parent
    from seq2seq.video.exports import EXPORT_SUFFIXES, is_export

    for suffix in LABEL_FILES:
        candidate = base / (clip_name(video) + suffix)
        if candidate.is_file() and (suffix not in EXPORT_SUFFIXES[1:] or is_export(candidate)):
            return candidate
    return None


def listed(items: list, shown: int = 5) -> str:
    """The first few items, for a one-line message: 'a, b, c and 4 more'."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(str(x) for x in items[:shown]) + more


def unlabelled_note(videos: list, folder: Path | None = None) -> str | None:
    """One line naming the clips that have no label file (None when every clip has one)."""
    missing = [v for v in videos if find_label_file(v, folder) is None]
    if not missing:
        return None
    where = f"in {folder}" if folder is not None else "beside the clip (or give --labels DIR)"
    return (
        f"{len(missing)} of {len(videos)} clips have no label file ({listed(missing)}): looked for "
        f"{label_file_names()} {where}; they get features but no groundTruth, so they cannot be trained or scored on"
    )


def read_features(path: Path, dim: int | None = None, like: str = "like the other videos") -> np.ndarray:
    """A (D, T) features file, memory-mapped, checked to be a 2-d numeric array with ``dim`` rows."""
    try:
        feats = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as e:
        raise LayoutError(f"{path}: not a readable .npy array ({e})") from None
    if feats.ndim != 2 or feats.dtype.kind not in "fiu":
        raise LayoutError(f"{path}: has shape {feats.shape} ({feats.dtype}); expected a (D, T) float array")
    if dim is not None and feats.shape[0] != dim:
        raise LayoutError(f"{path}: has shape {feats.shape}, expected ({dim}, T): {dim} features per frame {like}")
    return feats


@dataclass
class Video:
    """One video of a layout: features (time, dim) float32 and label indices (time,) int64."""

    name: str
    features: np.ndarray
    labels: np.ndarray


def read_video(
    root: Path, name: str, index: dict[str, int], dim: int | None = None, tolerance: int = 0, sample_rate: int = 1
) -> Video:
    """Read features/NAME.npy (D, T) and groundTruth/NAME.txt, checked against each other, the
    mapping (``index``: label -> class) and the expected feature size ``dim``."""
    feat_path, gt_path = root / "features" / f"{name}.npy", root / "groundTruth" / f"{name}.txt"
    if not feat_path.is_file():
        raise LayoutError(f"{feat_path}: no such features file (listed in a split bundle)")
    feats = read_features(feat_path, dim)
    if not gt_path.is_file():
        raise LayoutError(
            f"{gt_path}: no such file: '{name}' has features but no labels; extract-features writes groundTruth/ "
            f"only for clips with a label file ({label_file_names(name)}, beside the clip or in --labels DIR)"
        )
    labels = read_frame_labels(gt_path)
    frames = feats.shape[1]
    if frames != len(labels):
        if abs(frames - len(labels)) > tolerance:
            raise LayoutError(
                f"{feat_path}: {frames} feature frames but {gt_path} has {len(labels)} labels "
                f"(set data.length_tolerance to trim small differences)"
            )
        frames = min(frames, len(labels))
    ids = np.empty(frames, dtype=np.int64)
    for n, label in enumerate(labels[:frames]):
        if label not in index:
            raise LayoutError(f"{gt_path}:{n + 1}: label '{label}' is not in mapping.txt")
        ids[n] = index[label]
    x = np.asarray(feats[:, :frames], dtype=np.float32).T
    if not np.isfinite(x).all():
        raise LayoutError(f"{feat_path}: holds NaN or infinite values")
    return Video(name, np.array(x[::sample_rate], dtype=np.float32, order="C"), ids[::sample_rate].copy())
