"""A joint output over the keys of a multi-hot frame: a NADE whose biases the recurrent state sets
(the RNN-NADE of Boulanger-Lewandowski et al., ICML 2012; NADE: Larochelle & Murray, 2011).

A frame v (keys 0/1, in pitch order) has the exact probability

    p(v | h) = prod_k p(v_k | v_<k, h),   p(v_k = 1 | v_<k, h) = sigmoid(b_k + V_k . sigmoid(a_k)),
    a_k = c + sum_{j<k} W_j v_j,          [b, c] = B h + [b0, c0],

with h the recurrent state of the step before (the context), W, V (keys, hidden) shared by all
steps. With teacher forcing every a_k is one exclusive cumulative sum over the keys, so a whole
batch of frames is scored in one pass (no loop over keys; the sum is taken over the sounding keys
only, see ``forward``); the negative log-likelihood of a frame
is the sum of the binary cross-entropies of its keys' conditional logits, which is why the loss
is the same ``bernoulli_nll`` as for independent sigmoid outputs. Sampling draws key by key
(``sample``), batched over the rows.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class Nade(nn.Module):
    """context (..., context) -> the biases of a NADE over ``keys`` binary outputs with ``hidden``
    units. ``forward`` gives the teacher-forced conditional logits, ``sample`` draws frames."""

    def __init__(self, context: int, keys: int, hidden: int) -> None:
        super().__init__()
        self.keys, self.hidden = keys, hidden
        self.bias = nn.Linear(context, keys + hidden)  # [b, c] from the recurrent state
        self.W = nn.Parameter(torch.empty(keys, hidden))  # key j on -> hidden pre-activations
        self.V = nn.Parameter(torch.empty(keys, hidden))  # hidden -> key k's logit
        nn.init.uniform_(self.W, -1 / math.sqrt(keys), 1 / math.sqrt(keys))
        nn.init.uniform_(self.V, -1 / math.sqrt(hidden), 1 / math.sqrt(hidden))

    def biases(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """(..., context) -> b (..., keys), c (..., hidden)."""
        return self.bias(context).split([self.keys, self.hidden], dim=-1)

    def forward(self, context: Tensor, frames: Tensor) -> Tensor:
        """Conditional logits of each key given the keys below it in the same frame (teacher
        forcing). context: (..., context); frames: (..., keys) 0/1 (a key sounds above 1/2) ->
        logits (..., keys)."""
        b, c = self.biases(context)
        shape = b.shape
        b, c = b.reshape(-1, self.keys), c.reshape(-1, self.hidden)
        on = frames.reshape(-1, self.keys) > 0.5
        # a_k = c + sum_{j<k, v_j = 1} W_j changes only after a key that sounds, so a frame with m
        # keys on has m + 1 distinct hidden layers: sum the W rows of its sounding keys (in pitch
        # order, padded to the batch's most), cumulatively, instead of a (keys, hidden) layer per key.
        # The same sums as the running sum over all keys, 11x faster on a CPU (docs/music.md).
        counts = on.sum(-1)  # the batch's most sounding keys is read on the host, once per batch
        most = int(counts.max()) if counts.numel() else 0
        index = torch.arange(self.keys, device=on.device)
        sounding = torch.where(on, index, index + self.keys).argsort(-1)[:, :most]  # (n, most) key ids
        real = (torch.arange(most, device=on.device) < counts[:, None]).to(c.dtype)
        steps = self.W[sounding].to(c.dtype) * real[..., None]  # (n, most, hidden), padding rows zero
        a = torch.cat([c[:, None], c[:, None] + steps.cumsum(1)], dim=1)  # (n, most + 1, hidden)
        z = torch.sigmoid(a) @ self.V.t().to(c.dtype)  # (n, most + 1, keys): every key under every layer
        below = on.long().cumsum(-1) - on.long()  # (n, keys): sounding keys below key k = its layer
        return (b + z.gather(1, below[:, None, :])[:, 0]).view(shape)

    @torch.no_grad()
    def sample(self, context: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """One frame per row, key by key in pitch order. context: (batch, context) -> (batch,
        keys) 0/1 floats. Each key's conditional logit is divided by ``temperature``; 0 takes the
        likelier value of each key given the keys drawn below it."""
        b, c = self.biases(context.to(self.W.dtype))
        a = c.clone()
        out = torch.zeros_like(b)
        for k in range(self.keys):
            logit = b[:, k] + torch.sigmoid(a) @ self.V[k]
            if temperature == 0:
                v = (logit > 0).to(b.dtype)
            else:
                v = torch.bernoulli(torch.sigmoid(logit / temperature), generator=generator)
            out[:, k] = v
            a += v[:, None] * self.W[k]
        return out
