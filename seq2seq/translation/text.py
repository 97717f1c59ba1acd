"""Reading line-aligned UTF-8 text files (plain or .gz), one sentence per line.

Lines are split on ``\\n`` only (a ``\\r`` before it is dropped), never on the other Unicode line
separators ``str.splitlines`` knows, so two files that a line-oriented tool sees as aligned stay
aligned here. Every problem is reported with the file and the 1-based line number.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from seq2seq.errors import DataError


class TextError(DataError):
    """A text file that cannot be used; the message names the file (and line) and what to do."""


def _open_binary(path: Path) -> BinaryIO:
    if not path.is_file():
        raise TextError(f"{path}: no such file")
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def decode_line(raw: bytes, where: str, number: int) -> str:
    """One line's bytes (with or without its newline) -> text; invalid UTF-8 names the line."""
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if number == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a byte-order mark is not text
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TextError(
            f"{where}: line {number}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
            f"convert the file to UTF-8, e.g. iconv -f latin1 -t utf-8"
        ) from None


def iter_binary_lines(stream: BinaryIO, where: str) -> Iterator[str]:
    """Decoded lines of an open binary stream (a file or stdin), read lazily."""
    number = 0
    try:
        for number, raw in enumerate(stream, start=1):  # noqa: B007 (number is used after the loop too)
            yield decode_line(raw, where, number)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise TextError(f"{where}: unreadable after line {number} ({e}); is the file complete?") from None


def iter_lines(path: str | Path) -> Iterator[str]:
    """The lines of a UTF-8 text file (``.gz`` is decompressed), read lazily."""
    path = Path(path)
    with _open_binary(path) as f:
        yield from iter_binary_lines(f, str(path))


def csv_records(path: str | Path, delimiter: str = ",", strict: bool = True) -> list[tuple[int, list[str]]]:
    """(first line number, cells) of each non-blank record of a CSV (or TSV) file. A quoted cell
    may hold line breaks, as spreadsheets write them, so a record can span lines; ``strict``: a
    stray quote (an unclosed one, text after a closing one) is an error naming its line."""
    reader = csv.reader((line + "\n" for line in iter_lines(path)), delimiter=delimiter, strict=strict)
    records, start = [], 1
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as e:
        raise TextError(f'{path}:{start}: not valid CSV ({e}); close every quoted field with a "') from None
    return records


def read_lines(path: str | Path) -> list[str]:
    """All lines of a UTF-8 text file (plain or .gz)."""
    return list(iter_lines(path))


def count_lines(path: str | Path) -> int:
    """Number of lines (for a progress bar's total); a last line without a newline counts."""
    path = Path(path)
    count, last = 0, b"\n"
    with _open_binary(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def read_parallel(src: str | Path, tgt: str | Path, what: str = "training") -> tuple[list[str], list[str]]:
    """Two line-aligned files -> (source lines, target lines). Empty or misaligned files are errors."""
    src_lines, tgt_lines = read_lines(src), read_lines(tgt)
    for path, lines in ((src, src_lines), (tgt, tgt_lines)):
        if not lines or all(not line.strip() for line in lines):
            raise TextError(f"{path}: empty file; the {what} data needs at least one sentence pair")
    if len(src_lines) != len(tgt_lines):
        raise TextError(
            f"{src} has {len(src_lines)} lines but {tgt} has {len(tgt_lines)}: parallel files must hold "
            f"one sentence per line, line for line"
        )
    return src_lines, tgt_lines


def write_lines(path: str | Path, lines: list[str]) -> None:
    """Write lines as UTF-8 (atomically: a temporary file renamed at the end); ``.gz`` compresses."""
    from seq2seq.checkpoint import atomic_write

    path = Path(path)
    data = "".join(line + "\n" for line in lines).encode("utf-8")

    def write(f: BinaryIO) -> None:
        if path.suffix == ".gz":
            # mtime=0: the same lines give the same bytes
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
                gz.write(data)
        else:
            f.write(data)

    atomic_write(path, write)
