"""``make bench --only compile``: does ``torch.compile`` speed up translation training?

Dynamo does not trace ``nn.LSTM`` / ``nn.GRU``: a compiled model breaks its graph at every
recurrent layer (and at packing, whose lengths decide a branch) and runs those in eager mode, so
only the parts between the recurrent kernels can gain. The biggest such part of the translation
model without input feeding is the decoder's head: attention over the encoder outputs, the
combine layer, the output projection and the label-smoothed log-softmax loss, all over
(batch, tgt, vocab) at once. This entry times one training step (forward, loss, backward, Adam)
of the recipe's model up to four ways, on the same batches in the same run:

- ``eager``: the reference, the translation task's own forward and loss;
- ``loss compiled (train.compile)``: only the label-smoothed log-softmax loss over the
  vocabulary under ``torch.compile``, what ``train.compile = true`` does;
- ``head compiled``: only the head (attention .. loss) under ``torch.compile``
  (``dynamic=True``: one graph for every batch shape, as length-bucketed batches need). Only
  for a model without input feeding: with it, attention runs inside the decoder's step loop and
  there is no whole-target head to split off;
- ``whole model compiled``: the model and loss passed to ``torch.compile`` as they are (not with
  ``--quick``, whose budget its many compiled pieces would overrun).

Rows: ``tgt_tok_s`` (the median of passes over the batches, the variants taking turns pass by
pass, so that a shared machine's drifting load weighs on all alike), ``vs_eager`` (ratio to the eager row),
``compile_s`` (the first pass's extra time over a timed pass: tracing, code generation and the
C++ compiler), ``first_loss`` (the first step's loss from the same initial weights: the variants
must agree up to dropout noise), then one ``explain`` row with the graphs and graph breaks
``torch._dynamo.explain`` finds in the whole model. A variant that fails to compile (no C++
compiler, an unsupported op) gives a row with its ``error`` instead of stopping the bench.

The batches are generated (random subword ids with Multi30k-like lengths, grouped by the task's
``length_batches`` at the recipe's ``batch_tokens``): speed depends on the shapes, not the words.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from seq2seq.bench import sync
from seq2seq.config import ModelConfig, load_config
from seq2seq.losses import compiled_token_nll, token_nll
from seq2seq.nn.decoder import Decoder, DecoderState
from seq2seq.nn.models import EncoderDecoder, build_model
from seq2seq.runtime import autocast
from seq2seq.task import length_batches
from seq2seq.translation.subwords import PAD
from seq2seq.translation.task import collate_pairs

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "translation" / "multi30k_en_de.toml"
Batch = tuple[Tensor, Tensor, Tensor, Tensor]  # src, src_lengths, tgt_in, tgt_out
LossFn = Callable[[Batch], tuple[Tensor, Tensor]]
Head = Callable[[Tensor, Tensor, Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]
NLL = Callable[..., tuple[Tensor, Tensor]]  # token_nll or its compiled form: (logits, targets, mask, smoothing)


def generated_batches(vocab: int, sentences: int, batch_tokens: int, count: int, seed: int = 0) -> list[Batch]:
    """``count`` length-bucketed batches of random ids; source lengths about 15 +- 5 subwords and
    targets one longer on average (Multi30k en-de with a joint vocabulary of a few thousand)."""
    g = torch.Generator().manual_seed(seed)
    src_len = (torch.randn(sentences, generator=g) * 5 + 15).round().clamp(3, 40).long()
    tgt_len = (src_len + (torch.randn(sentences, generator=g) * 3 + 1).round()).clamp(3, 45).long()
    pairs = [
        (
            torch.randint(4, vocab, (int(a),), generator=g).tolist(),
            torch.randint(4, vocab, (int(b),), generator=g).tolist(),
        )
        for a, b in zip(src_len, tgt_len, strict=True)
    ]
    groups = length_batches([len(y) + 1 for _, y in pairs], 0, batch_tokens, seed, 0)
    # The fullest groups: the bucketing's last, partly filled group would under-count the rate.
    groups = sorted(groups, key=len, reverse=True)[:count]
    batches = []
    for group in groups:
        b = collate_pairs([pairs[i] for i in group])
        batches.append((b["src"], b["src_lengths"], b["tgt_in"], b["tgt_out"]))
    return batches


def decoder_head(decoder: Decoder, smoothing: float) -> Head:
    """The decoder's work after its recurrent stack, and the loss: (top-layer outputs s (batch,
    tgt, hidden), attention keys, memory, source mask, targets (batch, tgt)) -> (loss sum, count).
    Exactly ``Decoder.forward`` without input feeding, followed by ``token_nll``."""

    def head(s: Tensor, keys: Tensor, memory: Tensor, mask: Tensor, tgt_out: Tensor) -> tuple[Tensor, Tensor]:
        h, _ = decoder._attend(s, DecoderState((s,), None, memory, keys, mask))
        return token_nll(decoder._logits(h), tgt_out, tgt_out != PAD, smoothing)

    return head


def split_loss(model: EncoderDecoder, head: Head) -> LossFn:
    """The translation loss with the recurrent layers in eager mode and ``head`` after them."""
    if model.decoder.input_feeding:
        raise ValueError("the split loss runs the decoder's recurrent stack once, which needs input_feeding = false")

    def loss(batch: Batch) -> tuple[Tensor, Tensor]:
        src, src_lengths, tgt_in, tgt_out = batch
        state = model.start(src, src_lengths)
        dec = model.decoder
        s, _ = dec.rnn(dec.embed_dropout(dec.word_dropout(dec.embed(tgt_in))), None, state.hidden)
        return head(s, state.keys, state.memory, state.mask, tgt_out)

    return loss


def whole_loss(model: EncoderDecoder, smoothing: float, nll: NLL = token_nll) -> LossFn:
    """The translation task's loss as it is: the model's forward, then ``nll`` (``token_nll``, or
    its compiled form as ``train.compile`` uses it)."""

    def loss(batch: Batch) -> tuple[Tensor, Tensor]:
        src, src_lengths, tgt_in, tgt_out = batch
        return nll(model(src, src_lengths, tgt_in), tgt_out, tgt_out != PAD, smoothing)

    return loss


def settings(quick: bool) -> tuple[ModelConfig, str, float, int, int]:
    """The recipe's model, amp and label smoothing; --quick shrinks the model and the batches so
    that compiling dominates and the entry stays within a couple of minutes on one core (and
    drops input feeding, so that the head variant it exists to check applies)."""
    cfg = load_config(RECIPE, [])
    m = cfg.model
    m.input_vocab = m.output_size = 2000 if quick else cfg.data.vocab_size
    batch_tokens, count = (cfg.train.batch_tokens, 3) if not quick else (600, 2)
    if quick:
        m.embed_dim, m.hidden_size, m.layers, m.input_feeding = 64, 96, 1, False
    return m, cfg.train.amp, cfg.train.label_smoothing, batch_tokens, count


def _error(e: BaseException) -> str:
    lines = [x for x in str(e).strip().splitlines() if x.strip()]
    return f"{type(e).__name__}: {lines[0][:200] if lines else ''}"


def bench_compile(device: torch.device, peak: float, quick: bool) -> list[dict[str, Any]]:
    """Training target tokens/s, eager vs compiled parts; see the module docstring."""
    m, amp, smoothing, batch_tokens, count = settings(quick)
    batches = [tuple(t if i == 1 else t.to(device) for i, t in enumerate(b)) for b in generated_batches(
        m.output_size, 400 if quick else 2000, batch_tokens, count)]  # fmt: skip
    tokens = sum(int((b[3] != PAD).sum()) for b in batches)
    feeding = ", input feeding" if m.input_feeding else ""
    label = {
        "model": f"H {m.hidden_size}, V {m.output_size}{feeding}",
        "data": f"{len(batches)} batches, {tokens} tgt tokens",
    }

    def fresh() -> tuple[EncoderDecoder, torch.optim.Optimizer]:
        torch.manual_seed(0)
        model = build_model(m).to(device).train()
        return model, torch.optim.Adam(model.parameters(), lr=1e-4)

    def eager(model: EncoderDecoder) -> LossFn:
        return whole_loss(model, smoothing)

    def loss_compiled(model: EncoderDecoder) -> LossFn:
        return whole_loss(model, smoothing, compiled_token_nll())

    def head_compiled(model: EncoderDecoder) -> LossFn:
        return split_loss(model, torch.compile(decoder_head(model.decoder, smoothing), dynamic=True))

    def whole_compiled(model: EncoderDecoder) -> LossFn:
        return torch.compile(whole_loss(model, smoothing), dynamic=True)

    variants = [("eager", eager)]
    if not quick:
        variants.append(("loss compiled (train.compile)", loss_compiled))
    if not m.input_feeding:
        variants.append(("head compiled", head_compiled))
    if not quick:
        variants.append(("whole model compiled", whole_compiled))

    rows: list[dict[str, Any]] = []
    with cold_cache():
        rows += _time_variants(variants, fresh, batches, device, amp, 3 if quick else 5, label)
    rows.append(explain_row(m, smoothing, batches[0], device))
    return rows


def cold_cache() -> contextlib.AbstractContextManager:
    """An empty, temporary compile cache: ``compile_s`` is then the cost of a first run, not of a
    rerun that finds the kernels of an earlier bench in torch's on-disk cache."""
    import torch._dynamo

    torch._dynamo.reset()
    try:
        from torch._inductor.utils import fresh_cache
    except ImportError:  # an older or newer torch without it: the figure may then be a warm one
        return contextlib.nullcontext()
    return fresh_cache()


def _time_variants(
    variants: list[tuple[str, Callable[[EncoderDecoder], LossFn]]],
    fresh: Callable[[], tuple[EncoderDecoder, torch.optim.Optimizer]],
    batches: list[Batch],
    device: torch.device,
    amp: str,
    rounds: int,
    label: dict[str, str],
) -> list[dict[str, Any]]:
    """One row per variant, each on a fresh model from the same seed: a first pass over the
    batches (compiling), then ``rounds`` rounds that time one pass of every variant in turn.
    Interleaving keeps the ratios fair on a shared machine whose load drifts over minutes; each
    variant's figure is the median of its passes."""
    tokens = sum(int((b[3] != PAD).sum()) for b in batches)
    rows: dict[str, dict[str, Any]] = {}
    passes: dict[str, Callable[[], None]] = {}
    first_seconds: dict[str, float] = {}
    first_loss: dict[str, float] = {}
    for name, make in variants:
        rows[name] = {"variant": name, **label}
        try:
            model, opt = fresh()
            loss_fn = make(model)

            def one_pass(name=name, opt=opt, loss_fn=loss_fn) -> None:
                for batch in batches:
                    with autocast(device, amp):
                        loss, n = loss_fn(batch)
                    (loss.float() / n).backward()
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                    if name not in first_loss:  # one host sync, not one per timed batch
                        first_loss[name] = float(loss.detach()) / float(n)

            start = time.perf_counter()
            one_pass()  # compiles, and warms the eager variant up alike
            sync(device)
            first_seconds[name] = time.perf_counter() - start
            passes[name] = one_pass
        except Exception as e:  # noqa: BLE001 -- a compiler failure is a result to report
            rows[name]["error"] = _error(e)
    times: dict[str, list[float]] = {name: [] for name in passes}
    for _ in range(rounds):
        for name, one_pass in passes.items():
            try:
                start = time.perf_counter()
                one_pass()
                sync(device)
                times[name].append(time.perf_counter() - start)
            except Exception as e:  # noqa: BLE001
                rows[name]["error"] = _error(e)
    eager = statistics.median(times["eager"]) if times.get("eager") else None
    for name, ts in times.items():
        if "error" in rows[name]:
            continue
        seconds = statistics.median(ts)
        rows[name].update(tgt_tok_s=tokens / seconds, vs_eager=eager / seconds if eager else "")
        rows[name]["compile_s"] = max(0.0, first_seconds[name] - seconds) if name != "eager" else 0.0
        rows[name]["first_loss"] = first_loss[name]
    return list(rows.values())


def explain_row(m: ModelConfig, smoothing: float, batch: Batch, device: torch.device) -> dict[str, Any]:
    """What dynamo makes of the whole model's forward and loss: graphs, breaks and their reasons."""
    import torch._dynamo

    torch.manual_seed(0)
    model: nn.Module = build_model(m).to(device).train()
    row: dict[str, Any] = {"variant": "explain (whole model)"}
    try:
        torch._dynamo.reset()
        out = torch._dynamo.explain(whole_loss(model, smoothing))(batch)
    except Exception as e:  # noqa: BLE001
        return {**row, "error": _error(e)}
    reasons = sorted({_short_reason(b.reason) for b in out.break_reasons})
    return {
        **row,
        "graphs": out.graph_count,
        "graph_breaks": out.graph_break_count,
        "break_reasons": "; ".join(reasons),
    }


def _short_reason(reason: str) -> str:
    line = next((x.strip() for x in reason.splitlines() if x.strip()), "")
    return line[:120]
