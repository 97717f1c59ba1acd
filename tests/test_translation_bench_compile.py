"""``make bench --only compile``: the batches, the split loss it times, its failure rows, a quick run."""

from __future__ import annotations

import json

import pytest
import torch

from seq2seq import bench
from seq2seq.config import ModelConfig
from seq2seq.nn.models import build_model
from seq2seq.runtime import has_cpp_compiler
from seq2seq.translation import bench_compile as bc
from seq2seq.translation.subwords import BOS, EOS, PAD


def test_generated_batches_are_capped_bucketed_and_framed():
    batches = bc.generated_batches(vocab=50, sentences=200, batch_tokens=300, count=3, seed=1)
    again = bc.generated_batches(vocab=50, sentences=200, batch_tokens=300, count=3, seed=1)
    assert len(batches) == 3
    for (src, src_lengths, tgt_in, tgt_out), b in zip(batches, again, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(b, (src, src_lengths, tgt_in, tgt_out), strict=True))
        assert tgt_in.numel() <= 300  # batch_tokens caps the padded target tokens
        assert (tgt_in[:, 0] == BOS).all() and tgt_in.shape == tgt_out.shape
        tgt_lengths = (tgt_out != PAD).sum(1)
        assert (tgt_out[torch.arange(len(tgt_out)), tgt_lengths - 1] == EOS).all()
        assert torch.equal(src_lengths, (src != PAD).sum(1))
        assert int(src.max()) < 50 and int(src[src != PAD].min()) >= 4  # never a special id
    assert len(batches[0][0]) >= len(batches[-1][0])  # the fullest groups first


def test_split_loss_is_the_models_own_loss():
    """The eager variant times exactly what the translation task computes: same (sum, count)."""
    m = ModelConfig(cell="lstm", embed_dim=8, hidden_size=12, layers=2, bidirectional=True, attention="general")
    m.input_vocab = m.output_size = 30
    m.tie_embeddings, m.bridge, m.input_feeding = True, True, False
    torch.manual_seed(0)
    model = build_model(m).eval()
    batch = bc.generated_batches(vocab=30, sentences=40, batch_tokens=200, count=1)[0]
    split = bc.split_loss(model, bc.decoder_head(model.decoder, 0.1))(batch)
    whole = bc.whole_loss(model, 0.1)(batch)
    assert torch.allclose(split[0], whole[0], rtol=1e-5) and int(split[1]) == int(whole[1])
    assert int(whole[1]) == int((batch[3] != PAD).sum())
    m.input_feeding = True
    with pytest.raises(ValueError, match="input_feeding"):
        bc.split_loss(build_model(m), bc.decoder_head(model.decoder, 0.1))


def test_a_variant_that_fails_to_compile_is_a_row_not_a_crash(monkeypatch):
    def no_compiler(*args, **kwargs):
        raise RuntimeError("no C++ compiler found\nsecond line")

    monkeypatch.setattr(torch, "compile", no_compiler)
    rows = bc.bench_compile(torch.device("cpu"), 1.0, quick=True)
    by_variant = {r["variant"]: r for r in rows}
    assert by_variant["eager"]["tgt_tok_s"] > 0 and by_variant["eager"]["vs_eager"] == 1.0
    assert by_variant["head compiled"]["error"] == "RuntimeError: no C++ compiler found"
    assert "tgt_tok_s" not in by_variant["head compiled"]


def test_an_input_feeding_recipe_is_timed_without_the_head_split(monkeypatch):
    """With input feeding attention runs inside the step loop: eager times the task's own loss
    and the head variant, which would need a whole-target decoder, is left out, not an error."""
    m = ModelConfig(cell="lstm", embed_dim=8, hidden_size=12, layers=1, bidirectional=True, attention="general")
    m.input_vocab = m.output_size = 30
    m.input_feeding = True
    monkeypatch.setattr(bc, "settings", lambda quick: (m, "off", 0.1, 200, 1))
    rows = bc.bench_compile(torch.device("cpu"), 1.0, quick=True)
    assert [r["variant"] for r in rows] == ["eager", "explain (whole model)"]
    assert rows[0]["tgt_tok_s"] > 0 and "error" not in rows[0] and rows[0]["model"].endswith("input feeding")


@pytest.mark.slow
@pytest.mark.skipif(not has_cpp_compiler(), reason="torch.compile's CPU backend needs a C++ compiler")
def test_quick_compile_benchmark(tmp_path):
    assert bench.main(["--quick", "--only", "compile", "--out", str(tmp_path), "--device", "cpu"]) == 0
    rows = json.loads((tmp_path / "bench.json").read_text())["benchmarks"]["compile"]
    eager, head, explain = rows
    assert [r["variant"] for r in rows] == ["eager", "head compiled", "explain (whole model)"]
    assert "error" not in head, head.get("error")
    assert eager["vs_eager"] == 1.0 and eager["compile_s"] == 0.0
    assert head["tgt_tok_s"] > 0 and head["compile_s"] > 0
    assert head["vs_eager"] == pytest.approx(head["tgt_tok_s"] / eager["tgt_tok_s"])
    # Same initial weights and data: the compiled head computes the same loss (dropout masks differ).
    assert head["first_loss"] == pytest.approx(eager["first_loss"], rel=0.02)
    assert explain["graph_breaks"] >= 2 and "LSTM" in explain["break_reasons"]
    assert "| head compiled |" in (tmp_path / "bench.md").read_text()
