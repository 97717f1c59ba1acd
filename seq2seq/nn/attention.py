"""Attention over encoder outputs, with padded source steps masked out.

For a decoder query q (its top-layer hidden state) and encoder outputs m_1..m_S:

- dot (Luong):        score(q, m_s) = q · m_s
- general (Luong):    score(q, m_s) = q · (W_a m_s)
- bahdanau (additive): score(q, m_s) = v_a · tanh(W_q q + W_m m_s)

a = softmax(scores over unmasked s), context c = Σ_s a_s m_s. The memory-side projection
(W_a m or W_m m) does not depend on the query, so it is computed once per source sentence
(``keys``) and reused at every decoder step and by every beam.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

KINDS = ("dot", "general", "bahdanau")


class Attention(nn.Module):
    def __init__(self, kind: str, query_size: int, memory_size: int, attn_size: int | None = None) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown attention '{kind}'; use one of {', '.join(KINDS)} or none")
        if kind == "dot" and query_size != memory_size:
            raise ValueError(
                f"dot attention needs the decoder hidden size ({query_size}) to equal the encoder "
                f"output size ({memory_size}); use attention 'general' or 'bahdanau'"
            )
        self.kind = kind
        if kind == "general":
            self.W_a = nn.Linear(memory_size, query_size, bias=False)
        elif kind == "bahdanau":
            attn_size = attn_size or query_size
            self.W_m = nn.Linear(memory_size, attn_size, bias=False)
            self.W_q = nn.Linear(query_size, attn_size, bias=True)
            self.v_a = nn.Linear(attn_size, 1, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        """Query-independent part of the score. memory: (batch, src, memory_size)."""
        if self.kind == "general":
            return self.W_a(memory)  # (batch, src, query_size)
        if self.kind == "bahdanau":
            return self.W_m(memory)  # (batch, src, attn_size)
        return memory

    def forward(self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """query: (batch, tgt, query_size); keys: from ``keys``; memory: (batch, src, memory_size);
        mask: (batch, src) True at real source steps. Returns context (batch, tgt, memory_size)
        and weights (batch, tgt, src)."""
        if self.kind == "bahdanau":
            # (batch, tgt, 1, attn) + (batch, 1, src, attn) -> (batch, tgt, src)
            scores = self.v_a(torch.tanh(self.W_q(query)[:, :, None] + keys[:, None])).squeeze(-1)
        else:
            scores = torch.bmm(query, keys.transpose(1, 2))
        scores = scores.masked_fill(~mask[:, None, :], torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores.float(), dim=-1).to(memory.dtype)
        return torch.bmm(weights, memory), weights
