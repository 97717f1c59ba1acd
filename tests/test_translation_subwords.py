"""SentencePiece models: special ids, joint and separate vocabularies, stored bytes, bad models."""

from __future__ import annotations

import io

import pytest
import sentencepiece as spm

from seq2seq.translation import numbers
from seq2seq.translation.subwords import BOS, EOS, PAD, UNK, SubwordError, Subwords, build, train


@pytest.fixture(scope="module")
def corpus():
    return numbers.corpus(600, seed=2, max_number=99)


def test_joint_model_has_the_model_ids_and_round_trips(corpus):
    en, de = corpus
    sw = build(en, de, "joint", "unigram", 120, [], "test")
    assert sw.joint and sw.src is sw.tgt and sw.src_size == sw.tgt_size <= 120
    assert (sw.src.pad_id(), sw.src.bos_id(), sw.src.eos_id(), sw.src.unk_id()) == (PAD, BOS, EOS, UNK)
    ids = sw.encode_tgt(de[:20])
    assert all(min(x) > UNK for x in ids)
    assert sw.decode_tgt(ids) == de[:20]  # raw text in, detokenised text out
    again = Subwords.from_state(sw.state(), "again")
    assert again.encode_src(en[:5]) == sw.encode_src(en[:5])


def test_training_is_reproducible(corpus):
    en, de = corpus
    assert train(en + de, 100, "unigram", "a") == train(en + de, 100, "unigram", "b")


def test_separate_bpe_models(corpus):
    en, de = corpus
    sw = build(en, de, "separate", "bpe", 90, [], "test")
    assert not sw.joint and sw.src is not sw.tgt
    assert "▁vierundzwanzig" not in {sw.src.id_to_piece(i) for i in range(sw.src_size)}
    assert sw.decode_tgt(sw.encode_tgt(de[:10])) == de[:10]


def test_given_model_files_are_used_and_checked(tmp_path, corpus):
    en, de = corpus
    (tmp_path / "joint.model").write_bytes(train(en + de, 100, "unigram", "t"))
    sw = build(en, de, "joint", "unigram", 8000, [str(tmp_path / "joint.model")], "test")
    assert sw.src_size <= 100  # the file's model, not a new 8000-piece one
    with pytest.raises(SubwordError, match=r"missing\.model: no such SentencePiece model"):
        build(en, de, "joint", "unigram", 100, [str(tmp_path / "missing.model")], "test")
    with pytest.raises(SubwordError, match="joint subwords take 1 SentencePiece model file"):
        build(en, de, "joint", "unigram", 100, [str(tmp_path / "joint.model")] * 2, "test")
    (tmp_path / "junk.model").write_bytes(b"not a model")
    with pytest.raises(SubwordError, match=r"junk\.model: not a SentencePiece model"):
        build(en, de, "joint", "unigram", 100, [str(tmp_path / "junk.model")], "test")


def test_a_model_with_other_special_ids_is_refused(tmp_path, corpus):
    en, _ = corpus
    buf = io.BytesIO()
    # SentencePiece's own defaults: unk 0, bos 1, eos 2, no pad
    spm.SentencePieceTrainer.train(sentence_iterator=iter(en), model_writer=buf, vocab_size=80, minloglevel=2)
    (tmp_path / "default.model").write_bytes(buf.getvalue())
    with pytest.raises(SubwordError, match=r"default\.model: SentencePiece ids pad/bos/eos/unk are -1/1/2/0"):
        build(en, en, "joint", "unigram", 100, [str(tmp_path / "default.model")], "test")


def test_bad_settings_and_state():
    with pytest.raises(SubwordError, match="data.subwords 'shared'"):
        build(["a"], ["b"], "shared", "unigram", 100, [], "test")
    with pytest.raises(SubwordError, match="data.subword_type 'word'"):
        train(["a b"], 100, "word", "test")
    with pytest.raises(SubwordError, match="ckpt.pt: holds no SentencePiece model"):
        Subwords.from_state(None, "ckpt.pt")
