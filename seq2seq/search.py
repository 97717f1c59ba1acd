"""Decoding: greedy, batched beam search, and sampling (temperature, top-k, top-p).

Every function works on any model with the search interface
``logits, state = model.step(prev, state)`` (``EncoderDecoder`` and ``LanguageModel``) and runs
all rows of the batch (and all beams) at once on the model's device: finished hypotheses are
masked, never popped, so there is no Python loop over sentences.

Conventions: ``max_len`` counts output tokens before EOS; at step ``max_len`` only EOS may
follow (scored at the model's EOS log-probability).
Padding and BOS are never generated. The length penalty is GNMT's (Wu et al., 2016):
``lp(L) = ((5 + L) / 6) ** alpha`` with L counting EOS, and hypotheses are ranked by
``log p / lp(L)``; ``alpha = 0`` ranks by raw log-probability.

Constraints, the same in every search (so beam 1 is still greedy): ``min_length`` (EOS cannot
come before that many output tokens; the length limit still wins) and ``block_ngram_repeat``
(a hypothesis never repeats an n-gram of that many tokens). A token they rule out gets
log-probability -inf and the others keep the model's own (nothing is renormalised), so a
score stays the model's log-probability of the output; where they rule out every token, EOS
stays open. ``Ensemble`` decodes several models as one: the mean of their log-probabilities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seq2seq.nn.decoder import DecoderState


def reorder_state(state: Any, index: Tensor, same_source: bool = False) -> Any:
    """Rows ``index`` of a model's search state: an object with ``select(index, same_source)``
    (a ``DecoderState``, an ``EnsembleState``) or a tuple of (layers, batch, H); ``same_source``:
    rows stay with their source sentence (see ``DecoderState.select``)."""
    if state is None:
        return None
    if isinstance(state, DecoderState) or hasattr(state, "select"):
        return state.select(index, same_source)
    return tuple(s.index_select(1, index) for s in state)


@dataclass(frozen=True)
class EnsembleState:
    """The search states of an ensemble's models, one each; reordered together."""

    states: tuple[Any, ...]

    def select(self, index: Tensor, same_source: bool = False) -> EnsembleState:
        return EnsembleState(tuple(reorder_state(s, index, same_source) for s in self.states))


class Ensemble(nn.Module):
    """Models with the search interface (``start`` / ``step``) decoded as one: each step's
    output is the mean of the models' log-probabilities, which the searches take as they are
    (``gives_log_probs``), so a hypothesis scores the mean of the models' log-probabilities of
    it. The models must share the output vocabulary (and read the same inputs)."""

    gives_log_probs = True

    def __init__(self, models: list[nn.Module]) -> None:
        super().__init__()
        if not models:
            raise ValueError("an ensemble needs at least one model")
        self.models = nn.ModuleList(models)

    def start(self, *inputs: Any) -> EnsembleState:
        return EnsembleState(tuple(m.start(*inputs) for m in self.models))

    def step(self, prev: Tensor, state: EnsembleState | None) -> tuple[Tensor, EnsembleState]:
        states = state.states if state is not None else (None,) * len(self.models)
        logps, new = [], []
        for model, s in zip(self.models, states, strict=True):
            logits, s = model.step(prev, s)
            logps.append(torch.log_softmax(logits.float(), dim=-1))
            new.append(s)
        return torch.stack(logps).mean(0), EnsembleState(tuple(new))


def log_probs(model: nn.Module, logits: Tensor) -> Tensor:
    """A step's log-probabilities (float32): the log-softmax of the logits, or the output itself
    for a model whose step already gives log-probabilities (an ``Ensemble``)."""
    if getattr(model, "gives_log_probs", False):
        return logits.float().clone()
    return torch.log_softmax(logits.float(), dim=-1)


def length_penalty(lengths: Tensor, alpha: float) -> Tensor:
    return ((5.0 + lengths.float()) / 6.0) ** alpha


@dataclass
class Hypothesis:
    tokens: list[int]  # without BOS and EOS
    score: float  # log-probability / length penalty
    logprob: float  # log-probability of the tokens and EOS


def _max_lens(max_len: int | Tensor, batch: int, device: torch.device) -> Tensor:
    if isinstance(max_len, int):
        return torch.full((batch,), max_len, device=device, dtype=torch.long)
    return max_len.to(device=device, dtype=torch.long)


def _blocked(logp: Tensor, blocked: tuple[int, ...]) -> Tensor:
    if blocked:
        logp[..., list(blocked)] = -math.inf
    return logp


def _force_eos_(logp: Tensor, force: Tensor, eos_id: int) -> None:
    """In place: where ``force`` holds (logp's shape with 1 for the vocabulary), only EOS may
    follow, at the model's own EOS log-probability (so a hypothesis score stays the
    log-probability of its tokens)."""
    eos = logp[..., eos_id].clone()
    logp.masked_fill_(force, -math.inf)
    logp[..., eos_id] = eos


def repeated_ngrams(history: Tensor, n: int, vocab: int) -> Tensor:
    """(rows, vocab) bool: the tokens that would make a row of ``history`` (rows, steps) repeat
    an n-gram of ``n`` tokens, i.e. that followed an earlier occurrence of its last n - 1 tokens
    (n = 1: every token it holds). All rows at once: one comparison of the row's (n-1)-grams with
    its last one, and a scatter."""
    rows, steps = history.shape
    if n < 1 or steps < n:
        return torch.zeros(rows, vocab, dtype=torch.bool, device=history.device)
    following = history[:, n - 1 :]  # the token after each (n-1)-gram that has one
    if n > 1:
        grams = history.unfold(1, n - 1, 1)  # (rows, steps - n + 2, n - 1)
        match = (grams[:, :-1] == grams[:, -1:]).all(-1)
        following = following.masked_fill(~match, vocab)  # no match: a spare column, dropped below
    banned = torch.zeros(rows, vocab + 1, dtype=torch.bool, device=history.device)
    return banned.scatter_(1, following, True)[:, :vocab]


def _constrain_(
    logp: Tensor, t: int, limit: Tensor, eos_id: int | None, min_length: int, history: Tensor | None, ngram: int
) -> None:
    """In place, on (rows, vocab) log-probabilities at step ``t`` (``limit``: (rows,)): the
    n-gram block and the minimum length (which gives way to the length limit). A row left with
    no token keeps EOS at the model's log-probability (without an EOS: its blocked n-grams)."""
    before = logp[:, eos_id].clone() if eos_id is not None else logp.clone()
    if ngram > 0 and history is not None:
        logp.masked_fill_(repeated_ngrams(history, ngram, logp.size(-1)), -math.inf)
    if eos_id is not None and t < min_length:
        early = t < limit.clamp(max=min_length)
        logp[:, eos_id] = logp[:, eos_id].masked_fill(early, -math.inf)
    stuck = torch.isneginf(logp.amax(dim=-1))
    if eos_id is not None:
        logp[:, eos_id] = torch.where(stuck, before, logp[:, eos_id])
    else:
        logp.copy_(torch.where(stuck[:, None], before, logp))


def filter_logits(logits: Tensor, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """Keep the top-k logits and/or the smallest set whose probability reaches top_p (nucleus);
    the rest become -inf. logits: (batch, vocab)."""
    if top_k > 0 and top_k < logits.size(-1):
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, -math.inf)
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # drop a token when the tokens ranked above it already reach top_p
        drop = probs.cumsum(-1) - probs >= top_p
        drop = drop.scatter(-1, order, drop)
        logits = logits.masked_fill(drop, -math.inf)
    return logits


@torch.no_grad()
def sample(
    model: nn.Module,
    state: Any,
    first: Tensor,
    max_len: int | Tensor,
    eos_id: int | None = None,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    output: str = "softmax",
    blocked: tuple[int, ...] = (),
    pad_id: int = 0,
    min_length: int = 0,
    block_ngram_repeat: int = 0,
) -> tuple[Tensor, Tensor]:
    """Sample (or, at temperature 0, take the argmax of) one continuation per row.

    first: (batch,) ids, or (batch, keys) multi-hot frames when ``output='sigmoid'``.
    Returns outputs (batch, steps) ids (``pad_id`` after EOS) or (batch, steps, keys) frames, and
    the log-probability of each row's output (batch,), EOS included. ``min_length`` (with an
    ``eos_id``) and ``block_ngram_repeat`` constrain id outputs (see the module's docstring).
    """
    batch, device = first.size(0), first.device
    limit = _max_lens(max_len, batch, device)
    steps = int(limit.max()) + (1 if eos_id is not None else 0)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    total = torch.zeros(batch, device=device)
    prev, outs = first, []
    constrained = output != "sigmoid" and (block_ngram_repeat > 0 or (eos_id is not None and min_length > 0))
    history = torch.full((batch, steps), pad_id, dtype=torch.long, device=device) if block_ngram_repeat > 0 else None
    for t in range(steps):
        logits, state = model.step(prev, state)
        logits = logits.float()
        if output == "sigmoid":
            # top_k: only the k likeliest keys of a frame may sound, at any temperature
            allowed = logits >= logits.topk(min(top_k, logits.size(-1)), dim=-1).values[..., -1:] if top_k > 0 else None
            if temperature == 0:
                nxt = logits > 0
            else:
                nxt = torch.bernoulli(torch.sigmoid(logits / temperature), generator=generator) > 0
            if allowed is not None:
                nxt = nxt & allowed
            nxt = nxt.to(first.dtype)
            total += -F.binary_cross_entropy_with_logits(logits, nxt.float(), reduction="none").sum(-1)
            outs.append(nxt)
            prev = nxt
            continue
        logp = _blocked(log_probs(model, logits), (*blocked, pad_id))
        if constrained:
            _constrain_(logp, t, limit, eos_id, min_length, None if history is None else history[:, :t],
                        block_ngram_repeat)  # fmt: skip
        if eos_id is not None:
            _force_eos_(logp, (t >= limit)[:, None], eos_id)
        if temperature == 0:
            nxt = logp.argmax(-1)
        else:
            filtered = filter_logits(logp / temperature, top_k, top_p)
            nxt = torch.multinomial(filtered.softmax(-1), 1, generator=generator)[:, 0]
        total += torch.where(done, 0.0, logp.gather(1, nxt[:, None])[:, 0])
        nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
        outs.append(nxt)
        if history is not None:
            history[:, t] = nxt
        if eos_id is not None:
            done = done | (nxt == eos_id)
            if t % 8 == 7 and bool(done.all()):  # one host sync every 8 steps
                break
        prev = nxt
    return torch.stack(outs, dim=1), total


def greedy(
    model: nn.Module, state: Any, first: Tensor, max_len: int | Tensor, eos_id: int, **kw
) -> tuple[Tensor, Tensor]:
    """Argmax decoding: ``sample`` at temperature 0."""
    return sample(model, state, first, max_len, eos_id, temperature=0.0, **kw)


@torch.no_grad()
def beam_search(
    model: nn.Module,
    state: Any,
    first: Tensor,
    max_len: int | Tensor,
    eos_id: int,
    *,
    beam_size: int,
    alpha: float,
    nbest: int = 1,
    pad_id: int = 0,
    blocked: tuple[int, ...] = (),
    min_length: int = 0,
    block_ngram_repeat: int = 0,
) -> list[list[Hypothesis]]:
    """Batched beam search over all rows and beams at once.

    first: (batch,) start tokens. ``beam_size`` and the length penalty ``alpha`` have no defaults
    here: they come from a ``SearchConfig`` (the one place decoding defaults live). Returns, per
    row, the ``nbest`` best hypotheses, best first. ``min_length`` and ``block_ngram_repeat``
    constrain every hypothesis (see the module's docstring).
    A finished beam keeps its slot and extends only by padding at no cost, so it competes with
    the live beams on its final score until the end. A row whose beams have all finished can no
    longer change: it leaves the batch, so the remaining steps compute only for live rows.
    """
    batch, device, K = first.size(0), first.device, beam_size
    limit = _max_lens(max_len, batch, device)[:, None]  # (batch, 1)
    rows = torch.arange(batch, device=device)  # original row of each row still searched
    state = reorder_state(state, rows.repeat_interleave(K))
    prev = first.repeat_interleave(K)
    scores = torch.full((batch, K), -math.inf, device=device)
    scores[:, 0] = 0.0  # all beams start identical: keep one alive
    finished = torch.zeros(batch, K, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch, K, dtype=torch.long, device=device)
    history = torch.zeros(batch, K, 0, dtype=torch.long, device=device)
    blocked = tuple(sorted(set(blocked) | {pad_id}))
    out: list[list[Hypothesis]] = [[] for _ in range(batch)]
    first_limit = int(limit.min())  # before this step no row is forced to end
    for t in range(int(limit.max()) + 1):
        n = rows.size(0)
        logits, state = model.step(prev, state)
        V = logits.size(-1)
        # Within a beam the candidates rank by log p alone, so only each beam's K best tokens can
        # enter the new beams: past the log-softmax, the work is one top-k over the vocabulary
        # and the rest is on (n, K, K).
        logp = _blocked(log_probs(model, logits), blocked).view(n, K, V)
        if block_ngram_repeat > 0 or t < min_length:
            _constrain_(logp.view(n * K, V), t, limit.expand(n, K).reshape(-1), eos_id, min_length,
                        history.reshape(n * K, history.size(-1)), block_ngram_repeat)  # fmt: skip
        if t >= first_limit:
            _force_eos_(logp, (t >= limit)[..., None], eos_id)
        top_lp, top_tok = logp.topk(min(K, V), dim=-1)  # (n, K, k)
        # A finished beam extends only by padding, at no cost.
        only_pad = torch.full_like(top_lp, -math.inf)
        only_pad[..., 0] = 0.0
        top_lp = torch.where(finished[..., None], only_pad, top_lp)
        top_tok = top_tok.masked_fill(finished[..., None], pad_id)
        cand = scores[..., None] + top_lp  # (n, K, k)
        cand_len = lengths + (~finished).long()
        rank = cand / length_penalty(cand_len, alpha)[..., None]
        best = rank.view(n, -1).topk(K, dim=-1).indices  # (n, K)
        origin = best // top_lp.size(-1)
        token = top_tok.view(n, -1).gather(1, best)
        scores = cand.view(n, -1).gather(1, best)
        lengths = cand_len.gather(1, origin)
        finished = finished.gather(1, origin) | (token == eos_id)
        history = torch.cat([history.gather(1, origin[..., None].expand_as(history)), token[..., None]], dim=-1)
        local = torch.arange(n, device=device)
        state = reorder_state(state, (local[:, None] * K + origin).view(-1), same_source=True)
        prev = token.view(-1)
        done = finished.all(dim=1)  # (n,)
        n_done = int(done.sum())  # the step's one host sync
        if n_done == n:
            break
        if n_done > 0:
            _collect(out, rows[done], scores[done], lengths[done], history[done], alpha, nbest, eos_id, pad_id)
            keep = (~done).nonzero().squeeze(1)
            rows, scores, lengths, finished, history = (x[keep] for x in (rows, scores, lengths, finished, history))
            limit, prev = limit[keep], prev.view(n, K)[keep].view(-1)
            first_limit = int(limit.min())
            state = reorder_state(state, (keep[:, None] * K + torch.arange(K, device=device)).view(-1))
    _collect(out, rows, scores, lengths, history, alpha, nbest, eos_id, pad_id)
    return out


def _collect(
    out: list[list[Hypothesis]], rows: Tensor, scores: Tensor, lengths: Tensor, history: Tensor,
    alpha: float, nbest: int, eos_id: int, pad_id: int,
) -> None:  # fmt: skip
    """Write the ``nbest`` best hypotheses of ``rows`` into ``out``. scores, lengths: (rows, K)
    log-probabilities and lengths; history: (rows, K, steps) tokens."""
    final = scores / length_penalty(lengths, alpha)
    order = final.argsort(dim=1, descending=True)
    final, scores = final.gather(1, order), scores.gather(1, order)
    history = history.gather(1, order[..., None].expand_as(history))
    hist, fin, raw = history.tolist(), final.tolist(), scores.tolist()
    for i, b in enumerate(rows.tolist()):
        hyps = []
        for k in range(min(nbest, scores.size(1))):
            if raw[i][k] == -math.inf:
                break
            toks = [x for x in hist[i][k] if x not in (eos_id, pad_id)]
            hyps.append(Hypothesis(toks, fin[i][k], raw[i][k]))
        out[b] = hyps


@torch.no_grad()
def prime(model: nn.Module, inputs: Tensor) -> tuple[Any, Tensor]:
    """Run a language model over a primer: the state after all but its last step, and the last
    step (the sampler's first input). inputs: (1, time) ids or (1, time, keys) frames."""
    state = None
    if inputs.size(1) > 1:
        _, state = model(inputs[:, :-1], None, None)
    return state, inputs[:, -1]


def seeded(device: torch.device, seed: int | None) -> torch.Generator | None:
    """A generator seeded with ``seed`` on ``device`` (None: the global RNG)."""
    if seed is None:
        return None
    return torch.Generator(device=device).manual_seed(seed)


def max_lengths(src_lengths: Tensor, ratio: float, offset: int) -> Tensor:
    """Output length limit per sentence: ratio * input length + offset."""
    return (src_lengths.float() * ratio).ceil().long() + offset
