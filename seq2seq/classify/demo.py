"""``make demo`` for classification: learn the embedded reviews (``seq2seq.classify.sentences``),
classify a few new ones, and compare with the best a bag of words can do. Offline, under a minute
on one CPU core."""

from __future__ import annotations

import shutil
from pathlib import Path

SHOWN = (
    "the film was good",
    "the film was not good",
    "the food was not bad",
    "the hotel was really good but boring",
    "the hotel was boring but really good",
    "the music was not awful but not great",
)


def demo(out: Path, device: str) -> dict[str, str]:
    from seq2seq.api import load, train
    from seq2seq.checkpoint import atomic_write
    from seq2seq.classify.sentences import bag_of_words_ceiling
    from seq2seq.registry import load_config

    run = out / "classify"
    shutil.rmtree(run, ignore_errors=True)
    summary = train(load_config("classify/demo", [f"train.out_dir={run}", f"train.device={device}"]))
    model = load(run / "best.pt", device)
    valid = model.task.read_text("valid")[0]
    print(f"  classify: validation accuracy {summary['best']:.3f}; a bag of words gets at most "
          f"{bag_of_words_ceiling(valid):.3f} of these reviews")  # fmt: skip
    lines = [f"{label}\t{p:.3f}\t{text}" for text, (label, p) in zip(SHOWN, model.classify(list(SHOWN)), strict=True)]
    for line in lines:
        print("  " + line)
    atomic_write(run / "examples.txt", lambda f: f.write(("\n".join(lines) + "\n").encode("utf-8")))
    return {**{f"classify {k}": v for k, v in summary.get("outputs", {}).items()},
            "classify examples": str(run / "examples.txt")}  # fmt: skip
