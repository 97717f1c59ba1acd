"""The Python API: each task's handle gives what the command line gives (the CLI is a thin layer
over it), defaults come from the checkpoint, and every example in docs/api.md runs."""

from __future__ import annotations

import csv
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import seq2seq
from seq2seq.cli import main
from seq2seq.music.midi import midi_to_roll
from tests.test_caption_task import caption_run  # noqa: F401 -- fixtures
from tests.test_classify_task import reviews_run  # noqa: F401
from tests.test_music_cli import roll_model  # noqa: F401
from tests.test_text_cli import text_model  # noqa: F401
from tests.test_translation_cli import SENTENCES, run  # noqa: F401
from tests.test_video_label import setup  # noqa: F401

REPO = Path(__file__).resolve().parents[1]


def test_the_package_exports_its_api_with_docstrings():
    assert {"load", "train", "TranslationModel", "VideoModel", "MusicModel", "TextModel"} <= set(dir(seq2seq))
    for name in seq2seq.__all__:
        assert getattr(seq2seq, name).__doc__, name
    from seq2seq.api import HANDLES

    assert {handle.__name__ for handle in HANDLES.values()} <= set(seq2seq.__all__)  # what load() can return


def test_translate_equals_the_command_line_and_uses_the_checkpoints_defaults(run, tmp_path, capsys):  # noqa: F811
    model = seq2seq.load(run / "best.pt", device="cpu")
    assert isinstance(model, seq2seq.TranslationModel)
    lines = [s for s in SENTENCES if s.strip()]
    (tmp_path / "in.en").write_text("\n".join(lines) + "\n")
    assert main(["translate", "-m", str(run / "best.pt"), "-i", str(tmp_path / "in.en"), "-o",
                 str(tmp_path / "out.de"), "--no-progress", "--device", "cpu"]) == 0  # fmt: skip
    assert model.translate(lines) == (tmp_path / "out.de").read_text().splitlines()
    assert model.translate(lines[0]) == model.translate(lines)[0]
    assert model.search().length_penalty == model.cfg.search.length_penalty  # the checkpoint's, not a library default
    assert main(["translate", "-m", str(run / "best.pt"), "-i", str(tmp_path / "in.en"), "--nbest", "2",
                 "--no-progress", "--device", "cpu"]) == 0  # fmt: skip
    cli = [line.split(" ||| ") for line in capsys.readouterr().out.splitlines()]
    api = model.translate(lines, nbest=2)
    assert [[t for t, _ in hyps] for hyps in api] == [[c[1] for c in cli[2 * i : 2 * i + 2]] for i in range(len(lines))]
    assert [float(c[2]) for c in cli] == pytest.approx([s for hyps in api for _, s in hyps], abs=1e-4)


def test_label_equals_the_command_line_from_a_clip_and_from_features(setup, tmp_path):  # noqa: F811
    _, clips, _, offline = setup
    model = seq2seq.load(offline, device="cpu")
    labels = model.label(clips[0].video)
    assert not labels.files  # no files unless asked
    assert main(["label", str(clips[0].video), "-m", str(offline), "-o", str(tmp_path), "--device", "cpu"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "clip0.labels.csv")))
    assert labels.labels == [r["label"] for r in rows]
    assert [round(c, 4) for c in labels.confidences] == [float(r["confidence"]) for r in rows]
    feats, *_ = model.labeller().extractor.clip(clips[0].video)
    assert model.label(feats).labels == labels.labels  # the same features, given as an array
    assert labels.segments[0]["start_frame"] == 0 and labels.segments[-1]["end_frame"] == len(labels.labels)


def test_generate_equals_the_command_line(roll_model, text_model, tmp_path, capsys):  # noqa: F811
    music = seq2seq.load(roll_model, device="cpu")
    song = music.generate(steps=24, seed=3)
    assert main(["generate", "-m", str(roll_model), "--steps", "24", "--seed", "3", "-o", str(tmp_path / "g.mid"),
                 "--device", "cpu"]) == 0  # fmt: skip
    roll, _ = midi_to_roll(tmp_path / "g.mid", music.cfg.data.grid)
    assert np.array_equal(roll, song.roll[: len(roll)]) and song.roll.shape[1] == 88
    song.to_midi(tmp_path / "api.mid")
    assert np.array_equal(midi_to_roll(tmp_path / "api.mid", music.cfg.data.grid)[0], roll)
    text = seq2seq.load(text_model, device="cpu")
    capsys.readouterr()
    assert main(["generate", "-m", str(text_model), "--primer", "The", "--steps", "40", "--seed", "2",
                 "--device", "cpu"]) == 0  # fmt: skip
    assert capsys.readouterr().out.splitlines()[0] == ("The" + text.generate("The", 40, seed=2)).splitlines()[0]


def test_train_runs_the_trainer_and_resumes(tmp_path):
    out = tmp_path / "toy"
    small = {"train.epochs": 1, "data.train_size": 300, "data.valid_size": 50, "train.progress": False}
    summary = seq2seq.train("toy/reverse", overrides=small, out=out)
    assert summary["epochs"] == 1 and (out / "best.pt").is_file()
    again = seq2seq.train("toy/reverse", overrides={"train.epochs": 2}, out=out, resume=True)
    assert again["epochs"] == 2 and again["steps"] == 2 * summary["steps"]
    with pytest.raises(seq2seq.UserError):
        seq2seq.train("toy/reverse", overrides={"model.cell": "lsmt"}, out=tmp_path / "bad")


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / "docs" / "api.md").read_text(), re.S)


@pytest.mark.slow
def test_every_example_in_the_api_docs_runs(run, setup, roll_model, text_model, reviews_run, caption_run,  # noqa: F811
                                            vqa_runs, tmp_path, monkeypatch):  # fmt: skip
    """docs/api.md reads what `make demo` writes; the same files, from small models, are laid out
    under runs/demo/ here and each example is run in that folder."""
    _, clips, _, offline = setup
    demo = tmp_path / "runs" / "demo"
    for source, target in ((run / "best.pt", "translation/best.pt"), (offline, "video/model/best.pt"),
                           (roll_model, "music-chords/best.pt"), (text_model, "text/best.pt"),
                           (reviews_run[0] / "best.pt", "classify/best.pt"), (caption_run[0], "caption/best.pt"),
                           (clips[0].video, "video/clips/test/clip_95000.mp4"),
                           (vqa_runs[0] / "image" / "best.pt", "vqa/best.pt"),
                           (vqa_runs[0] / "data" / "test" / "scene-0001.png",
                            "vqa-scenes/test/scene-0001.png")):  # fmt: skip
        (demo / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, demo / target)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    found = examples()
    assert len(found) == 8
    for code in found:
        exec(compile(code, "docs/api.md", "exec"), {})  # noqa: S102 -- the docs' own examples
    assert (tmp_path / "continuation.mid").is_file() and (tmp_path / "runs" / "api-toy" / "best.pt").is_file()
