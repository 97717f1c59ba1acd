"""``make demo`` for text: learn the embedded text character by character, sample a continuation
and draw the model's most interpretable units. Offline, about a minute on 2 cores."""

from __future__ import annotations

import shutil
from pathlib import Path


def demo(out: Path, device: str) -> dict[str, str]:
    from seq2seq.api import train
    from seq2seq.checkpoint import atomic_write
    from seq2seq.inference import load_model
    from seq2seq.registry import load_config
    from seq2seq.text.corpus import short_text
    from seq2seq.text.generate import continue_text
    from seq2seq.text.inspect import inspect_units

    run = out / "text"
    shutil.rmtree(run, ignore_errors=True)
    summary = train(load_config("text/demo", [f"train.out_dir={run}", f"train.device={device}"]))
    print(f"  text: valid {summary['best']:.3f} bits per character")
    written = {f"text {k}": v for k, v in summary.get("outputs", {}).items()}
    loaded = load_model(run / "best.pt", device, task="text")
    primer = '"The old man'
    sample = primer + continue_text(loaded.model, loaded.task.vocab, primer, 200, temperature=0.7, seed=1)
    print(sample)
    atomic_write(run / "sample.txt", lambda f: f.write(sample.encode("utf-8")))
    written["text sample"] = str(run / "sample.txt")
    inspected = load_model(run / "best.pt", device, task="text", reference=True)
    unseen = short_text(30, seed=2024)[:800]  # unseen sentences of the same kind
    report = inspect_units(inspected, unseen, run / "inspect", "generated text")
    written["text units (HTML)"], written["text units (PNG)"] = report["files"][:2]
    return written
