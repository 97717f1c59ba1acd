"""Caption metrics against several references per item: BLEU-1..4, chrF and CIDEr-D.

- ``bleu1`` .. ``bleu4``: sacreBLEU's corpus BLEU with n-grams up to 1 .. 4 (``bleu4`` is the usual
  BLEU), brevity penalty against the reference closest in length, sacreBLEU's default ``exp``
  smoothing; lowercased, 13a tokenisation. ``bleu4`` equals ``sacrebleu -lc REF1 REF2 ... -i HYP``.
- ``chrf``: sacreBLEU's chrF2 (character 6-grams), lowercased: ``sacrebleu --chrf-lowercase``.
- ``cider``: CIDEr-D (clipped n-gram counts, Gaussian length penalty, sigma 6) as the COCO caption
  evaluation computes it, with pycocoevalcap's pure-Python scorer. Its n-gram weights (IDF) come
  from the references of the corpus scored, so it means nothing on one item. Captions are
  lowercased, tokenised as BLEU's 13a does and punctuation tokens dropped (as the COCO
  evaluation's PTB tokeniser does, without its Java).

All three are on the scale papers print: BLEU and chrF 0..100, CIDEr-D times 100 (the COCO
evaluation's 1.05 is 105.0). Items may have different numbers of references: each item's list is
its own; the missing ones are passed to sacreBLEU as ``None``, which it skips (an empty string
would count as a reference of length 0).

Time: about 5 s for 1000 captions of 6-14 words with 5 references each, on one pinned core of a
2-core machine without AVX-512; CIDEr-D is 3 s of it.

METEOR is left out: pycocoevalcap's needs Java and a 2 GB heap, and its start alone (loading
the paraphrase tables) took 13 s on one pinned core here, for every call.
"""

from __future__ import annotations

import re
from functools import cache

from seq2seq.errors import DataError

NAMES = ("bleu1", "bleu2", "bleu3", "bleu4", "chrf", "cider")
_PUNCTUATION = re.compile(r"^[^\w\s]+$")


class CaptionScoreError(DataError):
    """Captions that cannot be scored (none, or not one list of references per caption)."""


def caption_scores(hyps: list[str], refs: list[list[str]]) -> dict[str, float]:
    """Corpus scores (module docstring) of ``hyps[i]`` against the references ``refs[i]``."""
    from sacrebleu.metrics import BLEU, CHRF

    if not hyps:
        raise CaptionScoreError("no captions to score (an empty list of hypotheses)")
    if len(hyps) != len(refs):
        raise CaptionScoreError(f"{len(hyps)} captions but {len(refs)} lists of references: give one list per caption")
    for i, item in enumerate(refs):
        if isinstance(item, str) or not item:
            raise CaptionScoreError(f"item {i}: needs a list of one or more reference captions, got {item!r}")
    # reference streams, as sacreBLEU takes them: stream k holds each item's k-th reference or None
    streams = [[item[k] if k < len(item) else None for item in refs] for k in range(max(map(len, refs)))]
    # one pass for the n-gram statistics; BLEU-n is BLEU from the first n of them (the closest
    # reference lengths do not depend on n), as BLEU(max_ngram_order=n) would compute it
    b = BLEU(lowercase=True).corpus_score(hyps, streams)
    scores = {
        f"bleu{n}": BLEU.compute_bleu(b.counts[:n], b.totals[:n], b.sys_len, b.ref_len, "exp", max_ngram_order=n).score
        for n in range(1, 5)
    }
    scores["chrf"] = CHRF(lowercase=True).corpus_score(hyps, streams).score
    scores["cider"] = cider(hyps, refs)
    return scores


def tokens(text: str) -> str:
    """A caption as CIDEr-D sees it: lowercased, 13a tokens, no punctuation tokens, space-joined."""
    return " ".join(t for t in _tokenizer()(text.lower()).split() if not _PUNCTUATION.match(t))


@cache
def _tokenizer():
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    return Tokenizer13a()


def cider(hyps: list[str], refs: list[list[str]]) -> float:
    """Corpus CIDEr-D times 100 (module docstring); ``refs[i]`` are the references of ``hyps[i]``."""
    from pycocoevalcap.cider.cider import Cider

    res = {i: [tokens(h)] for i, h in enumerate(hyps)}
    gts = {i: [tokens(r) for r in item] for i, item in enumerate(refs)}
    score, _ = Cider().compute_score(gts, res)
    return float(score) * 100
