"""Continuing a piano-roll primer with a trained model: the core sampler (``seq2seq.search.sample``)
after running the model over the primer to set its state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from seq2seq.music.rolls import MusicDataError
from seq2seq.search import prime, sample, seeded


@torch.no_grad()
def continue_roll(
    model: nn.Module,
    primer: np.ndarray,
    steps: int,
    temperature: float = 1.0,
    top_k: int = 0,
    seed: int | None = None,
) -> np.ndarray:
    """Sample ``steps`` frames after a (time, 88) primer; returns the (steps, 88) continuation.
    ``top_k`` > 0 lets at most the k likeliest keys of a frame sound."""
    if len(primer) == 0:
        raise MusicDataError("the primer has no frames")
    device = next(model.parameters()).device
    frames = torch.from_numpy(np.asarray(primer, dtype=np.float32))[None].to(device)
    state, first = prime(model, frames)
    out, _ = sample(model, state, first, steps, None, temperature, top_k, 1.0, seeded(device, seed), output="sigmoid")
    return out[0].cpu().numpy().astype(np.uint8)


def write_continuation(
    loaded, out: Path, steps: int, temperature: float, top_k: int, seed: int | None = None,
    primer: np.ndarray | None = None, bpm: float = 120.0,
) -> tuple[Path, Path, int]:  # fmt: skip
    """Continue ``primer`` (default: the checkpoint's) by ``steps`` frames; write primer and
    continuation as MIDI on the checkpoint's grid and as a piano-roll PNG beside it. Returns the
    two paths and the primer's frames."""
    from seq2seq.music.midi import roll_to_midi
    from seq2seq.music.plots import piano_roll_png

    primer = loaded.task.primer_roll() if primer is None else primer
    continuation = continue_roll(loaded.model, primer, steps, temperature, top_k, seed)
    roll = np.concatenate([primer, continuation])
    grid = loaded.cfg.data.grid
    roll_to_midi(roll, out, grid, bpm)
    png = piano_roll_png(roll, out.with_suffix(".png"), len(primer), f"{out.name}: primer + {steps} frames")
    return out, png, len(primer)
