"""Prepare Multi30k (task 1, English-German) as line-aligned gzip text for the translation recipes.

    python datasets/prepare_multi30k.py --from ../shared/data/multi30k --out data/multi30k
    python datasets/prepare_multi30k.py --from https://github.com/multi30k/dataset --out data/multi30k

The source is a local folder holding {train,val,test_2016_flickr}.{en,de}[.gz] (plain or gzip),
or the original public repository (any github.com URL: its data/task1/raw/ files are downloaded),
or another http(s) URL of a folder holding the NAME.gz files. The output folder gets train / val /
test_2016_flickr .en.gz / .de.gz, written atomically, after checking that each pair of files is
valid UTF-8 and line-aligned. Downloads are bounded in size (MAX_DOWNLOAD_BYTES, and
MAX_TEXT_BYTES once unpacked); a failed one is a one-line error saying how to use --from FOLDER.
The code is seq2seq.translation.multi30k, which `seq2seq train` also runs for the Multi30k recipes.
"""

from __future__ import annotations

import argparse
import sys

from seq2seq.translation.multi30k import PrepareError, prepare


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except PrepareError as e:
        print(f"prepare_multi30k: error: {e}", file=sys.stderr)
        return 2


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="source", required=True, help="local folder, or the repository URL")
    parser.add_argument("--out", required=True, help="output folder, e.g. data/multi30k")
    args = parser.parse_args(argv)
    prepare(args.source, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
