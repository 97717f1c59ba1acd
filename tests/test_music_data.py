"""Music data: benchmark files in both forms, MIDI folders, and every bad input the issue lists (the text
task's data is tested in test_text_task.py)."""

from __future__ import annotations

import pickle

import mido
import numpy as np
import pretty_midi
import pytest
import scipy.io

from seq2seq.music.corpus import chord_corpus
from seq2seq.music.midi import midi_to_roll, read_midi, read_midi_folder, roll_to_midi, split_files
from seq2seq.music.rolls import MusicDataError, read_rolls, roll_to_notes, shifts_within_keys, transpose, write_mat


def write_midi(path, notes: list[tuple[int, float, float]], drums: bool = False) -> None:
    """A one-track MIDI file of (pitch, start beat, end beat) at 120 bpm."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    inst = pretty_midi.Instrument(program=0, is_drum=drums)
    inst.notes = [pretty_midi.Note(90, p, s * 0.5, e * 0.5) for p, s, e in notes]
    pm.instruments.append(inst)
    pm.write(str(path))


# -- benchmark files ---------------------------------------------------------------------------
def test_pickle_and_mat_forms_read_the_same(tmp_path):
    pieces = {"train": [[[60, 64, 67], [62], []], [[21, 108]] * 2], "valid": [[[55], [57]]], "test": [[[40], [41.0]]]}
    (tmp_path / "x.pickle").write_bytes(pickle.dumps(pieces, protocol=2))
    rolls = read_rolls(tmp_path / "x.pickle")
    assert rolls["train"][0].shape == (3, 88) and rolls["train"][0].dtype == np.uint8
    assert roll_to_notes(rolls["train"][0]) == [[60, 64, 67], [62], []]
    assert roll_to_notes(rolls["train"][1]) == [[21, 108], [21, 108]]  # the lowest and highest keys
    write_mat(tmp_path / "x.mat", rolls)
    again = read_rolls(tmp_path / "x.mat")
    for split in rolls:
        assert all(np.array_equal(a, b) for a, b in zip(rolls[split], again[split], strict=True))


def test_shared_jsb_mat(shared_data):
    rolls = read_rolls(shared_data / "polyphonic" / "JSB_Chorales.mat")
    assert [len(rolls[s]) for s in ("train", "valid", "test")] == [229, 76, 77]
    assert sum(len(r) for r in rolls["train"]) == 13807


@pytest.mark.parametrize(
    "content, message",
    [
        ({"train": [], "valid": []}, "expected a dict with keys train, valid, test"),
        ([1, 2, 3], "expected a dict with keys train, valid, test"),
        ({"train": [[[60], [12]]], "valid": [], "test": []}, "train[0], frame 1: note 12 is outside the 88 piano keys"),
        ({"train": [[[60], "C4"]], "valid": [], "test": []}, "train[0], frame 1: expected a list of MIDI notes"),
        ({"train": "abc", "valid": [], "test": []}, "'train' must be a list of pieces"),
    ],
)
def test_pickle_with_an_unexpected_layout(tmp_path, content, message):
    path = tmp_path / "bad.pickle"
    path.write_bytes(pickle.dumps(content))
    with pytest.raises(MusicDataError, match="bad.pickle") as e:
        read_rolls(path)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_pickle_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps({"train": [], "valid": [], "test": [], "x": print}))
    with pytest.raises(MusicDataError, match="evil.pickle.*refusing to load builtins.print"):
        read_rolls(path)


def _cells(*arrays):
    out = np.empty((1, len(arrays)), dtype=object)
    for i, a in enumerate(arrays):
        out[0, i] = a
    return out


@pytest.mark.parametrize(
    "content, message",
    [
        ({"train": _cells(np.zeros((4, 88)))}, "expected the arrays traindata, validdata, testdata"),
        (
            {"traindata": _cells(np.zeros((4, 87))), "validdata": _cells(), "testdata": _cells()},
            "traindata[0] is 4 x 87, expected a T x 88 array",
        ),
        (
            {"traindata": _cells(np.full((4, 88), 2)), "validdata": _cells(), "testdata": _cells()},
            "traindata[0] holds values other than 0 and 1",
        ),
    ],
)
def test_mat_with_an_unexpected_layout(tmp_path, content, message):
    path = tmp_path / "bad.mat"
    scipy.io.savemat(path, content)
    with pytest.raises(MusicDataError, match="bad.mat") as e:
        read_rolls(path)
    assert message in str(e.value)


def test_not_a_mat_file(tmp_path):
    path = tmp_path / "junk.mat"
    path.write_bytes(b"\x00\x01 not matlab")
    with pytest.raises(MusicDataError, match="junk.mat: not a readable MATLAB .mat file"):
        read_rolls(path)


def test_transposition_stays_on_the_keys():
    roll = np.zeros((2, 88), np.uint8)
    roll[0, 2], roll[1, 85] = 1, 1  # 2 keys of room below, 2 above
    assert shifts_within_keys(roll, 5) == [-2, -1, 0, 1, 2]
    assert np.flatnonzero(transpose(roll, 2)[1]).tolist() == [87]
    assert np.flatnonzero(transpose(roll, -2)[0]).tolist() == [0]


# -- MIDI --------------------------------------------------------------------------------------
@pytest.mark.parametrize("grid, per_beat", [("quarter", 1), ("eighth", 2), ("sixteenth", 4)])
def test_midi_is_quantised_to_the_grid(tmp_path, grid, per_beat):
    # C4 for beats 1-2, E4 a short note at beat 2.5 (an eighth), G4 from beat 3 for one beat
    write_midi(tmp_path / "a.mid", [(60, 1.0, 2.0), (64, 2.5, 2.75), (67, 3.0, 4.0)])
    roll, dropped = midi_to_roll(tmp_path / "a.mid", grid)
    assert dropped == 0
    notes = roll_to_notes(roll)
    assert len(roll) == 3 * per_beat  # leading silence (beat 0-1) is dropped
    assert notes[0] == [60] and notes[2 * per_beat] == [67]
    assert any(64 in f for f in notes)  # a note shorter than a frame still sounds for one frame


def test_roll_to_midi_reads_back(tmp_path):
    rolls, _ = chord_corpus(3, seed=5)
    for grid in ("quarter", "sixteenth"):
        roll_to_midi(rolls[0], tmp_path / f"{grid}.mid", grid, bpm=97)
        back, dropped = midi_to_roll(tmp_path / f"{grid}.mid", grid)
        assert dropped == 0 and np.array_equal(back, rolls[0])


def styled_midi(path, bpm: float, meter: tuple[int, int], notes: list[tuple[int, float, float, int]],
                tempos: list[tuple[float, float]] = ()) -> None:  # fmt: skip
    """A one-track MIDI file (written with mido) of (pitch, start beat, end beat, velocity) at
    ``bpm`` in ``meter``; ``tempos``: later (beat, bpm) changes."""
    per_beat = 480
    events = [(0, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))),
              (0, 0, mido.MetaMessage("time_signature", numerator=meter[0], denominator=meter[1]))]  # fmt: skip
    events += [(round(b * per_beat), 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(t))) for b, t in tempos]
    for p, s, e, v in notes:
        events.append((round(s * per_beat), 2, mido.Message("note_on", note=p, velocity=v)))
        events.append((round(e * per_beat), 1, mido.Message("note_off", note=p, velocity=0)))
    track, now = mido.MidiTrack(), 0
    for tick, _, message in sorted(events, key=lambda x: x[:2]):
        track.append(message.copy(time=tick - now))
        now = tick
    mido.MidiFile(ticks_per_beat=per_beat, tracks=[track]).save(str(path))


def test_tempo_metre_and_velocities_survive_a_round_trip(tmp_path):
    """read_midi keeps what a roll cannot hold; roll_to_midi writes it back: the primer's notes
    with their own velocities, the rest at the given one, at the same beats, tempo and metre."""
    notes = [(60, 1.0, 2.0, 90), (64, 1.0, 1.5, 70), (67, 2.0, 3.0, 110), (72, 3.5, 4.0, 100)]
    styled_midi(tmp_path / "p.mid", 100.0, (3, 4), notes)
    piece = read_midi(tmp_path / "p.mid", "eighth")
    assert (piece.bpm, piece.time_signature, piece.velocity, piece.offset) == (100.0, (3, 4), 95, 2)
    assert (piece.tempos, piece.time_signatures, piece.dropped) == (1, 1, 0)
    assert np.array_equal(piece.roll, midi_to_roll(tmp_path / "p.mid", "eighth")[0])
    more = np.zeros((4, 88), np.uint8)
    more[:, 50] = 1  # a generated note after the primer's frames
    roll = np.concatenate([piece.roll, more])
    roll_to_midi(roll, tmp_path / "o.mid", "eighth", piece.bpm, piece.velocity, velocities=piece.velocities,
                 time_signature=piece.time_signature, offset=piece.offset)  # fmt: skip
    back = pretty_midi.PrettyMIDI(str(tmp_path / "o.mid"))
    assert back.get_tempo_changes()[1].tolist() == pytest.approx([100.0])
    assert [(ts.numerator, ts.denominator, ts.time) for ts in back.time_signature_changes] == [(3, 4, 0.0)]
    beat = 0.6
    got = sorted(
        (n.pitch, round(n.start / beat, 6), round(n.end / beat, 6), n.velocity) for n in back.instruments[0].notes
    )
    assert got == sorted([*notes, (21 + 50, 4.0, 6.0, 95)])  # the primer's beats: its leading silence kept

    roll_to_midi(roll, tmp_path / "plain.mid", "eighth", 97)  # the old call: 4/4, velocity 80, no offset
    plain = pretty_midi.PrettyMIDI(str(tmp_path / "plain.mid"))
    assert {n.velocity for n in plain.instruments[0].notes} == {80}
    assert [(ts.numerator, ts.denominator) for ts in plain.time_signature_changes] == [(4, 4)]
    assert min(n.start for n in plain.instruments[0].notes) == 0.0


def test_read_midi_reports_tempo_and_metre_changes(tmp_path):
    """The tempo at the first note is the piece's; later changes are counted, not applied."""
    styled_midi(tmp_path / "t.mid", 90.0, (4, 4), [(60, 0.0, 8.0, 64)], tempos=[(4.0, 150.0)])
    piece = read_midi(tmp_path / "t.mid", "quarter")
    assert (piece.bpm, piece.tempos, piece.velocity) == (90.0, 2, 64)
    assert len(piece.roll) == 8  # the grid is in beats: the tempo change does not stretch it
    write_midi(tmp_path / "bare.mid", [(60, 0, 2)])  # pretty_midi's default file: 120 bpm, no metre
    bare = read_midi(tmp_path / "bare.mid", "quarter")
    assert (bare.bpm, bare.time_signature, bare.tempos, bare.time_signatures) == (120.0, (4, 4), 1, 1)
    with pytest.raises(MusicDataError, match="tempo 0.0 bpm: must be a finite number above 0"):
        roll_to_midi(bare.roll, tmp_path / "x.mid", "quarter", bpm=0.0)


def test_corrupt_empty_and_out_of_range_midi(tmp_path):
    (tmp_path / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    with pytest.raises(MusicDataError, match="corrupt.mid: not a readable MIDI file"):
        midi_to_roll(tmp_path / "corrupt.mid", "eighth")
    write_midi(tmp_path / "empty.mid", [])
    with pytest.raises(MusicDataError, match="empty.mid: holds no notes"):
        midi_to_roll(tmp_path / "empty.mid", "eighth")
    write_midi(tmp_path / "drums.mid", [(36, 0, 1)], drums=True)
    with pytest.raises(MusicDataError, match="drums.mid: holds no notes"):
        midi_to_roll(tmp_path / "drums.mid", "eighth")
    write_midi(tmp_path / "wide.mid", [(12, 0, 1), (60, 0, 1), (120, 1, 2)])
    roll, dropped = midi_to_roll(tmp_path / "wide.mid", "quarter")
    assert dropped == 2 and roll_to_notes(roll) == [[60]]
    write_midi(tmp_path / "low.mid", [(5, 0, 1)])
    with pytest.raises(MusicDataError, match="low.mid: all 1 notes lie outside the 88 piano keys"):
        midi_to_roll(tmp_path / "low.mid", "quarter")


def make_midi_folder(folder, good: int = 8) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rolls, _ = chord_corpus(good, seed=3)
    for i, roll in enumerate(rolls):
        roll_to_midi(roll, folder / f"piece{i:02d}.mid", "eighth")
    (folder / "broken.mid").write_bytes(b"not midi at all")
    write_midi(folder / "silent.midi", [])
    (folder / "sub").mkdir()
    write_midi(folder / "sub" / "wide.mid", [(10, 0, 1), (60, 0, 4)])


def test_folder_with_bad_files_keeps_the_rest(tmp_path, capsys):
    make_midi_folder(tmp_path / "midi")
    splits, problems = read_midi_folder(tmp_path / "midi", "eighth", 0.2, 0.2)
    err = capsys.readouterr().err
    assert sum(len(v) for v in splits.values()) == 9  # 8 good + wide.mid with its one bad note dropped
    assert all(splits[s] for s in ("train", "valid", "test"))
    assert len(problems) == 3
    for name in ("broken.mid: not a readable MIDI file", "silent.midi: holds no notes", "wide.mid: dropped 1 notes"):
        assert sum(name in line for line in err.splitlines()) == 1
    assert "skipped or changed 3 of 11 MIDI files" in err


def test_file_split_is_deterministic_and_stable():
    names = [f"song{i}.mid" for i in range(50)]
    split = split_files(names, 0.1, 0.1)
    assert split == split_files(list(reversed(names)), 0.1, 0.1)
    assert sorted(sum(split.values(), [])) == sorted(names)
    more = split_files([*names, "new.mid"], 0.1, 0.1)  # adding a file moves no other file
    assert all(set(split[s]) <= set(more[s]) for s in split)
    tiny = split_files(["a.mid", "b.mid", "c.mid"], 0.1, 0.1)
    assert all(len(v) == 1 for v in tiny.values())


def test_folder_without_enough_files(tmp_path, capsys):
    (tmp_path / "few").mkdir()
    (tmp_path / "few" / "broken.mid").write_bytes(b"xx")
    write_midi(tmp_path / "few" / "ok.mid", [(60, 0, 4)])
    with pytest.raises(MusicDataError, match="1 usable MIDI files of 2, too few for a valid split"):
        read_midi_folder(tmp_path / "few", "eighth", 0.1, 0.1)
    (tmp_path / "none").mkdir()
    with pytest.raises(MusicDataError, match="none: no .mid or .midi files"):
        read_midi_folder(tmp_path / "none", "eighth", 0.1, 0.1)
