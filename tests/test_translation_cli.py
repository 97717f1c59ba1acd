"""``seq2seq translate`` / ``evaluate`` / ``select`` / ``average`` on a small trained checkpoint:
line order and count, the core's beam search, sacreBLEU's figures, and every bad input."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import sacrebleu
import torch

from seq2seq import checkpoint as ckpt_io
from seq2seq.cli import main
from seq2seq.config import SearchConfig, to_dict
from seq2seq.inference import load_model
from seq2seq.registry import load_config
from seq2seq.search import beam_search, max_lengths
from seq2seq.translation import translate as translate_module
from seq2seq.translation.cli import at_upper_edge
from seq2seq.translation.text import read_lines, write_lines
from seq2seq.translation.translator import Translator, length_groups, split_long
from tests.conftest import REPO

DEMO = "translation/demo"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A briefly trained numbers model with three step checkpoints (a few seconds on a CPU)."""
    from seq2seq.train import Trainer

    folder = tmp_path_factory.mktemp("translation") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = load_config(
        DEMO,
        [f"train.out_dir={folder}", "train.device=cpu", "train.progress=false", "data.generated_train=1500",
         "data.generated_valid=16", "data.generated_test=16", "data.vocab_size=150", "train.max_steps=30",
         "train.eval_every=10", "train.scheduler=constant", "search.beam_size=3", "model.hidden_size=96"],
    )  # fmt: skip
    Trainer.from_config(cfg).fit()
    torch.set_num_threads(threads)
    return folder


@pytest.fixture(scope="module")
def loaded(run):
    return load_model(run / "best.pt", "cpu", task="translation")


def translate(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = main(["translate", "--no-progress", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


SENTENCES = [
    "I see twenty-four red dogs.",
    "",
    "The meeting is on the third of May.",
    "She is playing with a cat.",
    "   ",
    "Yesterday we bought three hundred and forty-two old books.",
    "I see a dog.",
    "On the twenty-first of March we saw nine hundred and ninety-nine white horses.",
]


def test_translate_keeps_line_count_and_order_with_empty_lines(run, loaded, tmp_path, capsys):
    src = tmp_path / "in.en"
    write_lines(src, SENTENCES * 3)
    rc, _, _ = translate(["-m", str(run / "best.pt"), "-i", str(src), "-o", str(tmp_path / "out.de"),
                          "--window", "5", "--batch-tokens", "40"], capsys)  # fmt: skip
    assert rc == 0
    out = read_lines(tmp_path / "out.de")
    assert len(out) == len(SENTENCES) * 3
    for line, hyp in zip(SENTENCES * 3, out, strict=True):
        assert (hyp == "") == (line.strip() == "")
    # Each line alone (no batching, no window, no sorting) gives the same translation.
    translator = loaded.task.translator(loaded.model)
    alone = [translator.best([s], loaded.cfg.search)[0] for s in SENTENCES]
    assert out == alone * 3


def test_translate_stdin_to_stdout(run, tmp_path, capsys, monkeypatch):
    import io

    data = "\n".join(SENTENCES[:4]).encode()  # no final newline
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    rc, out, _ = translate(["-m", str(run / "best.pt"), "--beam", "1"], capsys)
    assert rc == 0
    assert out.count("\n") == 4 and out.split("\n")[1] == ""


def test_batched_search_equals_the_core_beam_search_per_sentence(loaded):
    model, sw = loaded.model, loaded.task.subwords
    search = SearchConfig(beam_size=4, length_penalty=0.6, nbest=3, max_len_ratio=2.0, max_len_offset=5)
    lines = [s for s in SENTENCES if s.strip()]
    ours = Translator(model, sw, loaded.task.max_src_len, batch_tokens=50).translate(lines, search)
    for line, hyps in zip(lines, ours, strict=True):
        ids = sw.encode_src([line])[0]
        src, lengths = torch.tensor([ids]), torch.tensor([len(ids)])
        core = beam_search(
            model, model.start(src, lengths), torch.tensor([1]), max_lengths(lengths, 2.0, 5), 2,
            beam_size=4, alpha=0.6, nbest=3, blocked=(1,),
        )[0]  # fmt: skip
        assert [text for text, _ in hyps] == sw.decode_tgt([h.tokens for h in core])
        assert [score for _, score in hyps] == pytest.approx([h.score for h in core], abs=1e-4)


def test_nbest_output(run, tmp_path, capsys):
    write_lines(tmp_path / "in.en", ["I see a dog.", "", "I see two cats."])
    rc, out, _ = translate(["-m", str(run / "best.pt"), "-i", str(tmp_path / "in.en"), "--nbest", "3",
                            "--beam", "3"], capsys)  # fmt: skip
    lines = out.splitlines()
    assert rc == 0 and len(lines) == 3 + 1 + 3
    assert [line.split(" ||| ")[0] for line in lines] == ["0"] * 3 + ["1"] + ["2"] * 3
    scores = [float(line.split(" ||| ")[2]) for line in lines[:3]]
    assert scores == sorted(scores, reverse=True)


def test_bf16_translation_keeps_lines_and_the_recipe_sets_the_default(run, loaded, tmp_path, capsys):
    """--amp bf16 runs the search under bf16 autocast (also on the CPU): same line count and
    order, near the float32 result; without --amp the checkpoint's train.amp decides."""
    write_lines(tmp_path / "in.en", SENTENCES)
    outs = {}
    for amp in ("off", "bf16"):
        rc, _, _ = translate(["-m", str(run / "best.pt"), "-i", str(tmp_path / "in.en"), "-o",
                              str(tmp_path / f"out.{amp}"), "--amp", amp], capsys)  # fmt: skip
        assert rc == 0
        outs[amp] = read_lines(tmp_path / f"out.{amp}")
    assert len(outs["bf16"]) == len(SENTENCES)
    assert [bool(x.strip()) for x in outs["bf16"]] == [bool(x.strip()) for x in SENTENCES]
    same = sum(a == b for a, b in zip(outs["off"], outs["bf16"], strict=True))
    assert same >= len(SENTENCES) - 2  # bf16 rounding may flip a close call, not the whole output
    from seq2seq.translation.cli import translator_of

    args = argparse.Namespace(beam=None, length_penalty=None, batch_tokens=2000, amp=None)
    assert translator_of(loaded, args).amp == loaded.cfg.train.amp
    args.amp = "bf16"
    assert translator_of(loaded, args).amp == "bf16"


def test_length_groups_sort_and_cap():
    groups = length_groups([3, 10, 4, 10, 1, 2], batch_tokens=20)
    assert groups == [[1, 3], [2, 0, 5, 4]]
    assert length_groups([30, 2], batch_tokens=20) == [[0], [1]]  # a long one alone, never dropped


def test_split_long_prefers_punctuation_then_word_starts():
    pieces = ["▁a", "b", "▁c", ",", "▁d", "e", "▁f", "g", "h", "i"]
    parts = split_long(list(range(10)), pieces, limit=5)
    assert parts == [[0, 1, 2, 3], [4, 5], [6, 7, 8, 9]]
    assert [len(p) for p in split_long(list(range(12)), ["x"] * 12, 5)] == [5, 5, 2]


def test_a_line_far_longer_than_training_is_translated_in_pieces(run, loaded, tmp_path, capsys):
    long_line = " ".join(["I see twenty-four red dogs."] * 40)
    write_lines(tmp_path / "in.en", ["I see a dog.", long_line, "I see a cat."])
    rc, out, err = translate(["-m", str(run / "best.pt"), "-i", str(tmp_path / "in.en")], capsys)
    assert rc == 0
    lines = out.splitlines()
    assert len(lines) == 3 and len(lines[1]) > 5 * len(lines[0])
    n = len(loaded.task.subwords.encode_src([long_line])[0])
    assert f"seq2seq: warning: line 2: {n} subwords, more than the {loaded.task.max_src_len}" in err
    assert "translated in" in err and "line 1" not in err and "line 3" not in err


def test_attention_plot(run, tmp_path, capsys):
    write_lines(tmp_path / "in.en", ["", "I see twenty-four red dogs.", "I see a cat."])
    png = tmp_path / "attention.png"
    rc, _, _ = translate(["-m", str(run / "best.pt"), "-i", str(tmp_path / "in.en"), "--attention-plot",
                          str(png), "--plot-line", "3"], capsys)  # fmt: skip
    assert rc == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rc, _, err = translate(["-m", str(run / "best.pt"), "-i", str(tmp_path / "in.en"), "--attention-plot",
                            str(png), "--plot-line", "9"], capsys)  # fmt: skip
    assert rc == 2 and "no line 9 to plot" in err


def test_interrupted_translate_leaves_no_output_file(run, tmp_path, capsys, monkeypatch):
    write_lines(tmp_path / "in.en", SENTENCES * 4)
    (tmp_path / "old.de").write_text("a previous complete translation\n", encoding="utf-8")
    calls = []
    real = Translator.translate

    def interrupt_second_window(self, lines, opts, first_line=1):
        calls.append(first_line)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, lines, opts, first_line)

    monkeypatch.setattr(Translator, "translate", interrupt_second_window)
    for target in ("new.de", "old.de"):
        rc, _, err = translate(["-m", str(run / "best.pt"), "-i", str(tmp_path / "in.en"), "-o",
                                str(tmp_path / target), "--window", "4"], capsys)  # fmt: skip
        assert rc == 130 and "interrupted" in err
        calls.clear()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.en", "old.de"]  # no temporary files either
    assert (tmp_path / "old.de").read_text(encoding="utf-8") == "a previous complete translation\n"


@pytest.mark.slow
def test_ctrl_c_on_a_real_process(run, tmp_path):
    write_lines(tmp_path / "in.en", SENTENCES * 2000)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "seq2seq", "translate", "-m", str(run / "best.pt"), "-i", str(tmp_path / "in.en"),
         "-o", str(tmp_path / "out.de"), "--window", "16", "--device", "cpu"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        # Ctrl-C as in a terminal: a test run started in the background (`make test &`) ignores
        # SIGINT, and a child would inherit that and never see the signal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.name.startswith(".out.de.") for p in tmp_path.iterdir()):
        time.sleep(0.2)  # wait until it is writing
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.en"]


def test_bad_inputs_give_one_line_errors(run, tmp_path, capsys):
    (tmp_path / "bad.en").write_bytes(b"I see a dog.\nI see \xe9 cat.\n")
    rc, _, err = translate(["-m", str(run / "best.pt"), "-i", str(tmp_path / "bad.en"), "-o",
                            str(tmp_path / "bad.de")], capsys)  # fmt: skip
    assert rc == 2 and re.search(r"bad\.en: line 2: not valid UTF-8", err) and err.count("\n") == 1
    assert not (tmp_path / "bad.de").exists()
    rc, _, err = translate(["-m", str(run / "best.pt"), "-i", str(tmp_path / "none.en")], capsys)
    assert rc == 2 and "none.en: no such file" in err
    rc, _, err = translate(["-m", str(tmp_path / "none.pt"), "-i", str(tmp_path / "bad.en")], capsys)
    assert rc == 2 and "none.pt: no such checkpoint file" in err
    rc, _, err = translate(["-m", str(run / "best.pt"), "--nbest", "9", "--beam", "2"], capsys)
    assert rc == 2 and "--nbest 9" in err


def test_a_checkpoint_that_is_not_a_translation_model(run, tmp_path, capsys):
    toy = load_config("toy/reverse")
    ckpt_io.save(tmp_path / "toy.pt", {"task": "toy", "kind": "encoder_decoder", "config": to_dict(toy),
                                       "model": {}, "task_state": {}})  # fmt: skip
    rc, _, err = translate(["-m", str(tmp_path / "toy.pt")], capsys)
    assert rc == 2 and "toy.pt: a 'toy' checkpoint (encoder_decoder model); translate needs a 'translation'" in err
    assert main(["evaluate", "-m", str(tmp_path / "toy.pt"), "--src", "x", "--ref", "y"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "seq2seq: error: evaluate for a 'toy' checkpoint takes no --src --ref; --src is for translation "
        "checkpoints (its options: seq2seq evaluate -m CKPT --help)"
    )


def test_a_checkpoint_with_a_missing_or_mismatched_subword_model(run, tmp_path, capsys):
    ckpt = ckpt_io.load(run / "best.pt")
    ckpt["task_state"]["subwords"] = None
    ckpt_io.save(tmp_path / "nosp.pt", ckpt)
    rc, _, err = translate(["-m", str(tmp_path / "nosp.pt")], capsys)
    assert rc == 2 and "holds no SentencePiece model" in err
    from seq2seq.translation.subwords import train

    ckpt["task_state"]["subwords"] = {"src": train(["a b c d e f g h"] * 5, 20, "unigram", "x"), "tgt": None}
    ckpt_io.save(tmp_path / "othersp.pt", ckpt)
    rc, _, err = translate(["-m", str(tmp_path / "othersp.pt")], capsys)
    assert rc == 2 and "the subword model and weights do not belong together" in err


def test_a_closed_stdout_ends_quietly(tmp_path):
    """`seq2seq evaluate ... | head -1` where head has gone: exit status 141, no traceback."""
    write_lines(tmp_path / "a.de", ["Ein Hund."] * 3)
    proc = subprocess.Popen(
        [sys.executable, "-m", "seq2seq", "evaluate", "--hyp", str(tmp_path / "a.de"), "--ref", str(tmp_path / "a.de")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    proc.stdout.close()  # the reader leaves before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_evaluate_hyp_equals_sacrebleu(tmp_path, capsys):
    hyps = ["Ein Hund läuft im Park.", "Zwei Männer spielen Fußball.", "Eine Frau liest ein Buch", ""]
    refs = ["Ein Hund rennt im Park.", "Zwei Männer spielen Fußball.", "Eine Frau liest ein Buch.", "Ein Kind."]
    write_lines(tmp_path / "hyp.de", hyps)
    write_lines(tmp_path / "ref.de.gz", refs)
    assert main(["evaluate", "--hyp", str(tmp_path / "hyp.de"), "--ref", str(tmp_path / "ref.de.gz")]) == 0
    out = capsys.readouterr().out
    bleu = sacrebleu.corpus_bleu(hyps, [refs])
    chrf = sacrebleu.corpus_chrf(hyps, [refs])
    assert float(re.search(r"^BLEU = ([\d.]+)", out, re.M).group(1)) == pytest.approx(bleu.score, abs=0.005)
    assert float(re.search(r"^chrF2 = ([\d.]+)", out, re.M).group(1)) == pytest.approx(chrf.score, abs=0.005)
    assert f"version:{sacrebleu.__version__}" in out and "tok:13a" in out
    # hand-checked: identical text is 100, no shared words is 0
    write_lines(tmp_path / "same.de", refs)
    main(["evaluate", "--hyp", str(tmp_path / "same.de"), "--ref", str(tmp_path / "ref.de.gz")])
    assert capsys.readouterr().out.startswith("BLEU = 100.00")
    write_lines(tmp_path / "short.de", hyps[:3])
    assert main(["evaluate", "--hyp", str(tmp_path / "short.de"), "--ref", str(tmp_path / "ref.de.gz")]) == 2
    assert "short.de has 3 lines but" in capsys.readouterr().err


def test_evaluate_src_translates_then_scores(run, loaded, tmp_path, capsys):
    src, ref = loaded.task.split_text("test")
    write_lines(tmp_path / "t.en", src)
    write_lines(tmp_path / "t.de", ref)
    assert main(["evaluate", "-m", str(run / "best.pt"), "--src", str(tmp_path / "t.en"), "--ref",
                 str(tmp_path / "t.de"), "--beam", "2"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    hyps = loaded.task.translator(loaded.model).best(src, dataclasses.replace(loaded.cfg.search, beam_size=2))
    assert f"BLEU = {sacrebleu.corpus_bleu(hyps, [ref]).score:.2f}" in out
    assert main(["evaluate", "-m", str(run / "best.pt"), "--src", str(tmp_path / "t.en")]) == 2
    assert "give --src and --ref together" in capsys.readouterr().err
    assert main(["evaluate", "--src", str(tmp_path / "t.en")]) == 2  # no checkpoint, no files to score
    assert "evaluate: give a checkpoint with -m" in capsys.readouterr().err


def test_average_the_last_checkpoints_then_select_on_validation(run, loaded, tmp_path, capsys):
    steps = ckpt_io.step_checkpoints(run)
    assert len(steps) == 3
    assert main(["average", str(run), "--last", "2", "-o", str(tmp_path / "avg.pt")]) == 0
    avg = ckpt_io.load(tmp_path / "avg.pt")
    a, b = (ckpt_io.load(p)["model"] for p in steps[-2:])
    for k, v in avg["model"].items():
        torch.testing.assert_close(v, (a[k] + b[k]) / 2)
    assert avg["task_state"] == ckpt_io.load(steps[-1])["task_state"]  # the subword model travels along
    src, ref = loaded.task.split_text("valid")
    write_lines(tmp_path / "v.en", src)
    write_lines(tmp_path / "v.de", ref)
    rc = main(["select", str(run / "best.pt"), str(tmp_path / "avg.pt"), "--src", str(tmp_path / "v.en"), "--ref",
               str(tmp_path / "v.de"), "--length-penalties", "0", "1.5", "--beam", "2", "-o",
               str(tmp_path / "final.pt")])  # fmt: skip
    captured = capsys.readouterr()
    assert rc == 0 and '"selected"' in captured.out
    grid = ckpt_io.load(tmp_path / "final.pt")["selected"]["grid"]
    assert len(grid) == 4
    best = max(grid, key=lambda g: g["bleu"])
    # A pick at the top of the grid may be short of the optimum: select says so, and only then.
    assert ("is the largest tried" in captured.err) == (best["length_penalty"] == 1.5)
    final = load_model(tmp_path / "final.pt", "cpu", task="translation")
    assert final.cfg.search.length_penalty == best["length_penalty"] and final.cfg.search.beam_size == 2
    rc, out, _ = translate(["-m", str(tmp_path / "final.pt"), "-i", str(tmp_path / "v.en")], capsys)
    assert rc == 0 and len(out.splitlines()) == len(src)


def test_select_warns_only_when_its_pick_is_the_largest_penalty_tried():
    assert at_upper_edge(1.4, [0.0, 0.6, 1.0, 1.4])
    assert not at_upper_edge(1.0, [0.0, 0.6, 1.0, 1.4])
    assert not at_upper_edge(0.0, [0.0, 1.4])
    assert not at_upper_edge(1.0, [1.0])  # a single penalty is a choice, not a grid
    assert not at_upper_edge(1.0, [1.0, 1.0])


def test_stream_reads_lazily_in_windows(loaded):
    """Bounded memory: a window is translated before the next lines are read."""
    translator = Translator(loaded.model, loaded.task.subwords, loaded.task.max_src_len)
    read, written = [], []

    def lines():
        for i in range(10):
            read.append(i)
            yield "I see a dog." if i % 2 else ""

    def write(text: str) -> None:
        written.append((len(read), text))

    count, kept = translate_module.translate_stream(translator, lines(), write, SearchConfig(beam_size=1), window=4)
    assert count == 10 and kept is not None and kept[0] == "I see a dog."
    assert [r for r, _ in written] == [4] * 4 + [8] * 4 + [10] * 2


def test_progress_bar_counts_lines(loaded, tmp_path, capsys):
    translator = Translator(loaded.model, loaded.task.subwords, loaded.task.max_src_len)
    write_lines(tmp_path / "in.en.gz", SENTENCES)
    count = translate_module.run(
        translator,
        SearchConfig(beam_size=1),
        str(tmp_path / "in.en.gz"),
        str(tmp_path / "out.de"),
        window=3,
        progress=True,
    )
    err = capsys.readouterr().err
    assert count == len(SENTENCES) and f"{len(SENTENCES)}/{len(SENTENCES)}" in err and "line" in err
    assert len(read_lines(tmp_path / "out.de")) == len(SENTENCES)


def test_evaluate_a_split_of_the_recipe(run, loaded, capsys):
    assert main(["evaluate", "-m", str(run / "best.pt"), "--split", "test", "--beam", "1"]) == 0
    out = capsys.readouterr().out
    src, ref = loaded.task.split_text("test")
    hyps = loaded.task.translator(loaded.model).best(src, dataclasses.replace(loaded.cfg.search, beam_size=1))
    assert f"BLEU = {sacrebleu.corpus_bleu(hyps, [ref]).score:.2f}" in out
    assert main(["evaluate", "-m", str(run / "best.pt"), "--split", "holdout"]) == 2
    assert "split 'holdout': use train, valid or test" in capsys.readouterr().err
