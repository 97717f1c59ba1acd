"""Per-frame label files of any tool, read and scored with our metrics (``seq2seq evaluate --pred``).

A file holds one label per frame, as one of
- MS-TCN's ``results/`` files: a first line ``### Frame level recognition: ###``, then the labels
  separated by spaces (what MS-TCN, MS-TCN++, ASFormer and their kin write, named NAME without
  an extension);
- our ``NAME.labels.csv`` (``frame,time,label,confidence``, from ``seq2seq label``);
- plain text, one label per line (``groundTruth/NAME.txt`` of the layout, and most tools).
Labels are names, or class indices when a mapping (``mapping.txt``: "INDEX LABEL" lines) is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from seq2seq.errors import UserError
from seq2seq.video.layout import LayoutError, _lines, read_mapping, write_text
from seq2seq.video.metrics import Scores

MSTCN_HEADER = "### Frame level recognition: ###"
OUR_HEADER = "frame,time,label,confidence"
SUFFIXES = (".labels.csv", ".txt", ".csv")  # stripped to give a file's video name; anything else is kept


def video_name(path: Path) -> str:
    """The video a prediction or truth file is about: its name without a known suffix (MS-TCN's
    files have none, and names may hold dots)."""
    for suffix in SUFFIXES:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.name[: -len(suffix)]
    return path.name


def read_labels(path: str | Path) -> list[tuple[str, str]]:
    """The label of each frame of a file in any of the formats above, each with where it stands
    (``file:line``, or ``file:2, label N`` in an MS-TCN file) for messages."""
    path = Path(path)
    lines = _lines(path)
    if not lines:
        raise LayoutError(f"{path}: empty; expected one label per frame")
    if lines[0] == MSTCN_HEADER:
        labels = " ".join(lines[1:]).split()
        return [(x, f"{path}:2, label {n}") for n, x in enumerate(labels, 1)]
    if lines[0].replace(" ", "").lower() == OUR_HEADER:
        out = []
        for n, line in enumerate(lines[1:], 2):
            parts = line.split(",")
            if len(parts) != 4:
                raise LayoutError(f"{path}:{n}: expected 4 fields frame,time,label,confidence, got {len(parts)}")
            out.append((parts[2].strip(), f"{path}:{n}"))
        return out
    if path.suffix.lower() == ".csv":
        raise LayoutError(
            f"{path}:1: a table, not one label per frame (nor {OUR_HEADER}); score per-frame files such as "
            "the layout's groundTruth/NAME.txt"
        )
    for n, line in enumerate(lines, 1):
        if not line:
            raise LayoutError(f"{path}:{n}: blank line; give one label per frame")
    return [(line, f"{path}:{n}") for n, line in enumerate(lines, 1)]


def find_truth(folder: Path, name: str) -> Path | None:
    """The per-frame truth file of video ``name`` in ``folder``: NAME.txt (the layout's
    groundTruth/), NAME (MS-TCN style) or NAME.labels.csv."""
    for suffix in (".txt", "", ".labels.csv"):
        if (folder / f"{name}{suffix}").is_file():
            return folder / f"{name}{suffix}"
    return None


def write_mstcn(path: str | Path, labels: list[str]) -> Path:
    """An MS-TCN ``results/`` file: the header line, then the labels separated by spaces."""
    write_text(path, f"{MSTCN_HEADER}\n{' '.join(labels)}")
    return Path(path)


def names_of(labelled: list[tuple[str, str]], mapping: list[str] | None) -> list[str]:
    """The label names, with class indices turned into names by ``mapping`` and every label
    checked against it (when given)."""
    if mapping is None:
        return [x for x, _ in labelled]
    known = set(mapping)
    out = []
    for x, where in labelled:
        if x not in known:
            if not (x.isdigit() and int(x) < len(mapping)):
                raise LayoutError(f"{where}: label '{x}' is neither a label nor an index of the mapping")
            x = mapping[int(x)]
        out.append(x)
    return out


@dataclass
class Scored:
    """What ``score_files`` found: the scores, and the files that had no partner."""

    scores: Scores
    no_truth: list[str] = field(default_factory=list)  # prediction files without a truth file
    no_prediction: list[str] = field(default_factory=list)  # truth files without a prediction


def _files(path: Path, flag: str) -> dict[str, Path]:
    if path.is_file():
        return {video_name(path): path}
    if not path.is_dir():
        raise UserError(f"{flag} {path}: no such file or folder")
    found: dict[str, Path] = {}
    for f in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
        if f.suffix.lower() in (".json", ".png", ".npy", ".mp4", ".pt"):
            continue  # what `seq2seq label` writes beside its labels, and other outputs
        name = video_name(f)
        if name in found:
            raise UserError(f"{flag} {path}: both {found[name].name} and {f.name} are about '{name}'; keep one")
        found[name] = f
    if not found:
        raise UserError(f"{flag} {path}: no label files in this folder")
    return found


def score_files(
    pred: str | Path,
    truth: str | Path,
    mapping: str | Path | None = None,
    background: tuple[str, ...] = ("background",),
    tolerance: int = 0,
) -> Scored:
    """Score prediction files against truth files, matched by video name (files, or folders of
    them). ``tolerance``: frames by which the two may differ in length (the longer is trimmed)."""
    names = read_mapping(mapping) if mapping is not None else None
    preds, truths = _files(Path(pred), "--pred"), _files(Path(truth), "--truth")
    if Path(pred).is_file() and Path(truth).is_file():
        truths = {video_name(Path(pred)): Path(truth)}  # one pair, whatever the names
    scored = Scored(Scores(background=frozenset(background)))
    scored.no_truth = [str(p) for n, p in preds.items() if n not in truths]
    scored.no_prediction = [str(p) for n, p in truths.items() if n not in preds]
    for name, p in preds.items():
        if name not in truths:
            continue
        y = names_of(read_labels(truths[name]), names)
        x = names_of(read_labels(p), names)
        if len(x) != len(y):
            if abs(len(x) - len(y)) > tolerance:
                raise LayoutError(
                    f"{p}: {len(x)} frames but {truths[name]} has {len(y)}; --length-tolerance N trims "
                    "differences of up to N frames"
                )
            x, y = x[: min(len(x), len(y))], y[: min(len(x), len(y))]
        scored.scores.add(x, y, name=name)
    if not scored.scores.edits:
        raise UserError(f"--pred {pred}: no file has a truth file of the same video name in {truth}")
    return scored
