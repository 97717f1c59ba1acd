"""Translating id sequences and text lines with a trained model (or an ``Ensemble`` of models):
batching by length, the core's ``beam_search`` (or its sampler), long inputs split into pieces the
model can handle, detokenised text out.

Used by validation during training, by ``seq2seq translate`` and by ``seq2seq evaluate``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from seq2seq.config import SearchConfig
from seq2seq.errors import UserError
from seq2seq.runtime import autocast
from seq2seq.search import Hypothesis, beam_search, length_penalty, max_lengths, sample, seeded
from seq2seq.task import pad
from seq2seq.translation.subwords import BOS, EOS, PAD, Subwords

# Pieces after which a long input is best cut: sentence and clause ends.
BREAKS = (".", "!", "?", ";", ":", ",")
# Where a long line is first split: after a sentence's end (and closing quotes or brackets).
SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'»”’)\]]*\s+")


class TranslateError(UserError, ValueError):
    """Options that cannot work together; the message says what to change."""


# Padded source subwords per batch of a search: bounds memory; the speed is flat around it.
BATCH_TOKENS = 2000


def length_groups(lengths: Sequence[int], batch_tokens: int) -> list[list[int]]:
    """Indices in batches of similar length, longest first, each at most ``batch_tokens`` padded
    tokens (a single longer item gets a batch of its own)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[list[int]] = []
    for i in order:
        # sorted longest first: the first item of a group is its longest
        if groups and lengths[groups[-1][0]] * (len(groups[-1]) + 1) <= batch_tokens:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


@torch.no_grad()
def search_ids(
    model: nn.Module,
    sources: Sequence[Sequence[int]],
    search: SearchConfig,
    batch_tokens: int = BATCH_TOKENS,
    amp: str = "off",
    sampling: bool = False,
    generator: torch.Generator | None = None,
) -> list[list[Hypothesis]]:
    """The ``search.nbest`` best hypotheses of each source id list (in input order), found by the
    core's batched beam search; an empty source gives one empty hypothesis. ``amp``: the autocast
    mode (``runtime.autocast``: 'bf16' also on the CPU, 'auto' on CUDA only, 'off').
    ``sampling``: instead, ``search.nbest`` translations drawn from the model by the core's sampler
    (``search.temperature``, ``top_k``, ``top_p``; ``generator``: its random numbers, None: the
    global ones), scored like hypotheses (log p / length penalty), best first."""
    device = next(model.parameters()).device
    results: list[list[Hypothesis]] = [[Hypothesis([], 0.0, 0.0)] for _ in sources]
    todo = [i for i, s in enumerate(sources) if len(s) > 0]
    constraints = {"min_length": search.min_length, "block_ngram_repeat": search.block_ngram_repeat}
    # A sampled batch holds nbest copies of each source: its budget counts them all.
    copies = search.nbest if sampling else 1
    for group in length_groups([len(sources[i]) * copies for i in todo], batch_tokens):
        rows = [todo[g] for g in group]
        src, lengths = pad([sources[i] for i in rows], PAD)
        limit = max_lengths(lengths, search.max_len_ratio, search.max_len_offset).to(device)
        with autocast(device, amp):
            if sampling:
                hyps = _sampled(model, src.to(device), lengths, limit, search, generator, constraints)
            else:
                first = torch.full((len(rows),), BOS, dtype=torch.long, device=device)
                state = model.start(src.to(device), lengths)
                hyps = beam_search(
                    model, state, first, limit, EOS, beam_size=search.beam_size, alpha=search.length_penalty,
                    nbest=search.nbest, pad_id=PAD, blocked=(BOS,), **constraints,
                )  # fmt: skip
        for i, h in zip(rows, hyps, strict=True):
            results[i] = h
    return results


def _sampled(
    model: nn.Module, src: Tensor, lengths: Tensor, limit: Tensor, search: SearchConfig,
    generator: torch.Generator | None, constraints: dict[str, int],
) -> list[list[Hypothesis]]:  # fmt: skip
    """``search.nbest`` draws per source row, as hypotheses sorted by score."""
    k = search.nbest
    index = torch.arange(src.size(0), device=src.device).repeat_interleave(k)
    state = model.start(src.index_select(0, index), lengths.repeat_interleave(k))
    first = torch.full((index.size(0),), BOS, dtype=torch.long, device=src.device)
    out, logp = sample(
        model, state, first, limit.repeat_interleave(k), EOS, temperature=search.temperature, top_k=search.top_k,
        top_p=search.top_p, generator=generator, blocked=(BOS,), pad_id=PAD, **constraints,
    )  # fmt: skip
    drawn = [[t for t in row if t not in (EOS, PAD)] for row in out.tolist()]
    scores = (logp / length_penalty(torch.tensor([len(d) + 1 for d in drawn]), search.length_penalty).to(logp)).tolist()
    hyps = [Hypothesis(d, s, lp) for d, s, lp in zip(drawn, scores, logp.tolist(), strict=True)]
    return [sorted(hyps[r * k : (r + 1) * k], key=lambda h: -h.score) for r in range(src.size(0))]


def split_long(ids: Sequence[int], pieces: Sequence[str], limit: int) -> list[list[int]]:
    """Cut a too-long id list into parts of at most ``limit`` ids, preferably after punctuation,
    else before a word start (a piece beginning with '▁'), else anywhere."""
    parts: list[list[int]] = []
    start = 0
    while len(ids) - start > limit:
        window = range(start + limit, start + max(1, limit // 2) - 1, -1)  # cut positions, latest first
        cut = next((c for c in window if pieces[c - 1].strip("▁") in BREAKS), None)
        cut = cut or next((c for c in window if pieces[c].startswith("▁")), start + limit)
        parts.append(list(ids[start:cut]))
        start = cut
    parts.append(list(ids[start:]))
    return parts


class Translator:
    """Raw text lines in, detokenised translations out, with a trained model and its subwords.

    ``max_src_len`` is the longest source the model was trained on: a longer input is translated
    sentence by sentence (a model trained on single sentences ends its output after the first
    one it reads), a sentence still too long in pieces cut at clause ends, and ``warn`` is told
    which line it was. ``amp`` and
    ``batch_tokens`` are how the search runs (``search_ids``); what it searches for is the
    ``SearchConfig`` given to each call. ``sample``: draw translations from the model instead of
    searching (e.g. for back-translation), with random numbers seeded by ``seed`` once (None:
    the global generator), so one run's draws follow from the seed, the input and the batching.
    ``model`` may be an ``Ensemble`` (``seq2seq.search``) of models with these subwords.
    """

    def __init__(
        self,
        model: nn.Module,
        subwords: Subwords,
        max_src_len: int,
        *,
        amp: str = "off",
        batch_tokens: int = BATCH_TOKENS,
        warn: Callable[[str], None] | None = None,
        sample: bool = False,
        seed: int | None = None,
    ) -> None:
        self.model = model
        self.subwords = subwords
        self.max_src_len = max_src_len
        self.amp, self.batch_tokens = amp, batch_tokens
        self.warn = warn or (lambda message: None)
        self.sample, self.seed = sample, seed
        self.generator: torch.Generator | None = None  # made on the model's device at the first draw

    def translate(
        self, lines: Sequence[str], search: SearchConfig, first_line: int = 1
    ) -> list[list[tuple[str, float]]]:
        """For each line, its ``search.nbest`` (translation, score) pairs, best first. An empty or
        blank line gives [('', 0.0)]. ``first_line`` numbers the lines in warnings."""
        encoded = self.subwords.encode_src(lines)
        sources: list[list[int]] = []
        owner: list[int] = []  # line index of each source part
        for i, ids in enumerate(encoded):
            parts = [ids]
            if self.max_src_len > 0 and len(ids) > self.max_src_len:
                parts = self.pieces(lines[i])
                self.warn(
                    f"line {first_line + i}: {len(ids)} subwords, more than the {self.max_src_len} the model was "
                    f"trained on; translated in {len(parts)} pieces, sentence by sentence"
                )
            sources.extend(parts)
            owner.extend([i] * len(parts))
        if self.sample and self.seed is not None and self.generator is None:
            self.generator = seeded(next(self.model.parameters()).device, self.seed)
        found = search_ids(self.model, sources, search, self.batch_tokens, self.amp, self.sample, self.generator)
        out: list[list[tuple[str, float]]] = [[] for _ in lines]
        by_line: dict[int, list[list[Hypothesis]]] = {}
        for i, hyps in zip(owner, found, strict=True):
            by_line.setdefault(i, []).append(hyps)
        for i, parts in by_line.items():
            if len(parts) == 1:
                hyps = parts[0]
                texts = self.subwords.decode_tgt([h.tokens for h in hyps])
                out[i] = [(t, h.score) for t, h in zip(texts, hyps, strict=True)]
            else:  # pieces of a long line: the best of each, joined
                texts = self.subwords.decode_tgt([hyps[0].tokens for hyps in parts])
                out[i] = [(" ".join(t for t in texts if t), sum(h[0].score for h in parts))]
        return out

    def pieces(self, line: str) -> list[list[int]]:
        """Source ids of a too-long line in parts the model can handle: its sentences, and a
        sentence longer than ``max_src_len`` cut at clause ends (``split_long``)."""
        parts: list[list[int]] = []
        sentences = [s for s in SENTENCE_END.split(line.strip()) if s.strip()]
        for ids in self.subwords.encode_src(sentences):
            if len(ids) > self.max_src_len:
                parts.extend(split_long(ids, self.subwords.src_pieces(ids), self.max_src_len))
            elif ids:
                parts.append(ids)
        return parts

    def best(self, lines: Sequence[str], search: SearchConfig) -> list[str]:
        """The best translation of each line."""
        return [hyps[0][0] for hyps in self.translate(lines, search)]

    @torch.no_grad()
    def attention(self, line: str, translation: str) -> tuple[list[str], list[str], Tensor]:
        """Source pieces, target pieces (with the end-of-sentence token) and the attention weights
        (target, source) of the model reading ``translation`` for ``line``."""
        if not hasattr(self.model, "decoder"):
            raise TranslateError("an ensemble has no single attention to plot: give one model (-m) to plot")
        device = next(self.model.parameters()).device
        src = self.subwords.encode_src([line])[0][: self.max_src_len or None]
        tgt = self.subwords.encode_tgt([translation])[0]
        src_t, lengths = pad([src], PAD)
        state = self.model.start(src_t.to(device), lengths)
        tgt_in = torch.tensor([[BOS, *tgt]], device=device)
        _, weights = self.model.decoder(tgt_in, state)
        if weights is None:
            raise TranslateError("this model has no attention (model.attention = 'none'): nothing to plot")
        return self.subwords.src_pieces(src), [*self.subwords.tgt_pieces(tgt), "</s>"], weights[0].float().cpu()
