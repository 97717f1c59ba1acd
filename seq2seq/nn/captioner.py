"""Captioner: a sequence of feature vectors in (an image's grid cells, a clip's frames), a sentence out.

For an item with feature vectors v_1..v_S (cells in row-major order, or frames in time order):

    m_s = W_v v_s + p_s                          (the memory: projected features and the
                                                  sinusoidal code p_s of where the step is, so a
                                                  cell attended to also says where it is)
    m̄   = mean of m_s over the real steps
    s_0 = tanh(W_h m̄)   (and c_0 = tanh(W_c m̄) for an LSTM), one slice per decoder layer

For a clip p_s codes the frame's index s. For an image's grid it codes the cell's row in the
first half of the channels and its column in the second, so "left" and "right" read from one
half whatever the row (a code of the row-major index alone mixes them: cell 4r + c).

then the core's decoder (``seq2seq.nn.decoder``) writes the sentence from s_0, word by word until
EOS. ``model.attention`` chooses what it sees after the first state:

- ``none`` (the pooled vector, neuraltalk's shape): only s_0; where things are is averaged away;
- ``dot`` / ``general`` / ``bahdanau`` (Show, Attend and Tell): at every word it attends over
  m_1..m_S (padded steps of shorter clips masked out) and reads the context.

The search interface (``start`` / ``step``) is the encoder-decoder's, so the core's beam search,
greedy decoding and ``Ensemble`` decode it unchanged.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from seq2seq.config import ModelConfig
from seq2seq.nn.decoder import DecoderState, decoder_for
from seq2seq.nn.pooling import time_mask
from seq2seq.nn.rnn import State

if TYPE_CHECKING:
    from seq2seq.nn.models import Dims


def step_codes(steps: int, size: int, device: torch.device) -> Tensor:
    """(steps, size) sinusoidal codes of the step indices 0..steps-1 (Vaswani et al., 2017)."""
    position = torch.arange(steps, device=device, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, size, 2, device=device, dtype=torch.float32) * (-math.log(100.0) / size))
    codes = torch.zeros(steps, size, device=device)
    codes[:, 0::2] = torch.sin(position * rate)
    codes[:, 1::2] = torch.cos(position * rate)[:, : size // 2]
    return codes


def grid_codes(side: int, size: int, device: torch.device) -> Tensor:
    """(side * side, size) codes of a square grid's cells in row-major order: the step code of
    the cell's row in the first size // 2 channels, of its column in the rest."""
    half = size // 2
    rows = step_codes(side, half, device)[:, None, :].expand(side, side, half)
    cols = step_codes(side, size - half, device)[None, :, :].expand(side, side, size - half)
    return torch.cat([rows, cols], dim=-1).reshape(side * side, size)


class Captioner(nn.Module):
    """Projected features as the memory, their mean as the decoder's first state, the core's
    (attentional) decoder. ``model.layers`` counts the decoder's layers."""

    kind = "captioner"

    def __init__(self, cfg: ModelConfig, dims: Dims, reference: bool = False) -> None:
        super().__init__()
        if dims.input_dim <= 0:
            raise ValueError("a captioner reads feature vectors (input_dim), not token ids")
        H = cfg.hidden_size
        self.project = nn.Linear(dims.input_dim, H)
        self.feature_dropout = nn.Dropout(cfg.embed_dropout)
        self.decoder = decoder_for(cfg, dims, cfg.layers, H, reference)
        n_states = 2 if cfg.cell == "lstm" else 1  # (h, c) for an LSTM
        self.init = nn.ModuleList(nn.Linear(H, cfg.layers * H) for _ in range(n_states))
        self.layers, self.hidden_size, self.grid = cfg.layers, H, dims.grid
        self.bos_id, self.eos_id, self.pad_id = dims.bos_id, dims.eos_id, dims.pad_id

    def memory(self, feats: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """feats: (batch, steps, input_dim); lengths: (batch,) -> memory (batch, steps, hidden),
        zero at padded steps, and the mask (batch, steps), True at real steps."""
        mask = time_mask(lengths, feats.size(1), feats.device)
        if self.grid:
            if feats.size(1) != self.grid * self.grid:
                raise ValueError(f"{feats.size(1)} cells given to a captioner of {self.grid} x {self.grid} grids")
            codes = grid_codes(self.grid, self.hidden_size, feats.device)
        else:
            codes = step_codes(feats.size(1), self.hidden_size, feats.device)
        m = self.project(feats) + codes.to(feats.dtype)
        return self.feature_dropout(m) * mask[..., None].to(m.dtype), mask

    def first_state(self, memory: Tensor, mask: Tensor) -> State:
        """The decoder's initial state from the mean of the memory over the real steps:
        (layers, batch, hidden) per state tensor."""
        mean = memory.sum(1) / mask.sum(1, keepdim=True).clamp(min=1).to(memory.dtype)
        batch = mean.size(0)
        return tuple(
            torch.tanh(linear(mean)).view(batch, self.layers, self.hidden_size).transpose(0, 1).contiguous()
            for linear in self.init
        )

    def start(self, feats: Tensor, lengths: Tensor) -> DecoderState:
        """Search interface: encode a batch. feats: (batch, steps, input_dim); lengths: (batch,)."""
        memory, mask = self.memory(feats, lengths)
        if self.decoder.attention is None:
            return self.decoder.init_state(self.first_state(memory, mask), None, None)
        return self.decoder.init_state(self.first_state(memory, mask), memory, mask)

    def forward(self, feats: Tensor, lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher-forced logits (batch, tgt, vocab) for decoder inputs tgt_in (batch, tgt) (BOS first)."""
        logits, _ = self.decoder(tgt_in, self.start(feats, lengths))
        return logits

    def attention_weights(self, feats: Tensor, lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """The attention of every word over the steps: (batch, tgt, steps), each row summing to 1
        over the real steps and exactly 0 at padded ones."""
        if self.decoder.attention is None:
            raise ValueError("a pooled captioner (model.attention = none) has no attention weights")
        _, weights = self.decoder(tgt_in, self.start(feats, lengths))
        return weights

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """Search interface: previous tokens (batch,) -> next-token logits (batch, vocab)."""
        logits, state, _ = self.decoder.step(tokens, state)
        return logits, state
