"""The benchmark script runs, writes its JSON and markdown, and updates its docs block in place."""

from __future__ import annotations

import json

from seq2seq import bench


def test_quick_layer_benchmark(tmp_path):
    assert bench.main(["--quick", "--only", "layers", "--out", str(tmp_path), "--device", "cpu"]) == 0
    result = json.loads((tmp_path / "bench.json").read_text())
    rows = result["benchmarks"]["layers"]
    assert {r["cell"] for r in rows} == {"lstm", "gru", "rnn"}
    assert result["peak"]["tflops"] > 0
    for r in rows:
        assert r["fused_tok_s"] > 0 and r["reference_tok_s"] > 0
    assert "| lstm |" in (tmp_path / "bench.md").read_text()


def test_flops_per_token_follow_the_gate_count():
    assert bench.rnn_flops_per_token("lstm", 3, 5) == 8 * 5 * (3 + 5)
    assert bench.rnn_flops_per_token("gru", 3, 5) == 6 * 5 * (3 + 5)
    assert bench.rnn_flops_per_token("rnn", 3, 5) == 2 * 5 * (3 + 5)


def test_docs_block_is_replaced_not_appended(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nhand-written notes\n")
    bench.write_docs("first\n", "cpu", doc)
    bench.write_docs("second\n", "cpu", doc)
    text = doc.read_text()
    assert "hand-written notes" in text and "second" in text and "first" not in text
    assert text.count("<!-- bench:cpu -->") == 1


def test_recipe_flop_counts_by_hand():
    from seq2seq.config import ModelConfig
    from seq2seq.music.bench import train_flops_per_frame
    from seq2seq.translation.bench import train_flops_per_target_token

    m = ModelConfig(cell="gru", embed_dim=2, hidden_size=3, layers=1, bidirectional=True, attention="general")
    m.output_size = 5
    # encoder 2 dirs * 2*3*3*(2+3) + keys 2*6*3 = 216 per source token (x2 source tokens per target);
    # decoder 2*3*3*(2+3+3) = 144; attention over 4 steps 2*4*3 + 2*4*6 + 2*9*3 = 126; output 2*3*5 = 30
    assert train_flops_per_target_token(m, src_per_tgt=2.0, src_len=4.0) == 3 * (216 * 2 + 144 + 126 + 30)
    lm = ModelConfig(kind="language_model", cell="lstm", embed_dim=4, hidden_size=3, layers=1, bidirectional=False)
    lm.input_dim = lm.output_size = 88
    assert train_flops_per_frame(lm) == 3 * (2 * 88 * 4 + 2 * 4 * 3 * (4 + 3) + 2 * 3 * 88)


def test_table_shows_every_rows_columns():
    text = bench.table([{"a": 1}, {"b": 2.5}])
    assert text.splitlines()[0] == "| a | b |" and "| 1 |  |" in text and "|  | 2.5 |" in text
