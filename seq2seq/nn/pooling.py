"""Pooling over time: a variable-length sequence of encoder outputs becomes one vector.

All three read only the real steps of each sequence (``lengths``), so a padded batch gives each
sequence the vector it gets alone:

- ``last``: the forward direction's output at the last real step and, for a bidirectional
  encoder, the backward direction's output at the first step (each direction's final state);
- ``mean``: the mean of the outputs over the real steps;
- ``attention``: a learnt score per step, a softmax over the real steps (padded steps get weight
  0), and the weighted sum (Yang et al., 2016, without the context vector's hierarchy).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

POOLINGS = ("last", "mean", "attention")


def time_mask(lengths: Tensor, steps: int, device: torch.device) -> Tensor:
    """(batch,) lengths -> (batch, steps) bool, True at real steps."""
    return torch.arange(steps, device=device)[None, :] < lengths.to(device)[:, None]


class Pooling(nn.Module):
    """(batch, time, size) outputs and (batch,) lengths -> (batch, size) vectors."""

    def __init__(self, kind: str, size: int, directions: int) -> None:
        super().__init__()
        if kind not in POOLINGS:
            raise ValueError(f"pooling '{kind}': use one of {', '.join(POOLINGS)}")
        self.kind, self.size, self.directions = kind, size, directions
        if kind == "attention":
            self.project = nn.Linear(size, size)
            self.score = nn.Linear(size, 1, bias=False)

    def weights(self, out: Tensor, lengths: Tensor) -> Tensor:
        """Attention pooling's weights (batch, time): a softmax over each sequence's real steps,
        exactly 0 at padded ones. out: (batch, time, size); lengths: (batch,)."""
        mask = time_mask(lengths, out.size(1), out.device)
        scores = self.score(torch.tanh(self.project(out))).squeeze(-1).float()
        return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)

    def forward(self, out: Tensor, lengths: Tensor) -> Tensor:
        """out: (batch, time, size) encoder outputs (zero at padded steps); lengths: (batch,) >= 1.
        Returns (batch, size)."""
        if self.kind == "attention":
            return torch.einsum("bt,bts->bs", self.weights(out, lengths).to(out.dtype), out)
        if self.kind == "mean":
            mask = time_mask(lengths, out.size(1), out.device)
            summed = (out * mask[..., None].to(out.dtype)).sum(1)
            return summed / lengths.to(out.device).clamp(min=1)[:, None].to(out.dtype)
        last = (lengths.to(out.device) - 1).clamp(min=0)
        rows = torch.arange(out.size(0), device=out.device)
        if self.directions == 1:
            return out[rows, last]
        half = self.size // 2
        # the forward direction ends at the last real step, the backward one at the first
        return torch.cat([out[rows, last, :half], out[:, 0, half:]], dim=-1)

    def extra_repr(self) -> str:
        return self.kind
