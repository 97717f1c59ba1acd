"""Continuing a text primer with a character model: the core sampler (``seq2seq.search.sample``)
after running the model over the primer to set its state."""

from __future__ import annotations

import torch
from torch import nn

from seq2seq.search import prime, sample, seeded
from seq2seq.text.vocab import UNK, CharVocab, TextDataError


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
        raise TextDataError("the primer is empty; give at least one character")
    device = next(model.parameters()).device
    ids = torch.tensor([vocab.encode(primer)], device=device)
    state, first = prime(model, ids)
    out, _ = sample(model, state, first, steps, None, temperature, top_k, top_p, seeded(device, seed), blocked=(UNK,))
    return vocab.decode(out[0].tolist())
