"""``make caption-demo`` (and part of ``make demo``): captioning generated scenes (docs/caption.md).
Draws the scenes, extracts their grid features once (cached under OUT/caption-data: a second run
reuses both), trains the attention captioner of ``caption/demo``, captions a few validation images
beside their first reference and draws one image's attention per word. About six minutes on one
CPU core from scratch."""

from __future__ import annotations

import shutil
from pathlib import Path


def demo(out: Path, device: str) -> dict[str, str]:
    from seq2seq.api import load, train
    from seq2seq.checkpoint import atomic_write
    from seq2seq.registry import load_config

    run = out / "caption"
    shutil.rmtree(run, ignore_errors=True)
    data = f"data.root={out / 'caption-data'}"  # kept across runs: drawn and embedded once
    summary = train(load_config("caption/demo", [data, f"train.out_dir={run}", f"train.device={device}"]))
    model = load(run / "best.pt", device)
    paths, refs = model.task.media_and_captions("valid")
    shown = paths[:6]
    lines = [f"{p.name}\t{c}\t(reference: {r[0]})" for p, c, r in zip(shown, model.caption(shown), refs, strict=False)]
    print(f"  caption: validation BLEU-4 {summary['best']:.1f} against all references")
    for line in lines:
        print("  " + line)
    atomic_write(run / "examples.txt", lambda f: f.write(("\n".join(lines) + "\n").encode("utf-8")))
    plot = model.attention_plot(shown[0], run / f"{shown[0].stem}.attention.png")
    return {**{f"caption {k}": v for k, v in summary.get("outputs", {}).items()},
            "caption examples": str(run / "examples.txt"), "caption attention": str(plot)}  # fmt: skip
