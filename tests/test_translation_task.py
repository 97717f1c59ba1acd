"""The translation task: filtering, batches, state in the checkpoint, and learning the demo corpus."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from seq2seq.checkpoint import CheckpointError
from seq2seq.config import ConfigError
from seq2seq.registry import load_config, task_class
from seq2seq.translation.task import TranslationTask, filter_pairs
from seq2seq.translation.text import TextError, write_lines

DEMO = "translation/demo"


def small_cfg(tmp_path, *overrides: str):
    return load_config(
        DEMO,
        [
            f"train.out_dir={tmp_path / 'run'}",
            "train.device=cpu",
            "train.progress=false",
            "data.generated_train=400",
            "data.generated_valid=20",
            "data.generated_test=20",
            "data.vocab_size=120",
            *overrides,
        ],
    )


def test_registered_under_its_name():
    assert task_class("translation") is TranslationTask


def test_filter_pairs_counts_each_reason():
    pairs = [([1] * 3, [1] * 4), ([], [1]), ([1] * 9, [1] * 9), ([1] * 2, [1] * 7), ([1] * 5, [1] * 2)]
    kept, dropped = filter_pairs(pairs, max_len=8, max_ratio=3.0)
    assert kept == [0, 4]  # 5 / 2 = 2.5 <= 3; 7 / 2 = 3.5 > 3
    assert dropped == {"empty": 1, "too long": 1, "length ratio": 1}


def test_overlong_pairs_are_dropped_and_reported(tmp_path, capsys):
    src = ["a b c d e"] * 30 + ["a " * 60, "a", "a b"]
    tgt = ["v w x y z"] * 30 + ["v w", "v w x y z v w x", ""]
    for name, lines in (("tr.en", src), ("tr.de", tgt), ("va.en", src[:3]), ("va.de", tgt[:3])):
        write_lines(tmp_path / name, lines)
    cfg = small_cfg(
        tmp_path,
        "data.corpus=files",
        f"data.train_src={tmp_path / 'tr.en'}",
        f"data.train_tgt={tmp_path / 'tr.de'}",
        f"data.valid_src={tmp_path / 'va.en'}",
        f"data.valid_tgt={tmp_path / 'va.de'}",
        "data.vocab_size=40",
        "data.max_len=30",
        "data.max_ratio=3",
    )
    task = TranslationTask(cfg)
    dims = task.prepare()
    assert len(task.dataset()) == 30
    err = capsys.readouterr().err
    assert "30 of 33 training pairs kept, 3 dropped (1 empty, 1 too long, 1 length ratio" in err
    assert dims.input_vocab == dims.output_size == task.subwords.src_size


def test_batches_are_length_bucketed_token_capped_and_deterministic(tmp_path):
    cfg = small_cfg(tmp_path, "train.batch_tokens=300")
    task = TranslationTask(cfg)
    task.prepare()
    batches = task.train_batches(0)
    assert sorted(i for b in batches for i in b) == list(range(len(task.dataset())))
    for b in batches:
        batch = task.collate([task.dataset()[i] for i in b])
        assert max(batch["src"].numel(), batch["tgt_in"].numel()) <= 300 or len(b) == 1
        assert (batch["tgt_in"][:, 0] == 1).all()  # BOS
        ends = batch["tgt_out"].gather(1, (batch["tgt_out"] != 0).sum(1, keepdim=True) - 1)
        assert (ends == 2).all()  # EOS closes every target
    assert batches == task.train_batches(0)
    assert batches != task.train_batches(1)
    cfg2 = small_cfg(tmp_path, "train.batch_tokens=300", "train.seed=2")
    other = TranslationTask(cfg2)
    other.prepare()
    assert other.train_batches(0) != batches


def test_bad_data_settings(tmp_path):
    """Settings are refused when the recipe is loaded, before any data is read or SentencePiece runs."""
    with pytest.raises(ConfigError, match="data.corpus: 'web' is not one of files, numbers"):
        small_cfg(tmp_path, "data.corpus=web")
    with pytest.raises(ConfigError, match="data.train_src and data.train_tgt"):
        small_cfg(tmp_path, "data.corpus=files")
    with pytest.raises(ConfigError, match="the translation task trains encoder_decoder models, not 'tagger'"):
        small_cfg(tmp_path, "model.kind=tagger")
    with pytest.raises(ConfigError, match="share_embeddings needs data.subwords = 'joint'"):
        small_cfg(tmp_path, "data.subwords=separate")
    with pytest.raises(ConfigError, match="all 400 training pairs were dropped"):
        TranslationTask(small_cfg(tmp_path, "data.max_len=2")).prepare()
    write_lines(tmp_path / "a.en", ["x"] * 3)
    write_lines(tmp_path / "a.de", ["y"] * 2)
    with pytest.raises(TextError, match="has 3 lines but .* has 2"):
        TranslationTask(
            small_cfg(
                tmp_path,
                "data.corpus=files",
                f"data.train_src={tmp_path / 'a.en'}",
                f"data.train_tgt={tmp_path / 'a.de'}",
                f"data.valid_src={tmp_path / 'a.en'}",
                f"data.valid_tgt={tmp_path / 'a.de'}",
            )  # fmt: skip
        ).prepare()


def test_subword_sampling_draws_new_segmentations_each_epoch_seeded_and_lossless(tmp_path):
    sampling = ("data.subword_alpha=0.1", "data.subword_nbest=-1")
    task = TranslationTask(small_cfg(tmp_path, *sampling))
    task.prepare()
    best = list(task.dataset())
    src_text, tgt_text = task.train_text
    epochs = []
    for epoch in (0, 1):
        batches = task.train_batches(epoch)
        pairs = list(task.dataset())
        assert sorted(i for b in batches for i in b) == list(range(len(best)))
        # Other pieces, same sentences: decoding a sampled segmentation gives the line back.
        assert pairs != best
        assert task.subwords.src.decode([s for s, _ in pairs]) == [src_text[i] for i in task.train_kept]
        assert task.subwords.decode_tgt([t for _, t in pairs]) == [tgt_text[i] for i in task.train_kept]
        assert sum(len(s) for s, _ in pairs) > sum(len(s) for s, _ in best)  # flatter draws: shorter pieces
        epochs.append(pairs)
    assert epochs[0] != epochs[1]
    # Seeded by (train.seed, epoch): a second task (a resumed run, another rank) draws the same,
    # whatever was drawn before it in this process.
    again = TranslationTask(small_cfg(tmp_path, *sampling))
    again.prepare()
    again.train_batches(1)
    assert list(again.dataset()) == epochs[1]
    again.train_batches(0)
    assert list(again.dataset()) == epochs[0]
    other = TranslationTask(small_cfg(tmp_path, *sampling, "train.seed=2"))
    other.prepare()
    other.train_batches(0)
    assert list(other.dataset()) != epochs[0]
    # Off (the default): the best segmentation every epoch.
    plain = TranslationTask(small_cfg(tmp_path))
    plain.prepare()
    plain.train_batches(3)
    assert list(plain.dataset()) == best


def test_subword_sampling_with_bpe_is_bpe_dropout(tmp_path):
    task = TranslationTask(small_cfg(tmp_path, "data.subword_type=bpe", "data.subword_alpha=0.2"))
    task.prepare()
    best = list(task.dataset())
    task.train_batches(0)
    assert list(task.dataset()) != best
    assert task.subwords.decode_tgt([t for _, t in task.dataset()]) == [task.train_text[1][i] for i in task.train_kept]


def test_bad_subword_sampling_settings(tmp_path):
    with pytest.raises(ConfigError, match="data.subword_alpha: must be at least 0, got -0.1"):
        small_cfg(tmp_path, "data.subword_alpha=-0.1")
    with pytest.raises(ConfigError, match="data.subword_alpha 1.0: a BPE-dropout rate is below 1"):
        small_cfg(tmp_path, "data.subword_type=bpe", "data.subword_alpha=1.0")
    with pytest.raises(ConfigError, match="data.subword_nbest 1: sampling needs -1"):
        small_cfg(tmp_path, "data.subword_alpha=0.1", "data.subword_nbest=1")


def test_state_restores_subwords_and_refuses_a_mismatch(tmp_path):
    cfg = small_cfg(tmp_path)
    task = TranslationTask(cfg)
    dims = task.prepare()
    state = task.state()
    restored = TranslationTask(cfg)
    restored.restore(state, dims)
    assert restored.subwords.encode_src(["I see a dog."]) == task.subwords.encode_src(["I see a dog."])
    assert restored.max_src_len == task.max_src_len > 0
    with pytest.raises(CheckpointError, match="do not belong together"):
        TranslationTask(cfg).restore(state, dataclasses.replace(dims, output_size=dims.output_size + 1))
    # a resumed run keeps the checkpoint's subword model instead of training another
    resumed = TranslationTask(small_cfg(tmp_path, "data.vocab_size=60"))
    assert resumed.prepare(restored=state) == dims
    assert resumed.subwords.state() == task.subwords.state()


@pytest.mark.slow
def test_the_demo_recipe_learns_the_corpus_and_gets_small_numbers_right(tmp_path):
    """The shipped demo recipe: a held-out BLEU above 90 (97-99 here), and the sentences that count
    two to nineteen things right as a whole at least 9 times in 10 (97% here): a demo showing
    'three red dogs' -> 'neunhundert rote Hunde' taught users to distrust the toolkit."""
    import re

    import seq2seq
    from seq2seq.translation.numbers import ONES

    torch.set_num_threads(1)  # small matrices: one thread is faster and does not fight other jobs
    cfg = load_config(DEMO, [f"train.out_dir={tmp_path / 'run'}", "train.device=cpu", "train.progress=false"])
    summary = seq2seq.train(cfg)
    scores = json.loads((tmp_path / "run" / "test_scores.json").read_text())
    assert summary["best"] > 90, summary
    assert scores["bleu"] > 90, scores  # the generated test split, never seen in training
    assert scores["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp")
    model = seq2seq.load(tmp_path / "run" / "best.pt", "cpu")
    src, ref = model.task.split_text("test")
    small = [(s, r) for s, r in zip(src, ref, strict=True) if any(re.search(rf"\b{w}\b", s, re.I) for w in ONES[2:])]
    right = sum(h == r for h, (_, r) in zip(model.translate([s for s, _ in small]), small, strict=True))
    assert len(small) > 100 and right >= 0.9 * len(small), (right, len(small))
    assert "drei rote Hunde" in model.translate("I see three red dogs.")
