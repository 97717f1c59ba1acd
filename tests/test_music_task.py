"""The music task (piano rolls): the metric by hand, truncated BPTT with carried state, learning the
embedded chords, transposition, the final model's choice, and bad data or config refused (the
character model is the text task, test_text_task.py)."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
import torch

from seq2seq.config import Config, ConfigError
from seq2seq.inference import load_model
from seq2seq.music.corpus import HYPOTHESES, chord_splits, render
from seq2seq.music.generate import continue_roll
from seq2seq.music.rolls import MusicDataError
from seq2seq.music.task import MusicTask
from seq2seq.nn.models import Dims, build_model
from seq2seq.registry import from_dict, load_config, make_task
from seq2seq.trainer import Trainer, validate
from tests.helpers import small_lm_recipe
from tests.test_music_data import make_midi_folder

CPU = torch.device("cpu")


def music_cfg(tmp_path, data: dict, model: dict | None = None, train: dict | None = None, search: dict | None = None):
    return small_lm_recipe(tmp_path, "music", data, model, train, search)


def prepared(cfg: Config) -> tuple[MusicTask, Dims]:
    task = make_task(cfg)
    assert isinstance(task, MusicTask)
    return task, task.prepare()


def write_pickle(path, pieces: dict) -> None:
    path.write_bytes(pickle.dumps(pieces))


def test_metric_by_hand(tmp_path):
    """A model whose output ignores its input: every key has logit 0 (p = 1/2) except key 0 with
    logit log 3 (p = 3/4). Piece A (3 frames) predicts 2 frames with key 0 on; piece B (2 frames)
    predicts 1 frame with key 0 off. The first frame of a piece is never predicted."""
    a = [[21, 60], [21], [21, 64]]  # MIDI 21 is key 0
    b = [[62], [63]]
    write_pickle(tmp_path / "x.pickle", {"train": [a, b], "valid": [a, b], "test": [b]})
    cfg = music_cfg(tmp_path, {"path": str(tmp_path / "x.pickle")})
    task, dims = prepared(cfg)
    assert dims == Dims(input_dim=88, output_size=88, output="sigmoid")
    model = build_model(cfg.model, dims)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.head.bias[0] = math.log(3)
    model.eval()
    per_frame_rest = 87 * math.log(2)  # keys 1..87 at p = 1/2, on or off
    expected = per_frame_rest + (2 * math.log(4 / 3) + math.log(4)) / 3
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in task.valid_batches("valid"):
            out = task.loss(model, batch)
            total, count = total + float(out.loss), count + int(out.count)
    assert count == 3
    assert total / count == pytest.approx(expected, rel=1e-6)
    result = validate(task, model, CPU, "off", "valid")
    assert result.items == 3
    assert result.metrics["nll"] == pytest.approx(expected, rel=1e-6)
    assert result.metrics["loss"] == result.metrics["nll"]  # the metric is the core's validation loss
    test = validate(task, model, CPU, "off", "test")  # piece B alone: key 0 off at p = 1/4
    assert test.items == 1 and test.metrics["nll"] == pytest.approx(per_frame_rest + math.log(4), rel=1e-6)


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_chunks_with_carried_state_equal_the_full_forward(tmp_path, cell):
    """Truncated BPTT: the batch cut into chunks with the state carried (here not detached)
    gives the loss and the gradient of the uncut batch, for pieces ending in different chunks."""
    torch.manual_seed(0)
    cfg = music_cfg(tmp_path, {"corpus_pieces": 20}, {"cell": cell, "layers": 2})
    task, dims = prepared(cfg)
    model = build_model(cfg.model, dims)
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


def test_chunked_validation_equals_the_unchunked_one(tmp_path, monkeypatch):
    """Validation runs in eval_chunk steps with the state carried: the same numbers as in one go."""
    cfg = music_cfg(tmp_path, {"corpus_pieces": 20}, {"cell": "lstm"})
    task, dims = prepared(cfg)
    model = build_model(cfg.model, dims)
    whole = validate(task, model, CPU, "off", "valid")
    monkeypatch.setattr(task, "eval_chunk", 5)
    chunked = validate(task, model, CPU, "off", "valid")
    assert chunked.items == whole.items == sum(len(r) - 1 for r in task.splits["valid"])
    assert chunked.metrics["nll"] == pytest.approx(whole.metrics["nll"], rel=1e-5)


def test_trainer_carries_the_state_across_chunks(tmp_path, monkeypatch):
    cfg = music_cfg(tmp_path, {"corpus_pieces": 16}, train={"tbptt": 8, "batch_size": 16})
    seen = []
    original = MusicTask.loss

    def spy(self, model, batch, state=None):
        seen.append(state is not None and not any(s.requires_grad for s in state))
        return original(self, model, batch, state)

    monkeypatch.setattr(MusicTask, "loss", spy)
    Trainer.from_config(cfg).fit()
    # pieces of 32..64 frames in chunks of 8: the first chunk starts fresh, the rest carry a
    # detached state (evaluation calls add fresh starts)
    assert seen.count(True) >= 3 and seen[0] is False and seen[1] is True


def test_transposed_training_pieces(tmp_path):
    cfg = music_cfg(tmp_path, {"corpus_pieces": 30, "transpose": 3})
    task, _ = prepared(cfg)
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
def test_embedded_chords_are_learned(tmp_path):
    """The shipped music/demo recipe: the valid NLL comes within 0.25 nats per frame of the best
    that independent key outputs can do under the corpus rules (about 0.09), against 61 for a
    model that knows nothing (88 keys at p = 1/2) and 16.4 for one that knows only how often each
    key sounds; and the model continues primers of 4 bars by the rules, frame for frame. (How
    long it takes is docs/benchmarks.md's business, not a test's: the machine may be busy.)"""
    cfg = load_config("music/demo", [f"train.out_dir={tmp_path}/run", "train.device=cpu", "train.progress=false"])
    summary = Trainer.from_config(cfg).fit()
    bound = chord_splits(cfg.data.corpus_pieces, cfg.data.corpus_seed)["valid"][1]
    assert summary["best"] <= bound + 0.25, (summary["best"], bound)
    model = load_model(tmp_path / "run" / "best.pt", "cpu", task="music").model
    right = []
    for h in HYPOTHESES[::7]:  # 14 of the 96 renderings: every key, both melodies, all starts
        piece = render(*h, bars=12)
        continuation = continue_roll(model, piece[:16], 32, temperature=0.3, seed=0)
        right += [bool((a == b).all()) for a, b in zip(continuation, piece[16:], strict=True)]
    assert np.mean(right) >= 0.9


def test_midi_folder_with_a_bad_file_trains_on_the_rest(tmp_path, capsys):
    make_midi_folder(tmp_path / "midi")
    cfg = music_cfg(tmp_path, {"path": str(tmp_path / "midi"), "grid": "eighth", "valid_fraction": 0.2})
    summary = Trainer.from_config(cfg).fit()
    err = capsys.readouterr().err
    assert "broken.mid: not a readable MIDI file" in err and "skipped or changed 3 of 11" in err
    assert summary["best"] is not None and math.isfinite(summary["best"])
    loaded = load_model(tmp_path / "run" / "best.pt", "cpu")
    assert len(loaded.task.problems) == 3  # what was skipped is kept with the model


def test_bad_config_is_refused_at_load(tmp_path):
    """Before any data is read, naming the key."""
    with pytest.raises(ConfigError, match=r"the music task trains language_model models, not 'tagger' \(model.kind\)"):
        music_cfg(tmp_path, {}, {"kind": "tagger"})
    with pytest.raises(ConfigError, match="data.grid: 'triplet' is not one of quarter, eighth, sixteenth"):
        music_cfg(tmp_path, {"grid": "triplet"})
    with pytest.raises(ConfigError, match="data.grid: 'eigth' is not one of .*; did you mean 'eighth'"):
        music_cfg(tmp_path, {"grid": "eigth"})
    with pytest.raises(ConfigError, match="data.transpose: must be at least 0, got -1"):
        music_cfg(tmp_path, {"transpose": -1})
    with pytest.raises(ConfigError, match="data.format: 'wav' is not one of auto, mat, pickle, midi"):
        music_cfg(tmp_path, {"format": "wav"})
    # the character model's keys and metric are the text task's now
    with pytest.raises(ConfigError, match="unknown key 'data.segment'"):
        music_cfg(tmp_path, {"segment": 50})
    with pytest.raises(ConfigError, match="train.metric 'bpc' is not a metric of the music task; it reports loss, nll"):
        music_cfg(tmp_path, {}, train={"metric": "bpc"})
    with pytest.raises(ConfigError, match=r"search.top_p is not used by the music task \(it reads search.temperature, "
                                          r"search.top_k\)"):  # fmt: skip
        music_cfg(tmp_path, {}, search={"top_p": 0.9})
    with pytest.raises(ConfigError, match="model.bidirectional is not used by a language_model model"):
        music_cfg(tmp_path, {}, {"bidirectional": False})


@pytest.mark.parametrize(
    "model, train, message",
    [({"kind": "tagger"}, {}, "the music task trains language_model models, not 'tagger'"),
     ({}, {"metric": "bpc"}, "train.metric 'bpc' is not a metric of the music task")],
)  # fmt: skip
def test_a_config_built_in_python_is_checked_by_the_trainer(tmp_path, model, train, message):
    """The old Trainer(cfg) refused these; a config from from_dict must not skip the task's checks."""
    raw = {"task": "music", "data": {"corpus_pieces": 20},
           "model": {"kind": "language_model", "embed_dim": 8, "hidden_size": 8, "layers": 1, **model},
           "train": {"out_dir": str(tmp_path / "run"), "device": "cpu", "progress": False, **train}}  # fmt: skip
    with pytest.raises(ConfigError, match=message):
        Trainer.from_config(from_dict(raw))


def test_bad_data_is_refused(tmp_path):
    """A path whose format cannot be told fails at load; a missing file or bad content when it is read."""
    (tmp_path / "notes.csv").write_text("x")
    with pytest.raises(MusicDataError, match="notes.csv: cannot tell the format from the name; set data.format"):
        music_cfg(tmp_path, {"path": str(tmp_path / "notes.csv")})
    # a missing file of a known format loads (as a shipped recipe does before its data is prepared)
    cfg = music_cfg(tmp_path, {"path": str(tmp_path / "missing.mat")})
    with pytest.raises(MusicDataError, match="missing.mat: no such file"):
        Trainer.from_config(cfg)
    with pytest.raises(MusicDataError, match="missing: no such file or folder"):
        music_cfg(tmp_path, {"path": str(tmp_path / "missing")})
    (tmp_path / "book.txt").write_text("some text\n")
    with pytest.raises(MusicDataError, match="book.txt: a text file; characters are the text task's"):
        music_cfg(tmp_path, {"path": str(tmp_path / "book.txt")})
    write_pickle(tmp_path / "bad.pickle", {"train": [[[60], [200]]], "valid": [], "test": []})
    cfg = music_cfg(tmp_path, {"path": str(tmp_path / "bad.pickle")})
    with pytest.raises(MusicDataError, match=r"bad.pickle: train\[0\], frame 1: note 200"):
        Trainer.from_config(cfg)
    write_pickle(tmp_path / "short.pickle", {"train": [[[60]]], "valid": [], "test": []})
    cfg = music_cfg(tmp_path, {"path": str(tmp_path / "short.pickle")})
    with pytest.raises(MusicDataError, match=r"short.pickle: train\[0\] has 1 frame"):
        Trainer.from_config(cfg)
    write_pickle(tmp_path / "novalid.pickle", {"train": [[[60], [62]]], "valid": [], "test": []})
    task, _ = prepared(music_cfg(tmp_path, {"path": str(tmp_path / "novalid.pickle")}))
    with pytest.raises(MusicDataError, match="novalid.pickle: the valid split has no pieces"):
        validate(task, build_model(task.cfg.model, task.dims), CPU, "off", "valid")


def test_jsb_recipe_runs_on_the_shared_data(tmp_path, shared_data):
    """The shipped music/jsb recipe, shrunk to one epoch of a small model: the real data flows
    through training, selection and the test score."""
    overrides = [f"data.path={shared_data / 'polyphonic' / 'JSB_Chorales.mat'}", f"train.out_dir={tmp_path}/run",
                 "train.device=cpu", "train.progress=false", "train.epochs=1", "model.hidden_size=32",
                 "model.embed_dim=32"]  # fmt: skip
    cfg = load_config("music/jsb", overrides)
    summary = Trainer.from_config(cfg).fit()
    scores = json.loads((tmp_path / "run" / "test_scores.json").read_text())
    assert scores["valid"]["steps"] == 4602 - 76 and scores["test"]["steps"] == 4725 - 77
    assert scores["valid"]["nll"] == pytest.approx(summary["best"])
    assert 8 < scores["test"]["nll"] < 61  # better than knowing nothing (88 log 2)


def test_final_model_is_chosen_on_valid_between_best_and_average(tmp_path):
    cfg = music_cfg(tmp_path, {"corpus_pieces": 60, "average_last": 3}, train={"epochs": 4, "lr": 0.01})
    Trainer.from_config(cfg).fit()
    scores = json.loads((tmp_path / "run" / "test_scores.json").read_text())
    candidates = scores["candidates"]
    assert list(candidates) == ["best.pt", "average of the last 3 checkpoints"]
    assert scores["final"] == min(candidates, key=lambda k: candidates[k]["loss"])
    assert scores["valid"] == candidates[scores["final"]]
    loaded = load_model(tmp_path / "run" / "final.pt", "cpu")  # a restored task reads its splits itself
    for split in ("valid", "test"):
        result = validate(loaded.task, loaded.model, loaded.device, loaded.cfg.train.amp, split)
        assert result.metrics["nll"] == pytest.approx(scores[split]["nll"], rel=1e-6)
        assert result.items == scores[split]["steps"]
