"""Caption metrics: sacreBLEU's command line on the same files, a hand-computed BLEU-1, CIDEr-D's
ordering, and what cannot be scored."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from sacrebleu.metrics import BLEU

from seq2seq.caption.metrics import CaptionScoreError, caption_scores
from seq2seq.errors import UserError

HYPS = [
    "A red circle appears, moves and leaves.",
    "a blue square appears and turns striped",
    "a green diamond moves",
    "the yellow circle appears then leaves",
]
REFS = [
    ["a red circle appears, moves and leaves", "A red circle shows up, moves, then leaves.", "red circle moves"],
    ["a blue square appears, turns striped and leaves", "the blue square turns striped"],  # two references
    ["a green diamond enters and moves", "a green diamond moves around", "the diamond is green and moves"],
    ["a yellow circle appears", "a yellow circle comes in and leaves"],
]


def test_multi_reference_bleu_and_chrf_equal_the_sacrebleu_command_line(tmp_path):
    (tmp_path / "hyp.txt").write_text("".join(h + "\n" for h in HYPS))
    # The command line takes one file per reference, one line per item: an item with fewer
    # references repeats its first, which changes no score (n-gram counts are clipped by the
    # maximum over references, the length is the closest one's); ours gets the uneven lists.
    files = []
    for k in range(3):
        files.append(tmp_path / f"ref{k}.txt")
        files[-1].write_text("".join((r[k] if k < len(r) else r[0]) + "\n" for r in REFS))
    out = subprocess.run(
        [sys.executable, "-m", "sacrebleu", *map(str, files), "-i", str(tmp_path / "hyp.txt"),
         "-m", "bleu", "chrf", "-lc", "--chrf-lowercase", "-b", "-w", "6"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    bleu, chrf = json.loads(out.stdout)
    scores = caption_scores(HYPS, REFS)
    assert set(scores) == {"bleu1", "bleu2", "bleu3", "bleu4", "chrf", "cider"}
    assert scores["bleu4"] == pytest.approx(bleu, abs=1e-5) and 20 < bleu < 100
    assert scores["chrf"] == pytest.approx(chrf, abs=1e-5)
    assert scores["bleu1"] > scores["bleu2"] > scores["bleu3"] > scores["bleu4"]
    for n in (1, 2, 3):  # BLEU-n as sacreBLEU computes it with n-grams up to n
        streams = [[r[k] if k < len(r) else None for r in REFS] for k in range(3)]
        want = BLEU(lowercase=True, max_ngram_order=n).corpus_score(HYPS, streams).score
        assert scores[f"bleu{n}"] == pytest.approx(want, abs=1e-9)


def test_bleu1_by_hand():
    # Lowercased: item 1 "the the circle" against "the red circle" / "a circle leaves the frame":
    # "the" counts once (its most in one reference), "circle" once: 2 of 3; the closest reference
    # length is 3. Item 2 "a square" against its one reference "a blue square": 2 of 2, length 3.
    # p1 = 4/5; 5 hypothesis words against 6 reference words: brevity penalty exp(1 - 6/5).
    scores = caption_scores(["The the circle", "a square"], [["the red circle", "a circle leaves the frame"],
                                                              ["a blue square"]])  # fmt: skip
    assert scores["bleu1"] == pytest.approx(100 * 0.8 * math.exp(1 - 6 / 5), abs=1e-6)
    # an item with fewer references has no empty one: "a" against its only reference "a b c"
    # (length 3) and "x" against "x" / "y" (length 1): p1 = 1, brevity penalty exp(1 - 4/2); an
    # empty placeholder reference would have been the closest length (0) and made it 1
    assert caption_scores(["a", "x"], [["a b c"], ["x", "y"]])["bleu1"] == pytest.approx(100 * math.exp(-1))


def test_cider_orders_identical_partial_and_unrelated_captions():
    refs = [r[:2] for r in REFS]
    same = caption_scores([r[0] for r in refs], refs)["cider"]
    partial = caption_scores(HYPS, refs)["cider"]
    unrelated = caption_scores(["a dog barks", "two men talk", "it rains today", "cars drive by"], refs)["cider"]
    assert same > partial > unrelated == 0.0
    # case and punctuation do not count
    assert caption_scores([r[0].upper() + " !" for r in refs], refs)["cider"] == pytest.approx(same)


def test_what_cannot_be_scored():
    with pytest.raises(CaptionScoreError, match=r"no captions to score \(an empty list of hypotheses\)"):
        caption_scores([], [])
    with pytest.raises(UserError, match=r"2 captions but 1 lists of references"):
        caption_scores(["a", "b"], [["a"]])
    with pytest.raises(CaptionScoreError, match=r"item 1: needs a list of one or more reference captions, got \[\]"):
        caption_scores(["a", "b"], [["a"], []])
    with pytest.raises(CaptionScoreError, match=r"item 0: needs a list .*, got 'a'"):
        caption_scores(["a"], ["a"])
