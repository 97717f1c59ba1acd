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
from tests.helpers import typed_on_a_terminal

DEMO = "translation/demo"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A briefly trained numbers model with three step checkpoints (a few seconds on a CPU);
    best.pt is the one of lowest validation loss (BLEU, the recipe's metric, is 0 at every step
    this early and would pick the first, barely trained one)."""
    from seq2seq.trainer import Trainer

    folder = tmp_path_factory.mktemp("translation") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = load_config(
        DEMO,
        [f"train.out_dir={folder}", "train.device=cpu", "train.progress=false", "data.generated_train=1500",
         "data.generated_valid=16", "data.generated_test=16", "data.vocab_size=150", "train.max_steps=30",
         "train.eval_every=10", "train.scheduler=constant", "search.beam_size=3", "model.hidden_size=96",
         "train.metric=loss"],
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
    from seq2seq.api import TranslationModel
    from seq2seq.translation.cli import translator_of

    args = argparse.Namespace(beam=None, length_penalty=None, batch_tokens=2000, amp=None)
    assert translator_of(TranslationModel(loaded), args).amp == loaded.cfg.train.amp
    args.amp = "bf16"
    assert translator_of(TranslationModel(loaded), args).amp == "bf16"


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


# -- search options, sampling, ensembles, interactive use, flag names --------------------------
@torch.no_grad()
def teacher_forced_logprob(model, src_ids: list[int], tokens: list[int]) -> float:
    """log p(tokens, EOS | source) of one model, by teacher forcing."""
    logits = model(torch.tensor([src_ids]), torch.tensor([len(src_ids)]), torch.tensor([[1, *tokens]]))
    logp = torch.log_softmax(logits[0].double(), -1)
    return float(sum(logp[t, y] for t, y in enumerate([*tokens, 2])))


def repeats_a_bigram(tokens: list[int]) -> bool:
    bigrams = list(zip(tokens, tokens[1:], strict=False))
    return len(set(bigrams)) < len(bigrams)


def nbest_lines(out: str) -> list[tuple[int, str, float]]:
    return [(int(n), text, float(score)) for n, text, score in (line.split(" ||| ") for line in out.splitlines())]


def test_min_length_and_block_ngram_repeat_flags(run, loaded, tmp_path, capsys):
    from seq2seq.translation.translator import search_ids

    lines = [s for s in SENTENCES if s.strip()]
    sources = loaded.task.subwords.encode_src(lines)
    plain = search_ids(loaded.model, sources, SearchConfig(beam_size=3, nbest=3))
    assert any(repeats_a_bigram(h.tokens) for hyps in plain for h in hyps)  # the barely trained model repeats
    search = SearchConfig(beam_size=3, nbest=3, min_length=6, block_ngram_repeat=2)
    for hyps in search_ids(loaded.model, sources, search):
        for h in hyps:
            assert len(h.tokens) >= 6
            assert not repeats_a_bigram(h.tokens)
    write_lines(tmp_path / "in.en", SENTENCES)
    rc, out, _ = translate(["-m", str(run / "best.pt"), "-i", str(tmp_path / "in.en"), "--min-length", "6",
                            "--block-ngram-repeat", "2"], capsys)  # fmt: skip
    assert rc == 0
    expected = loaded.task.translator(loaded.model).best(SENTENCES, dataclasses.replace(loaded.cfg.search, **{
        "min_length": 6, "block_ngram_repeat": 2}))  # fmt: skip
    assert out.splitlines() == expected
    rc, _, err = translate(["-m", str(run / "best.pt"), "--min-length", "-1"], capsys)
    assert rc == 2 and "--min-length: must be at least 0, got -1" in err
    # a translation recipe may set them (and the sampling keys) as its defaults
    cfg = load_config(DEMO, ["search.min_length=2", "search.block_ngram_repeat=3", "search.top_p=0.9"])
    assert (cfg.search.min_length, cfg.search.block_ngram_repeat, cfg.search.top_p) == (2, 3, 0.9)


def test_sample_draws_from_the_model(run, loaded, tmp_path, capsys):
    """--sample: one draw per line from the model (the core sampler), reproducible by --seed;
    at temperature 0 it is greedy search; a draw's score is the model's log-probability of it."""
    from seq2seq.search import seeded
    from seq2seq.translation.translator import search_ids

    write_lines(tmp_path / "in.en", SENTENCES)
    ckpt = str(run / "best.pt")
    draws = [translate(["-m", ckpt, "-i", str(tmp_path / "in.en"), "--sample", "--seed", seed], capsys)[1]
             for seed in ("3", "3", "4")]  # fmt: skip
    assert draws[0] == draws[1] and draws[0] != draws[2]
    assert [bool(x) for x in draws[0].splitlines()] == [bool(x.strip()) for x in SENTENCES]
    greedy_out = translate(["-m", ckpt, "-i", str(tmp_path / "in.en"), "--beam", "1"], capsys)[1]
    assert translate(["-m", ckpt, "-i", str(tmp_path / "in.en"), "--sample", "--temperature", "0"], capsys)[1] == (
        greedy_out
    )
    rc, out, _ = translate(["-m", ckpt, "-i", str(tmp_path / "in.en"), "--sample", "--nbest", "4", "--seed", "1",
                            "--length-penalty", "0"], capsys)  # fmt: skip
    rows = nbest_lines(out)
    assert rc == 0 and [n for n, _, _ in rows] == sorted(
        [i for i, s in enumerate(SENTENCES) if s.strip()] * 4 + [i for i, s in enumerate(SENTENCES) if not s.strip()]
    )
    # the sampler's scores are the model's log-probabilities of what it drew
    ids = loaded.task.subwords.encode_src(["I see twenty-four red dogs."] * 30)
    search = SearchConfig(nbest=2, length_penalty=0.0, top_k=20)
    drawn = search_ids(loaded.model, ids, search, sampling=True, generator=seeded(torch.device("cpu"), 0))
    assert len({tuple(h.tokens) for hyps in drawn for h in hyps}) > 1  # draws, not a search
    for hyps in drawn[:5]:
        assert hyps[0].score >= hyps[1].score
        for h in hyps:
            assert h.logprob == pytest.approx(teacher_forced_logprob(loaded.model, ids[0], h.tokens), abs=1e-3)
    rc, _, err = translate(["-m", ckpt, "--temperature", "0.5"], capsys)
    assert rc == 2 and "--temperature: a sampling option; add --sample" in err
    rc, _, err = translate(["-m", ckpt, "--sample", "--beam", "4"], capsys)
    assert rc == 2 and "--beam: --sample draws translations" in err
    rc, _, err = translate(["-m", ckpt, "--sample", "--top-p", "2"], capsys)
    assert rc == 2 and "--top-p: must be at most 1" in err


def test_an_ensemble_of_a_checkpoint_with_itself_translates_as_the_checkpoint(run, tmp_path, capsys):
    write_lines(tmp_path / "in.en", SENTENCES)
    ckpt = str(run / "best.pt")
    args = ["-i", str(tmp_path / "in.en"), "--beam", "3", "--nbest", "2"]
    alone = translate(["-m", ckpt, *args], capsys)
    assert alone[0] == 0
    assert translate(["-m", ckpt, ckpt, *args], capsys) == alone
    assert translate(["-m", ckpt, "-m", ckpt, *args], capsys) == alone  # a repeated -m: an ensemble, not b alone


def test_an_ensemble_scores_the_mean_of_its_models_log_probabilities(run, tmp_path, capsys):
    from seq2seq.search import Ensemble, length_penalty
    from seq2seq.translation.translator import search_ids

    first, second = ckpt_io.step_checkpoints(run)[-2:]
    a, b = (load_model(p, "cpu", task="translation") for p in (first, second))
    ensemble = Ensemble([a.model, b.model]).eval()
    lines = [s for s in SENTENCES if s.strip()]
    sources = a.task.subwords.encode_src(lines)
    found = search_ids(ensemble, sources, SearchConfig(beam_size=3, nbest=2, length_penalty=0.6))
    alone = search_ids(a.model, sources, SearchConfig(beam_size=3, nbest=2, length_penalty=0.6))
    assert [h.score for hyps in found for h in hyps] != pytest.approx([h.score for hyps in alone for h in hyps])
    for ids, hyps in zip(sources, found, strict=True):
        for h in hyps:
            mean = (teacher_forced_logprob(a.model, ids, h.tokens) + teacher_forced_logprob(b.model, ids, h.tokens)) / 2
            assert h.logprob == pytest.approx(mean, abs=1e-3)
            lp = float(length_penalty(torch.tensor(len(h.tokens) + 1), 0.6))
            assert h.score == pytest.approx(mean / lp, abs=1e-3)
    # the command line decodes the same ensemble (the first checkpoint's [search], flags over it)
    write_lines(tmp_path / "in.en", lines)
    rc, out, _ = translate(["-m", str(first), str(second), "-i", str(tmp_path / "in.en"), "--beam", "3", "--nbest",
                            "2", "--length-penalty", "0.6"], capsys)  # fmt: skip
    assert rc == 0
    texts = [a.task.subwords.decode_tgt([h.tokens for h in hyps]) for hyps in found]
    assert [(n, t) for n, t, _ in nbest_lines(out)] == [(i, t) for i, ts in enumerate(texts) for t in ts]
    assert [s for _, _, s in nbest_lines(out)] == pytest.approx([h.score for hyps in found for h in hyps], abs=1e-3)
    # evaluate takes the same ensemble: -m A B
    ref = ["x"] * len(lines)
    write_lines(tmp_path / "ref.de", ref)
    assert main(["evaluate", "-m", str(first), str(second), "--src", str(tmp_path / "in.en"), "--ref",
                 str(tmp_path / "ref.de"), "--beam", "3", "--length-penalty", "0.6"]) == 0  # fmt: skip
    hyps = [ts[0] for ts in texts]
    assert f"BLEU = {sacrebleu.corpus_bleu(hyps, [ref]).score:.2f}" in capsys.readouterr().out


def test_an_ensemble_of_checkpoints_with_other_subwords_is_refused(run, loaded, tmp_path, capsys):
    from seq2seq.translation.subwords import train

    ckpt = ckpt_io.load(run / "best.pt")
    size = loaded.task.subwords.src_size
    src, tgt = loaded.task.split_text("train")
    ckpt["task_state"]["subwords"] = {"src": train([*src, *tgt], size, "bpe", "x"), "tgt": None}
    ckpt_io.save(tmp_path / "other.pt", ckpt)
    assert load_model(tmp_path / "other.pt", "cpu", task="translation").task.subwords.src_size == size  # loads alone
    rc, _, err = translate(["-m", str(run / "best.pt"), str(tmp_path / "other.pt")], capsys)
    assert rc == 2 and err.count("\n") == 1
    assert f"{tmp_path / 'other.pt'}: its source subwords differ from {run / 'best.pt'}'s" in err
    rc, _, err = translate(["-m", str(run / "best.pt"), str(run / "best.pt"), "--attention-plot",
                            str(tmp_path / "a.png")], capsys)  # fmt: skip
    assert rc == 2 and "--attention-plot draws one model's attention" in err


def test_on_a_terminal_each_line_is_answered_as_it_is_typed(run, loaded):
    """stdin a pseudo-terminal: a line's translation comes back (flushed) before the next line
    is typed or the input ends."""
    translator = loaded.task.translator(loaded.model)
    lines = ("I see a dog.", "She is playing with three cats.")
    typed_on_a_terminal(["translate", "-m", str(run / "best.pt"), "--device", "cpu"],
                        [(line, translator.best([line], loaded.cfg.search)[0] + "\n") for line in lines])  # fmt: skip


def test_piped_input_streams_in_windows_and_a_terminal_in_lines(loaded, monkeypatch, capsys):
    import io

    translator = Translator(loaded.model, loaded.task.subwords, loaded.task.max_src_len)
    seen = []
    real = translate_module.translate_stream

    def spy(translator, lines, write, search, window=1000, bar=None, keep=0):
        seen.append(window)
        return real(translator, lines, write, search, window, bar, keep)

    class Stdin:
        def __init__(self, tty: bool) -> None:
            self.buffer, self.tty = io.BytesIO(b"I see a dog.\nI see a cat.\n"), tty

        def isatty(self) -> bool:
            return self.tty

    monkeypatch.setattr(translate_module, "translate_stream", spy)
    for tty in (False, True):
        monkeypatch.setattr(sys, "stdin", Stdin(tty))
        assert translate_module.run(translator, SearchConfig(beam_size=1), None, None, window=50) == 2
    assert seen == [50, 1]
    assert capsys.readouterr().out.count("\n") == 4


def test_every_command_takes_the_same_input_names(run, loaded, tmp_path, capsys):
    src, ref = loaded.task.split_text("test")
    src, ref = src[:6], ref[:6]
    write_lines(tmp_path / "t.en", src)
    write_lines(tmp_path / "t.de", ref)
    ckpt = str(run / "best.pt")
    outs = [translate(["-m", ckpt, flag, str(tmp_path / "t.en"), "--beam", "1"], capsys) for flag in
            ("-i", "--input", "--src")]  # fmt: skip
    assert outs[0][0] == 0 and outs[0][1].count("\n") == len(src) and outs[1:] == [outs[0]] * 2
    reports = []
    for flag in ("--src", "-i", "--input"):
        assert main(["evaluate", "-m", ckpt, flag, str(tmp_path / "t.en"), "--ref", str(tmp_path / "t.de"), "--beam",
                     "1"]) == 0  # fmt: skip
        reports.append(capsys.readouterr().out)
    assert reports[0].startswith("BLEU = ") and reports[1:] == [reports[0]] * 2
    for flag in ("-i", "--input"):
        rc = main(["select", ckpt, flag, str(tmp_path / "t.en"), "--ref", str(tmp_path / "t.de"), "--length-penalties",
                   "1.0", "--beam", "1", "--min-length", "2", "-o", str(tmp_path / "final.pt")])  # fmt: skip
        assert rc == 0 and '"selected"' in capsys.readouterr().out
        final = ckpt_io.load(tmp_path / "final.pt")
        assert final["selected"]["on"] == [str(tmp_path / "t.en"), str(tmp_path / "t.de")]
        assert final["config"]["search"]["min_length"] == 2  # the search it was selected with becomes its default
