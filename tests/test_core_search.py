"""Search: beam 1 = greedy, a large beam = exhaustive enumeration, temperature -> 0 = greedy; the
constraints (minimum length, no repeated n-grams) hold in every search, and an ensemble decodes
with the mean of its models' log-probabilities."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from seq2seq.config import ModelConfig
from seq2seq.nn import build_model
from seq2seq.nn.models import Dims
from seq2seq.search import (
    Ensemble,
    EnsembleState,
    beam_search,
    filter_logits,
    greedy,
    length_penalty,
    reorder_state,
    repeated_ngrams,
    sample,
)

PAD, BOS, EOS = 0, 1, 2
SYMBOLS = (3, 4, 5)


def tiny_model(seed: int, input_feeding: bool = True):
    torch.manual_seed(seed)
    cfg = ModelConfig(embed_dim=6, hidden_size=8, layers=1, dropout=0.0, input_feeding=input_feeding)
    model = build_model(cfg, Dims(input_vocab=6, output_size=6)).eval()
    # Sharpen the output layer so sequences differ clearly in probability.
    with torch.no_grad():
        model.decoder.out.weight.mul_(4)
    return model


def sequence_logprob(model, src, lengths, b: int, tokens: list[int]) -> float:
    """log p(tokens, EOS | src[b]) by teacher forcing."""
    tgt_in = torch.tensor([[BOS, *tokens]])
    logits = model(src[b : b + 1, : lengths[b]], lengths[b : b + 1], tgt_in)
    logp = torch.log_softmax(logits[0].double(), -1)
    target = [*tokens, EOS]
    return float(sum(logp[t, y] for t, y in enumerate(target)).detach())


@pytest.fixture
def batch():
    src = torch.tensor([[3, 4, 5, 3], [5, 5, 0, 0], [4, 3, 5, 0]])
    lengths = torch.tensor([4, 2, 3])
    return src, lengths


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_large_beam_equals_exhaustive_enumeration(batch, alpha, seed):
    model = tiny_model(seed)
    src, lengths = batch
    max_len = torch.tensor([3, 2, 3])
    first = torch.full((3,), BOS)
    # 64 beams hold every hypothesis of up to 3 symbols from 3 (1 + 3 + 9 + 27 = 40): nothing is pruned.
    hyps = beam_search(
        model, model.start(src, lengths), first, max_len, EOS, beam_size=64, alpha=alpha, nbest=5, blocked=(BOS,)
    )
    for b in range(3):
        scored = []
        for n in range(int(max_len[b]) + 1):
            for toks in itertools.product(SYMBOLS, repeat=n):
                lp = sequence_logprob(model, src, lengths, b, list(toks))
                scored.append((lp / float(length_penalty(torch.tensor(n + 1), alpha)), list(toks), lp))
        scored.sort(key=lambda s: -s[0])
        assert [h.tokens for h in hyps[b]] == [s[1] for s in scored[:5]]
        for h, (score, _, lp) in zip(hyps[b], scored, strict=False):
            assert h.score == pytest.approx(score, abs=1e-4)
            assert h.logprob == pytest.approx(lp, abs=1e-4)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_finished_rows_leave_the_batch_without_changing_any_result(batch, alpha):
    """Row 0 must end after one token, row 1 after two: they leave the batch while row 2 goes on,
    and every row gets exactly what a search of that row alone gives."""
    model = tiny_model(3)
    src, lengths = batch
    max_len = torch.tensor([1, 2, 6])
    rows_per_step = []
    step = model.step

    def counting_step(prev, state):
        rows_per_step.append(prev.size(0))
        return step(prev, state)

    model.step = counting_step
    together = beam_search(
        model, model.start(src, lengths), torch.full((3,), BOS), max_len, EOS, beam_size=3, alpha=alpha, nbest=3,
        blocked=(BOS,),
    )  # fmt: skip
    assert rows_per_step[0] == 9 and rows_per_step[-1] == 3  # 3 rows x 3 beams at first, row 2 alone at the end
    for b in range(3):
        alone = beam_search(
            model, model.start(src[b : b + 1, : lengths[b]], lengths[b : b + 1]), torch.full((1,), BOS),
            max_len[b : b + 1], EOS, beam_size=3, alpha=alpha, nbest=3, blocked=(BOS,),
        )[0]  # fmt: skip
        assert [h.tokens for h in together[b]] == [h.tokens for h in alone]
        assert [h.score for h in together[b]] == pytest.approx([h.score for h in alone], abs=1e-5)
        assert all(len(h.tokens) <= int(max_len[b]) for h in together[b])


@pytest.mark.parametrize("input_feeding", [True, False])
def test_beam_of_one_equals_greedy(batch, input_feeding):
    model = tiny_model(3, input_feeding)
    src, lengths = batch
    first = torch.full((3,), BOS)
    out, scores = greedy(model, model.start(src, lengths), first, 6, EOS, blocked=(BOS,))
    hyps = beam_search(model, model.start(src, lengths), first, 6, EOS, beam_size=1, alpha=0.0, blocked=(BOS,))
    for b in range(3):
        toks = [t for t in out[b].tolist() if t not in (PAD, EOS)]
        assert hyps[b][0].tokens == toks
        assert hyps[b][0].logprob == pytest.approx(float(scores[b]), abs=1e-5)


def test_sampling_at_low_temperature_equals_greedy(batch):
    model = tiny_model(4)
    src, lengths = batch
    first = torch.full((3,), BOS)
    g, _ = greedy(model, model.start(src, lengths), first, 6, EOS)
    gen = torch.Generator().manual_seed(0)
    s, _ = sample(model, model.start(src, lengths), first, 6, EOS, temperature=1e-4, generator=gen)
    assert torch.equal(g, s)


def test_sampling_is_reproducible_and_follows_the_distribution():
    model = tiny_model(5)
    src, lengths = torch.tensor([[3, 4]]).repeat(4000, 1), torch.tensor([2]).repeat(4000)
    first = torch.full((4000,), BOS)
    runs = []
    for _ in range(2):
        gen = torch.Generator().manual_seed(7)
        out, _ = sample(model, model.start(src, lengths), first, 1, EOS, generator=gen)
        runs.append(out)
    assert torch.equal(runs[0], runs[1])
    logits, _ = model.step(first[:1], model.start(src[:1], lengths[:1]))
    p = torch.softmax(logits[0].detach(), -1)
    p[PAD] = 0.0  # padding is never generated: sampling renormalises over the rest
    p /= p.sum()
    freq = torch.bincount(runs[0][:, 0], minlength=6).float() / 4000
    assert torch.allclose(freq, p, atol=0.03)


def test_sigmoid_sampling_at_zero_temperature_thresholds_probabilities():
    torch.manual_seed(0)
    cfg = ModelConfig(kind="language_model", embed_dim=8, hidden_size=8)
    model = build_model(cfg, Dims(input_dim=12, output_size=12, output="sigmoid")).eval()
    first = (torch.rand(2, 12) < 0.3).float()
    out, logp = sample(model, None, first, 5, None, temperature=0.0, output="sigmoid")
    assert out.shape == (2, 5, 12)
    logits, state = model.step(first, None)
    assert torch.equal(out[:, 0], (logits > 0).float())
    assert torch.all(logp <= 0)


def test_top_k_and_top_p_filters():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    k2 = filter_logits(logits, top_k=2)
    assert torch.isfinite(k2).tolist() == [[True, True, False, False]]
    p = filter_logits(logits, top_p=0.7)  # 0.5 < 0.7, 0.5 + 0.3 >= 0.7: keep two
    assert torch.isfinite(p).tolist() == [[True, True, False, False]]
    p1 = filter_logits(logits, top_p=0.4)  # the top token alone already reaches 0.4
    assert torch.isfinite(p1).tolist() == [[True, False, False, False]]


def test_length_penalty_is_gnmt():
    assert float(length_penalty(torch.tensor(7), 1.0)) == pytest.approx(2.0)
    assert float(length_penalty(torch.tensor(7), 0.0)) == 1.0
    assert math.isclose(float(length_penalty(torch.tensor(1), 0.6)), 1.0)


# -- constraints: minimum length, no repeated n-grams ------------------------------------------
def biased_model(seed: int, token: int, bias: float, eos_bias: float = 0.0):
    """A tiny model pushed towards ``token`` (and EOS by ``eos_bias``) at every step."""
    model = tiny_model(seed)
    with torch.no_grad():
        model.decoder.out.bias[token] += bias
        model.decoder.out.bias[EOS] += eos_bias
    return model


def repeats(tokens: list[int], n: int) -> bool:
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(grams) != len(set(grams))


def outputs(out) -> list[list[int]]:
    """Token lists of ``sample`` / ``greedy`` outputs, without EOS and padding."""
    return [[t for t in row if t not in (PAD, EOS)] for row in out.tolist()]


def all_searches(model, src, lengths, max_len, nbest: int = 4, **constraints) -> list[list[int]]:
    """The outputs of greedy, beam search (its ``nbest`` best hypotheses) and sampling (three
    seeds)."""
    first = torch.full((src.size(0),), BOS)
    found = outputs(greedy(model, model.start(src, lengths), first, max_len, EOS, blocked=(BOS,), **constraints)[0])
    for hyps in beam_search(model, model.start(src, lengths), first, max_len, EOS, beam_size=4, alpha=0.6,
                            nbest=nbest, blocked=(BOS,), **constraints):  # fmt: skip
        found += [h.tokens for h in hyps]
    for seed in range(3):
        gen = torch.Generator().manual_seed(seed)
        out, _ = sample(model, model.start(src, lengths), first, max_len, EOS, generator=gen, blocked=(BOS,),
                        **constraints)  # fmt: skip
        found += outputs(out)
    return found


def test_min_length_never_ends_early(batch):
    """A model that would end at once (its EOS logit raised) ends no output before min_length
    tokens in any search; the length limit still wins over a longer minimum."""
    model = biased_model(0, EOS, 30.0)
    src, lengths = batch
    assert all(out == [] for out in all_searches(model, src, lengths, 8, nbest=1))  # without: empty at once
    found = all_searches(model, src, lengths, 8, min_length=3)
    assert all(len(out) >= 3 for out in found)
    assert len(found[0]) == 3  # greedy: EOS as soon as it is allowed, never before
    limits = torch.tensor([2, 5, 4])
    first = torch.full((3,), BOS)
    hyps = beam_search(model, model.start(src, lengths), first, limits, EOS, beam_size=3, alpha=0.0,
                       blocked=(BOS,), min_length=4)  # fmt: skip
    assert [len(h[0].tokens) for h in hyps] == [2, 4, 4]


def test_block_ngram_repeat_leaves_no_repeated_ngram(batch):
    """A model that loves one token repeats it until the limit; with block_ngram_repeat N no
    output of any search has a repeated N-gram."""
    model = biased_model(1, 3, 8.0, eos_bias=-8.0)
    src, lengths = batch
    plain = all_searches(model, src, lengths, 8)
    assert all(repeats(out, 2) for out in plain) and plain[0] == [3] * 8
    for n in (1, 2, 3):
        found = all_searches(model, src, lengths, 8, block_ngram_repeat=n)
        assert all(not repeats(out, n) for out in found), n
        if n > 1:
            assert any(len(out) >= n + 2 for out in found)  # the block leaves long outputs possible
    # 1: no token twice, so with three symbols at most three tokens before EOS
    assert all(len(out) <= 3 for out in all_searches(model, src, lengths, 8, block_ngram_repeat=1))


@pytest.mark.parametrize("constraint", [{"min_length": 2}, {"block_ngram_repeat": 2}, {"block_ngram_repeat": 1}])
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_large_beam_with_constraints_equals_enumeration_of_the_allowed(batch, constraint, alpha):
    """Constraints rule hypotheses out and leave the others' scores the model's log-probability:
    a beam holding everything finds the best allowed hypotheses of the enumeration."""
    model = tiny_model(2)
    src, lengths = batch
    max_len = torch.tensor([3, 2, 3])
    first = torch.full((3,), BOS)
    hyps = beam_search(model, model.start(src, lengths), first, max_len, EOS, beam_size=64, alpha=alpha, nbest=5,
                       blocked=(BOS,), **constraint)  # fmt: skip
    shortest = min(constraint.get("min_length", 0), 3)
    n_block = constraint.get("block_ngram_repeat", 0)
    for b in range(3):
        scored = []
        for n in range(min(shortest, int(max_len[b])), int(max_len[b]) + 1):
            for toks in itertools.product(SYMBOLS, repeat=n):
                if n_block and repeats(list(toks), n_block):
                    continue
                lp = sequence_logprob(model, src, lengths, b, list(toks))
                scored.append((lp / float(length_penalty(torch.tensor(n + 1), alpha)), list(toks)))
        scored.sort(key=lambda s: -s[0])
        assert [h.tokens for h in hyps[b]] == [t for _, t in scored[:5]]
        assert [h.score for h in hyps[b]] == pytest.approx([sc for sc, _ in scored[:5]], abs=1e-4)


@pytest.mark.parametrize("constraint", [{"min_length": 3}, {"block_ngram_repeat": 2}])
def test_beam_of_one_equals_greedy_under_constraints(batch, constraint):
    model = biased_model(3, 4, 3.0)
    src, lengths = batch
    first = torch.full((3,), BOS)
    out, scores = greedy(model, model.start(src, lengths), first, 7, EOS, blocked=(BOS,), **constraint)
    hyps = beam_search(model, model.start(src, lengths), first, 7, EOS, beam_size=1, alpha=0.0, blocked=(BOS,),
                       **constraint)  # fmt: skip
    assert [h[0].tokens for h in hyps] == outputs(out)
    assert [h[0].logprob for h in hyps] == pytest.approx(scores.tolist(), abs=1e-5)


def test_repeated_ngrams_matches_a_reference():
    g = torch.Generator().manual_seed(0)
    history = torch.randint(3, 6, (40, 9), generator=g)
    for n in (1, 2, 3):
        banned = repeated_ngrams(history, n, 7)
        for row, mask in zip(history.tolist(), banned.tolist(), strict=True):
            suffix = row[len(row) - n + 1 :]
            expected = {row[i + n - 1] for i in range(len(row) - n + 1) if row[i : i + n - 1] == suffix}
            assert {v for v in range(7) if mask[v]} == expected
    assert not repeated_ngrams(history[:, :1], 2, 7).any()  # nothing before the first bigram


# -- ensembles ----------------------------------------------------------------------------------
def test_an_ensemble_of_a_model_with_itself_is_the_model(batch):
    model = tiny_model(4)
    src, lengths = batch
    first = torch.full((3,), BOS)
    pair = Ensemble([model, model]).eval()
    opts = {"beam_size": 3, "alpha": 1.0, "nbest": 3, "blocked": (BOS,)}
    alone = beam_search(model, model.start(src, lengths), first, 5, EOS, **opts)
    both = beam_search(pair, pair.start(src, lengths), first, 5, EOS, **opts)
    assert [[h.tokens for h in r] for r in both] == [[h.tokens for h in r] for r in alone]
    assert [[h.score for h in r] for r in both] == [[h.score for h in r] for r in alone]


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_ensemble_beam_search_equals_enumeration_of_the_mean_log_probability(batch, alpha):
    """The ensemble scores a hypothesis by the mean of its models' log-probabilities (teacher
    forced, by hand): a beam that holds everything ranks them exactly so."""
    models = [tiny_model(5), tiny_model(6, input_feeding=False)]
    ensemble = Ensemble(models).eval()
    src, lengths = batch
    max_len = torch.tensor([3, 2, 3])
    hyps = beam_search(ensemble, ensemble.start(src, lengths), torch.full((3,), BOS), max_len, EOS, beam_size=64,
                       alpha=alpha, nbest=5, blocked=(BOS,))  # fmt: skip
    for b in range(3):
        scored = []
        for n in range(int(max_len[b]) + 1):
            for toks in itertools.product(SYMBOLS, repeat=n):
                lp = sum(sequence_logprob(m, src, lengths, b, list(toks)) for m in models) / 2
                scored.append((lp / float(length_penalty(torch.tensor(n + 1), alpha)), list(toks), lp))
        scored.sort(key=lambda s: -s[0])
        assert [h.tokens for h in hyps[b]] == [s[1] for s in scored[:5]]
        assert [h.logprob for h in hyps[b]] == pytest.approx([s[2] for s in scored[:5]], abs=1e-4)
    # greedy over the ensemble is its beam of one
    out, _ = greedy(ensemble, ensemble.start(src, lengths), torch.full((3,), BOS), 5, EOS, blocked=(BOS,))
    one = beam_search(ensemble, ensemble.start(src, lengths), torch.full((3,), BOS), 5, EOS, beam_size=1, alpha=0.0,
                      blocked=(BOS,))  # fmt: skip
    assert outputs(out) == [h[0].tokens for h in one]


def test_reorder_state_takes_any_state_with_select(batch):
    model = tiny_model(7)
    src, lengths = batch
    state = Ensemble([model, model]).start(src, lengths)
    index = torch.tensor([2, 0])
    picked = reorder_state(state, index)
    assert isinstance(picked, EnsembleState) and len(picked.states) == 2
    for s, original in zip(picked.states, state.states, strict=True):
        assert torch.equal(s.hidden[0], original.hidden[0].index_select(1, index))
        assert torch.equal(s.memory, original.memory.index_select(0, index))
