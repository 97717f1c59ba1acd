"""Core layers: reference cells equal the fused kernels, packing and padding are invisible,
truncated BPTT equals the full forward, attention ignores padded source steps."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from seq2seq.config import ConfigError, ModelConfig
from seq2seq.nn import Attention, RecurrentStack, build_model
from seq2seq.nn.encoder import WordDropout
from seq2seq.nn.models import Dims, length_mask


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_reference_cells_match_fused(cell, bidirectional):
    torch.manual_seed(1)
    fused = RecurrentStack(cell, 5, 7, layers=2, bidirectional=bidirectional).double()
    ref = RecurrentStack(cell, 5, 7, layers=2, bidirectional=bidirectional, reference=True).double()
    ref.load_state_dict(fused.state_dict())  # same parameter names and shapes
    x = torch.randn(4, 9, 5, dtype=torch.double)
    lengths = torch.tensor([9, 3, 6, 1])
    state = tuple(s.double().normal_() for s in fused.zero_state(4))
    out_f, st_f = fused(x, lengths, state)
    out_r, st_r = ref(x, lengths, state)
    assert (out_f - out_r).abs().max() < 1e-12  # float64: the same equations, to rounding (measured ~1e-15)
    for a, b in zip(st_f, st_r, strict=True):
        assert (a - b).abs().max() < 1e-12
    # ... and the same gradients, for every parameter
    weights = torch.randn_like(out_f)
    grads = []
    for stack, (out, st) in ((fused, (out_f, st_f)), (ref, (out_r, st_r))):
        stack.zero_grad()
        ((out * weights).sum() + sum(s.sum() for s in st)).backward()
        grads.append({n: p.grad.clone() for n, p in stack.named_parameters()})
    for name in grads[0]:
        assert (grads[0][name] - grads[1][name]).abs().max() < 1e-12, name


def test_reference_cells_expose_gates():
    ref = RecurrentStack("lstm", 3, 4, layers=1, reference=True)
    ref.rnn.record = True
    out, (h, c) = ref(torch.randn(2, 5, 3), torch.tensor([5, 2]))
    acts = ref.rnn.activations[(0, 0)]
    assert set(acts) == {"i", "f", "g", "o", "c", "h"}
    assert acts["c"].shape == (2, 5, 4)
    # gates are probabilities, the candidate is in (-1, 1), and c_T is the returned cell state
    assert acts["f"][0].min() >= 0 and acts["f"][0].max() <= 1
    assert acts["g"].abs().max() < 1
    assert torch.allclose(acts["c"][0, -1], c[0, 0]) and torch.allclose(acts["c"][1, 1], c[0, 1])
    assert torch.equal(acts["h"][1, 2:], torch.zeros(3, 4))  # padded steps recorded as zero


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_packed_batch_equals_each_sequence_alone(cell):
    stack = RecurrentStack(cell, 4, 6, layers=2, bidirectional=True).eval()
    lengths = torch.tensor([2, 7, 4])
    x = torch.randn(3, 7, 4)
    out, state = stack(x, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone, st = stack(x[i : i + 1, :n])
        assert torch.allclose(out[i, :n], alone[0], atol=1e-6)
        assert torch.all(out[i, n:] == 0)
        for s_batch, s_alone in zip(state, st, strict=True):
            assert torch.allclose(s_batch[:, i], s_alone[:, 0], atol=1e-6)


@pytest.mark.parametrize(
    "kind,extra",
    [
        ("encoder_decoder", {"attention": "general"}),
        ("encoder_decoder", {"attention": "bahdanau", "input_feeding": False}),
        ("tagger", {}),
        ("language_model", {"bidirectional": False}),
    ],
)
def test_padding_values_change_nothing(kind, extra):
    cfg = ModelConfig(kind=kind, embed_dim=8, hidden_size=8, layers=2, dropout=0.0, **extra)
    model = build_model(cfg, Dims(input_vocab=12, output_size=12)).eval()
    lengths = torch.tensor([5, 3])
    x = torch.randint(3, 12, (2, 5))
    noisy = x.clone()
    noisy[1, 3:] = torch.randint(3, 12, (2,))  # garbage where the sequence is padding
    tgt = torch.randint(3, 12, (2, 4))
    if kind == "encoder_decoder":
        a, b = model(x, lengths, tgt), model(noisy, lengths, tgt)
        assert torch.allclose(a, b, atol=1e-6)
    else:
        (a, _), (b, _) = model(x, lengths), model(noisy, lengths)
        mask = length_mask(lengths, 5)
        assert torch.allclose(a[mask], b[mask], atol=1e-6)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_truncated_bptt_forward_equals_full(cell):
    cfg = ModelConfig(kind="language_model", cell=cell, embed_dim=6, hidden_size=10)
    model = build_model(cfg, Dims(input_dim=88, output_size=88, output="sigmoid")).eval()
    x = (torch.rand(3, 23, 88) < 0.1).float()
    full, full_state = model(x)
    state, pieces = None, []
    for start in range(0, 23, 5):
        out, state = model(x[:, start : start + 5], None, state)
        pieces.append(out)
    assert torch.allclose(torch.cat(pieces, 1), full, atol=1e-6)
    for a, b in zip(state, full_state, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("kind", ["dot", "general", "bahdanau"])
def test_attention_masks_padded_source(kind):
    attn = Attention(kind, 6, 6)
    memory = torch.randn(2, 5, 6)
    mask = length_mask(torch.tensor([5, 2]), 5)
    query = torch.randn(2, 3, 6)
    ctx, w = attn(query, attn.keys(memory), memory, mask)
    assert torch.allclose(w.sum(-1), torch.ones(2, 3))
    assert torch.all(w[1, :, 2:] == 0)
    memory2 = memory.clone()
    memory2[1, 2:] = 100.0  # padded memory cannot leak into the context
    ctx2, _ = attn(query, attn.keys(memory2), memory2, mask)
    assert torch.allclose(ctx[1], ctx2[1], atol=1e-6)


def test_tied_embeddings_share_one_matrix():
    cfg = ModelConfig(kind="encoder_decoder", embed_dim=8, hidden_size=12, tie_embeddings=True, share_embeddings=True)
    model = build_model(cfg, Dims(input_vocab=20, output_size=20))
    assert model.decoder.out.weight is model.decoder.embed.weight
    assert model.encoder.inputs.embed.weight is model.decoder.embed.weight
    lm = ModelConfig(kind="language_model", embed_dim=8, hidden_size=8, tie_embeddings=True)
    m = build_model(lm, Dims(input_vocab=20, output_size=20))
    assert m.head.weight is m.inputs.embed.weight


def test_build_model_rejects_bad_settings():
    tokens = Dims(input_vocab=5, output_size=5)
    with pytest.raises(ConfigError, match="model.cell: 'transformer' is not one of rnn, lstm, gru"):
        ModelConfig(cell="transformer")
    with pytest.raises(ConfigError, match="dot attention"):
        build_model(ModelConfig(attention="dot", hidden_size=8, bidirectional=True), tokens)
    with pytest.raises(ValueError, match="output"):
        Dims(input_vocab=5, output_size=0)
    with pytest.raises(ConfigError, match="model.word_dropout: must be below 1"):
        ModelConfig(word_dropout=1.0)
    with pytest.raises(ConfigError, match="share_embeddings needs one joint vocabulary"):
        build_model(ModelConfig(share_embeddings=True), Dims(input_vocab=5, output_size=6))


def test_word_dropout_zeroes_whole_tokens_and_rescales_the_rest():
    torch.manual_seed(0)
    emb = torch.randn(64, 50, 8) + 3.0  # no embedding is zero by chance
    drop = WordDropout(0.25).train()
    out = drop(emb)
    zero = (out == 0).all(-1)
    kept = (out != 0).all(-1)
    assert torch.all(zero | kept)  # a token goes whole or stays whole
    assert abs(zero.float().mean().item() - 0.25) < 0.02  # 3,200 tokens: 4 standard deviations
    assert torch.allclose(out[kept], emb[kept] / 0.75)
    assert torch.equal(drop.eval()(emb), emb)


@pytest.mark.parametrize("kind", ["encoder_decoder", "language_model"])
def test_word_dropout_acts_in_training_only(kind):
    cfg = ModelConfig(kind=kind, embed_dim=8, hidden_size=8, dropout=0.0)
    dims = Dims(input_vocab=12, output_size=12)
    plain = build_model(cfg, dims)
    dropped = build_model(dataclasses.replace(cfg, word_dropout=0.5), dims)
    dropped.load_state_dict(plain.state_dict())  # no new parameters: old checkpoints load
    x, lengths, tgt = torch.randint(3, 12, (4, 7)), torch.tensor([7, 6, 5, 4]), torch.randint(3, 12, (4, 5))

    def run(model):
        return model(x, lengths, tgt) if kind == "encoder_decoder" else model(x, lengths)[0]

    assert torch.equal(run(plain.eval()), run(dropped.eval()))
    torch.manual_seed(1)
    assert not torch.allclose(run(plain.train()), run(dropped.train()))
    if kind == "encoder_decoder":  # both sides: source tokens and the teacher-forced target inputs
        assert dropped.encoder.inputs.word_dropout.p == dropped.decoder.word_dropout.p == 0.5


def test_word_dropout_is_refused_for_feature_inputs():
    cfg = ModelConfig(kind="tagger", embed_dim=8, hidden_size=8, word_dropout=0.3)
    features = Dims(input_dim=6, output_size=3)
    with pytest.raises(ConfigError, match="word_dropout is for token inputs"):
        build_model(cfg, features)
    assert build_model(dataclasses.replace(cfg, word_dropout=0.0), features).encoder.inputs.word_dropout.p == 0.0


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bf16_autocast_runs_recurrent_kernels_in_fp32_where_the_cpu_cannot(cell, monkeypatch):
    """Without AVX-512, oneDNN has no bf16 LSTM: under autocast the stack then runs its kernels in
    float32 (exactly the float32 result) instead of failing with 'could not create a primitive'."""
    from seq2seq.nn import rnn

    stack = RecurrentStack(cell, 4, 6, layers=2, bidirectional=True).eval()
    x, lengths = torch.randn(3, 7, 4), torch.tensor([7, 2, 5])
    plain, _ = stack(x, lengths)
    monkeypatch.setattr(rnn, "cpu_bf16_kernels", lambda cell: False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, state = stack(x.bfloat16(), lengths, tuple(s.bfloat16() for s in stack.zero_state(3)))
    assert out.dtype == torch.float32 and torch.equal(out, stack(x.bfloat16().float(), lengths)[0])
    assert (out - plain).abs().max() < 0.05  # only the input was rounded to bf16
