"""``make bench-peers`` without JoeyNMT installed: the peer's config is the fair one, its logs and
ours are read right, unfair or broken runs are refused, the data slice is shared, and a missing
data folder or peer environment gives one clear line."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from benchmarks import bench_peers as bp
from benchmarks import peer_joeynmt as joey
from benchmarks.peer_joeynmt import PeerError
from seq2seq.config import to_toml
from seq2seq.registry import load_config

SIZE = joey.ModelSize(embed_dim=96, hidden_size=128, layers=2, dropout=0.25, input_feeding=True)
BUDGET = joey.TrainBudget(lr=5e-05, batch_tokens=1500, epochs=3, clip_norm=5.0, seed=7)
SEARCH = joey.Search(beam=5, alpha=1.0, batch_tokens=900)
PATHS = {"train": "/d/train", "dev": "/d/valid", "test": "/d/test", "spm": "/d/spm.model", "vocab": "/d/vocab.txt"}

# Lines as JoeyNMT 2.3.0 writes them (from a real run).
LOG = """\
2026-11-24 08:26:46,276 - INFO - joeynmt.model - Total params: 241024
2026-11-24 08:26:47,539 - INFO - joeynmt.builders - Adam(lr=0.002, weight_decay=0.0, betas=[0.9, 0.999])
2026-11-24 08:26:47,539 - INFO - joeynmt.builders - ExponentialLR(gamma=1.0)
2026-11-24 08:26:47,786 - INFO - joeynmt.training - Epoch   1, Step:        1, Batch Loss:     6.207903, \
Batch Acc: 0.001366, Tokens per Sec:     2978, Lr: 0.002000
2026-11-24 08:26:47,934 - INFO - joeynmt.training - Epoch   1, Step:        2, Batch Loss:     6.143568, \
Batch Acc: 0.006329, Tokens per Sec:     7531, Lr: 0.002000
2026-11-24 08:26:48,106 - INFO - joeynmt.training - Epoch   1, total training loss: 12.35, num. of seqs: 300, \
num. of tokens: 9070, 2.1765[sec]
2026-11-24 08:26:48,224 - INFO - joeynmt.training - Epoch   2, Step:        3, Batch Loss:     5.985948, \
Batch Acc: 0.051581, Tokens per Sec:    10219, Lr: {lr}
2026-11-24 08:26:48,467 - INFO - joeynmt.training - Epoch   2, total training loss: 5.99, num. of seqs: 300, \
num. of tokens: 9070, 1.8235[sec]
"""
# PyYAML (YAML 1.1) reads a float only with a dot and a signed exponent.
YAML11_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?$")


def test_peer_config_has_the_fair_settings():
    cfg = joey.config(SIZE, BUDGET, SEARCH, PATHS, Path("/m"), "train")
    t, enc, dec = cfg["training"], cfg["model"]["encoder"], cfg["model"]["decoder"]
    # a constant rate: exponential decay by 1.0, never stopped by learning_rate_min
    assert (t["scheduling"], t["decrease_factor"], t["learning_rate"]) == ("exponential", 1.0, 5e-05)
    assert t["learning_rate_min"] < t["learning_rate"]
    assert t["normalization"] == "tokens" and t["label_smoothing"] == 0.0 and t["clip_grad_norm"] == 5.0
    assert (t["batch_type"], t["batch_size"], t["epochs"]) == ("token", 1500, 3)
    assert t["validation_freq"] > 10**6 and t["validation_freq"] % t["logging_freq"] == 0
    for part in (enc, dec):
        assert (part["rnn_type"], part["hidden_size"], part["num_layers"]) == ("lstm", 128, 2)
        assert part["embeddings"]["embedding_dim"] == 96
    assert enc["bidirectional"] is True
    assert (dec["attention"], dec["input_feeding"], dec["init_hidden"]) == ("luong", True, "bridge")
    assert cfg["data"]["src"]["voc_file"] == cfg["data"]["trg"]["voc_file"] == "/d/vocab.txt"
    assert "test" not in cfg["data"] and cfg["use_cuda"] is False
    test = joey.config(SIZE, BUDGET, SEARCH, PATHS, Path("/m"), "test")
    assert test["data"]["test"] == "/d/test" and "train" not in test["data"]
    assert test["testing"]["load_model"] == "/m/latest.ckpt"
    assert (test["testing"]["beam_size"], test["testing"]["beam_alpha"]) == (5, 1.0)
    with pytest.raises(ValueError, match="mode"):
        joey.config(SIZE, BUDGET, SEARCH, PATHS, Path("/m"), "translate")


def test_yaml_floats_stay_floats_for_pyyaml(tmp_path):
    assert joey.yaml_scalar(2e-06) == "2.0e-06"  # '2e-06' would be read back as a string
    assert [joey.yaml_scalar(x) for x in (0.002, 1.0, 3, True, None, "a b")] == [
        "0.002", "1.0", "3", "true", "null", '"a b"',
    ]  # fmt: skip
    path = joey.write_config(joey.config(SIZE, BUDGET, SEARCH, PATHS, Path("/m"), "train"), tmp_path / "c.yaml")
    text = path.read_text()
    assert "\n  learning_rate: 5.0e-05\n" in text and "\n  adam_betas: [0.9, 0.999]\n" in text
    floats = re.findall(r":\s*([-+0-9.e]+)$", text, flags=re.M) + re.findall(r"([-+0-9.e]+)(?=[,\]])", text)
    for value in (v for v in floats if "." in v or "e" in v):
        assert YAML11_FLOAT.match(value), value


def test_our_recipe_matches_the_peer_config(tmp_path):
    s = bp.Settings(embed_dim=96, hidden_size=128, layers=2, dropout=0.25, lr=5e-05, batch_tokens=1500, epochs=3)
    data = bp.Slice(tmp_path, tmp_path / "spm.model", tmp_path / "vocab.txt", 500, 10, 0, 5)
    cfg = bp.ours_config(s, data, tmp_path / "run", False, 42)
    recipe = tmp_path / "ours.toml"
    recipe.write_text(to_toml(cfg, bp.RECIPE_HEADER))
    assert recipe.read_text().startswith("# Written by python -m benchmarks.bench_peers")
    assert load_config(recipe) == cfg  # the subprocess trains exactly this config
    m, t = cfg.model, cfg.train
    assert (m.cell, m.embed_dim, m.hidden_size, m.layers, m.bidirectional) == ("lstm", 96, 128, 2, True)
    assert (m.attention, m.input_feeding, m.dropout, m.tie_embeddings) == ("general", False, 0.25, False)
    assert (t.scheduler, t.lr, t.batch_tokens, t.epochs, t.max_steps) == ("constant", 5e-05, 1500, 3, 42)
    # validation only after the last timed step, and every step logged
    assert (t.eval_every, t.log_every, t.device, t.amp) == (42, 1, "cpu", "off")
    assert cfg.data.subword_models == (str(tmp_path / "spm.model"),)
    assert cfg.data.train_src == str(tmp_path / "train.en")


def test_peer_log_is_parsed_and_a_constant_rate_accepted():
    log = joey.parse_train_log(LOG.format(lr="0.002000"))
    assert (log.tokens, log.sentences, log.epochs, log.steps, log.params) == (18140, 600, 2, 3, 241024)
    assert log.seconds == pytest.approx(4.0)
    assert log.tokens_per_s == pytest.approx(18140 / 4.0)
    assert log.lrs == [0.002] * 3 and log.gamma == 1.0
    joey.check_constant_lr(log, 0.002)


def test_a_peer_whose_rate_dropped_is_refused():
    # what scheduling: "decaying" does at the first epoch boundary
    log = joey.parse_train_log(LOG.format(lr="0.000200"))
    with pytest.raises(PeerError, match="learning rate 0.0002 logged, configured 0.002"):
        joey.check_constant_lr(log, 0.002)
    decaying = joey.parse_train_log(LOG.format(lr="0.002000").replace("ExponentialLR(gamma=1.0)", "StepLR"))
    with pytest.raises(PeerError, match="ExponentialLR"):
        joey.check_constant_lr(decaying, 0.002)


def test_unfinished_peer_logs_are_errors():
    head = LOG.split("2026-11-24 08:26:48,106")[0]
    with pytest.raises(PeerError, match="no epoch summary"):
        joey.parse_train_log(head, "x.log")
    with pytest.raises(PeerError, match="x.log: no logged step"):
        joey.parse_train_log("\n".join(line for line in LOG.splitlines() if "Step:" not in line), "x.log")
    assert joey.parse_generation_seconds("... - Generation took 4.4749[sec].\n") == pytest.approx(4.4749)
    with pytest.raises(PeerError, match="found 0"):
        joey.parse_generation_seconds("nothing here")


def _metrics(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_our_metrics_give_tokens_and_step_seconds(tmp_path):
    # items and seconds are read as logged, never rebuilt from the rate or the elapsed time
    records = [
        {"kind": "train", "step": 1, "lr": 0.002, "items": 500.0, "seconds": 0.5, "items_per_s": 0.0, "elapsed_s": 9.0},
        {"kind": "train", "step": 2, "lr": 0.002, "items": 300.0, "seconds": 1.0, "items_per_s": 0.0, "elapsed_s": 9.0},
        {"kind": "valid", "step": 2, "bleu": 1.0},
    ]
    stats = bp.parse_metrics(_metrics(tmp_path / "m.jsonl", records))
    assert (stats.tokens, stats.steps, stats.lrs) == (800, 2, [0.002, 0.002])
    assert stats.seconds == pytest.approx(1.5) and stats.tokens_per_s == pytest.approx(800 / 1.5)
    bp.check_constant(stats.lrs, 0.002, "ours")
    with pytest.raises(PeerError, match="ours: learning rate 0.001"):
        bp.check_constant([0.002, 0.001], 0.002, "ours")


def test_a_validation_inside_the_timed_steps_is_an_error(tmp_path):
    records = [
        {"kind": "train", "step": 1, "lr": 0.002, "items": 500.0, "seconds": 0.5},
        {"kind": "valid", "step": 1, "bleu": 1.0},
        {"kind": "train", "step": 2, "lr": 0.002, "items": 300.0, "seconds": 8.5},
    ]
    with pytest.raises(PeerError, match=r"m.jsonl:3: a validation ran inside the timed steps"):
        bp.parse_metrics(_metrics(tmp_path / "m.jsonl", records))
    with pytest.raises(PeerError, match="no training record"):
        bp.parse_metrics(_metrics(tmp_path / "m.jsonl", []))
    (tmp_path / "bad.jsonl").write_text('{"kind": "train"\n')
    with pytest.raises(PeerError, match="bad.jsonl:1: not a JSON record"):
        bp.parse_metrics(tmp_path / "bad.jsonl")
    old = [{"kind": "train", "step": 1, "lr": 0.002, "items_per_s": 1000.0, "elapsed_s": 0.5}]
    with pytest.raises(PeerError, match="old.jsonl:1: a train record without 'items'"):
        bp.parse_metrics(_metrics(tmp_path / "old.jsonl", old))


def test_both_must_train_on_the_same_tokens_and_torch():
    bp.check_same_data(18140, 18140, "feed")
    with pytest.raises(PeerError, match="ours trained on 18140 target tokens, JoeyNMT on 18500"):
        bp.check_same_data(18140, 18500, "feed")
    import torch

    bp.check_versions({"joeynmt": "2.3.0", "torch": torch.__version__.split("+")[0], "sentencepiece": "0.2.1"})
    with pytest.raises(PeerError, match="torch 2.0.0 in the peer environment"):
        bp.check_versions({"joeynmt": "2.3.0", "torch": "2.0.0", "sentencepiece": "0.2.1"})


def _corpus(root: Path) -> Path:
    """A tiny Multi30k-shaped folder: gzipped train / val / test_2016_flickr in en and de."""
    words = ["a", "dog", "runs", "on", "the", "grass", "man", "rides", "bike", "two", "kids", "play"]
    wörter = ["ein", "hund", "läuft", "auf", "dem", "gras", "mann", "fährt", "rad", "zwei", "kinder", "spielen"]
    pairs = [(" ".join(words[i % 12 : i % 12 + 4]), " ".join(wörter[i % 12 : i % 12 + 4])) for i in range(60)]
    pairs[3] = ("a", "ein hund läuft auf dem gras mann fährt rad zwei kinder spielen")  # length ratio > 3
    for split, n in (("train", 60), ("val", 10), ("test_2016_flickr", 8)):
        for lang, k in (("en", 0), ("de", 1)):
            with gzip.open(root / f"{split}.{lang}.gz", "wt", encoding="utf-8") as f:
                f.write("".join(p[k] + "\n" for p in pairs[:n]))
    return root


def test_the_slice_and_its_shared_vocabulary(tmp_path):
    data = bp.prepare_slice(_corpus(tmp_path), tmp_path / "out", bp.Settings(train_sentences=50, vocab_size=60))
    train_en = (tmp_path / "out" / "train.en").read_text().splitlines()
    assert data.train_pairs == len(train_en) == 49 and data.dropped == 1  # the ratio > 3 pair
    assert "a" not in train_en
    assert (tmp_path / "out" / "test.de").read_text().splitlines()[0] == "ein hund läuft auf"
    assert data.test_sentences == 8 and len((tmp_path / "out" / "valid.en").read_text().splitlines()) == 10
    vocab = data.vocab.read_text(encoding="utf-8").splitlines()
    assert not set(vocab) & set(joey.SPECIALS)
    assert len(vocab) + len(joey.SPECIALS) == data.pieces  # the same pieces in both toolkits
    with pytest.raises(PeerError, match="lacks the pieces"):
        joey.vocab_lines(["<unk>", "a"])


def test_missing_data_skips_and_missing_peer_is_one_line(tmp_path, capsys):
    assert bp.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 0
    assert "skipped: no Multi30k data" in capsys.readouterr().out
    rc = bp.main(["--data", str(_corpus(tmp_path)), "--peer-python", str(tmp_path / "nope"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "`make bench-peers` creates .venv-peers" in err
    assert bp.main(["--data", str(tmp_path), "--variants", "fast"]) == 2
    assert "--variants 'fast'" in capsys.readouterr().err


def test_report_states_ratios_and_goals():
    side = {
        "params": 10, "steps": 5, "train_tokens": 100, "train_s": 1.0, "cpu_share": 1.0, "translate_s": 2.0,
        "chrf": 20.0,
    }  # fmt: skip
    ours = {**side, "train_tok_s": 300.0, "sent_s": 50.0, "bleu": 5.0, "hyp_len": 10.0, "out_tok_s": 550.0}
    theirs = {**side, "train_tok_s": 100.0, "sent_s": 25.0, "bleu": 4.5, "hyp_len": 20.0, "out_tok_s": 525.0}
    result = {
        "command": "make bench-peers",
        "date": "2026-01-01",
        "machine": {"device": "cpu", "torch": "2.14.1", "python": "3.11"},
        "load": [0.5, 0.5, 0.5],
        "versions": {"joeynmt": "2.3.0", "sentencepiece": "0.2.1"},
        "settings": vars(bp.Settings()),
        "data": {"train_pairs": 4000, "pieces": 4000, "test_sentences": 1000},
        "variants": {
            "feed": {
                "ours": ours,
                "joeynmt": theirs,
                "ratios": {"train": 3.0, "translate": 2.0, "bleu_delta": 0.5, "translate_tokens": 1.05, "hyp_len": 0.5},
                "goals_met": {"train": True, "translate": False, "bleu": True},
            }
        },
    }
    text = bp.render(result)
    assert "training **3.00x** (goal 1.5x: met)" in text
    assert "translation **2.00x** (goal 3.0x: missed)" in text and "BLEU +0.50 (equal or better)" in text
    assert "| input feeding | JoeyNMT |" in text
    # half as long outputs: the sentence rate flatters us, the token rate is said
    assert "Output lengths differ (ours 10.0, JoeyNMT 20.0" in text and "ratio is 1.05x" in text
    result["variants"]["feed"]["ratios"]["hyp_len"] = 1.1
    assert "Output lengths differ" not in bp.render(result)


def test_output_tokens_count_subwords_and_eos(tmp_path):
    data = bp.prepare_slice(_corpus(tmp_path), tmp_path / "out", bp.Settings(train_sentences=50, vocab_size=60))
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(data.spm))
    hyps = ["ein hund", "zwei kinder spielen auf dem gras"]
    assert bp.output_tokens(data.spm, hyps) == sum(len(sp.encode(h)) + 1 for h in hyps)
    assert bp.output_tokens(data.spm, [""]) == 1


def test_a_failing_run_names_its_log(tmp_path):
    import sys

    done = bp.run([sys.executable, "-c", "print('fine')"], tmp_path / "ok.log", threads=1)
    assert done.wall > 0 and (tmp_path / "ok.log").read_text() == "fine\n"
    with pytest.raises(PeerError, match=r"failed \(exit 3\); see .*bad.log: boom"):
        bp.run([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], tmp_path / "bad.log", threads=1)


@pytest.mark.slow
def test_our_training_counts_exactly_the_target_tokens_of_the_slice(tmp_path):
    """Our side end to end on a tiny slice: trained through the CLI for whole epochs, its
    measured tokens are the slice's target subwords + EOS times the epochs (what JoeyNMT counts);
    then translated and profiled as the bench does."""
    import sentencepiece as spm

    s = bp.Settings(train_sentences=50, valid_sentences=5, vocab_size=60, embed_dim=16, hidden_size=16, epochs=2)
    s.batch_tokens = 120
    data = bp.prepare_slice(_corpus(tmp_path), tmp_path / "slice", s)
    stats, proc = bp.train_ours("nofeed", s, data, tmp_path / "work")
    sp = spm.SentencePieceProcessor(model_file=str(data.spm))
    targets = (tmp_path / "slice" / "train.de").read_text(encoding="utf-8").splitlines()
    assert stats.tokens == 2 * sum(len(ids) + 1 for ids in sp.encode(targets))
    recipe = tmp_path / "work" / "ours-nofeed.toml"
    assert stats.steps == 2 * bp.steps_per_epoch(load_config(recipe)) > 2
    assert stats.lrs == [s.lr] * stats.steps and stats.seconds > 0 and proc.cpu > 0
    best = tmp_path / "work" / "ours-nofeed" / "best.pt"
    assert best.is_file()
    lines = (tmp_path / "slice" / "test.en").read_text(encoding="utf-8").splitlines()
    hyps, seconds, params = bp.translate_ours(best, lines, s)
    assert len(hyps) == len(lines) and seconds > 0 and params > 0
    profile = bp.profile_ours(recipe, best, lines, s, tmp_path / "work")
    assert set(profile) == {"train", "translate"} and profile["train"]["top"]
    assert (tmp_path / "work" / "profile-train.txt").is_file()


def test_retranslate_needs_the_last_run_with_the_same_training_settings(tmp_path):
    with pytest.raises(PeerError, match="no .*peers.json; run the bench without --retranslate first"):
        bp.retranslating(tmp_path, bp.Settings())
    settings = vars(bp.Settings(epochs=6, beam=4))
    (tmp_path / "peers.json").write_text(json.dumps({"settings": settings, "variants": {}}), encoding="utf-8")
    # the search may change (beam, batches, amp), the training may not
    assert bp.retranslating(tmp_path, bp.Settings(epochs=6, beam=5, translate_amp="off"))["settings"] == settings
    with pytest.raises(PeerError, match="trained with --epochs 6, not 3; give the same training settings"):
        bp.retranslating(tmp_path, bp.Settings(epochs=3))
