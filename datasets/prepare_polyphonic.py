"""Prepare a polyphonic-music benchmark (Boulanger-Lewandowski et al., 2012) for the music recipe.

    python datasets/prepare_polyphonic.py --dataset jsb --from PATH/JSB_Chorales.mat --out data/polyphonic
    python datasets/prepare_polyphonic.py --dataset nottingham --from URL_OR_FILE --out data/polyphonic
    python datasets/prepare_polyphonic.py --dataset jsb --out data/polyphonic      # downloads the original

``--from`` takes a local file or an http(s) URL, in either published form: the original
``.pickle`` (train / valid / test lists of note lists) or the ``.mat`` file of the TCN code
(``traindata`` / ``validdata`` / ``testdata``, T x 88). The file is checked piece by piece and
written as ``OUT/<Name>.mat`` (the ``.mat`` form, atomically) with a summary of the splits;
``recipes/music/jsb.toml`` reads ``data/polyphonic/JSB_Chorales.mat``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seq2seq.checkpoint import atomic_write  # noqa: E402
from seq2seq.music.rolls import SPLITS, MusicDataError, read_rolls, write_mat  # noqa: E402

BASE = "http://www-etud.iro.umontreal.ca/~boulanni/"
DATASETS = {  # name -> (output name, original pickle URL)
    "jsb": ("JSB_Chorales", BASE + "JSB%20Chorales.pickle"),
    "nottingham": ("Nottingham", BASE + "Nottingham.pickle"),
    "musedata": ("MuseData", BASE + "MuseData.pickle"),
    "piano-midi": ("Piano_midi", BASE + "Piano-midi.de.pickle"),
}


def fetch(source: str, folder: Path) -> Path:
    """A local path as is; a URL downloaded into ``folder`` (keeping its .pickle / .mat suffix)."""
    if not source.startswith(("http://", "https://")):
        return Path(source)
    name = Path(urllib.request.url2pathname(source.rsplit("/", 1)[-1])).name or "download.pickle"
    target = folder / name
    print(f"downloading {source}")
    with urllib.request.urlopen(source, timeout=60) as response, open(target, "wb") as f:
        shutil.copyfileobj(response, f)
    return target


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
            splits = read_rolls(fetch(args.source or url, Path(tmp)))
        except (MusicDataError, OSError) as e:
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
