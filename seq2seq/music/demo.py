"""``make demo`` for music: learn the embedded chord rules, continue a primer as MIDI and a piano
roll. Offline, under a minute on 2 cores."""

from __future__ import annotations

import math
import shutil
from pathlib import Path


def demo(out: Path, device: str) -> dict[str, str]:
    from seq2seq.api import train
    from seq2seq.inference import load_model
    from seq2seq.music.corpus import chord_splits, joint_bound
    from seq2seq.music.generate import write_continuation
    from seq2seq.registry import load_config

    run = out / "music-chords"
    shutil.rmtree(run, ignore_errors=True)
    cfg = load_config("music/demo", [f"train.out_dir={run}", f"train.device={device}"])
    summary = train(cfg)
    best = chord_splits(cfg.data.corpus_pieces, cfg.data.corpus_seed)["valid"][1]
    joint = joint_bound(cfg.data.corpus_pieces, cfg.data.corpus_seed)
    print(f"  chords: valid NLL {summary['best']:.3f} nats ({summary['best'] / math.log(2):.3f} bits) per frame; the "
          f"rules allow {best:.3f} at best with independent keys, {joint:.3f} with a joint output "
          f"(model.frame_output = nade)")  # fmt: skip
    written = {f"chords {k}": v for k, v in summary.get("outputs", {}).items()}
    loaded = load_model(run / "best.pt", device, task="music")
    midi, png, _ = write_continuation(loaded, run / "continuation.mid", 64, temperature=0.3, top_k=0, seed=1)
    written["chords continuation (MIDI)"] = str(midi)
    written["chords continuation (piano roll)"] = str(png)
    return written
