"""The text task (characters, char-rnn style): its data (vocabulary, segments, splits, unseen
characters, encodings), bits per character by hand, the vocabulary of the whole text, learning the
embedded text, and bad config refused at load."""

from __future__ import annotations

import math

import pytest
import torch

from seq2seq.config import Config, ConfigError
from seq2seq.inference import load_model
from seq2seq.nn.models import Dims, build_model
from seq2seq.registry import load_config, make_task
from seq2seq.text.corpus import short_text
from seq2seq.text.task import TextTask
from seq2seq.text.vocab import PAD, CharVocab, TextDataError, read_text, segments, split_text
from seq2seq.trainer import Trainer, validate
from tests.helpers import small_lm_recipe

CPU = torch.device("cpu")


def text_cfg(tmp_path, data: dict, model: dict | None = None, train: dict | None = None, search: dict | None = None):
    return small_lm_recipe(tmp_path, "text", data, model, train, search)


def prepared(cfg: Config) -> tuple[TextTask, Dims]:
    task = make_task(cfg)
    assert isinstance(task, TextTask)
    return task, task.prepare()


# -- data ------------------------------------------------------------------------------------
def test_text_vocab_and_segments():
    vocab = CharVocab.build("abca")
    assert vocab.chars == ["a", "b", "c"] and len(vocab) == 5
    assert vocab.decode(vocab.encode("cab")) == "cab"
    ids = list(range(10))
    pieces = segments(ids, 4)
    assert pieces == [[0, 1, 2, 3, 4], [4, 5, 6, 7, 8], [8, 9]]
    assert sum(len(p) - 1 for p in pieces) == len(ids) - 1  # every id but the first is a target once


def test_text_splits_at_line_breaks():
    text = short_text(200, seed=1)
    splits = split_text(text, 0.1, 0.1, "x")
    assert "".join(splits.values()) == text
    assert splits["valid"].startswith(tuple('ABCDEFGHIJKLMNOPQRSTUVWXYZ"\n'))
    assert 0.05 < len(splits["test"]) / len(text) < 0.15
    with pytest.raises(TextDataError, match="x: 10 characters are too few for a valid split"):
        split_text("abcdefghij", 0.1, 0.1, "x")


def test_unseen_characters(capsys):
    vocab = CharVocab.build("hello world\n")
    with pytest.raises(TextDataError, match=r"t.txt, line 2, column 3: 2 character\(s\) unseen in training: 'X' 'é'"):
        vocab.check("hello\nheX wé", "t.txt", strict=True)
    vocab.check("heX", "--primer", strict=False)
    assert "--primer, line 1, column 3: 1 character(s) unseen in training: 'X'" in capsys.readouterr().err


def test_text_that_is_not_utf8(tmp_path):
    (tmp_path / "latin.txt").write_bytes("line one\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(TextDataError, match="latin.txt, line 2: not UTF-8"):
        read_text(tmp_path / "latin.txt")
    with pytest.raises(TextDataError, match="missing.txt: no such text file"):
        read_text(tmp_path / "missing.txt")


# -- the task --------------------------------------------------------------------------------
def test_bits_per_character_by_hand(tmp_path):
    """Uniform logits over the vocabulary V: every character costs log2(V) bits."""
    text = tmp_path / "t.txt"
    text.write_text("abcab\n" * 50)
    cfg = text_cfg(tmp_path, {"path": str(text)})
    task, dims = prepared(cfg)
    assert dims == Dims(input_vocab=len(task.vocab), output_size=len(task.vocab), pad_id=PAD)
    assert len(task.vocab) == 2 + 4  # padding, unknown, and a b c \n
    model = build_model(cfg.model, dims)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    result = validate(task, model.eval(), CPU, "off", "valid")
    assert result.metrics["bpc"] == pytest.approx(math.log2(len(task.vocab)), rel=1e-6)
    assert result.metrics["loss"] == pytest.approx(math.log(len(task.vocab)), rel=1e-6)  # nats
    assert result.items == len(task.splits["valid"]) - 1
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in task.valid_batches("test"):
            out = task.loss(model, batch)
            total, count = total + float(out.loss), count + int(out.count)
    assert count == len(task.splits["test"]) - 1
    assert total / count / math.log(2) == pytest.approx(math.log2(len(task.vocab)), rel=1e-6)


def test_character_only_in_the_valid_part_is_in_the_vocabulary(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("ab ba\n" * 170 + "zz\n" + "ab ba\n" * 30)  # 'z' only in the valid part (80-90%)
    cfg = text_cfg(tmp_path, {"path": str(text), "segment": 50}, train={"metric": "bpc"})
    task, _ = prepared(cfg)
    assert "z" in task.splits["valid"] and "z" not in task.splits["train"]
    summary = Trainer.from_config(cfg).fit()
    assert "z" in load_model(tmp_path / "run" / "final.pt", "cpu").task.vocab.chars
    assert math.isfinite(summary["best"])  # evaluation ran on the valid part without an unseen-character error


def test_embedded_text_is_learned(tmp_path):
    """The shipped text/demo recipe for 4 epochs: below 1 bit per character (the characters'
    unigram entropy is about 4.2 bits)."""
    overrides = [f"train.out_dir={tmp_path}/run", "train.device=cpu", "train.progress=false", "train.epochs=4"]
    cfg = load_config("text/demo", overrides)
    assert cfg.task == "text" and cfg.train.metric == "bpc"
    summary = Trainer.from_config(cfg).fit()
    assert summary["best"] < 1.0
    loaded = load_model(tmp_path / "run" / "best.pt", "cpu", task="text")
    assert isinstance(loaded.task, TextTask) and loaded.task.vocab.chars[0] == " "


def test_bad_data_and_config_are_refused(tmp_path):
    """A bad config fails at load, naming the key; a missing text or one too short for its splits
    when it is read."""
    with pytest.raises(ConfigError, match=r"the text task trains language_model models, not 'tagger' \(model.kind\)"):
        text_cfg(tmp_path, {}, {"kind": "tagger"})
    with pytest.raises(ConfigError, match="data.valid_fraction \\+ data.test_fraction must leave text for training"):
        text_cfg(tmp_path, {"valid_fraction": 0.6, "test_fraction": 0.4})
    with pytest.raises(ConfigError, match="data.segment: must be at least 2, got 1"):
        text_cfg(tmp_path, {"segment": 1})
    with pytest.raises(ConfigError, match="unknown key 'data.grid'"):  # a music key
        text_cfg(tmp_path, {"grid": "eighth"})
    with pytest.raises(ConfigError, match="train.metric 'nll' is not a metric of the text task; it reports loss, bpc"):
        text_cfg(tmp_path, {}, train={"metric": "nll"})
    with pytest.raises(ConfigError, match="search.beam_size is not used by the text task"):
        text_cfg(tmp_path, {}, search={"beam_size": 3})
    cfg = text_cfg(tmp_path, {"path": str(tmp_path / "missing.txt")})
    with pytest.raises(TextDataError, match="missing.txt: no such text file"):
        Trainer.from_config(cfg)
    (tmp_path / "tiny.txt").write_text("abc")
    cfg = text_cfg(tmp_path, {"path": str(tmp_path / "tiny.txt")})
    with pytest.raises(TextDataError, match="tiny.txt: 3 characters are too few for a valid split"):
        Trainer.from_config(cfg)
