"""``seq2seq classify INPUT... -m CKPT``: the label and its probability for every line of text
files (a text model) or every feature file (a model of action segments), a thin layer over
``ClassifierModel.classify``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from seq2seq.classify.data import ClassifyDataError
from seq2seq.commands import add_device

TASK = "classify"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classify",
        help="label each line of text files, or each feature file (.npy), with a classify checkpoint",
        description="Prints one tab-separated line per input: for a text model LABEL, PROBABILITY and the line "
        "(blank lines are skipped); for a feature model NAME, LABEL and PROBABILITY per .npy file of (D, T) "
        "features, laid out as the layout's features/NAME.npy.",
    )
    p.add_argument("inputs", nargs="+", help="UTF-8 text files (text model), or .npy files or folders of them")
    p.add_argument("-m", "--model", required=True, help="classify checkpoint (best.pt)")
    add_device(p)
    p.set_defaults(func=cmd_classify)


def text_lines(path: str) -> list[str]:
    """The non-blank lines of a text file; a file without any is an error naming it."""
    from seq2seq.translation.text import read_lines

    if Path(path).is_dir():
        raise ClassifyDataError(f"{path}: a folder; the model classifies the lines of text files, give those")
    if Path(path).suffix == ".npy":
        raise ClassifyDataError(f"{path}: a feature file, but the model classifies text; give text files")
    lines = [line.strip() for line in read_lines(path) if line.strip()]
    if not lines:
        raise ClassifyDataError(f"{path}: empty; give one text per line")
    return lines


def feature_files(inputs: list[str]) -> list[Path]:
    """The .npy files named, or found (sorted) in the folders named."""
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(item.glob("*.npy"))
            if not found:
                raise ClassifyDataError(f"{item}: a folder without .npy feature files")
            files += found
        elif item.suffix != ".npy":
            raise ClassifyDataError(f"{item}: not a .npy feature file; the model classifies (D, T) feature arrays")
        else:
            files.append(item)
    return files


def read_features(path: Path, dim: int) -> np.ndarray:
    """features/NAME.npy (D, T) -> (T, D) float32, checked against the model's D."""
    if not path.is_file():
        raise ClassifyDataError(f"{path}: no such file")
    try:
        feats = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise ClassifyDataError(f"{path}: not a readable .npy array ({str(e)[:80]})") from None
    if feats.ndim != 2 or feats.dtype.kind not in "fiu" or feats.shape[0] != dim or feats.shape[1] == 0:
        raise ClassifyDataError(f"{path}: has shape {feats.shape} ({feats.dtype}); the model takes ({dim}, T) "
                                f"features, T >= 1: {dim} per frame as in training")  # fmt: skip
    x = np.ascontiguousarray(feats.T, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ClassifyDataError(f"{path}: holds NaN or infinite values")
    return x


def cmd_classify(args: argparse.Namespace) -> int:
    from seq2seq.api import ClassifierModel
    from seq2seq.inference import load_model

    model = ClassifierModel(load_model(args.model, args.device, task=TASK, command="seq2seq classify"))
    if model.task.text:
        lines = [line for path in args.inputs for line in text_lines(path)]  # every file checked first
        for line, (label, p) in zip(lines, model.classify(lines), strict=True):
            print(f"{label}\t{p:.4f}\t{line}")
        return 0
    files = feature_files(args.inputs)
    feats = [read_features(f, model.task.dims.input_dim) for f in files]
    for path, (label, p) in zip(files, model.classify(feats), strict=True):
        print(f"{path.stem}\t{label}\t{p:.4f}")
    return 0
