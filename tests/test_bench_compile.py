"""``python -m benchmarks.bench --only compile``: what it times is the en->de recipe's own
training step, both variants from the same state on the same batches; a variant that fails to
compile is a row; a quick run with the real compiler."""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
from pathlib import Path

import pytest
import torch

from benchmarks import bench
from benchmarks import compile as bc
from seq2seq.registry import load_config
from seq2seq.runtime import has_cpp_compiler
from seq2seq.translation.subwords import PAD

CPU = torch.device("cpu")


def _corpus(root: Path, pairs: int = 400) -> Path:
    """A Multi30k-shaped folder (gzipped train / val / test_2016_flickr, en and de) of random
    sentences, long enough for a few batches of the recipe's 1,000 target tokens."""
    rng = random.Random(0)
    en = "a dog man woman child runs rides plays on the grass street bike ball two with red".split()
    de = "ein hund mann frau kind läuft fährt spielt auf dem gras straße rad ball zwei mit rot".split()
    lines = []
    for _ in range(pairs):
        ids = [rng.randrange(len(en)) for _ in range(rng.randint(4, 14))]
        lines.append((" ".join(en[i] for i in ids), " ".join(de[i] for i in ids)))
    for split, n in (("train", pairs), ("val", 30), ("test_2016_flickr", 30)):
        for lang, k in (("en", 0), ("de", 1)):
            with gzip.open(root / f"{split}.{lang}.gz", "wt", encoding="utf-8") as f:
                f.write("".join(p[k] + "\n" for p in lines[:n]))
    return root


def test_the_plan_is_the_en_de_recipe_on_multi30k_or_the_numbers_corpus(tmp_path):
    recipe = load_config(bc.RECIPE)
    fallback = bc.plan(CPU, False, tmp_path, data_dir=tmp_path / "nowhere")
    # the recipe's model and training settings; only the data is the demo's generated corpus
    assert fallback.cfg.model == recipe.model and fallback.cfg.data == load_config(bc.DEMO).data
    assert "no Multi30k at" in fallback.data and "translation/demo" in fallback.data
    ours = {"device": "cpu", "progress": False, "log_every": fallback.count}
    assert fallback.cfg.train == dataclasses.replace(recipe.train, **ours)
    assert (fallback.count, fallback.rounds) == (12, 5)

    quick = bc.plan(CPU, True, tmp_path / "work", data_dir=_corpus(tmp_path))
    assert quick.data.startswith("Multi30k en-de, first 1000 pairs")
    d = quick.cfg.data
    assert d.corpus == "files" and d.train_src == str(tmp_path / "work" / "slice" / "train.en")
    assert d.subword_models == (str(tmp_path / "work" / "slice" / "spm.model"),) and not d.test_src
    m = quick.cfg.model  # --quick shrinks the model, nothing else of the recipe
    assert (m.embed_dim, m.hidden_size, m.layers) == (64, 96, 1)
    assert dataclasses.replace(m, embed_dim=512, hidden_size=512, layers=2) == recipe.model
    assert quick.cfg.train == dataclasses.replace(recipe.train, **{**ours, "log_every": quick.count})


def test_both_variants_time_the_trainers_step_from_the_same_state(tmp_path, monkeypatch):
    """Two eager variants (no compiling, so fast): the trainer's own steps ran (one per batch per
    pass), the tokens are the batches' target tokens, and the same seed and batches give exactly
    the same first-pass loss."""
    monkeypatch.setattr(bc, "VARIANTS", (("eager", False), ("eager again", False)))
    p = bc.plan(CPU, True, tmp_path / "work", data_dir=_corpus(tmp_path))
    rows, runs, batches = bc.time_variants(p, tmp_path / "work")
    assert len(batches) == p.count == 3
    tokens = sum(int((b["tgt_out"] != PAD).sum()) for b in batches)
    a, b = rows
    assert [a["variant"], b["variant"]] == ["eager", "eager again"]
    for name, run in runs.items():
        assert run.trainer.step == (1 + p.rounds) * p.count, name
        assert run.tokens == tokens and len(run.times) == p.rounds
        assert not run.trainer.cfg.compile
    assert a["first_loss"] == b["first_loss"]  # same weights, same dropout masks, same batches
    assert a["vs_eager"] == 1.0 and b["vs_eager"] == pytest.approx(b["tgt_tok_s"] / a["tgt_tok_s"])
    assert a["data"].endswith(f"; 3 batches, {tokens} tgt tokens")
    assert a["model"].startswith("lstm 1x96, V ") and a["model"].endswith(", input feeding")


def test_a_variant_that_fails_to_compile_is_a_row_not_a_crash(tmp_path, monkeypatch):
    def no_compiler(*args, **kwargs):
        raise RuntimeError("no C++ compiler found\nsecond line")

    monkeypatch.setattr(torch, "compile", no_compiler)
    rows = bc.bench_compile(CPU, 1.0, quick=True, data_dir=_corpus(tmp_path))
    by_variant = {r["variant"]: r for r in rows}
    assert list(by_variant) == ["eager", "train.compile", "explain (task loss, whole model)"]
    eager, compiled, explain = rows
    assert eager["tgt_tok_s"] > 0 and eager["vs_eager"] == 1.0 and eager["compile_s"] == 0.0
    assert compiled["error"] == "RuntimeError: no C++ compiler found"
    assert "tgt_tok_s" not in compiled
    # the recurrent layers break the graph of the task's loss over the whole model
    assert explain["graph_breaks"] >= 1 and "LSTM" in explain["break_reasons"]


@pytest.mark.slow
@pytest.mark.skipif(not has_cpp_compiler(), reason="torch.compile's CPU backend needs a C++ compiler")
def test_quick_compile_benchmark(tmp_path):
    assert bench.main(["--quick", "--only", "compile", "--out", str(tmp_path), "--device", "cpu"]) == 0
    rows = json.loads((tmp_path / "bench.json").read_text())["benchmarks"]["compile"]
    eager, compiled, explain = rows
    assert [r["variant"] for r in rows] == ["eager", "train.compile", "explain (task loss, whole model)"]
    assert "error" not in compiled, compiled.get("error")
    assert eager["vs_eager"] == 1.0 and eager["compile_s"] == 0.0
    assert compiled["tgt_tok_s"] > 0 and compiled["compile_s"] > 0
    assert compiled["vs_eager"] == pytest.approx(compiled["tgt_tok_s"] / eager["tgt_tok_s"])
    # Same initial weights, dropout masks and batches: the compiled loss computes the same loss.
    assert compiled["first_loss"] == pytest.approx(eager["first_loss"], rel=1e-3)
    assert "| train.compile |" in (tmp_path / "bench.md").read_text()
