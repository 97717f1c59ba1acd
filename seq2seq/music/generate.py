"""Continuing a primer with a trained model: the core sampler (``seq2seq.search.sample``) after
running the model over the primer to set its state."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from seq2seq.music.rolls import MusicDataError
from seq2seq.music.text import UNK, CharVocab
from seq2seq.search import sample


def _primed(model: nn.Module, inputs: Tensor) -> tuple[object, Tensor]:
    """State after all but the last primer step, and the last step (the sampler's first input).
    inputs: (1, time) ids or (1, time, keys) frames."""
    state = None
    if inputs.size(1) > 1:
        _, state = model(inputs[:, :-1], None, None)
    return state, inputs[:, -1]


def _generator(device: torch.device, seed: int | None) -> torch.Generator | None:
    if seed is None:
        return None
    return torch.Generator(device=device).manual_seed(seed)


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
    state, first = _primed(model, frames)
    out, _ = sample(
        model, state, first, steps, None, temperature, top_k, 1.0, _generator(device, seed), output="sigmoid"
    )
    return out[0].cpu().numpy().astype(np.uint8)


@torch.no_grad()
def continue_text(
    model: nn.Module,
    vocab: CharVocab,
    primer: str,
    steps: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int | None = None,
) -> str:
    """Sample ``steps`` characters after ``primer``; returns the continuation."""
    if not primer:
        raise MusicDataError("the primer is empty; give at least one character")
    device = next(model.parameters()).device
    ids = torch.tensor([vocab.encode(primer)], device=device)
    state, first = _primed(model, ids)
    out, _ = sample(
        model, state, first, steps, None, temperature, top_k, top_p, _generator(device, seed), blocked=(UNK,)
    )
    return vocab.decode(out[0].tolist())
