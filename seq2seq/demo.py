"""``make demo``: every recipe end to end on its embedded data, offline, on the CPU.

Each demo returns {what: path} of the outputs it wrote; the run ends by printing them all. The
recipes they train ship with the package (``seq2seq/recipes``), so the demo runs from any folder
of a plain ``pip install``.
"""

from __future__ import annotations

import importlib
import shutil
import time
from pathlib import Path

from seq2seq.errors import UserError


def toy_demo(out: Path, device: str) -> dict[str, str]:
    """Reverse random sequences with an attentional LSTM encoder-decoder."""
    from seq2seq.api import train
    from seq2seq.inference import load_model
    from seq2seq.registry import load_config
    from seq2seq.toy import FIRST

    run = out / "toy-reverse"
    shutil.rmtree(run, ignore_errors=True)
    summary = train(load_config("toy/reverse", [f"train.out_dir={run}", f"train.device={device}"]))
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


# name -> "module:function" (imported when it runs), each demo(out, device) -> {what: path}.
DEMOS = {
    "toy": "seq2seq.demo:toy_demo",
    "music": "seq2seq.music.demo:demo",
    "text": "seq2seq.text.demo:demo",
    "translation": "seq2seq.translation.demo:demo",
    "video": "seq2seq.video.demo:demo",
    "classify": "seq2seq.classify.demo:demo",
    "caption": "seq2seq.caption.demo:demo",
    "vqa": "seq2seq.vqa.demo:demo",
}
# What `make demo` runs, in this order; the toy demo is the core's smallest example (--only toy).
DEFAULT = ("video", "translation", "music", "text", "classify", "caption", "vqa")


def run_demos(out: Path, only: list[str] | None, device: str) -> int:
    names = only or list(DEFAULT)
    unknown = [n for n in names if n not in DEMOS]
    if unknown:
        raise UserError(f"unknown demo {', '.join(unknown)}; choose from {', '.join(DEMOS)}")
    written: dict[str, dict[str, str]] = {}
    for name in names:
        started = time.perf_counter()
        print(f"== demo: {name}")
        module, function = DEMOS[name].split(":")
        written[name] = getattr(importlib.import_module(module), function)(out, device)
        print(f"== demo {name} done in {time.perf_counter() - started:.0f} s")
    print("\nOutputs:")
    for name, outputs in written.items():
        for what, path in outputs.items():
            print(f"  [{name}] {what}: {path}")
    return 0
