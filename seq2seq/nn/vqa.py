"""Visual question answering: a question and an image's grid of features in, an answer (a class)
out, with attention over the grid conditioned on the question (stacked attention, Yang et al.,
2016).

For question tokens w_1..w_T and image cells x_1..x_S (the CNN's last feature map, row-major):

    q   = [h_T(fwd); h_1(bwd)]                      the question: the encoder's final states
    v_s = tanh(W_v x_s) + W_p p_s                   each cell projected, p_s its (row, col) in [-1, 1]
    u_0 = q + mean_s v_s                            the question and the whole picture
    a_k = softmax_s score(u_{k-1}, v_s)             hop k = 1..K: where the question looks
    u_k = u_{k-1} + sum_s a_k,s v_s                 what it sees there, added to the query
    answer logits = W_o dropout(tanh(W_h u_K))

``score`` is ``model.attention`` (``general``, ``dot``, ``bahdanau``: ``seq2seq.nn.attention``);
``none`` keeps only the mean over the cells (the picture, not where the question looks). The cell
positions p_s let position answers ("where is the blue circle?") be read from the attended
vector: CNN features alone say what is in a cell, hardly where the cell is. ``model.image =
false`` is the question-only baseline (logits from q alone), which shows how much the answers can
be guessed without looking.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from seq2seq.config import ModelConfig
from seq2seq.nn.attention import Attention
from seq2seq.nn.pooling import Pooling

if TYPE_CHECKING:
    from seq2seq.nn.models import Dims


def cell_positions(cells: int, device: torch.device) -> Tensor:
    """(cells, 2) (row, col) of a square grid's cells in row-major order, scaled to [-1, 1]."""
    side = math.isqrt(cells)
    if side * side != cells:
        raise ValueError(f"a grid of {cells} cells is not square")
    axis = torch.linspace(-1.0, 1.0, side, device=device) if side > 1 else torch.zeros(1, device=device)
    rows, cols = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([rows.flatten(), cols.flatten()], dim=-1)


class QuestionAnswerer(nn.Module):
    """The ``vqa`` model kind: a recurrent question encoder, attention hops over the image grid,
    a classifier over the answers (see the module's equations)."""

    kind = "vqa"

    def __init__(self, cfg: ModelConfig, dims: Dims, reference: bool = False) -> None:
        super().__init__()
        from seq2seq.nn.models import encoder

        if dims.input_vocab <= 0:
            raise ValueError("a vqa model reads question tokens (input_vocab)")
        self.encoder = encoder(cfg, dims, reference)
        size = self.encoder.output_size
        self.question = Pooling("last", size, self.encoder.rnn.directions)
        self.image = cfg.image
        if self.image:
            if dims.image_dim <= 0:
                raise ValueError("a vqa model with model.image = true needs the image features' size (image_dim)")
            self.cells = nn.Linear(dims.image_dim, size)
            self.positions = nn.Linear(2, size, bias=False)
            kind = cfg.attention
            self.hops = nn.ModuleList(Attention(kind, size, size) for _ in range(cfg.hops if kind != "none" else 0))
        self.dropout = nn.Dropout(cfg.dropout)
        self.hidden = nn.Linear(size, size)
        self.classifier = nn.Linear(size, dims.output_size)

    def project(self, grid: Tensor) -> Tensor:
        """grid: (batch, cells, image_dim) -> v: (batch, cells, size)."""
        where = cell_positions(grid.size(1), grid.device).to(grid.dtype)
        return torch.tanh(self.cells(self.dropout(grid))) + self.positions(where)[None]

    def attend(self, question: Tensor, lengths: Tensor, grid: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """u_K (batch, size) and the hops' weights (batch, hops, cells) (None without hops)."""
        out, _ = self.encoder(question, lengths)
        u = self.question(out, lengths)
        if not self.image:
            return u, None
        if grid is None:
            raise ValueError("this vqa model looks at the image: pass its grid features")
        v = self.project(grid)
        u = u + v.mean(dim=1)
        mask = torch.ones(v.shape[:2], dtype=torch.bool, device=v.device)
        weights = []
        for hop in self.hops:
            context, a = hop(u[:, None], hop.keys(v), v, mask)
            u = u + context[:, 0]
            weights.append(a[:, 0])
        return u, torch.stack(weights, dim=1) if weights else None

    def forward(self, question: Tensor, lengths: Tensor, grid: Tensor | None = None) -> Tensor:
        """question: (batch, time) ids; lengths: (batch,) >= 1 on the CPU; grid: (batch, cells,
        image_dim) features (unused by a question-only model). Returns logits (batch, answers)."""
        u, _ = self.attend(question, lengths, grid)
        return self.classifier(self.dropout(torch.tanh(self.hidden(self.dropout(u)))))

    def attention(self, question: Tensor, lengths: Tensor, grid: Tensor) -> Tensor:
        """The weights (batch, hops, cells) each hop puts on the cells (each row sums to 1)."""
        _, weights = self.attend(question, lengths, grid)
        if weights is None:
            raise ValueError("this vqa model has no attention over the image (model.image = false or "
                             "model.attention = none)")  # fmt: skip
        return weights
