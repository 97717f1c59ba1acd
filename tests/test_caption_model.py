"""The captioner model kind: attention over the cells sums to 1 and padded frames get none, a
padded batch decodes as each item alone, beam 1 is greedy, an ensemble of one is the model, and
it learns to say which cell of a grid holds a feature (which the pooled vector cannot)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from seq2seq.config import ConfigError, ModelConfig
from seq2seq.nn import build_model
from seq2seq.nn.captioner import grid_codes
from seq2seq.nn.models import READS, Dims
from seq2seq.search import Ensemble, beam_search, greedy

SMALL = ModelConfig(kind="captioner", cell="lstm", embed_dim=8, hidden_size=12, layers=1, dropout=0.0,
                    attention="general")  # fmt: skip
DIMS = Dims(output_size=9, input_dim=5)


def test_attention_sums_to_one_over_the_cells_and_padded_frames_get_none():
    model = build_model(SMALL, DIMS).eval()
    lengths = torch.tensor([6, 3, 1])
    tgt_in = torch.tensor([[1, 4, 5, 6]] * 3)
    w = model.attention_weights(torch.randn(3, 6, 5), lengths, tgt_in)
    assert w.shape == (3, 4, 6)
    assert torch.allclose(w.sum(-1), torch.ones(3, 4), atol=1e-6)
    pad = (torch.arange(6)[None, :] >= lengths[:, None])[:, None, :].expand_as(w)
    assert (w[pad] == 0).all() and (w[~pad] > 0).all()
    assert (w[2, :, 0] == 1).all()  # a one-frame clip puts every word's attention on it


@pytest.mark.parametrize("attention", ["none", "bahdanau"])
def test_a_padded_batch_is_each_item_alone_and_padding_is_ignored(attention):
    model = build_model(dataclasses.replace(SMALL, attention=attention, cell="gru"), DIMS).double().eval()
    lengths = torch.tensor([5, 2, 4])
    x = torch.randn(3, 5, 5, dtype=torch.double)
    tgt_in = torch.tensor([[1, 4, 5], [1, 6, 3], [1, 7, 7]])
    batched = model(x, lengths, tgt_in)
    for i, n in enumerate(lengths.tolist()):
        alone = model(x[i : i + 1, :n], torch.tensor([n]), tgt_in[i : i + 1])
        assert (batched[i] - alone[0]).abs().max() < 1e-10
    noisy = x.clone()
    noisy[torch.arange(5)[None, :] >= lengths[:, None]] = 1e3
    assert (model(noisy, lengths, tgt_in) - batched).abs().max() < 1e-10


@pytest.mark.parametrize("attention", ["none", "general"])
def test_beam_one_is_greedy_and_an_ensemble_of_one_is_the_model(attention):
    model = build_model(dataclasses.replace(SMALL, attention=attention), DIMS).eval()
    x, lengths = torch.randn(4, 6, 5), torch.tensor([6, 6, 3, 2])
    first = torch.full((4,), DIMS.bos_id)
    ids, _ = greedy(model, model.start(x, lengths), first, 7, DIMS.eos_id)
    greedy_lists = [[t for t in row if t not in (DIMS.eos_id, DIMS.pad_id)] for row in ids.tolist()]
    beams = beam_search(model, model.start(x, lengths), first, 7, DIMS.eos_id, beam_size=1, alpha=0.0)
    assert [h[0].tokens for h in beams] == greedy_lists
    ensemble = Ensemble([model])
    wide = beam_search(model, model.start(x, lengths), first, 7, DIMS.eos_id, beam_size=3, alpha=1.0)
    same = beam_search(ensemble, ensemble.start(x, lengths), first, 7, DIMS.eos_id, beam_size=3, alpha=1.0)
    assert [h[0].tokens for h in wide] == [h[0].tokens for h in same]


def where_task(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Grids of 9 cells of 4 features, one cell marked (a large first feature): the caption is
    the marked cell's row then column (ids 3..5, 6..8), so only attention to the cell, which
    carries its index, can say it; the cells' mean is nearly the same for every grid."""
    x = torch.randn(n, 9, 4, generator=generator) * 0.1
    where = torch.randint(0, 9, (n,), generator=generator)
    x[torch.arange(n), where, 0] = 3.0
    return x, torch.stack([3 + where // 3, 6 + where % 3], dim=1)


def train_where(attention: str, grid: int = 0, steps: int = 150) -> float:
    """Train a small captioner on the marked-cell task; the share of new grids it captions exactly."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    cfg = dataclasses.replace(SMALL, attention=attention, hidden_size=24, embed_dim=8, input_feeding=False)
    model = build_model(cfg, Dims(output_size=9, input_dim=4, grid=grid))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    lengths = torch.full((64,), 9)
    for _ in range(steps):
        x, y = where_task(64, g)
        tgt_in = torch.cat([torch.full((64, 1), 1), y], dim=1)
        tgt_out = torch.cat([y, torch.full((64, 1), 2)], dim=1)
        loss = torch.nn.functional.cross_entropy(model(x, lengths, tgt_in).transpose(1, 2), tgt_out)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x, y = where_task(200, g)
    ids, _ = greedy(model, model.start(x, torch.full((200,), 9)), torch.full((200,), 1), 3, 2)
    return (ids[:, :2] == y).all(1).float().mean().item()


def test_attention_learns_where_and_the_pooled_vector_cannot():
    attended, pooled = train_where("bahdanau"), train_where("none")
    assert attended >= 0.95, attended
    assert pooled <= 0.5, pooled


def test_a_grid_codes_rows_and_columns_apart():
    """Cells of one row share the first half of their codes, cells of one column the second; every
    cell's code is its own; a captioner of 3 x 3 grids refuses another number of cells."""
    codes = grid_codes(3, 10, torch.device("cpu")).view(3, 3, 10)
    assert torch.equal(codes[:, :1, :5].expand(3, 3, 5), codes[:, :, :5])  # the row's code
    assert torch.equal(codes[:1, :, 5:].expand(3, 3, 5), codes[:, :, 5:])  # the column's code
    assert len({tuple(c.tolist()) for c in codes.view(9, 10)}) == 9
    model = build_model(SMALL, Dims(output_size=9, input_dim=5, grid=3))
    with pytest.raises(ValueError, match="8 cells given to a captioner of 3 x 3 grids"):
        model.start(torch.zeros(1, 8, 5), torch.tensor([8]))


def test_the_grid_code_learns_where_sooner_than_the_index_code():
    """With rows and columns coded apart the marked-cell task is learnt in fewer steps than with
    the row-major index's code (where the column is the index modulo 3)."""
    by_grid, by_index = train_where("bahdanau", grid=3, steps=60), train_where("bahdanau", steps=60)
    assert by_grid >= 0.95 and by_grid > by_index, (by_grid, by_index)


def test_captioner_keys_and_inputs():
    assert {"attention", "input_feeding"} <= READS["captioner"] and "bidirectional" not in READS["captioner"]
    with pytest.raises(ConfigError, match="feature vectors"):
        build_model(SMALL, Dims(output_size=9, input_vocab=20))
    with pytest.raises(ValueError, match="no attention weights"):
        build_model(dataclasses.replace(SMALL, attention="none"), DIMS).attention_weights(
            torch.zeros(1, 2, 5), torch.tensor([2]), torch.tensor([[1]])
        )
