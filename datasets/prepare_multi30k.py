"""Prepare Multi30k (task 1, English-German) as line-aligned gzip text for the translation recipes.

    python datasets/prepare_multi30k.py --from ../shared/data/multi30k --out data/multi30k
    python datasets/prepare_multi30k.py --from https://github.com/multi30k/dataset --out data/multi30k

The source is a local folder holding {train,val,test_2016_flickr}.{en,de}[.gz] (plain or gzip),
or the original public repository (its data/task1/raw/ files are downloaded). The output folder
gets train / val / test_2016_flickr .en.gz / .de.gz, written atomically, after checking that each
pair of files is valid UTF-8 and line-aligned.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

SPLITS = ("train", "val", "test_2016_flickr")
LANGS = ("en", "de")
RAW_URL = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/{name}.gz"
EXPECTED = {"train": 29000, "val": 1014, "test_2016_flickr": 1000}


def fail(message: str) -> None:
    print(f"prepare_multi30k: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def read_local(folder: Path, name: str) -> bytes:
    """The uncompressed bytes of ``name`` (e.g. train.en) from ``folder``, plain or .gz."""
    for candidate, packed in ((folder / f"{name}.gz", True), (folder / name, False)):
        if candidate.is_file():
            data = candidate.read_bytes()
            return gzip.decompress(data) if packed else data
    fail(f"{folder}: neither {name} nor {name}.gz found")
    raise AssertionError


def download(name: str) -> bytes:
    url = RAW_URL.format(name=name)
    print(f"downloading {url}", file=sys.stderr)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return gzip.decompress(response.read())
    except OSError as e:
        fail(f"{url}: download failed ({e}); download the repository by hand and pass its data/task1/raw folder")
    raise AssertionError


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="source", required=True, help="local folder, or the repository URL")
    parser.add_argument("--out", required=True, help="output folder, e.g. data/multi30k")
    args = parser.parse_args(argv)
    remote = args.source.startswith(("http://", "https://"))
    folder = Path(args.source)
    if not remote and not folder.is_dir():
        fail(f"{folder}: no such folder")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        data = {
            lang: download(f"{split}.{lang}") if remote else read_local(folder, f"{split}.{lang}") for lang in LANGS
        }
        counts = {lang: check(data[lang], f"{split}.{lang}") for lang in LANGS}
        if counts["en"] != counts["de"]:
            fail(f"{split}.en has {counts['en']} lines but {split}.de has {counts['de']}: not line-aligned")
        if counts["en"] != EXPECTED[split]:
            print(f"warning: {split} has {counts['en']} lines, Multi30k has {EXPECTED[split]}", file=sys.stderr)
        for lang in LANGS:
            write_gz(out / f"{split}.{lang}.gz", data[lang])
        print(f"{split}: {counts['en']} sentence pairs -> {out}/{split}.{{en,de}}.gz")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
