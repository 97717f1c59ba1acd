"""Continuing a piano-roll primer with a trained model: after running the model over the primer to
set its state, the core sampler (``seq2seq.search.sample``: each key independently) for a
sigmoid output, or ``sample_joint`` (each frame key by key from the NADE) for a joint one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from seq2seq.errors import UserError
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
    ``top_k`` > 0 lets at most the k likeliest keys of a frame sound (sigmoid outputs only)."""
    if len(primer) == 0:
        raise MusicDataError("the primer has no frames")
    device = next(model.parameters()).device
    frames = torch.from_numpy(np.asarray(primer, dtype=np.float32))[None].to(device)
    if getattr(model, "joint", False):
        if top_k > 0:
            raise UserError(f"--top-k {top_k}: a joint (nade) frame output draws each frame key by key; top-k is for "
                            "the sigmoid output (use --top-k 0)")  # fmt: skip
        state = model.features(frames[:, :-1])[1] if frames.size(1) > 1 else None
        out = sample_joint(model, state, frames[:, -1], steps, temperature, seeded(device, seed))
        return out[0].cpu().numpy().astype(np.uint8)
    state, first = prime(model, frames)
    out, _ = sample(model, state, first, steps, None, temperature, top_k, 1.0, seeded(device, seed), output="sigmoid")
    return out[0].cpu().numpy().astype(np.uint8)


@torch.no_grad()
def sample_joint(
    model: nn.Module, state: Any, first: Tensor, steps: int, temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:  # fmt: skip
    """Frames from a language model with a joint (nade) frame output, one row per sample: each
    step runs the recurrent stack on the frame before and draws the next frame key by key
    (``Nade.sample``). first: (batch, keys), the last frame so far; state: the stack's state
    before it (None: fresh). Returns (batch, steps, keys) 0/1 floats."""
    prev, outs = first, []
    for _ in range(steps):
        context, state = model.features(prev[:, None], None, state)
        prev = model.head.sample(context[:, 0], temperature, generator)
        outs.append(prev)
    return torch.stack(outs, dim=1)


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
