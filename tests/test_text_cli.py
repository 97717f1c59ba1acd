"""The text commands on real files: generate (reproducible, the checkpoint's [search] defaults),
evaluate per split, inspect (pictures and units), and bad input as one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from seq2seq.cli import main
from seq2seq.inference import load_model
from seq2seq.text.corpus import short_text
from seq2seq.text.generate import continue_text
from seq2seq.text.task import TextTask
from seq2seq.text.vocab import split_text
from tests.helpers import one_error_line, train_cli, typed_on_a_terminal, with_search


@pytest.fixture(scope="module")
def text_model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("text")
    return train_cli("text/demo", out / "run", "data.corpus_sentences=600", "train.epochs=2")


def test_generate_text(tmp_path, text_model, capsys):
    args = ["generate", "-m", str(text_model), "--primer", '"The cat', "--steps", "60", "--seed", "3", "--top-p", "0.9",
            "--temperature", "0.8", "-o", str(tmp_path / "a.txt"), "--device", "cpu"]  # fmt: skip
    assert main(args) == 0
    text = (tmp_path / "a.txt").read_text()
    assert text.startswith('"The cat') and len(text) == len('"The cat') + 60
    assert text in capsys.readouterr().out
    assert main([*args[:-3], str(tmp_path / "b.txt"), "--device", "cpu"]) == 0
    assert (tmp_path / "b.txt").read_text() == text  # the same seed, the same text
    loaded = load_model(text_model, "cpu")
    assert text == '"The cat' + continue_text(loaded.model, loaded.task.vocab, '"The cat', 60, 0.8, 0, 0.9, seed=3)
    capsys.readouterr()
    assert main(["generate", "-m", str(text_model), "--primer", "The Zebra", "--steps", "5", "--device", "cpu"]) == 0
    assert "--primer, line 1, column 5: 1 character(s) unseen in training: 'Z'" in capsys.readouterr().err


def test_primers_from_stdin_are_answered_line_by_line(tmp_path, text_model, capsys, monkeypatch):
    """``--primer -``: each line of stdin is a primer, continued as on the command line (same
    seed, same text); on a terminal each answer comes back before the next line is typed."""
    import io
    import sys

    loaded = load_model(text_model, "cpu")
    primers = ["The cat", "Anna and"]
    expected = [p + continue_text(loaded.model, loaded.task.vocab, p, 30, 1.0, 0, 1.0, seed=2) for p in primers]
    monkeypatch.setattr(sys, "stdin", io.StringIO("The cat\n\nAnna and\n"))  # the empty line is skipped
    out = tmp_path / "out.txt"
    args = ["generate", "-m", str(text_model), "--primer", "-", "--steps", "30", "--seed", "2", "--temperature", "1",
            "--top-k", "0", "--top-p", "1", "--device", "cpu"]  # fmt: skip
    assert main([*args, "-o", str(out)]) == 0
    assert capsys.readouterr().out == "".join(e + "\n" for e in expected) + f"wrote {out}\n"
    assert out.read_text(encoding="utf-8") == "\n\n".join(expected)
    typed_on_a_terminal(args, [(p, e + "\n") for p, e in zip(primers, expected, strict=True)])


def test_generate_from_the_stored_primer(text_model, capsys):
    loaded = load_model(text_model, "cpu")
    assert isinstance(loaded.task, TextTask) and loaded.task.primer  # the first line of the training text
    assert main(["generate", "-m", str(text_model), "--steps", "20", "--seed", "1", "--device", "cpu"]) == 0
    assert capsys.readouterr().out.startswith(loaded.task.primer)


def test_generate_defaults_come_from_the_checkpoint_search_section(tmp_path, text_model, capsys):
    """search.temperature / top_k / top_p of the checkpoint are generate's defaults; a flag wins."""
    loaded = load_model(text_model, "cpu")
    vocab = loaded.task.vocab

    def generated(model: Path, *flags: str) -> str:
        out = tmp_path / "out.txt"
        assert main(["generate", "-m", str(model), "--primer", "Anna", "--steps", "40", *flags, "-o", str(out),
                     "--device", "cpu"]) == 0  # fmt: skip
        return out.read_text()[len("Anna") :]

    greedy = with_search(text_model, tmp_path / "greedy.pt", temperature=0.0)
    assert generated(greedy, "--seed", "1") == generated(greedy, "--seed", "2")  # the seed plays no part
    assert generated(greedy, "--seed", "1") == continue_text(loaded.model, vocab, "Anna", 40, temperature=0.0)
    hot = [generated(greedy, "--seed", seed, "--temperature", "2") for seed in "12"]
    assert hot[0] != hot[1]  # --temperature overrides the stored 0
    stored = with_search(text_model, tmp_path / "stored.pt", temperature=1.3, top_k=4, top_p=0.8)
    expected = continue_text(loaded.model, vocab, "Anna", 40, 1.3, 4, 0.8, seed=7)
    assert generated(stored, "--seed", "7") == expected
    wider = continue_text(loaded.model, vocab, "Anna", 40, 1.3, 4, 1.0, seed=7)
    assert wider != expected and generated(stored, "--seed", "7", "--top-p", "1.0") == wider


def test_generate_bad_input(tmp_path, text_model, capsys):
    assert main(["generate", "-m", str(text_model), "--steps", "0", "--device", "cpu"]) == 2
    one_error_line(capsys, "--steps must be at least 1")
    assert main(["generate", "-m", str(text_model), "--top-p", "1.5", "--device", "cpu"]) == 2
    one_error_line(capsys, "--top-p: must be at most 1, got 1.5")
    assert main(["generate", "-m", str(text_model), "--top-p", "0", "--device", "cpu"]) == 2
    one_error_line(capsys, "--top-p: must be above 0, got 0.0")
    for value in ("nan", "inf"):
        assert main(["generate", "-m", str(text_model), "--temperature", value, "--device", "cpu"]) == 2
        one_error_line(capsys, f"--temperature: expected a finite number, got {value}")
    assert main(["generate", "-m", str(text_model), "--temperature", "-0.5", "--device", "cpu"]) == 2
    one_error_line(capsys, "--temperature: must be at least 0, got -0.5")
    assert main(["generate", "-m", str(text_model), "--primer", "", "--device", "cpu"]) == 2
    one_error_line(capsys, "the primer is empty")
    assert main(["generate", "-m", str(text_model), "--bpm", "90", "--device", "cpu"]) == 2  # a music model's flag
    one_error_line(capsys, "generate for a 'text' checkpoint takes no --bpm; --bpm is for music checkpoints")
    assert not list(tmp_path.iterdir())


def test_evaluate_prints_bits_per_character_per_split(tmp_path, text_model, capsys):
    assert main(["evaluate", "-m", str(text_model), "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[:2] for line in lines] == [["train", "bpc"], ["valid", "bpc"], ["test", "bpc"]]
    assert all("bits per character" in line for line in lines)
    text = tmp_path / "other.txt"
    text.write_text(short_text(100, seed=4))
    assert main(["evaluate", "-m", str(text_model), "--data", str(text), "--split", "test", "--device", "cpu"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("test  bpc ") and "other.txt" in out[0]
    d = load_model(text_model, "cpu").cfg.data  # the file is cut into splits as the training text was
    expected = len(split_text(text.read_text(), d.valid_fraction, d.test_fraction, "x")["test"]) - 1
    assert f"({expected} predicted characters" in out[0]


def test_evaluate_bad_input(tmp_path, text_model, capsys):
    text = tmp_path / "new.txt"
    text.write_text(short_text(100, seed=4) + "Zürich {}\n")
    assert main(["evaluate", "-m", str(text_model), "--data", str(text), "--split", "test", "--device", "cpu"]) == 2
    one_error_line(capsys, "new.txt (test split), line", "unseen in training", "'ü'")
    (tmp_path / "rolls.pickle").write_bytes(b"\x80\x04\x95\xff binary")
    assert main(["evaluate", "-m", str(text_model), "--data", str(tmp_path / "rolls.pickle"), "--device", "cpu"]) == 2
    one_error_line(capsys, "rolls.pickle, line 1: not UTF-8")
    assert main(["evaluate", "-m", str(text_model), "--data", str(tmp_path / "gone.txt"), "--device", "cpu"]) == 2
    one_error_line(capsys, "gone.txt: no such text file")


def test_inspect_writes_pictures_and_lists_units(tmp_path, text_model, capsys):
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
    assert (out / "units.json").exists()
    assert main(["inspect", "-m", str(text_model), "--text", str(text), "--units", "0,5", "--state", "f",
                 "-o", str(out), "--device", "cpu"]) == 0  # fmt: skip
    assert "layer 0 f unit 5" in (out / "inspect.html").read_text()
    capsys.readouterr()
    assert main(["inspect", "-m", str(text_model), "--text", str(text), "--units", "999", "--device", "cpu"]) == 2
    one_error_line(capsys, "--units: [999] out of range")
    assert main(["inspect", "-m", str(text_model), "--text", str(text), "--units", "a,b", "--device", "cpu"]) == 2
    one_error_line(capsys, "--units 'a,b': give unit numbers")
    assert main(["inspect", "-m", str(text_model), "--text", str(text), "--state", "z", "--device", "cpu"]) == 2
    one_error_line(capsys, "no 'z' in layer", "states: c, f, g, h, i, o")
    (tmp_path / "one.txt").write_text("a")
    assert main(["inspect", "-m", str(text_model), "--text", str(tmp_path / "one.txt"), "--device", "cpu"]) == 2
    one_error_line(capsys, "one.txt: fewer than 2 characters to read")
