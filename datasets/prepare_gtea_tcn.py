"""Turn the TCN release format (Lea et al., 2017) into the action-segmentation layout.

The release (the public repository colincsl/TemporalConvolutionalNetworks, also copied in
../shared/data/gtea-tcn) keeps, per cross-validation split k, a MATLAB file
``predictions/DATASET/MODEL/k.mat`` holding that split's test videos: ``Y`` (frame labels),
``S`` (per-frame scores of a frame-wise classifier, used here as features) and ``P``; and
``splits/DATASET/Split_k/test.txt`` naming the videos in the same order. This writes::

    OUT/features/NAME.npy         (classes, T) float32 scores of MODEL
    OUT/groundTruth/NAME.txt      one label per frame
    OUT/mapping.txt               0 background, 1 action_1, ... (the release has no names)
    OUT/splits/test.splitK.bundle and train.splitK.bundle (the other splits' videos)

so ``recipes/video/gtea.toml`` trains fold K with ``--set data.split=K``.

    python datasets/prepare_gtea_tcn.py --from ../shared/data/gtea-tcn --out data/gtea
    python datasets/prepare_gtea_tcn.py --out data/gtea   # downloads the release from DEFAULT_URL
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
from scipy.io import loadmat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seq2seq.video.layout import write_mapping, write_npy, write_text  # noqa: E402

DEFAULT_URL = "https://raw.githubusercontent.com/colincsl/TemporalConvolutionalNetworks/master"


def fetch(source: str, relative: str, cache: Path) -> Path | None:
    """The file ``relative`` of the release, from a local folder or downloaded from a URL; None
    when the release does not have it."""
    if "://" not in source:
        path = Path(source) / relative
        return path if path.is_file() else None
    target = cache / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(f"{source.rstrip('/')}/{relative}", timeout=60) as r, open(target, "wb") as f:
            shutil.copyfileobj(r, f)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise
    return target


def read_names(path: Path) -> list[str]:
    """Video names of a split list (blank lines ignored, extensions dropped)."""
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [n.rsplit(".", 1)[0] if n.endswith((".avi", ".mp4", ".txt", ".mat")) else n for n in names]


def prepare(source: str, out: Path, dataset: str = "GTEA", model: str = "video_SVM", max_splits: int = 10) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        folds: dict[int, list[str]] = {}
        classes = 0
        for k in range(1, max_splits + 1):
            mat_path = fetch(source, f"predictions/{dataset}/{model}/{k}.mat", cache)
            list_path = fetch(source, f"splits/{dataset}/Split_{k}/test.txt", cache)
            if mat_path is None or list_path is None:
                continue
            mat = loadmat(mat_path)
            names = read_names(list_path)
            ys, ss = mat["Y"][0], mat["S"][0]
            if not len(names) == len(ys) == len(ss):
                raise SystemExit(f"{mat_path}: {len(ys)} videos but {list_path} lists {len(names)}")
            for name, y, s in zip(names, ys, ss, strict=True):
                y = np.ravel(y).astype(np.int64)
                s = np.asarray(s, dtype=np.float32)
                if s.shape[0] != len(y):
                    s = s.T
                if s.shape[0] != len(y):
                    raise SystemExit(f"{mat_path}: {name} has {len(y)} labels but scores of shape {s.shape}")
                classes = max(classes, s.shape[1], int(y.max()) + 1)
                write_npy(out / "features" / f"{name}.npy", np.ascontiguousarray(s.T))
                folds.setdefault(k, []).append(name)
                write_text(out / "groundTruth" / f"{name}.txt", "".join(f"{label_name(int(c))}\n" for c in y))
            print(f"split {k}: {len(names)} videos")
        if not folds:
            raise SystemExit(f"{source}: no predictions/{dataset}/{model}/K.mat with splits/{dataset}/Split_K/test.txt")
        write_mapping(out / "mapping.txt", [label_name(c) for c in range(classes)])
        for k, names in folds.items():
            others = [n for j, ns in folds.items() if j != k for n in ns]
            write_text(out / "splits" / f"test.split{k}.bundle", "".join(f"{n}\n" for n in names))
            write_text(out / "splits" / f"train.split{k}.bundle", "".join(f"{n}\n" for n in others))
        write_text(out / "splits" / "all.bundle", "".join(f"{n}\n" for ns in folds.values() for n in ns))
        print(f"{sum(map(len, folds.values()))} videos, {classes} classes, {len(folds)} folds -> {out}")


def label_name(c: int) -> str:
    return "background" if c == 0 else f"action_{c}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--from", dest="source", default=DEFAULT_URL, help="local release folder or base URL")
    p.add_argument("--out", required=True, help="layout folder to write")
    p.add_argument("--dataset", default="GTEA", help="GTEA, 50Salads, JIGSAWS, ... as named in the release")
    p.add_argument("--model", default="video_SVM", help="whose per-frame scores become the features")
    args = p.parse_args()
    prepare(args.source, Path(args.out), args.dataset, args.model)


if __name__ == "__main__":
    main()
