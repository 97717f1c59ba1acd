"""Music figure for ``make bench``: training frames/s (and MFU) of the JSB Chorales recipe
(``recipes/music/jsb.toml``) on ../shared/data/polyphonic, or on the embedded chord corpus when
that is absent."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from seq2seq.config import ModelConfig, load_config
from seq2seq.nn.rnn import GATES

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "music" / "jsb.toml"


def train_flops_per_frame(m: ModelConfig) -> float:
    """Training FLOPs per predicted frame (3x forward): input projection, the stack, the output."""
    H, E = m.hidden_size, m.embed_dim
    width, rnn = E, 0.0
    for _ in range(m.layers):
        rnn += 2 * GATES[m.cell] * H * (width + H)
        width = H
    return 3 * (2 * m.input_dim * E + rnn + 2 * H * m.output_size)


def bench_music(device: torch.device, peak: float, quick: bool) -> list[dict[str, Any]]:
    from seq2seq.bench_peers import SHARED
    from seq2seq.train import Trainer
    from seq2seq.translation.bench import _rate

    jsb = SHARED / "polyphonic" / "JSB_Chorales.mat"
    data = [f"data.path={jsb}"] if jsb.exists() else ["data.path=", "data.grid=sixteenth"]
    steps = 10 if quick else 60
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(
            RECIPE,
            [*data, f"train.out_dir={tmp}/run", f"train.device={device}", f"train.max_steps={steps}",
             "train.log_every=1", "train.eval_every=1000000", "train.progress=false", "data.average_last=0"],
        )  # fmt: skip
        trainer = Trainer(cfg)
        trainer.fit()
        rate = _rate(Path(tmp) / "run" / "metrics.jsonl")
    m = trainer.cfg.model
    return [
        {
            "data": "JSB Chorales" if jsb.exists() else "embedded chords",
            "model": f"{m.cell} {m.layers}x{m.hidden_size}",
            "batch": trainer.cfg.train.batch_size,
            "frames_s": rate,
            "mfu": rate * train_flops_per_frame(m) / (peak * 1e12),
        }
    ]
