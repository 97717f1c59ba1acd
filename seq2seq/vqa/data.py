"""Question files: which image, the question, its answer and (optionally) its type.

Three formats, chosen by the file's extension (UTF-8, plain or ``.gz``):

- ``.jsonl``: one JSON object per line, ``{"image": "a.png", "question": "what colour is the
  square?", "answer": "red", "type": "colour"}``; ``type`` is optional (it groups the scores);
- ``.csv``: a header row naming the columns ``image``, ``question``, ``answer`` and optionally
  ``type`` (any order, other columns ignored); quoted cells may hold commas and line breaks, as
  spreadsheets write them;
- ``.tsv`` / ``.txt``: ``image<TAB>question<TAB>answer[<TAB>type]`` lines; a first line naming
  the columns is a header.

Image paths are relative to the question file's folder (or absolute). Blank lines are skipped;
every problem is one line naming the file and line: a line without an image or a question, an
empty question, an image that does not exist. For questions to answer (``seq2seq answer
--questions``) the answer column may be missing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from seq2seq.errors import DataError, relative_to_here
from seq2seq.translation.text import csv_records, read_lines

FORMATS = (
    'a .jsonl file of {"image", "question", "answer"[, "type"]} objects, a .csv file with a header naming image, '
    "question, answer[, type], or a .tsv file of image<TAB>question<TAB>answer[<TAB>type] lines"
)
COLUMNS = ("image", "question", "answer", "type")


class VqaDataError(DataError):
    """A question file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Asked:
    """One question of a file: the image file, the question, its answer ("" when not given), its
    type ("" when not given), the thing it is about ("" when not given) and where it was read."""

    image: Path
    question: str
    answer: str
    type: str
    subject: str
    where: str


def file_format(path: Path) -> str:
    suffix = Path(path.stem).suffix if path.suffix == ".gz" else path.suffix
    formats = {".jsonl": "jsonl", ".csv": "csv", ".tsv": "tsv", ".txt": "tsv"}
    if suffix.lower() not in formats:
        raise VqaDataError(f"{path}: unknown question-file format '{suffix or path.name}'; give {FORMATS}")
    return formats[suffix.lower()]


def _rows(path: Path, fmt: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, {column: text}) of each non-blank line."""
    if fmt == "csv":
        return _named(path, fmt, _csv_records(path))
    lines = [(n, line) for n, line in enumerate(read_lines(path), 1) if line.strip()]
    if fmt == "jsonl":
        rows = []
        for n, line in lines:
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as e:
                raise VqaDataError(f"{path}:{n}: not a JSON object ({e.msg})") from None
            if not isinstance(raw, dict):
                raise VqaDataError(f'{path}:{n}: expected an object {{"image": ..., "question": ...}}')
            rows.append((n, {k: "" if v is None else str(v) for k, v in raw.items()}))
        return rows
    return _named(path, fmt, [(n, line.split("\t")) for n, line in lines])


def _named(path: Path, fmt: str, split: list[tuple[int, list[str]]]) -> list[tuple[int, dict[str, str]]]:
    """The rows as {column: text}, by the header when there is one."""
    if not split:
        return []
    header = [c.strip().lower() for c in split[0][1]]
    if "image" in header and "question" in header:
        columns, body = header, split[1:]
    elif fmt == "csv":
        raise VqaDataError(f"{path}:1: header {split[0][1]} has no 'image' and 'question' columns; start the file "
                           "with the line image,question,answer")  # fmt: skip
    else:
        columns, body = list(COLUMNS), split
    return [(n, dict(zip(columns, (c.strip() for c in cells), strict=False))) for n, cells in body]


def _csv_records(path: Path) -> list[tuple[int, list[str]]]:
    try:
        return csv_records(path)
    except DataError as e:
        raise VqaDataError(str(e)) from None


def words(question: str) -> list[str]:
    """The lower-cased words of a question (punctuation dropped)."""
    return re.findall(r"[a-z0-9]+", question.lower())


def read_questions(path: str | Path, answers: bool = True) -> list[Asked]:
    """The questions of a file; ``answers``: each must have its answer (training and scoring)."""
    path = Path(path)
    if not path.is_file():
        raise VqaDataError(f"{path}: no such question file{relative_to_here(path)}")
    rows = _rows(path, file_format(path))
    if not rows:
        raise VqaDataError(f"{path}: no questions; give {FORMATS}")
    out, missing = [], []
    for n, row in rows:
        where = f"{path}:{n}"
        image, question = row.get("image", "").strip(), " ".join(row.get("question", "").split())
        if not image:
            raise VqaDataError(f"{where}: no image named")
        if not question:
            raise VqaDataError(f"{where}: empty question")
        if not words(question):
            raise VqaDataError(
                f"{where}: the question {question!r} has no words (punctuation is dropped); ask in words"
            )
        # One answer, however it is written: "Red", "red " and "red" are the same class (as the
        # VQA benchmarks' answer normalisation: case and surrounding space do not count).
        answer = " ".join(row.get("answer", "").split()).lower()
        if answers and not answer:
            raise VqaDataError(f"{where}: no answer; every question to learn or score needs one")
        file = Path(image) if Path(image).is_absolute() else path.parent / image
        if not file.is_file():
            missing.append((where, image))
        out.append(Asked(file, question, answer, row.get("type", "").strip(), row.get("subject", "").strip(), where))
    if missing:
        where, image = missing[0]
        more = f" (and {len(missing) - 1} more missing)" if len(missing) > 1 else ""
        raise VqaDataError(f"{where}: image {image} not found in {path.parent}{more}; image paths are relative to "
                           "the question file's folder")  # fmt: skip
    return out


def write_questions(path: Path, rows: list[dict[str, str]]) -> None:
    """A .jsonl question file, written under a temporary name and renamed when complete."""
    from seq2seq.checkpoint import atomic_write

    text = "".join(json.dumps(r) + "\n" for r in rows)
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
