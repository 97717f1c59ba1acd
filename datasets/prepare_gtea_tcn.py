"""Turn the TCN release format (Lea et al., 2017) into the action-segmentation layout.

The release (the public repository colincsl/TemporalConvolutionalNetworks, also copied in
../shared/data/gtea-tcn) keeps, per cross-validation split k, a MATLAB file
``predictions/DATASET/MODEL/k.mat`` holding that split's test videos: ``Y`` (frame labels),
``S`` (per-frame scores of a frame-wise classifier, used here as features) and ``P``; and
``splits/DATASET/Split_k/test.txt`` naming the videos in the same order. 50Salads keeps its models
one folder deeper, by label granularity (``predictions/50Salads/mid/mid_video_SVM/``), and some
models name the files ``Split_k.mat``: both are read (``--model mid/mid_video_SVM``, or just
``mid_video_SVM`` for a local folder). ``--list`` shows the datasets and models a release folder
holds. This writes::

    OUT/features/NAME.npy         (classes, T) float32 scores of MODEL
    OUT/groundTruth/NAME.txt      one label per frame
    OUT/mapping.txt               0 background, 1 action_1, ... (the release has no names)
    OUT/splits/test.splitK.bundle and train.splitK.bundle (the other splits' videos)

so ``recipes/video/gtea.toml`` trains fold K with ``--set data.split=K``. Video names must be
plain file names (no folders, ``..`` or leading ``-``): anything else is refused before writing.

    python datasets/prepare_gtea_tcn.py --from ../shared/data/gtea-tcn --out data/gtea
    python datasets/prepare_gtea_tcn.py --out data/gtea   # downloads the release from DEFAULT_URL
    python datasets/prepare_gtea_tcn.py --from ../shared/data/gtea-tcn --list
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.io import loadmat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _prepare_common import NotFound, PrepareError, download, plain_name  # noqa: E402

from seq2seq.video.layout import write_mapping, write_npy, write_text  # noqa: E402

PROG = "prepare_gtea_tcn"
DEFAULT_URL = "https://raw.githubusercontent.com/colincsl/TemporalConvolutionalNetworks/master"
# Most bytes one downloaded file may have. GTEA's predictions/*/K.mat are under 0.2 MB; 50Salads'
# Split_K.mat hold ~10 videos of some thousand frames x 19 float64 scores each, a few MB (an
# estimate from the frame counts, not a measured size). 64 MiB is a few times the largest; more is a
# broken or hostile server, stopped before it fills the disk.
MAX_DOWNLOAD_BYTES = 64 << 20
TIMEOUT_S = 60.0
# No checksums: the release (its repository and README) publishes none for these files, so a
# download is checked by its size limit and by reading it, not against a digest.
MAT_NAMES = ("{k}.mat", "Split_{k}.mat")  # GTEA and most models; 50Salads' SVM scores


def is_url(source: str) -> bool:
    return "://" in source


def offline_hint(dataset: str, model: str) -> str:
    return (
        f"to work without the network, copy the release into a folder holding predictions/{dataset}/{model}/K.mat "
        f"(or Split_K.mat) and splits/{dataset}/Split_K/test.txt, like ../shared/data/gtea-tcn, "
        "and pass --from FOLDER"
    )


def fetch(source: str, relative: str, cache: Path, hint: str = "") -> tuple[Path, str] | None:
    """The file ``relative`` of the release, from a local folder or downloaded from a URL, with
    where it came from (for messages); None when the release does not have it."""
    if not is_url(source):
        path = Path(source) / relative
        return (path, str(path)) if path.is_file() else None
    url = f"{source.rstrip('/')}/{relative}"
    try:
        return download(url, cache / relative, MAX_DOWNLOAD_BYTES, hint, TIMEOUT_S), url
    except NotFound:
        return None


def read_names(path: Path, where: str | None = None) -> list[str]:
    """Video names of a split list (blank lines ignored, extensions dropped); each must be a plain
    file name, since it names the files written."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise PrepareError(f"{where or path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    names = [n.rsplit(".", 1)[0] if n.endswith((".avi", ".mp4", ".txt", ".mat")) else n for n in names]
    return [plain_name(n, where or str(path)) for n in names]


def model_folders(source: str, dataset: str, model: str) -> list[str]:
    """Where MODEL may sit under predictions/DATASET/: MODEL itself, or one folder deeper
    (50Salads: GRANULARITY/MODEL, e.g. mid/mid_video_SVM). A local folder is looked at; for a URL
    the folder named by the model's prefix (``mid`` of ``mid_video_SVM``) is tried next."""
    if "/" in model:
        return [model]
    if not is_url(source):
        root = Path(source) / "predictions" / dataset
        if (root / model).is_dir() or not root.is_dir():
            return [model]
        deeper = sorted(f"{d.name}/{model}" for d in root.iterdir() if (d / model).is_dir())
        if len(deeper) > 1:
            raise PrepareError(f"{root}: {model} is in {', '.join(deeper)}; pass one of them as --model")
        return deeper or [model]
    return [model, f"{model.split('_', 1)[0]}/{model}"] if "_" in model else [model]


def read_fold(mat_path: Path, mat_where: str, names: list[str], list_where: str):
    """(name, labels (T,), scores (T, C)) for each video of one split."""
    try:
        mat = loadmat(mat_path)
    except Exception as e:  # scipy raises several kinds for a file that is not MATLAB
        raise PrepareError(f"{mat_where}: not a readable MATLAB .mat file ({str(e)[:200]})") from None
    try:
        ys, ss = mat["Y"][0], mat["S"][0]
    except (KeyError, IndexError, TypeError):
        found = ", ".join(k for k in mat if not k.startswith("__"))
        raise PrepareError(f"{mat_where}: expected cell arrays Y and S (one entry per video); found: {found}") from None
    if not len(names) == len(ys) == len(ss):
        raise PrepareError(f"{mat_where}: {len(ys)} videos but {list_where} lists {len(names)}")
    videos = []
    for name, y, s in zip(names, ys, ss, strict=True):
        try:
            y = np.ravel(y).astype(np.int64)
            s = np.asarray(s, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise PrepareError(f"{mat_where}: {name}: not numeric labels and scores ({e})") from None
        if s.ndim == 2 and s.shape[0] != len(y):
            s = s.T
        if s.ndim != 2 or s.shape[0] != len(y) or len(y) == 0:
            raise PrepareError(f"{mat_where}: {name} has {len(y)} labels but scores of shape {s.shape}")
        videos.append((name, y, s))
    return videos


def prepare(source: str, out: Path, dataset: str = "GTEA", model: str = "video_SVM", max_splits: int = 10) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        hint = offline_hint(dataset, model)
        folds: dict[int, list] = {}
        for folder in model_folders(source, dataset, model):
            for k in range(1, max_splits + 1):
                for mat_name in MAT_NAMES:
                    mat = fetch(source, f"predictions/{dataset}/{folder}/{mat_name.format(k=k)}", cache, hint)
                    if mat is not None:
                        break
                if mat is None:
                    continue
                listed = fetch(source, f"splits/{dataset}/Split_{k}/test.txt", cache, hint)
                if listed is None:
                    continue
                names = read_names(*listed)
                folds[k] = read_fold(*mat, names, listed[1])
            if folds:
                break
        if not folds:
            wanted = f"predictions/{dataset}/{model}/K.mat (or Split_K.mat) with splits/{dataset}/Split_K/test.txt"
            more = "" if is_url(source) else "; --list shows the datasets and models it holds"
            raise PrepareError(f"{source}: no {wanted}{more}")
        seen: dict[str, int] = {}
        for k, videos in folds.items():
            for name, _, _ in videos:
                if name in seen:
                    raise PrepareError(f"splits/{dataset}/Split_{k}/test.txt: {name} is also in Split_{seen[name]}")
                seen[name] = k
        classes = max(max(s.shape[1], int(y.max()) + 1) for videos in folds.values() for _, y, s in videos)
        for k, videos in folds.items():
            for name, y, s in videos:
                write_npy(out / "features" / f"{name}.npy", np.ascontiguousarray(s.T))
                write_text(out / "groundTruth" / f"{name}.txt", "".join(f"{label_name(int(c))}\n" for c in y))
            print(f"split {k}: {len(videos)} videos")
        names_of = {k: [name for name, _, _ in videos] for k, videos in folds.items()}
        write_mapping(out / "mapping.txt", [label_name(c) for c in range(classes)])
        for k, names in names_of.items():
            others = [n for j, ns in names_of.items() if j != k for n in ns]
            write_text(out / "splits" / f"test.split{k}.bundle", "".join(f"{n}\n" for n in names))
            write_text(out / "splits" / f"train.split{k}.bundle", "".join(f"{n}\n" for n in others))
        write_text(out / "splits" / "all.bundle", "".join(f"{n}\n" for ns in names_of.values() for n in ns))
        print(f"{sum(map(len, names_of.values()))} videos, {classes} classes, {len(folds)} folds -> {out}")


def label_name(c: int) -> str:
    return "background" if c == 0 else f"action_{c}"


def _split_numbers(folder: Path) -> dict[int, str]:
    """Split number -> file name of the K.mat / Split_K.mat files in ``folder``."""
    found = {}
    for f in sorted(folder.iterdir()):
        m = re.fullmatch(r"(?:Split_)?(\d+)\.mat", f.name)
        if m and f.is_file():
            found.setdefault(int(m.group(1)), f.name)
    return found


def _numbers(ks) -> str:
    return ", ".join(map(str, sorted(ks))) or "none"


def list_release(source: str) -> list[str]:
    """Lines describing the datasets and models of a local release folder."""
    if is_url(source):
        raise PrepareError(
            f"{source}: --list reads a local release folder, not a URL; pass --from FOLDER "
            "(a copy of the release, like ../shared/data/gtea-tcn)"
        )
    root = Path(source)
    predictions = root / "predictions"
    if not predictions.is_dir():
        raise PrepareError(f"{root}: no predictions/ folder; not a copy of the TCN release")
    lines = []
    for data_dir in sorted(d for d in predictions.iterdir() if d.is_dir()):
        dataset = data_dir.name
        lists = {
            int(d.name.split("_", 1)[1])
            for d in (root / "splits" / dataset).glob("Split_*")
            if re.fullmatch(r"Split_\d+", d.name) and (d / "test.txt").is_file()
        }
        models = []
        for d in sorted(data_dir.iterdir()):
            if not d.is_dir():
                continue
            candidates = [(d.name, d)] + [(f"{d.name}/{e.name}", e) for e in sorted(d.iterdir()) if e.is_dir()]
            for model, folder in candidates:
                splits = _split_numbers(folder)
                if splits:
                    models.append((model, splits))
        if not models:
            continue
        lines.append(f"{dataset}: split lists splits/{dataset}/Split_K/test.txt for K = {_numbers(lists)}")
        width = max(len(m) for m, _ in models)
        for model, splits in models:
            usable = sorted(set(splits) & lists)
            naming = "Split_K.mat" if all(n.startswith("Split_") for n in splits.values()) else "K.mat"
            note = f"; no split list for {_numbers(set(splits) - lists)}" if set(splits) - lists else ""
            lines.append(f"  --model {model:<{width}}  {naming:<11}  folds {_numbers(usable)}{note}")
    if not lines:
        raise PrepareError(f"{predictions}: no DATASET/MODEL/K.mat (or Split_K.mat) files")
    lines.append(f"prepare one with: --from {root} --dataset DATASET --model MODEL --out OUT")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--from", dest="source", default=DEFAULT_URL, help="local release folder or base URL")
    p.add_argument("--out", help="layout folder to write (required unless --list)")
    p.add_argument("--dataset", default="GTEA", help="GTEA, 50Salads, JIGSAWS, ... as named in the release")
    p.add_argument(
        "--model",
        default="video_SVM",
        help="whose per-frame scores become the features (50Salads: e.g. mid/mid_video_SVM)",
    )
    p.add_argument("--list", action="store_true", help="list the datasets and models of a local release folder")
    args = p.parse_args(argv)
    if not args.list and not args.out:
        p.error("--out is required (or --list to see what the release holds)")
    try:
        if args.list:
            print("\n".join(list_release(args.source)))
        else:
            prepare(args.source, Path(args.out), args.dataset, args.model)
    except PrepareError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
