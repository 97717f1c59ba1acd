"""The music commands on real files: generate (MIDI that reads back, reproducible), evaluate per
split, inspect, the data preparation script, and bad input as one-line errors."""

from __future__ import annotations

import importlib.util
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seq2seq.cli import main
from seq2seq.inference import load_model
from seq2seq.music.corpus import chord_corpus, short_text
from seq2seq.music.generate import continue_roll
from seq2seq.music.midi import midi_to_roll, roll_to_midi
from seq2seq.music.rolls import read_rolls, roll_to_notes

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes" / "music"


def train(recipe: str, out: Path, *overrides: str) -> Path:
    args = ["train", str(RECIPES / recipe), "--out", str(out), "--device", "cpu", "--set", "train.progress=false"]
    for o in overrides:
        args += ["--set", o]
    assert main(args) == 0
    return out / "best.pt"


@pytest.fixture(scope="module")
def roll_model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("chords")
    return train("demo.toml", out / "run", "data.corpus_pieces=100", "train.epochs=4", "data.grid=eighth")


@pytest.fixture(scope="module")
def text_model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("text")
    return train("text.toml", out / "run", "data.corpus_sentences=600", "train.epochs=2")


def one_error_line(capsys, *parts: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("seq2seq: error: "), err
    for part in parts:
        assert part in err[0]
    return err[0]


def test_generated_midi_reads_back_to_the_same_roll(tmp_path, roll_model, capsys):
    primer = chord_corpus(1, seed=99)[0][0][:12]
    roll_to_midi(primer, tmp_path / "primer.mid", "eighth")
    out = tmp_path / "out.mid"
    args = ["generate", "-m", str(roll_model), "--primer", str(tmp_path / "primer.mid"), "--steps", "40",
            "--temperature", "0.9", "--seed", "5", "-o", str(out), "--device", "cpu"]  # fmt: skip
    assert main(args) == 0
    assert "12 primer + 40 generated frames on the eighth grid" in capsys.readouterr().out
    assert out.with_suffix(".png").stat().st_size > 5000
    loaded = load_model(roll_model, "cpu")
    continuation = continue_roll(loaded.model, primer, 40, 0.9, 0, seed=5)
    assert continuation.sum() > 0  # a trained model makes music, not silence
    expected = np.concatenate([primer, continuation])
    sounding = np.flatnonzero(expected.any(axis=1))  # a MIDI file keeps no silence at its ends
    back, dropped = midi_to_roll(out, "eighth")
    assert dropped == 0
    assert np.array_equal(back, expected[sounding[0] : sounding[-1] + 1])

    again = tmp_path / "again.mid"
    assert main([*args[:-4], "-o", str(again), "--device", "cpu"]) == 0
    assert again.read_bytes() == out.read_bytes()  # the same seed, the same file
    other = tmp_path / "other.mid"
    assert main([*args[:-5], "6", "-o", str(other), "--device", "cpu"]) == 0
    assert other.read_bytes() != out.read_bytes()


def test_generate_from_the_stored_primer_with_top_k(tmp_path, roll_model, capsys):
    out = tmp_path / "song"  # the suffix is added
    assert main(["generate", "-m", str(roll_model), "--steps", "16", "--top-k", "3", "--seed", "1",
                 "-o", str(out), "--device", "cpu"]) == 0  # fmt: skip
    back, _ = midi_to_roll(tmp_path / "song.mid", "eighth")
    continuation = back[16:]
    assert continuation.sum(axis=1).max() <= 3  # at most k keys per generated frame
    assert (tmp_path / "song.png").exists()


def test_generate_bad_input(tmp_path, roll_model, text_model, capsys):
    (tmp_path / "broken.mid").write_bytes(b"MThd broken")
    assert main(["generate", "-m", str(roll_model), "--primer", str(tmp_path / "broken.mid"), "--device", "cpu"]) == 2
    one_error_line(capsys, "broken.mid: not a readable MIDI file")
    assert main(["generate", "-m", str(roll_model), "--primer", str(tmp_path / "nope.mid"), "--device", "cpu"]) == 2
    one_error_line(capsys, "nope.mid: no such MIDI file")
    assert main(["generate", "-m", str(roll_model), "--top-p", "0.9", "--device", "cpu"]) == 2
    one_error_line(capsys, "--top-p applies to text models")
    assert not list(tmp_path.glob("*.png")) and not (REPO / "generated.mid").exists()


def test_generate_text(tmp_path, text_model, capsys):
    args = ["generate", "-m", str(text_model), "--primer", '"The cat', "--steps", "60", "--seed", "3", "--top-p", "0.9",
            "--temperature", "0.8", "-o", str(tmp_path / "a.txt"), "--device", "cpu"]  # fmt: skip
    assert main(args) == 0
    text = (tmp_path / "a.txt").read_text()
    assert text.startswith('"The cat') and len(text) == len('"The cat') + 60
    assert main([*args[:-3], str(tmp_path / "b.txt"), "--device", "cpu"]) == 0
    assert (tmp_path / "b.txt").read_text() == text
    capsys.readouterr()
    assert main(["generate", "-m", str(text_model), "--primer", "The Zebra", "--steps", "5", "--device", "cpu"]) == 0
    assert "--primer, line 1, column 5: 1 character(s) unseen in training: 'Z'" in capsys.readouterr().err


def test_evaluate_prints_nll_per_split(tmp_path, roll_model, capsys):
    assert main(["evaluate", "-m", str(roll_model), "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["train", "valid", "test"]
    assert all("nats per frame" in line for line in lines)
    pieces = {"train": [], "valid": [], "test": [roll_to_notes(r) for r in chord_corpus(5, seed=1)[0]]}
    (tmp_path / "other.pickle").write_bytes(pickle.dumps(pieces))
    assert main(["evaluate", "-m", str(roll_model), "--data", str(tmp_path / "other.pickle"), "--split", "test",
                 "--device", "cpu"]) == 0  # fmt: skip
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("test  nll ") and "other.pickle" in out[0]
    expected = sum(len(r) - 1 for r in chord_corpus(5, seed=1)[0])
    assert f"({expected} predicted frames" in out[0]


def test_evaluate_bad_input(tmp_path, roll_model, text_model, capsys):
    (tmp_path / "bad.pickle").write_bytes(pickle.dumps({"train": [[[1]]]}))
    assert main(["evaluate", "-m", str(roll_model), "--data", str(tmp_path / "bad.pickle"), "--device", "cpu"]) == 2
    one_error_line(capsys, "bad.pickle: expected a dict with keys train, valid, test")
    text = tmp_path / "new.txt"
    text.write_text(short_text(100, seed=4) + "Zürich {}\n")
    assert main(["evaluate", "-m", str(text_model), "--data", str(text), "--split", "test", "--device", "cpu"]) == 2
    one_error_line(capsys, "new.txt (test split), line", "unseen in training", "'ü'")
    assert main(["evaluate", "-m", str(roll_model), "--data", str(text), "--device", "cpu"]) == 2
    one_error_line(capsys, "new.txt: text data, but the checkpoint holds a roll model")
    assert main(["evaluate", "-m", str(roll_model), "--split", "dev", "--device", "cpu"]) == 2
    one_error_line(capsys, "--split dev: use one of train, valid, test")


def test_inspect_writes_pictures_and_lists_units(tmp_path, text_model, roll_model, capsys):
    text = tmp_path / "in.txt"
    text.write_text(short_text(20, seed=8))
    out = tmp_path / "units"
    assert main(["inspect", "-m", str(text_model), "--text", str(text), "-o", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    for prop in ("inside_quotes", "line_position", "inside_brackets"):
        assert prop in printed
    html = (out / "inspect.html").read_text()
    assert html.count("<h3>") >= 1 and html.count("<span style='background:") >= len(text.read_text())
    assert (out / "inspect.png").stat().st_size > 10_000
    assert main(["inspect", "-m", str(text_model), "--text", str(text), "--units", "0,5", "--state", "f",
                 "-o", str(out), "--device", "cpu"]) == 0  # fmt: skip
    assert "layer 0 f unit 5" in (out / "inspect.html").read_text()
    capsys.readouterr()
    assert main(["inspect", "-m", str(text_model), "--text", str(text), "--units", "999", "--device", "cpu"]) == 2
    one_error_line(capsys, "--units: [999] out of range")
    assert main(["inspect", "-m", str(text_model), "--text", str(text), "--state", "z", "--device", "cpu"]) == 2
    one_error_line(capsys, "no 'z' in layer", "states: c, f, g, h, i, o")
    assert main(["inspect", "-m", str(roll_model), "--text", str(text), "--device", "cpu"]) == 2
    one_error_line(capsys, "a piano-roll model; inspect reads text")


def test_prepare_script_from_a_local_pickle(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("prepare_polyphonic", REPO / "datasets" / "prepare_polyphonic.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    pieces = {s: [roll_to_notes(r) for r in chord_corpus(n, seed=i)[0]] for i, (s, n) in
              enumerate((("train", 4), ("valid", 2), ("test", 2)))}  # fmt: skip
    (tmp_path / "JSB Chorales.pickle").write_bytes(pickle.dumps(pieces, protocol=2))
    assert script.main(["--from", str(tmp_path / "JSB Chorales.pickle"), "--out", str(tmp_path / "out")]) == 0
    assert "train 4 pieces" in capsys.readouterr().out
    rolls = read_rolls(tmp_path / "out" / "JSB_Chorales.mat")
    assert [roll_to_notes(r) for r in rolls["valid"]] == pieces["valid"]
    (tmp_path / "bad.mat").write_bytes(b"junk")
    assert script.main(["--from", str(tmp_path / "bad.mat"), "--out", str(tmp_path / "o2")]) == 2
    assert "bad.mat: not a readable MATLAB .mat file" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


def test_prepare_script_runs_as_a_script(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "datasets" / "prepare_polyphonic.py"), "--help"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0 and "--from" in done.stdout
