"""Attentional recurrent decoder (Luong et al., 2015), teacher-forced or one step at a time.

At step t, with y_{t-1} the previous target token:

    s_t  = RNN([E y_{t-1}; h~_{t-1}], s_{t-1})     (h~_{t-1} only with input feeding)
    c_t  = attention(s_t, encoder outputs)
    h~_t = tanh(W_c [c_t; s_t])                    (the attentional vector)
    p(y_t | y_<t, x) = softmax(W_o h~_t)

Without input feeding, s_1..s_T do not depend on attention, so training runs the fused kernel
over the whole target in one call and attends for all steps at once; with input feeding the
loop over steps is unavoidable (h~_{t-1} is an input of step t).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from seq2seq.config import ModelConfig
from seq2seq.nn.attention import Attention
from seq2seq.nn.encoder import WordDropout
from seq2seq.nn.rnn import RecurrentStack, State


@dataclass
class DecoderState:
    """Everything a decoder step needs; every tensor has the batch (or batch * beam) on dim 0,
    except ``hidden``'s tensors, (layers, batch, hidden)."""

    hidden: State
    feed: Tensor | None  # (batch, hidden): h~ of the previous step, for input feeding
    memory: Tensor | None  # (batch, src, memory_size): encoder outputs
    keys: Tensor | None  # (batch, src, *): attention's precomputed memory projection
    mask: Tensor | None  # (batch, src): True at real source steps

    def select(self, index: Tensor, same_source: bool = False) -> DecoderState:
        """The state of rows ``index`` (to expand rows into beams, reorder beams, or drop rows).
        ``same_source=True`` promises every row keeps its source sentence (beams reordered within
        their sentence), so the encoder memory, keys and mask are left as they are: copying them
        at every step was 14% of beam search time."""

        def pick(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.index_select(0, index)

        if same_source:
            return replace(self, hidden=tuple(h.index_select(1, index) for h in self.hidden), feed=pick(self.feed))
        return replace(
            self,
            hidden=tuple(h.index_select(1, index) for h in self.hidden),
            feed=pick(self.feed),
            memory=pick(self.memory),
            keys=pick(self.keys),
            mask=pick(self.mask),
        )


class Decoder(nn.Module):
    def __init__(
        self,
        *,
        cell: str,
        vocab: int,
        embed_dim: int,
        hidden_size: int,
        layers: int,
        memory_size: int,
        attention: str,
        input_feeding: bool,
        dropout: float,
        embed_dropout: float,
        word_dropout: float,
        tie_embeddings: bool,
        pad_id: int,
        reference: bool = False,
    ) -> None:
        super().__init__()
        self.attention = None if attention == "none" else Attention(attention, hidden_size, memory_size)
        self.input_feeding = input_feeding and self.attention is not None
        self.hidden_size = hidden_size
        self.embed = nn.Embedding(vocab, embed_dim, padding_idx=pad_id)
        self.embed_dropout = nn.Dropout(embed_dropout)
        self.word_dropout = WordDropout(word_dropout)  # on the teacher-forced target inputs
        rnn_in = embed_dim + (hidden_size if self.input_feeding else 0)
        self.rnn = RecurrentStack(
            cell, rnn_in, hidden_size, layers, bidirectional=False, dropout=dropout, reference=reference
        )
        if self.attention is not None:
            self.combine = nn.Linear(memory_size + hidden_size, hidden_size, bias=False)
        self.dropout = nn.Dropout(dropout)
        # Tying reuses E (vocab x embed_dim) as the output matrix; a projection bridges the sizes.
        self.project = (
            nn.Linear(hidden_size, embed_dim, bias=False)
            if tie_embeddings and hidden_size != embed_dim
            else nn.Identity()
        )
        self.out = nn.Linear(embed_dim if tie_embeddings else hidden_size, vocab)
        if tie_embeddings:
            self.out.weight = self.embed.weight

    def init_state(self, hidden: State, memory: Tensor | None, mask: Tensor | None) -> DecoderState:
        batch = hidden[0].size(1)
        feed = hidden[0].new_zeros(batch, self.hidden_size) if self.input_feeding else None
        keys = self.attention.keys(memory) if self.attention is not None else None
        return DecoderState(hidden, feed, memory, keys, mask)

    def _attend(self, s: Tensor, state: DecoderState) -> tuple[Tensor, Tensor | None]:
        """s: (batch, steps, hidden) top-layer outputs -> h~ (batch, steps, hidden), weights."""
        if self.attention is None:
            return s, None
        context, weights = self.attention(s, state.keys, state.memory, state.mask)
        return torch.tanh(self.combine(torch.cat([context, s], dim=-1))), weights

    def _logits(self, h: Tensor) -> Tensor:
        return self.out(self.project(self.dropout(h)))

    def forward(self, tgt_in: Tensor, state: DecoderState) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing. tgt_in: (batch, tgt) ids starting with BOS. Returns logits
        (batch, tgt, vocab) and attention weights (batch, tgt, src) or None. Steps after a
        sequence's end see padding, which cannot reach earlier steps of a left-to-right decoder."""
        emb = self.embed_dropout(self.word_dropout(self.embed(tgt_in)))
        if not self.input_feeding:
            s, _ = self.rnn(emb, None, state.hidden)
            h, weights = self._attend(s, state)
            return self._logits(h), weights
        hs, ws = [], []
        for t in range(tgt_in.size(1)):
            h, state, w = self._step(emb[:, t], state)
            hs.append(h)
            ws.append(w)
        return self._logits(torch.stack(hs, dim=1)), torch.stack(ws, dim=1)

    def _step(self, emb: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState, Tensor | None]:
        x = emb if state.feed is None else torch.cat([emb, state.feed], dim=-1)
        s, hidden = self.rnn(x[:, None], None, state.hidden)
        h, weights = self._attend(s, state)
        h = h[:, 0]
        new = replace(state, hidden=hidden, feed=h if self.input_feeding else None)
        return h, new, (weights[:, 0] if weights is not None else None)

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One step. tokens: (batch,) previous ids. Returns logits (batch, vocab), the new state
        and attention weights (batch, src) or None."""
        h, state, weights = self._step(self.embed_dropout(self.embed(tokens)), state)
        return self._logits(h), state, weights


def decoder_for(cfg: ModelConfig, dims: Any, layers: int, memory_size: int, reference: bool = False) -> Decoder:
    """The decoder a ``[model]`` config describes, over a memory of ``memory_size`` features,
    with the vocabulary and padding id of ``dims`` (encoder-decoder and captioner alike)."""
    return Decoder(
        cell=cfg.cell,
        vocab=dims.output_size,
        embed_dim=cfg.embed_dim,
        hidden_size=cfg.hidden_size,
        layers=layers,
        memory_size=memory_size,
        attention=cfg.attention,
        input_feeding=cfg.input_feeding,
        dropout=cfg.dropout,
        embed_dropout=cfg.embed_dropout,
        word_dropout=cfg.word_dropout,
        tie_embeddings=cfg.tie_embeddings,
        pad_id=dims.pad_id,
        reference=reference,
    )
