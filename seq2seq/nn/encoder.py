"""Encoder: embed tokens or project continuous features, then run a recurrent stack."""

from __future__ import annotations

from torch import Tensor, nn

from seq2seq.nn.rnn import RecurrentStack, State


class InputLayer(nn.Module):
    """Token ids (batch, time) -> embeddings, or features (batch, time, input_dim) -> a linear
    projection; both (batch, time, embed_dim), with dropout."""

    def __init__(self, vocab: int, input_dim: int, embed_dim: int, dropout: float, pad_id: int = 0) -> None:
        super().__init__()
        if (vocab > 0) == (input_dim > 0):
            raise ValueError("an input layer takes either a vocabulary (tokens) or an input_dim (features)")
        self.tokens = vocab > 0
        if self.tokens:
            self.embed: nn.Module = nn.Embedding(vocab, embed_dim, padding_idx=pad_id)
        else:
            self.embed = nn.Linear(input_dim, embed_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.embed(x))


class Encoder(nn.Module):
    """Input layer, then a (bi)directional recurrent stack over variable-length batches."""

    def __init__(
        self,
        cell: str,
        vocab: int,
        input_dim: int,
        embed_dim: int,
        hidden_size: int,
        layers: int,
        bidirectional: bool,
        dropout: float,
        embed_dropout: float,
        pad_id: int = 0,
        reference: bool = False,
    ) -> None:
        super().__init__()
        self.inputs = InputLayer(vocab, input_dim, embed_dim, embed_dropout, pad_id)
        self.rnn = RecurrentStack(cell, embed_dim, hidden_size, layers, bidirectional, dropout, reference)

    @property
    def output_size(self) -> int:
        return self.rnn.output_size

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: State | None = None) -> tuple[Tensor, State]:
        """x: (batch, time) ids or (batch, time, input_dim) features; lengths: (batch,) on the CPU.
        Returns outputs (batch, time, directions * hidden) and the final state."""
        return self.rnn(self.inputs(x), lengths, state)
