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
