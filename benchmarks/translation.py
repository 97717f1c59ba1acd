"""Translation figures for ``make bench``: training target tokens/s and MFU on a fixed Multi30k
slice, and translation sentences/s and tokens/s, greedy and beam 5, batched.

The slice: the first 8,000 training pairs of ../shared/data/multi30k (2,000 with --quick), one
joint unigram SentencePiece model of 4,000 pieces trained on it, the model and batch size of the
``translation/multi30k_en_de`` recipe, trained by the library's ``Trainer.fit`` (its logged
``items`` and ``seconds`` give the rate). Translation speed is measured with the recipe's trained
checkpoint (runs/multi30k_en_de/final.pt or best.pt) when it exists, else with the model the
bench has just trained (under-trained: its outputs can be longer, so tokens/s is the fairer rate
then).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks import common
from benchmarks.common import REPO, sync, train_rate
from seq2seq.config import ModelConfig
from seq2seq.nn.models import Dims
from seq2seq.nn.rnn import GATES

RECIPE = "translation/multi30k_en_de"
TRAINED = [REPO / "runs" / "multi30k_en_de" / name for name in ("final.pt", "best.pt")]


def train_flops_per_target_token(m: ModelConfig, dims: Dims, src_per_tgt: float, src_len: float) -> float:
    """Model FLOPs of one training step per target token (3x forward): encoder per source token
    times source tokens per target token, decoder layers, attention over ``src_len`` steps,
    output layer (``dims.output_size`` pieces). One layer and direction of a cell is
    2 * gates * H * (in + H) per token."""
    H, E, V = m.hidden_size, m.embed_dim, dims.output_size
    g = GATES[m.cell]
    dirs = 2 if m.bidirectional else 1
    enc, width = 0.0, E
    for _ in range(m.layers):
        enc += dirs * 2 * g * H * (width + H)
        width = dirs * H
    memory = width
    dec, width = 0.0, E + (H if m.input_feeding and m.attention != "none" else 0)
    for _ in range(m.decoder_layers or m.layers):
        dec += 2 * g * H * (width + H)
        width = H
    attn = 0.0
    if m.attention != "none":
        keys = 2 * memory * H if m.attention in ("general", "bahdanau") else 0  # per source token
        enc += keys
        attn = 2 * src_len * H + 2 * src_len * memory + 2 * (memory + H) * H
    if m.tie_embeddings:  # a projection H -> E, then the tied E x V matrix
        out = 2 * E * V + (2 * H * E if H != E else 0)
    else:
        out = 2 * H * V
    return 3 * (enc * src_per_tgt + dec + attn + out)


def bench_translation(device: torch.device, peak: float, quick: bool) -> list[dict[str, Any]]:
    from benchmarks.bench_peers import Settings, prepare_slice
    from seq2seq.inference import load_model
    from seq2seq.registry import load_config
    from seq2seq.trainer import Trainer
    from seq2seq.translation.translator import Translator

    data = common.SHARED / "multi30k"
    if not data.is_dir():
        return [{"skipped": f"no Multi30k at {data}"}]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        s = Settings(train_sentences=2000 if quick else 8000, vocab_size=4000, test_sentences=200 if quick else 1000)
        sl = prepare_slice(data, work / "slice", s)
        steps = 8 if quick else 40
        cfg = load_config(
            RECIPE,
            [
                f"data.train_src={sl.path('train', 'en')}", f"data.train_tgt={sl.path('train', 'de')}",
                f"data.valid_src={sl.path('valid', 'en')}", f"data.valid_tgt={sl.path('valid', 'de')}",
                "data.test_src=", "data.test_tgt=", "data.fetch=none", f"data.subword_models={sl.spm}",
                "data.valid_size=20",
                f"train.out_dir={work / 'run'}", f"train.device={device}", f"train.max_steps={steps}",
                "train.log_every=1", "train.eval_every=1000000", "train.progress=false",
            ],
        )  # fmt: skip
        trainer = Trainer.from_config(cfg)
        pairs = trainer.task.train_pairs
        src_tokens = sum(len(a) for a, _ in pairs)
        tgt_tokens = sum(len(b) + 1 for _, b in pairs)
        trainer.fit()
        rate = train_rate(work / "run" / "metrics.jsonl")
        dims = trainer.task.dims
        flops = train_flops_per_target_token(cfg.model, dims, src_tokens / tgt_tokens, src_tokens / len(pairs))
        params = sum(p.numel() for p in trainer.model.parameters())
        mfu = rate * flops / (peak * 1e12)
        rows.append({"what": "train", "model": f"{params / 1e6:.1f}M params", "tgt_tok_s": rate, "mfu": mfu})
        trained = next((p for p in TRAINED if p.exists()), None)
        loaded = load_model(trained or work / "run" / "best.pt", str(device), task="translation", command="bench")
        # The checkpoint's translator (its subwords, length limit and amp) with larger search batches.
        task = loaded.task
        translator = Translator(loaded.model, task.subwords, task.max_src_len, amp=loaded.cfg.train.amp,
                                batch_tokens=8000)  # fmt: skip
        lines = sl.path("test", "en").read_text(encoding="utf-8").splitlines()
        for beam in (1, 5):
            search = dataclasses.replace(
                loaded.cfg.search, beam_size=beam, length_penalty=1.0, nbest=1, max_len_ratio=1.5, max_len_offset=10
            )
            translator.best(lines[:20], search)  # warm-up
            start = time.perf_counter()
            hyps = translator.best(lines, search)
            sync(device)
            seconds = time.perf_counter() - start
            out_tokens = sum(len(ids) + 1 for ids in task.subwords.encode_tgt(hyps))
            rows.append(
                {
                    "what": "greedy" if beam == 1 else f"beam {beam}",
                    "model": "recipe checkpoint" if trained else f"bench model ({steps} steps)",
                    "sentences": len(lines),
                    "sent_s": len(lines) / seconds,
                    "out_tok_s": out_tokens / seconds,
                }
            )
    return rows
