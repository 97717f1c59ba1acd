"""The benchmark script runs, writes its JSON and markdown, and updates its docs block in place."""

from __future__ import annotations

import json

import pytest

from benchmarks import bench, common


def test_quick_layer_benchmark(tmp_path):
    argv = ["--quick", "--only", "layers", "--out", str(tmp_path), "--device", "cpu"]
    assert bench.main(argv) == 0
    result = json.loads((tmp_path / "bench.json").read_text())
    rows = result["benchmarks"]["layers"]
    assert {r["cell"] for r in rows} == {"lstm", "gru", "rnn"}
    assert result["peak"]["tflops"] > 0
    for r in rows:
        assert r["fused_tok_s"] > 0 and r["reference_tok_s"] > 0
    md = (tmp_path / "bench.md").read_text()
    assert "| lstm |" in md
    # the docs block names the command that reproduces it
    assert result["command"] == "python -m benchmarks.bench " + " ".join(argv)
    assert f"Command: `python -m benchmarks.bench {' '.join(argv)}`" in md


def test_an_unknown_benchmark_is_refused(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--only", "nothing"])
    assert "invalid choice: 'nothing'" in capsys.readouterr().err


def test_flops_per_token_follow_the_gate_count():
    assert bench.rnn_flops_per_token("lstm", 3, 5) == 8 * 5 * (3 + 5)
    assert bench.rnn_flops_per_token("gru", 3, 5) == 6 * 5 * (3 + 5)
    assert bench.rnn_flops_per_token("rnn", 3, 5) == 2 * 5 * (3 + 5)


def test_docs_block_is_replaced_not_appended(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nhand-written notes\n")
    common.write_docs("first\n", "cpu", doc)
    common.write_docs("second\n", "cpu", doc)
    text = doc.read_text()
    assert "hand-written notes" in text and "second" in text and "first" not in text
    assert text.count("<!-- bench:cpu -->") == 1


def test_recipe_flop_counts_by_hand():
    from benchmarks.music import train_flops_per_frame
    from benchmarks.translation import train_flops_per_target_token
    from seq2seq.config import ModelConfig
    from seq2seq.nn.models import Dims

    m = ModelConfig(cell="gru", embed_dim=2, hidden_size=3, layers=1, bidirectional=True, attention="general")
    assert m.input_feeding and not m.tie_embeddings
    # encoder 2 dirs * 2*3*3*(2+3) + keys 2*6*3 = 216 per source token (x2 source tokens per target);
    # decoder 2*3*3*(2+3+3) = 144; attention over 4 steps 2*4*3 + 2*4*6 + 2*9*3 = 126; output 2*3*5 = 30
    dims = Dims(input_vocab=7, output_size=5)
    assert train_flops_per_target_token(m, dims, src_per_tgt=2.0, src_len=4.0) == 3 * (216 * 2 + 144 + 126 + 30)
    lm = ModelConfig(kind="language_model", cell="lstm", embed_dim=4, hidden_size=3, layers=1, bidirectional=False)
    frames = Dims(input_dim=88, output_size=88, output="sigmoid")
    assert train_flops_per_frame(lm, frames) == 3 * (2 * 88 * 4 + 2 * 4 * 3 * (4 + 3) + 2 * 3 * 88)


def test_rate_is_the_logged_items_over_the_logged_seconds(tmp_path):
    """The recipe benchmarks' rate: the trainer's own ``items`` and ``seconds`` after the warm-up steps."""
    records = [
        {"kind": "train", "step": 1, "items": 100.0, "seconds": 9.0, "items_per_s": 11.1, "elapsed_s": 9.0},
        {"kind": "train", "step": 2, "items": 300.0, "seconds": 1.0, "items_per_s": 300.0, "elapsed_s": 10.0},
        {"kind": "valid", "step": 2, "loss": 1.0},
        {"kind": "train", "step": 4, "items": 500.0, "seconds": 3.0, "items_per_s": 166.7, "elapsed_s": 13.0},
    ]
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert common.train_rate(path, skip=1) == pytest.approx(800 / 4.0)
    assert common.train_rate(path, skip=0) == pytest.approx(900 / 13.0)
    assert common.train_rate(path, skip=4) == 0.0


def test_real_training_logs_give_the_tokens_it_trained_on(tmp_path):
    """``train_rate`` on a metrics.jsonl the Trainer wrote: the logged items are the batches'
    target tokens (the demo recipe's numbers corpus, a few steps of a tiny model)."""
    from seq2seq.registry import load_config
    from seq2seq.trainer import Trainer
    from seq2seq.translation.subwords import PAD

    cfg = load_config(
        "translation/demo",
        ["data.generated_train=200", "data.generated_valid=10", "data.generated_test=10", "model.embed_dim=8",
         "model.hidden_size=8", "train.batch_tokens=300", "train.max_steps=4", "train.log_every=1",
         "train.eval_every=1000000", "train.progress=false", "train.device=cpu", f"train.out_dir={tmp_path / 'run'}"],
    )  # fmt: skip
    trainer = Trainer.from_config(cfg)
    expected = sum(int((b["tgt_out"] != PAD).sum()) for b in list(trainer.batches(0))[:4])
    trainer.fit()
    records = common.train_records(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert sum(r["items"] for r in records) == expected
    rate = common.train_rate(tmp_path / "run" / "metrics.jsonl", skip=0)
    assert rate == pytest.approx(expected / sum(r["seconds"] for r in records))


def test_table_shows_every_rows_columns():
    text = common.table([{"a": 1}, {"b": 2.5}])
    assert text.splitlines()[0] == "| a | b |" and "| 1 |  |" in text and "|  | 2.5 |" in text
