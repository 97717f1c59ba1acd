"""Corpus BLEU and chrF with sacreBLEU on detokenised text, with the signature that makes a score
reproducible (``nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:...``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sacrebleu.metrics import BLEU, CHRF

from seq2seq.translation.text import TextError, read_lines


@dataclass
class Scores:
    bleu: float
    chrf: float
    bleu_text: str  # sacreBLEU's one-line summary: score, n-gram precisions, brevity penalty
    chrf_text: str
    bleu_signature: str
    chrf_signature: str

    def as_dict(self) -> dict[str, float | str]:
        return {
            "bleu": self.bleu,
            "chrf": self.chrf,
            "bleu_text": self.bleu_text,
            "chrf_text": self.chrf_text,
            "bleu_signature": self.bleu_signature,
            "chrf_signature": self.chrf_signature,
        }

    def report(self) -> str:
        """What ``seq2seq evaluate`` prints."""
        return (
            f"{self.bleu_text}\n{self.chrf_text}\n"
            f"BLEU signature: {self.bleu_signature}\nchrF signature: {self.chrf_signature}"
        )


def score(hyps: Sequence[str], refs: Sequence[str]) -> Scores:
    """sacreBLEU's corpus BLEU (13a tokenisation, mixed case) and chrF2 of one reference each."""
    if len(hyps) != len(refs):
        raise TextError(f"{len(hyps)} translations but {len(refs)} references: they must be line-aligned")
    bleu, chrf = BLEU(), CHRF()
    b = bleu.corpus_score(list(hyps), [list(refs)])
    c = chrf.corpus_score(list(hyps), [list(refs)])
    return Scores(b.score, c.score, str(b), str(c), str(bleu.get_signature()), str(chrf.get_signature()))


def score_files(hyp_path: str | Path, ref_path: str | Path) -> Scores:
    """Scores of a translation file against a reference file (line-aligned, UTF-8, plain or .gz)."""
    hyps, refs = read_lines(hyp_path), read_lines(ref_path)
    if len(hyps) != len(refs):
        raise TextError(f"{hyp_path} has {len(hyps)} lines but {ref_path} has {len(refs)}: they must be line-aligned")
    if not refs:
        raise TextError(f"{ref_path}: empty file; nothing to score")
    return score(hyps, refs)
