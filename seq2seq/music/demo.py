"""``make demo`` for music: learn the embedded chord rules, continue a primer as MIDI + PNG; learn
the embedded text and draw its most interpretable units. Offline, about a minute on 2 cores."""

from __future__ import annotations

import shutil
from pathlib import Path

from seq2seq.config import Config

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _train(recipe: str, run: Path, device: str) -> tuple[Config, dict]:
    from seq2seq.config import load_config
    from seq2seq.train import Trainer

    shutil.rmtree(run, ignore_errors=True)
    cfg = load_config(RECIPES / "music" / recipe, [f"train.out_dir={run}", f"train.device={device}"])
    return cfg, Trainer(cfg).fit()


def demo(out: Path, device: str) -> dict[str, str]:
    from seq2seq.cli import main
    from seq2seq.music.corpus import chord_splits, short_text

    written: dict[str, str] = {}
    run = out / "music-chords"
    cfg, summary = _train("demo.toml", run, device)
    best = chord_splits(cfg.data.corpus_pieces, cfg.data.corpus_seed)["valid"][1]
    print(f"  chords: valid NLL {summary['best']:.3f} nats per frame; the rules allow {best:.3f} at best")
    written.update({f"chords {k}": v for k, v in summary.get("outputs", {}).items()})
    midi = run / "continuation.mid"
    main(["generate", "-m", str(run / "best.pt"), "--steps", "64", "--temperature", "0.3", "--seed", "1",
          "-o", str(midi), "--device", device])  # fmt: skip
    written["chords continuation (MIDI)"] = str(midi)
    written["chords continuation (piano roll)"] = str(midi.with_suffix(".png"))

    run = out / "music-text"
    _, summary = _train("text.toml", run, device)
    print(f"  text: valid {summary['best']:.3f} bits per character")
    written.update({f"text {k}": v for k, v in summary.get("outputs", {}).items()})
    sample = run / "sample.txt"
    main(["generate", "-m", str(run / "best.pt"), "--primer", '"The old man', "--steps", "200",
          "--temperature", "0.7", "--seed", "1", "-o", str(sample), "--device", device])  # fmt: skip
    written["text sample"] = str(sample)
    text = run / "inspect-input.txt"
    text.write_text(short_text(30, seed=2024), encoding="utf-8")  # unseen sentences of the same kind
    main(["inspect", "-m", str(run / "best.pt"), "--text", str(text), "--max-chars", "800",
          "-o", str(run / "inspect"), "--device", device])  # fmt: skip
    written["text units (HTML)"] = str(run / "inspect" / "inspect.html")
    written["text units (PNG)"] = str(run / "inspect" / "inspect.png")
    return written
