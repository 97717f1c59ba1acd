"""Music figure for ``make bench``: training frames/s (and MFU) of the JSB Chorales recipe
(``music/jsb``), trained by the library's ``Trainer.fit``, on ../shared/data/polyphonic, or on
the embedded chord corpus when that is absent."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from benchmarks import common
from benchmarks.common import train_rate
from seq2seq.config import ModelConfig
from seq2seq.nn.models import Dims
from seq2seq.nn.rnn import GATES

RECIPE = "music/jsb"


def train_flops_per_frame(m: ModelConfig, dims: Dims) -> float:
    """Training FLOPs per predicted frame (3x forward): input projection, the stack, the output."""
    H, E = m.hidden_size, m.embed_dim
    width, rnn = E, 0.0
    for _ in range(m.layers):
        rnn += 2 * GATES[m.cell] * H * (width + H)
        width = H
    return 3 * (2 * dims.input_dim * E + rnn + 2 * H * dims.output_size)


def bench_music(device: torch.device, peak: float, quick: bool) -> list[dict[str, Any]]:
    from seq2seq.registry import load_config
    from seq2seq.trainer import Trainer

    jsb = common.SHARED / "polyphonic" / "JSB_Chorales.mat"
    data = [f"data.path={jsb}"] if jsb.exists() else ["data.path=", "data.grid=sixteenth"]
    steps = 10 if quick else 60
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(
            RECIPE,
            [*data, f"train.out_dir={tmp}/run", f"train.device={device}", f"train.max_steps={steps}",
             "train.log_every=1", "train.eval_every=1000000", "train.progress=false", "data.average_last=0"],
        )  # fmt: skip
        trainer = Trainer.from_config(cfg)
        trainer.fit()
        rate = train_rate(Path(tmp) / "run" / "metrics.jsonl")
    m = cfg.model
    return [
        {
            "data": "JSB Chorales" if jsb.exists() else "embedded chords",
            "model": f"{m.cell} {m.layers}x{m.hidden_size}",
            "batch": cfg.train.batch_size,
            "frames_s": rate,
            "mfu": rate * train_flops_per_frame(m, trainer.task.dims) / (peak * 1e12),
        }
    ]
