"""The music task: the metric by hand, truncated BPTT with carried state, learning the embedded
corpora, transposition, and bad data reaching training."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
import torch

from seq2seq.config import ConfigError, from_dict, load_config
from seq2seq.inference import load_model
from seq2seq.music.corpus import HYPOTHESES, chord_splits, render
from seq2seq.music.generate import continue_roll
from seq2seq.music.rolls import MusicDataError, notes_to_roll
from seq2seq.music.task import MusicTask
from seq2seq.nn.models import build_model
from seq2seq.train import Trainer
from tests.test_music_data import make_midi_folder

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


def music_cfg(tmp_path, data: dict, model: dict | None = None, train: dict | None = None):
    return from_dict(
        {
            "task": "music",
            "data": data,
            "model": {"kind": "language_model", "cell": "gru", "embed_dim": 16, "hidden_size": 24, "layers": 1,
                      "dropout": 0.0, **(model or {})},
            "train": {"out_dir": str(tmp_path / "run"), "device": "cpu", "progress": False, "epochs": 1,
                      "batch_size": 8, "metric": "loss", **(train or {})},
        }
    )  # fmt: skip


def write_pickle(path, pieces: dict) -> None:
    path.write_bytes(pickle.dumps(pieces))


def test_metric_by_hand(tmp_path):
    """A model whose output ignores its input: every key has logit 0 (p = 1/2) except key 0 with
    logit log 3 (p = 3/4). Piece A (3 frames) predicts 2 frames with key 0 on; piece B (2 frames)
    predicts 1 frame with key 0 off. The first frame of a piece is never predicted."""
    a = [[21, 60], [21], [21, 64]]  # MIDI 21 is key 0
    b = [[62], [63]]
    write_pickle(tmp_path / "x.pickle", {"train": [a, b], "valid": [a, b], "test": [b]})
    task = MusicTask(music_cfg(tmp_path, {"path": str(tmp_path / "x.pickle")}))
    task.prepare()
    model = build_model(task.cfg.model)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.head.bias[0] = math.log(3)
    model.eval()
    per_frame_rest = 87 * math.log(2)  # keys 1..87 at p = 1/2, on or off
    expected = per_frame_rest + (2 * math.log(4 / 3) + math.log(4)) / 3
    total, count = task.score(model, [notes_to_roll(a, "a"), notes_to_roll(b, "b")])
    assert count == 3
    assert total / count == pytest.approx(expected, rel=1e-6)
    assert task.evaluate(model)["nll"] == pytest.approx(expected, rel=1e-6)


def test_bits_per_character_by_hand(tmp_path):
    """Uniform logits over the vocabulary V: every character costs log2(V) bits."""
    text = tmp_path / "t.txt"
    text.write_text("abcab\n" * 50)
    task = MusicTask(music_cfg(tmp_path, {"path": str(text)}))
    task.prepare()
    model = build_model(task.cfg.model)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    scores = task.metrics(model.eval(), "valid")
    assert scores["bpc"] == pytest.approx(math.log2(len(task.vocab)), rel=1e-6)
    assert scores["steps"] == len(task.splits["valid"]) - 1


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_chunks_with_carried_state_equal_the_full_forward(tmp_path, cell):
    """Truncated BPTT: the batch cut into chunks with the state carried (here not detached)
    gives the loss and the gradient of the uncut batch, for pieces ending in different chunks."""
    torch.manual_seed(0)
    task = MusicTask(music_cfg(tmp_path, {"corpus_pieces": 20}, {"cell": cell, "layers": 2}))
    task.prepare()
    model = build_model(task.cfg.model)
    rng = np.random.default_rng(0)
    rolls = [(rng.random((n, 88)) < 0.1).astype(np.uint8) for n in (23, 17, 9, 2)]
    batch = task.collate(rolls)
    full = task.loss(model, batch)
    full_grad = torch.autograd.grad(full.loss, list(model.parameters()))
    total = count = 0
    state = None
    pieces = list(task.chunks(batch, 5))
    assert len(pieces) == 5 and [int(p["lengths"][2]) for p in pieces] == [5, 3, 0, 0, 0]
    for piece in pieces:
        out = task.loss(model, piece, state)
        total, count, state = total + out.loss, count + out.count, out.state
    assert int(count) == int(full.count) == 22 + 16 + 8 + 1
    assert float(total.detach()) == pytest.approx(float(full.loss.detach()), rel=1e-5)
    for g_chunked, g_full in zip(torch.autograd.grad(total, list(model.parameters())), full_grad, strict=True):
        torch.testing.assert_close(g_chunked, g_full, rtol=1e-4, atol=1e-6)


def test_trainer_carries_the_state_across_chunks(tmp_path, monkeypatch):
    cfg = music_cfg(tmp_path, {"corpus_pieces": 16}, train={"tbptt": 8, "batch_size": 16})
    seen = []
    original = MusicTask.loss

    def spy(self, model, batch, state=None):
        seen.append(state is not None and not any(s.requires_grad for s in state))
        return original(self, model, batch, state)

    monkeypatch.setattr(MusicTask, "loss", spy)
    Trainer(cfg).fit()
    # pieces of 32..64 frames in chunks of 8: the first chunk starts fresh, the rest carry a
    # detached state (evaluation calls add fresh starts)
    assert seen.count(True) >= 3 and seen[0] is False and seen[1] is True


def test_transposed_training_pieces(tmp_path):
    cfg = music_cfg(tmp_path, {"corpus_pieces": 30, "transpose": 3})
    task = MusicTask(cfg)
    task.prepare()
    shifts = set()
    for epoch in range(4):
        batches = task.train_batches(epoch)
        items = sorted(i for b in batches for i in b)
        assert [i // 7 for i in items] == list(range(30))  # each piece once per epoch
        shifts |= {i % 7 - 3 for i in items}
        assert batches == task.train_batches(epoch)  # deterministic
    assert shifts == {-3, -2, -1, 0, 1, 2, 3}
    piece, shift = 5, 2
    moved = task.dataset()[piece * 7 + shift + 3]
    assert np.array_equal(moved[:, shift:], task.splits["train"][piece][:, :-shift])


@pytest.mark.slow
def test_embedded_chords_are_learned_within_a_minute(tmp_path):
    """recipes/music/demo.toml: the valid NLL comes within 0.25 nats per frame of the best that
    independent key outputs can do under the corpus rules (about 0.09), against 61 for a model
    that knows nothing (88 keys at p = 1/2) and 16.4 for one that knows only how often each key
    sounds; and the model continues primers of 4 bars by the rules, frame for frame."""
    cfg = load_config(REPO / "recipes" / "music" / "demo.toml", [f"train.out_dir={tmp_path}/run", "train.device=cpu"])
    cfg.train.progress = False
    summary = Trainer(cfg).fit()
    bound = chord_splits(cfg.data.corpus_pieces, cfg.data.corpus_seed)["valid"][1]
    assert summary["seconds"] < 60
    assert summary["best"] <= bound + 0.25, (summary["best"], bound)
    model = load_model(tmp_path / "run" / "best.pt", "cpu").model
    right = []
    for h in HYPOTHESES[::7]:  # 14 of the 96 renderings: every key, both melodies, all starts
        piece = render(*h, bars=12)
        continuation = continue_roll(model, piece[:16], 32, temperature=0.3, seed=0)
        right += [bool((a == b).all()) for a, b in zip(continuation, piece[16:], strict=True)]
    assert np.mean(right) >= 0.9


def test_embedded_text_is_learned(tmp_path):
    """recipes/music/text.toml for 4 epochs: below 1 bit per character (the characters' unigram
    entropy is about 4.2 bits)."""
    cfg = load_config(REPO / "recipes" / "music" / "text.toml", [f"train.out_dir={tmp_path}/run", "train.device=cpu"])
    cfg.train.progress, cfg.train.epochs = False, 4
    summary = Trainer(cfg).fit()
    assert summary["best"] < 1.0
    loaded = load_model(tmp_path / "run" / "best.pt", "cpu")
    assert loaded.task.mode == "text" and loaded.task.vocab.chars[0] == " "


def test_midi_folder_with_a_bad_file_trains_on_the_rest(tmp_path, capsys):
    make_midi_folder(tmp_path / "midi")
    cfg = music_cfg(tmp_path, {"path": str(tmp_path / "midi"), "grid": "eighth", "valid_fraction": 0.2})
    summary = Trainer(cfg).fit()
    err = capsys.readouterr().err
    assert "broken.mid: not a readable MIDI file" in err and "skipped or changed 3 of 11" in err
    assert summary["best"] is not None and math.isfinite(summary["best"])
    loaded = load_model(tmp_path / "run" / "best.pt", "cpu")
    assert len(loaded.task.problems) == 3  # what was skipped is kept with the model


def test_bad_data_and_config_are_refused(tmp_path):
    write_pickle(tmp_path / "bad.pickle", {"train": [[[60], [200]]], "valid": [], "test": []})
    with pytest.raises(MusicDataError, match="bad.pickle: train\\[0\\], frame 1: note 200"):
        Trainer(music_cfg(tmp_path, {"path": str(tmp_path / "bad.pickle")}))
    write_pickle(tmp_path / "short.pickle", {"train": [[[60]]], "valid": [], "test": []})
    with pytest.raises(MusicDataError, match="short.pickle: train\\[0\\] has 1 frame"):
        Trainer(music_cfg(tmp_path, {"path": str(tmp_path / "short.pickle")}))
    with pytest.raises(ConfigError, match="model.kind = 'language_model'"):
        Trainer(music_cfg(tmp_path, {}, {"kind": "tagger"}))
    with pytest.raises(ConfigError, match="data.grid 'triplet'"):
        Trainer(music_cfg(tmp_path, {"grid": "triplet"}))
    (tmp_path / "notes.csv").write_text("x")
    with pytest.raises(MusicDataError, match="notes.csv: cannot tell the format"):
        Trainer(music_cfg(tmp_path, {"path": str(tmp_path / "notes.csv")}))
    with pytest.raises(MusicDataError, match="missing.mat: no such file"):
        Trainer(music_cfg(tmp_path, {"path": str(tmp_path / "missing.mat")}))


def test_jsb_recipe_runs_on_the_shared_data(tmp_path, shared_data):
    """recipes/music/jsb.toml, shrunk to one epoch of a small model: the real data flows through
    training, selection and the test score."""
    overrides = [f"data.path={shared_data / 'polyphonic' / 'JSB_Chorales.mat'}", f"train.out_dir={tmp_path}/run",
                 "train.device=cpu", "train.epochs=1", "model.hidden_size=32", "model.embed_dim=32"]  # fmt: skip
    cfg = load_config(REPO / "recipes" / "music" / "jsb.toml", overrides)
    cfg.train.progress = False
    summary = Trainer(cfg).fit()
    scores = json.loads((tmp_path / "run" / "test_scores.json").read_text())
    assert scores["valid"]["steps"] == 4602 - 76 and scores["test"]["steps"] == 4725 - 77
    assert scores["valid"]["nll"] == pytest.approx(summary["best"])
    assert 8 < scores["test"]["nll"] < 61  # better than knowing nothing (88 log 2)


def test_final_model_is_chosen_on_valid_between_best_and_average(tmp_path):
    cfg = music_cfg(tmp_path, {"corpus_pieces": 60, "average_last": 3}, train={"epochs": 4, "lr": 0.01})
    Trainer(cfg).fit()
    scores = json.loads((tmp_path / "run" / "test_scores.json").read_text())
    candidates = scores["candidates"]
    assert list(candidates) == ["best.pt", "average of the last 3 checkpoints"]
    assert scores["final"] == min(candidates, key=lambda k: candidates[k]["loss"])
    loaded = load_model(tmp_path / "run" / "final.pt", "cpu")
    assert loaded.task.metrics(loaded.model, "valid")["nll"] == pytest.approx(scores["valid"]["nll"], rel=1e-6)
    assert loaded.task.metrics(loaded.model, "test")["nll"] == pytest.approx(scores["test"]["nll"], rel=1e-6)


def test_character_only_in_the_valid_part_is_in_the_vocabulary(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("ab ba\n" * 170 + "zz\n" + "ab ba\n" * 30)  # 'z' only in the valid part (80-90%)
    cfg = music_cfg(tmp_path, {"path": str(text), "segment": 50}, train={"metric": "bpc"})
    task = MusicTask(cfg)
    task.prepare()
    assert "z" in task.splits["valid"] and "z" not in task.splits["train"]
    summary = Trainer(cfg).fit()
    assert "z" in load_model(tmp_path / "run" / "final.pt", "cpu").task.vocab.chars
    assert math.isfinite(summary["best"])  # evaluation ran on the valid part without an unseen-character error
