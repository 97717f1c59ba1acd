"""Multi30k (task 1, English-German) as line-aligned gzip text: what ``seq2seq train`` runs for a
recipe with ``data.fetch = "multi30k"`` whose files are missing, and what
``datasets/prepare_multi30k.py`` runs.

The source is a local folder holding {train,val,test_2016_flickr}.{en,de}[.gz] (plain or gzip),
or the original public repository (any github.com URL: its data/task1/raw/ files are downloaded),
or another http(s) URL of a folder holding the NAME.gz files. The output folder gets train / val /
test_2016_flickr .en.gz / .de.gz, written atomically, after checking that each pair of files is
valid UTF-8 and line-aligned. Downloads are bounded in size (MAX_DOWNLOAD_BYTES, and
MAX_TEXT_BYTES once unpacked); a failed one is a one-line error saying how to do without the
network.
"""

from __future__ import annotations

import gzip
import os
import sys
import tempfile
import zlib
from pathlib import Path
from urllib.parse import urlsplit

from seq2seq.download import PrepareError, download

SPLITS = ("train", "val", "test_2016_flickr")
LANGS = ("en", "de")
RAW_URL = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/{name}.gz"
EXPECTED = {"train": 29000, "val": 1014, "test_2016_flickr": 1000}
# Most bytes one download may have: the largest raw file, train.de.gz, is about 0.64 MB, so 4 MiB is
# a few times that; more is a broken or hostile server, stopped before it fills the disk.
MAX_DOWNLOAD_BYTES = 4 << 20
# Most bytes a downloaded file may unpack to (train.de is about 2.1 MB): a small .gz cannot
# expand into gigabytes (a "gzip bomb").
MAX_TEXT_BYTES = 16 << 20
TIMEOUT_S = 60.0
# No checksums: the repository publishes none for these files, so a download is checked by the
# size limits and by the UTF-8 and line-count checks below, not against a digest.
# File names: every name written or fetched is built from the constants SPLITS and LANGS, none from
# the data, so there is no name from the source to check.
OFFLINE_HINT = (
    "to work without the network, put {train,val,test_2016_flickr}.{en,de}[.gz] (the repository's "
    "data/task1/raw/ files) in a folder and pass --from FOLDER (datasets/prepare_multi30k.py) or "
    "--set data.source=FOLDER (seq2seq train)"
)
PUBLIC = "https://github.com/multi30k/dataset"


def fail(message: str) -> None:
    raise PrepareError(message)


def read_local(folder: Path, name: str) -> bytes:
    """The uncompressed bytes of ``name`` (e.g. train.en) from ``folder``, plain or .gz."""
    for candidate, packed in ((folder / f"{name}.gz", True), (folder / name, False)):
        if candidate.is_file():
            data = candidate.read_bytes()
            if not packed:
                return data
            try:
                return gzip.decompress(data)
            except (OSError, EOFError, zlib.error) as e:
                fail(f"{candidate}: not a readable gzip file ({str(e) or type(e).__name__})")
    fail(f"{folder}: neither {name} nor {name}.gz found")
    raise AssertionError


def source_url(source: str, name: str) -> str:
    """The URL of ``name``.gz: the repository's raw file for a github.com URL (as the docs give
    it), else ``source`` taken as the URL of a folder holding the .gz files."""
    if urlsplit(source).hostname in ("github.com", "www.github.com"):
        return RAW_URL.format(name=name)
    return f"{source.rstrip('/')}/{name}.gz"


def gunzip(data: bytes, where: str, limit: int) -> bytes:
    """The unpacked bytes of gzip ``data`` (one or more members), at most ``limit`` of them."""
    parts, size = [], 0
    while data:
        unpacker = zlib.decompressobj(wbits=31)
        try:
            part = unpacker.decompress(data, limit + 1 - size)
        except zlib.error as e:
            fail(f"{where}: not a readable gzip file ({e})")
        size += len(part)
        if size > limit or unpacker.unconsumed_tail:
            fail(f"{where}: unpacks to more than {limit:,} bytes, the most allowed for this file")
        if not unpacker.eof:
            fail(f"{where}: truncated gzip file")
        parts.append(part)
        data = unpacker.unused_data
    return b"".join(parts)


def download_file(source: str, name: str, cache: Path) -> bytes:
    url = source_url(source, name)
    print(f"downloading {url}")
    path = download(url, cache / f"{name}.gz", MAX_DOWNLOAD_BYTES, OFFLINE_HINT, TIMEOUT_S)
    return gunzip(path.read_bytes(), url, MAX_TEXT_BYTES)


def check(data: bytes, where: str) -> int:
    """Number of lines; invalid UTF-8 is an error naming the line."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            fail(f"{where}: line {number} is not valid UTF-8")
    return len(lines)


def write_gz(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
            gz.write(data if data.endswith(b"\n") or not data else data + b"\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these are ordinary data files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare_split(split: str, data: dict[str, bytes], out: Path) -> None:
    """Check that the pair is UTF-8 and line-aligned, then write it."""
    counts = {lang: check(data[lang], f"{split}.{lang}") for lang in LANGS}
    if counts["en"] != counts["de"]:
        fail(f"{split}.en has {counts['en']} lines but {split}.de has {counts['de']}: not line-aligned")
    if counts["en"] != EXPECTED[split]:
        print(f"warning: {split} has {counts['en']} lines, Multi30k has {EXPECTED[split]}", file=sys.stderr)
    for lang in LANGS:
        write_gz(out / f"{split}.{lang}.gz", data[lang])
    print(f"{split}: {counts['en']} sentence pairs -> {out}/{split}.{{en,de}}.gz")


def prepare(source: str, out: str | Path) -> Path:
    """Write the six Multi30k files into ``out`` from ``source`` (a folder or a URL, see above)."""
    remote = source.startswith(("http://", "https://"))
    folder = Path(source)
    if not remote and not folder.is_dir():
        fail(f"{folder}: no such folder (the Multi30k source: a folder of the raw files, or {PUBLIC})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as cache:
        for split in SPLITS:
            data = {
                lang: download_file(source, f"{split}.{lang}", Path(cache))
                if remote
                else read_local(folder, f"{split}.{lang}")
                for lang in LANGS
            }
            prepare_split(split, data, out)
    return out
