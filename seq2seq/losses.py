"""Losses returned as (sum, count), so the loop can normalise per batch and log exact means."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def token_nll(logits: Tensor, targets: Tensor, mask: Tensor, smoothing: float = 0.0) -> tuple[Tensor, Tensor]:
    """Cross-entropy of categorical outputs, summed over the real steps.

    logits: (batch, time, classes); targets: (batch, time) ids; mask: (batch, time) True where a
    target counts. With ``smoothing`` > 0 the target distribution puts 1 - smoothing on the
    target and smoothing / classes on every class (Szegedy et al., 2016). Returns (sum, count).
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    safe = targets.masked_fill(~mask, 0)
    nll = -logp.gather(-1, safe[..., None])[..., 0]
    if smoothing > 0:
        nll = (1.0 - smoothing) * nll - smoothing * logp.mean(dim=-1)
    nll = nll.masked_fill(~mask, 0.0)
    return nll.sum(), mask.sum()


@functools.cache
def compiled_token_nll() -> Callable[..., tuple[Tensor, Tensor]]:
    """``token_nll`` under ``torch.compile`` (dynamic shapes: one graph for every batch shape),
    built once. The log-softmax, gather and smoothing over (batch, time, vocabulary) fuse into
    a few passes: for the translation recipe this is where compiling pays (docs/benchmarks.md)."""
    return torch.compile(token_nll, dynamic=True)


def bernoulli_nll(logits: Tensor, targets: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Negative log-likelihood of multi-hot frames under independent Bernoulli outputs, summed over
    the keys of each frame and over the real frames. logits, targets: (batch, time, keys);
    mask: (batch, time). Returns (sum, number of frames): sum / count is nats per frame."""
    nll = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none").sum(-1)
    nll = nll.masked_fill(~mask, 0.0)
    return nll.sum(), mask.sum()


def class_weighted_nll(
    logits: Tensor, targets: Tensor, mask: Tensor, weights: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Cross-entropy with optional per-class weights; count is the summed weight of the targets."""
    if weights is None:
        return token_nll(logits, targets, mask)
    safe = targets.masked_fill(~mask, 0)
    w = weights.to(logits.device)[safe] * mask
    nll = F.cross_entropy(logits.float().transpose(1, 2), safe, reduction="none")
    return (nll * w).sum(), w.sum()
