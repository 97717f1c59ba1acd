"""``python -m benchmarks.bench --only compile``: does ``train.compile`` speed up translation training?

Dynamo does not trace ``nn.LSTM`` / ``nn.GRU``: a compiled model breaks its graph at every
recurrent layer and runs those in eager mode, so ``train.compile = true`` compiles only the
training loss over the vocabulary (``Task.token_nll``: log-softmax, gather, label smoothing;
dynamic shapes). This entry times the library's own training step, ``Trainer.train_step``
(forward, loss, backward, gradient clipping, the optimizer step, the recipe's amp), twice in one
run: ``eager`` (``train.compile = false``) and ``train.compile`` (``train.compile = true``), each
a ``Trainer.from_config`` of the same config and seed, on the same batches.

The config is the ``translation/multi30k_en_de`` recipe on a slice of ../shared/data/multi30k
(the first 8,000 training pairs, one joint SentencePiece model of the recipe's vocabulary size
trained on them), timed on the first 12 batches of its first epoch. Without Multi30k the data is
the ``translation/demo`` recipe's generated numbers corpus at the en->de recipe's model size; its
vocabulary of a few hundred pieces makes the loss, where compiling gains, far smaller, and the
rows say which data they are from. ``--quick``: a 1x96 model on 1,000 pairs, 3 batches, 3 rounds.

Rows: ``tgt_tok_s`` (the target tokens ``train_step`` reports for a pass over the batches,
divided by the median seconds of the timed passes; the variants take turns pass by pass, so
that a shared machine's drifting load weighs on both alike), ``vs_eager`` (ratio to the eager
row), ``compile_s`` (the first pass's extra time over a timed pass: tracing, code generation and
the C++ compiler, with an empty compile cache), ``first_loss`` (the trainer's own logged mean
training loss over the first pass; both variants start from the same weights with the same
dropout masks, so the two agree up to the compiled kernel's rounding), then one ``explain`` row:
the graphs and graph breaks ``torch._dynamo.explain`` finds in the task's loss over the whole
model (why only the loss is compiled). A variant that fails to compile (no C++ compiler, an
unsupported op) gives a row with its ``error`` instead of stopping the bench.
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from benchmarks import common
from benchmarks.common import error_text, sync, train_records
from seq2seq.config import Config, override
from seq2seq.registry import load_config
from seq2seq.runtime import autocast
from seq2seq.task import Batch
from seq2seq.trainer import Trainer

RECIPE = "translation/multi30k_en_de"
DEMO = "translation/demo"
# (row name, train.compile)
VARIANTS = (("eager", False), ("train.compile", True))


@dataclass(frozen=True)
class Plan:
    """What is timed: the config both variants start from, what its data is, the batches per
    pass and the timed passes per variant."""

    cfg: Config
    data: str
    count: int
    rounds: int


def plan(device: torch.device, quick: bool, work: Path, data_dir: Path | None = None) -> Plan:
    """The en->de recipe's config on a Multi30k slice prepared in ``work`` (``data_dir``, by
    default ../shared/data/multi30k), or on the demo recipe's generated corpus without it."""
    from benchmarks.bench_peers import Settings, prepare_slice

    data_dir = common.SHARED / "multi30k" if data_dir is None else data_dir
    count, rounds = (3, 3) if quick else (12, 5)
    # One logged record per pass (its mean loss); nothing else of the trainer's logging runs.
    run = [f"train.device={device}", "train.progress=false", f"train.log_every={count}"]
    small = ["model.embed_dim=64", "model.hidden_size=96", "model.layers=1"] if quick else []
    if data_dir.is_dir():
        pairs = 1000 if quick else 8000
        vocab = 1000 if quick else load_config(RECIPE).data.vocab_size
        s = Settings(train_sentences=pairs, vocab_size=vocab, valid_sentences=20, test_sentences=20)
        sl = prepare_slice(data_dir, work / "slice", s)
        data = [
            f"data.train_src={sl.path('train', 'en')}", f"data.train_tgt={sl.path('train', 'de')}",
            f"data.valid_src={sl.path('valid', 'en')}", f"data.valid_tgt={sl.path('valid', 'de')}",
            "data.test_src=", "data.test_tgt=", "data.fetch=none", f"data.subword_models={sl.spm}",
            f"data.vocab_size={vocab}",
        ]  # fmt: skip
        cfg = load_config(RECIPE, [*data, *small, *run])
        what = f"Multi30k en-de, first {pairs} pairs"
    else:
        demo = load_config(DEMO, ["data.generated_train=1000"] if quick else [])
        cfg = override(dataclasses.replace(load_config(RECIPE), data=demo.data), [*small, *run])
        what = f"generated numbers ({DEMO}; no Multi30k at {data_dir})"
    return Plan(cfg, what, count, rounds)


@dataclass
class Run:
    """One variant's trainer and its figures so far."""

    trainer: Trainer
    tokens: int
    first_s: float
    first_loss: float
    times: list[float] = field(default_factory=list)


def one_pass(trainer: Trainer, batches: list[Batch]) -> tuple[float, Tensor]:
    """Seconds of ``train_step`` over ``batches`` (to the device's end of the work) and the items
    (target tokens) the steps reported."""
    start = time.perf_counter()
    items = torch.zeros((), device=trainer.device)
    for batch in batches:
        items += trainer.train_step(batch)
    sync(trainer.device)
    return time.perf_counter() - start, items


def start_variant(cfg: Config, batches: list[Batch], count: int) -> tuple[Run, list[Batch]]:
    """A trainer of ``cfg`` and its first pass (compiling, and warming the eager variant up
    alike). ``batches``: the other variant's, or none yet: then this trainer's first ``count``
    batches of epoch 0 become the batches of both."""
    trainer = Trainer.from_config(cfg)
    if not batches:
        batches = list(islice(trainer.batches(0), count))
    trainer.out_dir.mkdir(parents=True, exist_ok=True)
    trainer.model.train()
    _ = trainer.writer  # created now (importing tensorboard), not inside the first pass
    seconds, items = one_pass(trainer, batches)
    records = train_records(trainer.out_dir / "metrics.jsonl")
    if len(records) != 1 or records[0]["step"] != len(batches):
        raise RuntimeError(f"expected one train record at step {len(batches)}, got {records}")
    return Run(trainer, int(round(float(items))), seconds, records[0]["loss"]), batches


def time_variants(p: Plan, work: Path) -> tuple[list[dict[str, Any]], dict[str, Run], list[Batch]]:
    """One row per variant: each variant's trainer is built and makes its first pass before the
    next one is built (so both start from the same random state), then ``p.rounds`` rounds time
    one pass of every variant in turn. Each figure is the median of its variant's passes."""
    rows: dict[str, dict[str, Any]] = {}
    runs: dict[str, Run] = {}
    batches: list[Batch] = []
    for i, (name, compiled) in enumerate(VARIANTS):
        rows[name] = {"variant": name}
        try:
            cfg = override(p.cfg, [f"train.compile={str(compiled).lower()}", f"train.out_dir={work / f'run-{i}'}"])
            runs[name], batches = start_variant(cfg, batches, p.count)
        except Exception as e:  # noqa: BLE001 -- a compiler failure is a result to report
            rows[name]["error"] = error_text(e)
    for _ in range(p.rounds):
        for name, run in runs.items():
            if "error" in rows[name]:
                continue
            try:
                run.times.append(one_pass(run.trainer, batches)[0])
            except Exception as e:  # noqa: BLE001
                rows[name]["error"] = error_text(e)
    m = p.cfg.model
    tokens = next((r.tokens for r in runs.values()), 0)
    vocab = next((r.trainer.task.dims.output_size for r in runs.values()), 0)
    feeding = ", input feeding" if m.input_feeding else ""
    label = {
        "model": f"{m.cell} {m.layers}x{m.hidden_size}, V {vocab}{feeding}",
        "data": f"{p.data}; {len(batches)} batches, {tokens} tgt tokens",
    }
    eager = runs.get("eager")
    eager_s = statistics.median(eager.times) if eager and eager.times and "error" not in rows["eager"] else None
    for name, row in rows.items():
        row.update(label)
        if "error" in row or name not in runs:
            continue
        run = runs[name]
        seconds = statistics.median(run.times)
        row["tgt_tok_s"] = run.tokens / seconds
        row["vs_eager"] = eager_s / seconds if eager_s else ""
        row["compile_s"] = max(0.0, run.first_s - seconds) if name != "eager" else 0.0
        row["first_loss"] = run.first_loss
    return list(rows.values()), runs, batches


def bench_compile(device: torch.device, peak: float, quick: bool, data_dir: Path | None = None) -> list[dict[str, Any]]:
    """Training target tokens/s, ``train.compile`` off and on; see the module docstring."""
    with tempfile.TemporaryDirectory() as tmp:
        p = plan(device, quick, Path(tmp), data_dir)
        with cold_cache():
            rows, runs, batches = time_variants(p, Path(tmp))
        if "eager" in runs and batches:
            rows.append(explain_row(runs["eager"].trainer, batches[0]))
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


def explain_row(trainer: Trainer, batch: Batch) -> dict[str, Any]:
    """What dynamo makes of the task's training loss over the whole model (the eager trainer's
    ``task.loss``, as ``train_step`` calls it): graphs, breaks and their reasons."""
    import torch._dynamo

    row: dict[str, Any] = {"variant": "explain (task loss, whole model)"}

    def loss(b: Batch) -> Tensor:
        return trainer.task.loss(trainer.model, b).loss

    try:
        torch._dynamo.reset()
        with autocast(trainer.device, trainer.cfg.amp):
            out = torch._dynamo.explain(loss)(batch)
    except Exception as e:  # noqa: BLE001
        return {**row, "error": error_text(e)}
    reasons = sorted({_short_reason(b.reason) for b in out.break_reasons})
    row.update(graphs=out.graph_count, graph_breaks=out.graph_break_count, break_reasons="; ".join(reasons))
    return row


def _short_reason(reason: str) -> str:
    line = next((x.strip() for x in reason.splitlines() if x.strip()), "")
    return line[:120]
