"""``make bench``: a fixed benchmark set on whatever device is present.

    python -m benchmarks.bench [--out runs/bench] [--device auto] [--only layers ...] [--quick] [--docs]

Writes ``bench.json`` and ``bench.md`` to the output folder and, with ``--docs``, replaces the
block for this device kind (cpu or cuda) in docs/benchmarks.md. Every figure is measured in the
same run as its baseline (fused vs reference cells; the device's own matmul peak for MFU), so
ratios hold on a noisy machine even when absolute numbers drift. The recipe figures time the
library's own ``Trainer`` (``fit`` or ``train_step``) and ``Translator``.

FLOPs per token (forward, one layer, one direction; a multiply-add is 2 FLOPs):
LSTM 8H(E+H), GRU 6H(E+H), tanh-RNN 2H(E+H); training is about 3x forward.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import REPO, machine, table, timed, write_docs
from seq2seq.nn.rnn import GATES, RecurrentStack
from seq2seq.runtime import resolve_device

Benchmark = Callable[[torch.device, float, bool], list[dict[str, Any]]]


def matmul_peak(device: torch.device, quick: bool) -> dict[str, float]:
    """FLOP/s of a large matrix product: the denominator of every MFU figure in this run."""
    n = 2048 if device.type == "cpu" else 8192
    if quick:
        n //= 2
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    seconds = timed(lambda: a @ b, device)
    return {"n": n, "dtype": str(dtype).replace("torch.", ""), "tflops": 2 * n**3 / seconds / 1e12}


def rnn_flops_per_token(cell: str, embed: int, hidden: int) -> int:
    """Forward FLOPs per token of one layer and direction: 2 * gates * H * (E + H)."""
    return 2 * GATES[cell] * hidden * (embed + hidden)


def bench_layers(device: torch.device, peak: float, quick: bool) -> list[dict[str, Any]]:
    """Training tokens/s (forward + backward) of one recurrent layer, fused vs reference cells."""
    sizes = [(256, 256), (512, 512)] if device.type == "cpu" else [(512, 512), (1024, 1024)]
    batch, steps = (32, 64) if device.type == "cpu" else (128, 64)
    if quick:
        sizes, steps = sizes[:1], 32
    rows = []
    for cell in ("lstm", "gru", "rnn"):
        for embed, hidden in sizes:
            x = torch.randn(batch, steps, embed, device=device)
            row: dict[str, Any] = {"cell": cell, "E": embed, "H": hidden, "batch": batch, "steps": steps}
            for variant in ("fused", "reference"):
                torch.manual_seed(0)
                layer = RecurrentStack(cell, embed, hidden, 1, reference=variant == "reference").to(device)

                def step(layer=layer, x=x) -> None:
                    out, _ = layer(x)
                    out.float().sum().backward()

                seconds = timed(step, device, min_time=0.5 if quick else 1.0, warmup=1)
                tokens = batch * steps / seconds
                row[f"{variant}_tok_s"] = tokens
                row[f"{variant}_mfu"] = tokens * 3 * rnn_flops_per_token(cell, embed, hidden) / (peak * 1e12)
            row["speedup"] = row["fused_tok_s"] / row["reference_tok_s"]
            rows.append(row)
    return rows


def _module(module: str, name: str) -> Benchmark:
    """A benchmark of another module of this folder, imported when it runs."""

    def run(device: torch.device, peak: float, quick: bool) -> list[dict[str, Any]]:
        return getattr(importlib.import_module(module), name)(device, peak, quick)

    return run


# name -> function(device, peak_tflops, quick) -> rows.
BENCHMARKS: dict[str, Benchmark] = {
    "layers": bench_layers,
    "translation": _module("benchmarks.translation", "bench_translation"),
    "video": _module("benchmarks.video", "bench_video"),
    "music": _module("benchmarks.music", "bench_music"),
    "compile": _module("benchmarks.compile", "bench_compile"),
}


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    parts = [
        f"Command: `{result['command']}` ({result['date']})",
        f"Machine: {m.get('cpu', m['device'])}, {m['threads']} threads, torch {m['torch']}, Python {m['python']}.",
        f"Peak for MFU: {result['peak']['tflops']:.3g} TFLOP/s ({result['peak']['dtype']} matmul, "
        f"n={result['peak']['n']}, measured in this run).",
    ]
    for name, rows in result["benchmarks"].items():
        parts += [f"\n#### {name}\n", table(rows)]
    return "\n".join(parts) + "\n"


def command(argv: list[str]) -> str:
    """How this run was started, as the docs block records it."""
    return " ".join(["python -m benchmarks.bench", *argv])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/bench")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--only", action="append", choices=list(BENCHMARKS), help="run only these (repeatable)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke test)")
    parser.add_argument("--docs", action="store_true", help="update docs/benchmarks.md with the result")
    given = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(given)
    device = resolve_device(args.device)
    names = args.only or list(BENCHMARKS)
    peak = matmul_peak(device, args.quick)
    result: dict[str, Any] = {
        "command": command(given),
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(device),
        "peak": peak,
        "benchmarks": {},
    }
    for name in names:
        print(f"== {name}", flush=True)
        result["benchmarks"][name] = rows = BENCHMARKS[name](device, peak["tflops"], args.quick)
        print(table(rows), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / "bench.md").write_text(render(result), encoding="utf-8")
    if args.docs:
        write_docs(render(result), device.type, REPO / "docs" / "benchmarks.md")
    print(f"wrote {out / 'bench.json'} and {out / 'bench.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
