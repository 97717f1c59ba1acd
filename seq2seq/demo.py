"""``make demo``: every recipe end to end on its embedded data, offline, on the CPU.

Each demo returns {what: path} of the outputs it wrote; the run ends by printing them all.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from seq2seq.music.demo import demo as music_demo
from seq2seq.translation.demo import demo as translation_demo
from seq2seq.video.demo import demo as video_demo

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"


def toy_demo(out: Path, device: str) -> dict[str, str]:
    """Reverse random sequences with an attentional LSTM encoder-decoder."""
    from seq2seq.config import load_config
    from seq2seq.inference import load_model
    from seq2seq.toy import FIRST
    from seq2seq.train import Trainer

    run = out / "toy-reverse"
    shutil.rmtree(run, ignore_errors=True)
    cfg = load_config(RECIPES / "toy" / "reverse.toml", [f"train.out_dir={run}", f"train.device={device}"])
    summary = Trainer(cfg).fit()
    loaded = load_model(run / "best.pt", device)
    examples = [[FIRST + s for s in seq] for seq in ([1, 2, 3, 4, 5], [9, 0, 9, 1, 7, 7, 2], [4, 8, 15 % 10, 6])]
    outputs = loaded.task.decode(loaded.model, examples)
    lines = []
    for x, y in zip(examples, outputs, strict=True):
        line = f"{' '.join(str(t - FIRST) for t in x)}  ->  {' '.join(str(t - FIRST) for t in y)}"
        lines.append(line)
        print("  reverse:", line)
    (run / "examples.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"  best validation sequence accuracy: {summary['best']:.3f}")
    return {**summary.get("outputs", {}), "toy reversals": str(run / "examples.txt")}


DEMOS: dict[str, Callable[[Path, str], dict[str, str]]] = {
    "toy": toy_demo,
    "music": music_demo,
    "translation": translation_demo,
    "video": video_demo,
}
# What `make demo` runs, in this order; the toy demo is the core's smallest example (--only toy).
DEFAULT = ("video", "translation", "music")


def run_demos(out: Path, only: list[str] | None, device: str) -> int:
    names = only or list(DEFAULT)
    unknown = [n for n in names if n not in DEMOS]
    if unknown:
        from seq2seq.cli import UserError

        raise UserError(f"unknown demo {', '.join(unknown)}; choose from {', '.join(DEMOS)}")
    written: dict[str, dict[str, str]] = {}
    for name in names:
        started = time.perf_counter()
        print(f"== demo: {name}")
        written[name] = DEMOS[name](out, device)
        print(f"== demo {name} done in {time.perf_counter() - started:.0f} s")
    print("\nOutputs:")
    for name, outputs in written.items():
        for what, path in outputs.items():
            print(f"  [{name}] {what}: {path}")
    return 0
