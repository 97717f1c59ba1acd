"""The classifier model kind: every pooling reads only the real steps (a padded batch equals each
sequence alone), and attention pooling's weights are a distribution over the real steps."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from seq2seq.config import ConfigError, ModelConfig
from seq2seq.nn import build_model
from seq2seq.nn.models import Dims
from seq2seq.nn.pooling import Pooling

SMALL = ModelConfig(kind="classifier", embed_dim=6, hidden_size=5, layers=2, dropout=0.0)


@pytest.mark.parametrize("pooling", ["last", "mean", "attention"])
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("inputs", ["tokens", "features"])
def test_padded_batch_equals_each_sequence_alone(pooling, bidirectional, inputs):
    torch.manual_seed(0)
    cfg = dataclasses.replace(SMALL, pooling=pooling, bidirectional=bidirectional, cell="gru")
    dims = Dims(output_size=3, **({"input_vocab": 20} if inputs == "tokens" else {"input_dim": 4}))
    model = build_model(cfg, dims).double().eval()
    lengths = torch.tensor([7, 2, 5, 1])
    if inputs == "tokens":
        x = torch.randint(4, 20, (4, 7))
        x[torch.arange(7)[None, :] >= lengths[:, None]] = 0  # padding id
    else:
        x = torch.randn(4, 7, 4, dtype=torch.double)
    batched = model(x, lengths)
    assert batched.shape == (4, 3)
    for i, n in enumerate(lengths.tolist()):
        alone = model(x[i : i + 1, :n], torch.tensor([n]))
        assert (batched[i] - alone[0]).abs().max() < 1e-10, (pooling, i)
    # garbage in the padded steps changes nothing either
    if inputs == "features":
        noisy = x.clone()
        noisy[torch.arange(7)[None, :] >= lengths[:, None]] = 1e3
        assert (model(noisy, lengths) - batched).abs().max() < 1e-10


def test_attention_weights_sum_to_one_and_padded_steps_get_none():
    torch.manual_seed(0)
    model = build_model(dataclasses.replace(SMALL, pooling="attention"), Dims(output_size=2, input_dim=3)).eval()
    lengths = torch.tensor([6, 3, 1])
    w = model.attention(torch.randn(3, 6, 3), lengths)
    assert w.shape == (3, 6)
    assert torch.allclose(w.sum(-1), torch.ones(3), atol=1e-6)
    pad = torch.arange(6)[None, :] >= lengths[:, None]
    assert (w[pad] == 0).all() and (w[~pad] > 0).all()
    assert w[2, 0] == 1.0  # a one-step sequence puts everything on its step


def test_last_pooling_takes_each_directions_final_step():
    """Bidirectional `last`: the forward half at the last real step, the backward half at step 0."""
    out = torch.arange(2 * 4 * 4, dtype=torch.float).view(2, 4, 4)
    pooled = Pooling("last", 4, 2)(out, torch.tensor([4, 2]))
    assert pooled.tolist() == [[*out[0, 3, :2].tolist(), *out[0, 0, 2:].tolist()],
                               [*out[1, 1, :2].tolist(), *out[1, 0, 2:].tolist()]]  # fmt: skip
    assert Pooling("mean", 4, 2)(out, torch.tensor([4, 2]))[1].tolist() == out[1, :2].mean(0).tolist()


def test_pooling_is_read_by_classifiers_only():
    with pytest.raises(ConfigError, match="did you mean 'mean'"):
        ModelConfig(kind="classifier", pooling="maen")
    from seq2seq.nn.models import READS

    assert "pooling" in READS["classifier"] and "pooling" not in READS["tagger"]
    with pytest.raises(ValueError, match="no attention weights"):
        build_model(SMALL, Dims(output_size=2, input_dim=3)).attention(torch.zeros(1, 2, 3), torch.tensor([2]))
