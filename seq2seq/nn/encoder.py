"""Encoder: embed tokens or project continuous features, then run a recurrent stack."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from seq2seq.nn.rnn import RecurrentStack, State


class WordDropout(nn.Module):
    """Drops whole tokens in training: each (batch, time) position's embedding is zeroed with
    probability p and the kept ones are scaled by 1 / (1 - p), so the model cannot lean on any one
    word (Sennrich et al., 2016; Sennrich and Zhang, 2019). Elementwise dropout on the same
    embeddings (``embed_dropout``) still removes single features; this removes the whole word."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), got {p}")
        self.p = p

    def forward(self, emb: Tensor) -> Tensor:
        """emb: (batch, time, embed_dim) -> the same shape."""
        # dropout1d zeroes whole channels of (N, C, L); with time as C that is whole tokens.
        return F.dropout1d(emb, self.p, self.training) if self.p > 0 else emb

    def extra_repr(self) -> str:
        return f"p={self.p}"


class InputLayer(nn.Module):
    """Token ids (batch, time) -> embeddings, or features (batch, time, input_dim) -> a linear
    projection; both (batch, time, embed_dim), with dropout (and word dropout for tokens)."""

    def __init__(
        self, *, vocab: int, input_dim: int, embed_dim: int, dropout: float, word_dropout: float, pad_id: int
    ) -> None:
        super().__init__()
        if (vocab > 0) == (input_dim > 0):
            raise ValueError("an input layer takes either a vocabulary (tokens) or an input_dim (features)")
        self.tokens = vocab > 0
        if self.tokens:
            self.embed: nn.Module = nn.Embedding(vocab, embed_dim, padding_idx=pad_id)
        else:
            self.embed = nn.Linear(input_dim, embed_dim)
        self.dropout = nn.Dropout(dropout)
        if word_dropout > 0 and not self.tokens:
            # Dropping a whole feature frame is not dropping a word; say so rather than ignore it.
            raise ValueError("word_dropout is for token inputs; these are features (input_dim): set it to 0")
        self.word_dropout = WordDropout(word_dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.word_dropout(self.embed(x)))


class Encoder(nn.Module):
    """Input layer, then a (bi)directional recurrent stack over variable-length batches."""

    def __init__(
        self,
        *,
        cell: str,
        vocab: int,
        input_dim: int,
        embed_dim: int,
        hidden_size: int,
        layers: int,
        bidirectional: bool,
        dropout: float,
        embed_dropout: float,
        word_dropout: float,
        pad_id: int,
        reference: bool = False,
    ) -> None:
        super().__init__()
        self.inputs = InputLayer(
            vocab=vocab, input_dim=input_dim, embed_dim=embed_dim, dropout=embed_dropout, word_dropout=word_dropout,
            pad_id=pad_id,
        )  # fmt: skip
        self.rnn = RecurrentStack(
            cell, embed_dim, hidden_size, layers, bidirectional=bidirectional, dropout=dropout, reference=reference
        )

    @property
    def output_size(self) -> int:
        return self.rnn.output_size

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State | None = None) -> tuple[Tensor, State]:
        """x: (batch, time) ids or (batch, time, input_dim) features; lengths: (batch,) on the CPU.
        Returns outputs (batch, time, directions * hidden) and the final state."""
        return self.rnn(self.inputs(x), lengths, state)
