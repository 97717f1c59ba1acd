"""The music commands on real files: generate (MIDI that reads back, reproducible, the checkpoint's
[search] defaults), evaluate per split, the data preparation script, and bad input as one-line
errors (the text task's commands: test_text_cli.py)."""

from __future__ import annotations

import importlib.util
import pickle
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest

import seq2seq
from seq2seq.cli import main
from seq2seq.inference import load_model
from seq2seq.music.corpus import chord_corpus
from seq2seq.music.generate import continue_roll
from seq2seq.music.midi import midi_to_roll, roll_to_midi
from seq2seq.music.rolls import read_rolls, roll_to_notes
from seq2seq.text.corpus import short_text
from tests.helpers import one_error_line, train_cli, with_search

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def roll_model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("chords")
    return train_cli("music/demo", out / "run", "data.corpus_pieces=100", "train.epochs=4", "data.grid=eighth")


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


def velocity_primer(path: Path, roll: np.ndarray, bpm: float, meter: tuple[int, int], lead: int) -> list[tuple]:
    """Write ``roll`` (eighth grid) as a primer at ``bpm`` in ``meter`` after ``lead`` frames of
    silence, its notes at velocities 90, 100, 110 in turn. Returns its (pitch, start s, velocity)."""
    step = 60.0 / bpm / 2
    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(*meter, 0.0))
    inst = pretty_midi.Instrument(program=0)
    padded = np.vstack([np.zeros((1, 88)), roll, np.zeros((1, 88))])
    for key in range(88):
        change = np.diff(padded[:, key])
        for s, e in zip(np.flatnonzero(change == 1), np.flatnonzero(change == -1), strict=True):
            v = 90 + 10 * (len(inst.notes) % 3)
            inst.notes.append(pretty_midi.Note(v, 21 + key, (lead + s) * step, (lead + e) * step))
    pm.instruments.append(inst)
    pm.write(str(path))
    return sorted((n.pitch, round(n.start, 4), n.velocity) for n in inst.notes)


def test_generate_keeps_the_primer_tempo_metre_and_velocities(tmp_path, roll_model, capsys):
    """A 100 bpm primer in 3/4 comes back at 100 bpm in 3/4, its notes at their velocities and
    where they were (after its leading silence), the generated ones at the primer's median."""
    primer = chord_corpus(1, seed=99)[0][0][:12]
    notes = velocity_primer(tmp_path / "primer.mid", primer, 100.0, (3, 4), lead=3)
    median = int(np.median([v for *_, v in notes]))
    out = tmp_path / "out.mid"
    args = ["generate", "-m", str(roll_model), "--primer", str(tmp_path / "primer.mid"), "--steps", "30",
            "--temperature", "0.9", "--seed", "5", "--device", "cpu"]  # fmt: skip
    assert main([*args, "-o", str(out)]) == 0
    assert "12 primer + 30 generated frames" in capsys.readouterr().out
    back = pretty_midi.PrettyMIDI(str(out))
    assert back.get_tempo_changes()[1].tolist() == pytest.approx([100.0], abs=1e-3)
    assert [(ts.numerator, ts.denominator) for ts in back.time_signature_changes] == [(3, 4)]
    primer_end = (3 + 12) * 0.3  # seconds: 3 frames of silence and 12 primer frames of an eighth at 100 bpm
    written = back.instruments[0].notes
    assert sorted((n.pitch, round(n.start, 4), n.velocity) for n in written if n.start < primer_end - 1e-6) == notes
    generated_notes = [n for n in written if n.start >= primer_end - 1e-6]
    assert generated_notes and {n.velocity for n in generated_notes} == {median}

    song = seq2seq.load(roll_model, device="cpu").generate(tmp_path / "primer.mid", 30, 0.9, seed=5)
    assert (song.bpm, song.time_signature, song.velocity, song.offset) == (100.0, (3, 4), median, 3)
    song.to_midi(tmp_path / "api.mid")
    assert (tmp_path / "api.mid").read_bytes() == out.read_bytes()  # the API and the command agree

    assert main([*args, "--bpm", "140", "-o", str(tmp_path / "fast.mid")]) == 0  # --bpm wins over the primer
    fast = pretty_midi.PrettyMIDI(str(tmp_path / "fast.mid"))
    assert fast.get_tempo_changes()[1].tolist() == pytest.approx([140.0], abs=1e-3)
    assert sorted(n.velocity for n in fast.instruments[0].notes) == sorted(n.velocity for n in written)
    assert [(ts.numerator, ts.denominator) for ts in fast.time_signature_changes] == [(3, 4)]
    assert main(["generate", "-m", str(roll_model), "--steps", "8", "--bpm", "0", "-o", str(tmp_path / "z.mid"),
                 "--device", "cpu"]) == 2  # fmt: skip
    one_error_line(capsys, "--bpm: must be a finite number above 0, got 0.0")


def test_generate_warns_that_primer_tempo_changes_are_not_copied(tmp_path, roll_model, capsys):
    roll_to_midi(chord_corpus(1, seed=99)[0][0][:8], tmp_path / "steady.mid", "eighth", bpm=80)
    midi = mido.MidiFile(str(tmp_path / "steady.mid"))  # its tempo track: one tempo, 4/4, end of track
    beat = midi.ticks_per_beat  # a second tempo one beat in, while the primer's notes sound
    midi.tracks[0].insert(len(midi.tracks[0]) - 1, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(160), time=beat))
    midi.save(str(tmp_path / "changing.mid"))
    out = tmp_path / "o.mid"
    assert main(["generate", "-m", str(roll_model), "--primer", str(tmp_path / "changing.mid"), "--steps", "8",
                 "-o", str(out), "--device", "cpu"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "changing.mid: the primer has 2 tempos; the output keeps one throughout (80 bpm, 4/4)" in err
    assert pretty_midi.PrettyMIDI(str(out)).get_tempo_changes()[1].tolist() == pytest.approx([80.0], abs=1e-3)


def test_num_outputs_writes_reproducible_samples(tmp_path, roll_model, capsys):
    """--num-outputs 3 --seed 5: out-1..3.mid and their PNGs, the k-th what --seed 5+k-1 writes alone."""
    base = ["generate", "-m", str(roll_model), "--steps", "24", "--temperature", "1.0", "--device", "cpu"]
    assert main([*base, "--num-outputs", "3", "--seed", "5", "-o", str(tmp_path / "out.mid")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[1] for line in lines] == [str(tmp_path / f"out-{k}.mid") for k in (1, 2, 3)]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["out-1.mid", "out-1.png", "out-2.mid", "out-2.png", "out-3.mid", "out-3.png"]
    samples = [(tmp_path / f"out-{k}.mid").read_bytes() for k in (1, 2, 3)]
    assert len(set(samples)) == 3  # three different continuations
    assert main([*base, "--seed", "6", "-o", str(tmp_path / "alone.mid")]) == 0
    assert (tmp_path / "alone.mid").read_bytes() == samples[1]
    assert main([*base, "--num-outputs", "0"]) == 2
    one_error_line(capsys, "--num-outputs: must be at least 1, got 0")
    assert main([*base, "--num-outputs", "2", "-o", str(tmp_path / "x.wav")]) == 2
    one_error_line(capsys, "x.wav: a piano-roll model writes MIDI")
    assert not list(tmp_path.glob("x*"))


def generated(model: Path, out: Path, *flags: str, steps: int = 24) -> np.ndarray:
    """The roll of ``seq2seq generate -m model --steps steps flags``, read back from its MIDI file."""
    assert main(["generate", "-m", str(model), "--steps", str(steps), *flags, "-o", str(out), "--device", "cpu"]) == 0
    return midi_to_roll(out, "eighth")[0]


def test_generate_defaults_come_from_the_checkpoint_search_section(tmp_path, roll_model, capsys):
    """search.temperature and search.top_k of the checkpoint are generate's defaults; a flag wins."""
    loaded = load_model(roll_model, "cpu")
    primer = loaded.task.primer_roll()
    greedy = with_search(roll_model, tmp_path / "greedy.pt", temperature=0.0)
    first = generated(greedy, tmp_path / "g1.mid", "--seed", "1")
    assert np.array_equal(first, generated(greedy, tmp_path / "g2.mid", "--seed", "2"))  # the seed plays no part
    expected = np.concatenate([primer, continue_roll(loaded.model, primer, 24, 0.0, 0)])
    sounding = np.flatnonzero(expected.any(axis=1))
    assert np.array_equal(first, expected[sounding[0] : sounding[-1] + 1])
    hot = [generated(greedy, tmp_path / f"t{s}.mid", "--seed", s, "--temperature", "1.5") for s in "12"]
    assert not np.array_equal(*hot)  # --temperature overrides the stored 0

    top2 = with_search(roll_model, tmp_path / "top2.pt", top_k=2)
    assert generated(top2, tmp_path / "k2.mid", "--seed", "1")[len(primer) :].sum(axis=1).max() <= 2
    assert generated(top2, tmp_path / "k0.mid", "--seed", "1", "--top-k", "0")[len(primer) :].sum(axis=1).max() > 2


def test_top_k_bounds_the_keys_also_at_temperature_0(tmp_path, roll_model):
    """--top-k promises at most k keys per frame, the likeliest; unbounded the trained model sounds 5."""
    roll = generated(roll_model, tmp_path / "g.mid", "--temperature", "0", "--top-k", "2")
    assert roll[16:].sum(axis=1).max() <= 2


def test_generate_bad_input(tmp_path, roll_model, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a default generated.mid would go
    (tmp_path / "broken.mid").write_bytes(b"MThd broken")
    assert main(["generate", "-m", str(roll_model), "--primer", str(tmp_path / "broken.mid"), "--device", "cpu"]) == 2
    one_error_line(capsys, "broken.mid: not a readable MIDI file")
    assert main(["generate", "-m", str(roll_model), "--primer", str(tmp_path / "nope.mid"), "--device", "cpu"]) == 2
    one_error_line(capsys, "nope.mid: no such MIDI file")
    assert main(["generate", "-m", str(roll_model), "--steps", "0", "--device", "cpu"]) == 2
    one_error_line(capsys, "--steps must be at least 1")
    assert main(["generate", "-m", str(roll_model), "--temperature", "-1", "--device", "cpu"]) == 2
    one_error_line(capsys, "--temperature: must be at least 0, got -1.0")
    assert main(["generate", "-m", str(roll_model), "--temperature", "nan", "--device", "cpu"]) == 2
    one_error_line(capsys, "--temperature: expected a finite number, got nan")
    assert main(["generate", "-m", str(roll_model), "-o", str(tmp_path / "out.wav"), "--device", "cpu"]) == 2
    one_error_line(capsys, "out.wav: a piano-roll model writes MIDI")
    assert main(["generate", "-m", str(roll_model), "--top-k", "-2", "--device", "cpu"]) == 2
    one_error_line(capsys, "--top-k: must be at least 0, got -2")
    # --top-p is a text model's flag: a music checkpoint's generate does not take it
    assert main(["generate", "-m", str(roll_model), "--top-p", "0.9", "--device", "cpu"]) == 2
    one_error_line(capsys, "generate for a 'music' checkpoint takes no --top-p; --top-p is for text checkpoints")
    assert [p.name for p in tmp_path.iterdir()] == ["broken.mid"]  # no MIDI file, no picture
    assert not (REPO / "generated.mid").exists()


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


def test_evaluate_bad_input(tmp_path, roll_model, capsys):
    (tmp_path / "bad.pickle").write_bytes(pickle.dumps({"train": [[[1]]]}))
    assert main(["evaluate", "-m", str(roll_model), "--data", str(tmp_path / "bad.pickle"), "--device", "cpu"]) == 2
    one_error_line(capsys, "bad.pickle: expected a dict with keys train, valid, test")
    text = tmp_path / "new.txt"
    text.write_text(short_text(100, seed=4))
    assert main(["evaluate", "-m", str(roll_model), "--data", str(text), "--device", "cpu"]) == 2
    one_error_line(capsys, "new.txt: a text file; characters are the text task's")
    assert main(["evaluate", "-m", str(roll_model), "--data", str(tmp_path / "gone.mat"), "--device", "cpu"]) == 2
    one_error_line(capsys, "gone.mat: no such file")
    empty = {"train": [], "valid": [], "test": [roll_to_notes(r) for r in chord_corpus(2, seed=1)[0]]}
    (tmp_path / "empty.pickle").write_bytes(pickle.dumps(empty))
    assert main(["evaluate", "-m", str(roll_model), "--data", str(tmp_path / "empty.pickle"), "--split", "valid",
                 "--device", "cpu"]) == 2  # fmt: skip
    one_error_line(capsys, "empty.pickle: the valid split has no pieces")
    assert main(["evaluate", "-m", str(roll_model), "--split", "dev", "--device", "cpu"]) == 2
    one_error_line(capsys, "--split dev: use one of train, valid, test")


def test_inspect_refuses_a_piano_roll_model(tmp_path, roll_model, capsys):
    text = tmp_path / "in.txt"
    text.write_text(short_text(20, seed=8))
    assert main(["inspect", "-m", str(roll_model), "--text", str(text), "--device", "cpu"]) == 2
    one_error_line(capsys, "a 'music' checkpoint (language_model model); seq2seq inspect needs a 'text' checkpoint")


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
