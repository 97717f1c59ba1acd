"""GTEA action-segment classification, 3-fold cross-validation (``make classify-gtea``).

Each fold trains ``recipes/classify/gtea.toml`` from scratch (``--set data.split=K``) and scores
the last checkpoint (fixed epochs: the test split only draws the curves) on its test videos'
segments. The baseline is the frame-wise SVM whose scores are the features: the majority vote of
its per-frame argmax over each segment, over all 11 classes (a segment voted "background" is
wrong) and over the 10 actions only (it is told the segment is an action, as the classifier is).

    python -m benchmarks.classify_gtea --data data/gtea --out runs/gtea-classify

writes OUT/scores.json (every row of the table it prints) and OUT/confusion.png (the classifier's
confusion matrix pooled over the folds).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from seq2seq.classify.metrics import accuracy, confusion, macro_f1


def vote(features: np.ndarray, among: list[int]) -> int:
    """The column (a class of the layout's mapping) most frames of a (time, classes) score array
    rank first, looking only at the columns ``among``; a tie goes to the lower column."""
    top = np.asarray(among)[features[:, among].argmax(1)]
    return int(np.bincount(top, minlength=features.shape[1]).argmax())


def baselines(task, examples) -> dict[str, np.ndarray]:
    """Confusion matrices of the two majority votes; a "background" vote is an extra, always
    wrong, column."""
    from seq2seq.video.layout import read_mapping

    mapping = read_mapping(Path(task.cfg.data.root) / "mapping.txt")
    ours = {i: task.labels.index(n) if n in task.labels else len(task.labels) for i, n in enumerate(mapping)}
    truth = [y for _, y in examples]
    out = {}
    for name, among in (("all 11 classes", list(range(len(mapping)))),
                        ("the 10 actions", [i for i, n in enumerate(mapping) if n in task.labels])):  # fmt: skip
        pred = [ours[vote(x, among)] for x, _ in examples]
        out[name] = confusion(truth, pred, len(task.labels) + 1)
    return out


def main(argv: list[str] | None = None) -> int:
    from seq2seq.api import load, train
    from seq2seq.checkpoint import step_checkpoints
    from seq2seq.records import write_json

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/gtea", help="the GTEA layout (datasets/prepare_gtea_tcn.py)")
    p.add_argument("--out", default="runs/gtea-classify", help="run folders split1..3 and scores.json")
    p.add_argument("--folds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--set", action="append", default=[], help="recipe overrides, as for seq2seq train")
    args = p.parse_args(argv)
    rows, pooled = [], {}
    for k in args.folds:
        run = Path(args.out) / f"split{k}"
        started = time.perf_counter()
        if not (run / "summary.json").is_file():  # a finished fold is kept; rm -rf it to retrain
            overrides = [f"data.root={args.data}", f"data.split={k}", "train.progress=false", *args.set]
            train("classify/gtea", overrides, out=run)
        model = load(step_checkpoints(run)[-1], "cpu")
        examples = model.task.examples_of("valid")
        matrices = {"classifier (ours)": model.task.matrix(model.model, "valid"), **baselines(model.task, examples)}
        for name, m in matrices.items():
            if name == "classifier (ours)":  # same shape as the votes' (+ the background column)
                m = np.pad(m, ((0, 1), (0, 1)))
            pooled[name] = pooled.get(name, 0) + m
            rows.append({"fold": k, "model": name, "segments": int(m.sum()), "accuracy": accuracy(m),
                         "macro_f1": macro_f1(m)})  # fmt: skip
        print(f"fold {k}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    for name, m in pooled.items():
        rows.append({"fold": "pooled", "model": name, "segments": int(m.sum()), "accuracy": accuracy(m),
                     "macro_f1": macro_f1(m)})  # fmt: skip
    print("| fold | model | segments | accuracy | macro-F1 |\n|---|---|---|---|---|")
    for r in rows:
        scores = f"{100 * r['accuracy']:.1f} | {100 * r['macro_f1']:.1f}"
        print(f"| {r['fold']} | {r['model']} | {r['segments']} | {scores} |")
    write_json(Path(args.out) / "scores.json", rows)
    # each run folder's confusion.png is best.pt's, picked on the test split; this one is the reported model's
    from seq2seq.classify.plots import plot_confusion

    plot_confusion(pooled["classifier (ours)"][:-1, :-1], model.task.labels, Path(args.out) / "confusion.png",
                   "last checkpoints, pooled over the folds")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
