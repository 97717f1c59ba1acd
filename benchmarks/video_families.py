"""Does a video labeller generalise to clips that look different? Train on one family of generated
scenes (``synth.FAMILIES``: ``flat`` and ``textured``), test on the other, both directions, with a
randomly initialised backbone and with the packaged pretrained one.

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python -m benchmarks.video_families --out runs/families

Per family it generates --train training (--train-textured for ``textured``), --valid validation
and --test test clips (64x64, seeds disjoint from the demo's); each backbone's features of all of
them go into one layout with a bundle per family and split. It trains a model on each family and
one on both (what a user does who labels clips of each look), each chosen on validation clips of
the families it was trained on (a user has no clips of the other look), and scores each once on
both families' test clips. ``--set data.centre=true`` and the like go to every model. Prints a
table and writes ``OUT/families.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

BACKBONES = {  # name -> (backbone, weights, picture size)
    "random resnet18": ("resnet18", "none", 64),
    "pretrained efficientnet_lite0": ("efficientnet_lite0", "DEFAULT", 128),
}
SEEDS = {"flat": 200_000, "textured": 300_000}  # + 0 / 10_000 / 20_000 for train / valid / test
FPS = 8.0
KEYS = ("accuracy", "edit", "f1@10", "f1@25", "f1@50")


def main() -> None:
    import torch

    from seq2seq.inference import load_model
    from seq2seq.registry import load_config
    from seq2seq.trainer import Trainer
    from seq2seq.video.features import Extractor, extract, spec_for
    from seq2seq.video.synth import FAMILIES, write_clips

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/families"))
    p.add_argument("--train", type=int, default=150)
    p.add_argument("--train-textured", type=int, default=None, help="training clips of `textured` (default --train)")
    p.add_argument("--valid", type=int, default=16)
    p.add_argument("--test", type=int, default=24)
    p.add_argument("--only", choices=list(BACKBONES), nargs="+", default=list(BACKBONES))
    p.add_argument("--set", action="append", default=[], help="recipe overrides, as for seq2seq train")
    args = p.parse_args()
    torch.set_num_threads(1)
    timing: dict[str, float] = {}
    clips: dict[tuple[str, str], list] = {}
    started = time.perf_counter()
    for family in FAMILIES:
        train = args.train_textured if family == "textured" and args.train_textured is not None else args.train
        for k, (split, count) in enumerate((("train", train), ("valid", args.valid), ("test", args.test))):
            folder = args.out / "clips" / family / split
            clips[family, split] = write_clips(folder, count, seed=SEEDS[family] + 10_000 * k, prefix=family,
                                               size=64, family=family)  # fmt: skip
    timing["generate clips"] = time.perf_counter() - started
    print(f"generated {sum(len(c) for c in clips.values())} clips in {timing['generate clips']:.0f} s", flush=True)
    results: dict = {"settings": vars(args) | {"out": str(args.out)}, "runs": {}}
    for shown in args.only:
        backbone, weights, size = BACKBONES[shown]
        data = args.out / backbone / "data"
        started = time.perf_counter()
        extractor = Extractor(spec_for(backbone, weights, size, FPS, crop=1.0), torch.device("cpu"))  # as the demo
        frames = 0
        for (family, split), group in clips.items():
            report = extract([c.video for c in group], data, extractor, bundle=f"{family}_{split}", progress=False)
            if report.failed:
                raise SystemExit(f"extraction failed: {report.failed}")
            frames += report.frames
        for split in ("train", "valid"):  # both families, flat's clips first
            both = "".join((data / "splits" / f"{family}_{split}.bundle").read_text() for family in FAMILIES)
            (data / "splits" / f"both_{split}.bundle").write_text(both, encoding="utf-8")
        took = time.perf_counter() - started
        timing[f"features {shown}"] = took
        print(f"{shown}: {frames} frames of features in {took:.0f} s ({frames / max(took, 1e-9):.0f} frames/s)")
        for family in (*FAMILIES, "both"):
            run = args.out / backbone / f"train_{family}"
            overrides = [f"data.root={data}", f"data.train={family}_train", f"data.valid={family}_valid",
                         f"train.out_dir={run}", "train.device=cpu", "train.progress=false", *args.set]  # fmt: skip
            started = time.perf_counter()
            Trainer.from_config(load_config("video/demo", overrides)).fit()
            timing[f"train {shown} on {family}"] = time.perf_counter() - started
            loaded = load_model(run / "best.pt", "cpu", task="video")
            row = {}
            for tested in FAMILIES:
                scores, _ = loaded.task.score(loaded.model, loaded.task.videos(f"{tested}_test"))
                row[tested] = {k: round(v, 2) for k, v in scores.summary().items()}
                shown_scores = "  ".join(f"{k} {row[tested][k]:.1f}" for k in KEYS)
                print(f"  {shown}, trained on {family}, tested on {tested}: {shown_scores}", flush=True)
            results["runs"][f"{shown} / trained on {family}"] = row
    results["seconds"] = {k: round(v) for k, v in timing.items()}
    (args.out / "families.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results["seconds"]))


if __name__ == "__main__":
    main()
