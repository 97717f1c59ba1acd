"""The classify task's examples: labelled text files, and the action segments of a video layout.

Labelled text (UTF-8, plain or ``.gz``), chosen by the file's extension:

- ``.csv``: comma-separated with a header row that names a ``text`` and a ``label`` column (in
  any order; other columns are ignored); quoted fields as the csv module reads them;
- ``.tsv`` or ``.txt``: one example per line, ``label<TAB>text``; a first line ``label<TAB>text``
  (or ``text<TAB>label``) is a header and says the column order.

Blank lines are skipped; a line without a label or a text is an error naming the line.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seq2seq.errors import DataError
from seq2seq.translation.text import read_lines

FORMATS = "a .csv file with a header naming the columns text and label, or a .tsv / .txt file of label<TAB>text lines"


class ClassifyDataError(DataError):
    """A labelled file or layout that cannot be used; the message names the file (and line)."""


def file_format(path: str | Path) -> str:
    """``csv`` or ``tsv`` from the file name (``.gz`` looked through); anything else is refused."""
    path = Path(path)
    suffix = Path(path.stem).suffix if path.suffix == ".gz" else path.suffix
    if suffix.lower() == ".csv":
        return "csv"
    if suffix.lower() in (".tsv", ".txt"):
        return "tsv"
    raise ClassifyDataError(f"{path}: unknown labelled-file format '{suffix or path.name}'; give {FORMATS}")


def read_labelled(path: str | Path) -> tuple[list[str], list[str]]:
    """(texts, labels) of a labelled file; errors name the file and line."""
    path = Path(path)
    fmt = file_format(path)
    lines = read_lines(path)
    rows: list[tuple[int, list[str]]]
    if fmt == "csv":
        rows = []
        for number, line in enumerate(lines, 1):
            if line.strip():
                rows.append((number, next(csv.reader(io.StringIO(line)))))
    else:
        rows = [(n, line.split("\t")) for n, line in enumerate(lines, 1) if line.strip()]
    if not rows:
        raise ClassifyDataError(f"{path}: empty file; give {FORMATS}")
    header = [c.strip().lower() for c in rows[0][1]]
    if fmt == "csv":
        if "text" not in header or "label" not in header:
            raise ClassifyDataError(f"{path}:1: header {rows[0][1]} has no 'text' and 'label' columns; "
                                    f"start the file with the line text,label")  # fmt: skip
        at_text, at_label, body = header.index("text"), header.index("label"), rows[1:]
    elif sorted(header) == ["label", "text"]:
        at_text, at_label, body = header.index("text"), header.index("label"), rows[1:]
    else:
        at_text, at_label, body = 1, 0, rows
    texts, labels = [], []
    for number, cells in body:
        if fmt == "tsv" and at_label == 0:
            cells = cells[:1] + ["\t".join(cells[1:])] if len(cells) > 1 else cells  # a tab inside the text
        if len(cells) <= max(at_text, at_label):
            raise ClassifyDataError(f"{path}:{number}: expected a label and a text, got {len(cells)} field(s)"
                                    f"{'' if fmt == 'csv' else ' (label<TAB>text)'}")  # fmt: skip
        text, label = cells[at_text].strip(), cells[at_label].strip()
        if not text or not label:
            raise ClassifyDataError(f"{path}:{number}: empty {'text' if not text else 'label'}")
        texts.append(text)
        labels.append(label)
    if not texts:
        raise ClassifyDataError(f"{path}: a header but no examples")
    return texts, labels


@dataclass
class Clip:
    """One action segment of a layout video: its frames' features (time, dim) and its label."""

    video: str
    start: int
    end: int
    label: int
    features: np.ndarray


def segments(name: str, features: np.ndarray, labels: np.ndarray, skip: set[int]) -> list[Clip]:
    """The ground-truth segments (maximal runs of one label) of a video, but those of ``skip``.
    features: (time, dim); labels: (time,) class ids."""
    if len(labels) == 0:
        return []
    cuts = np.flatnonzero(np.diff(labels)) + 1
    starts, ends = np.r_[0, cuts], np.r_[cuts, len(labels)]
    return [
        Clip(name, int(s), int(e), int(labels[s]), features[s:e])
        for s, e in zip(starts, ends, strict=True)
        if int(labels[s]) not in skip
    ]
