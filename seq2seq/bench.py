"""``make bench``: a fixed benchmark set on whatever device is present.

    python -m seq2seq.bench [--out runs/bench] [--device auto] [--only layers ...] [--quick]

Writes ``bench.json`` and ``bench.md`` to the output folder and, with ``--docs``, replaces the
block for this device kind (cpu or cuda) in docs/benchmarks.md. Every figure is measured in the
same run as its baseline (fused vs reference cells; the device's own matmul peak for MFU), so
ratios hold on a noisy machine even when absolute numbers drift.

FLOPs per token (forward, one layer, one direction; a multiply-add is 2 FLOPs):
LSTM 8H(E+H), GRU 6H(E+H), tanh-RNN 2H(E+H); training is about 3x forward.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from seq2seq.nn.rnn import GATES, RecurrentStack
from seq2seq.runtime import resolve_device

REPO = Path(__file__).resolve().parents[1]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device, min_time: float = 1.0, warmup: int = 2) -> float:
    """Median seconds per call of ``fn`` over repeats filling about ``min_time`` seconds."""
    for _ in range(warmup):
        fn()
    sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_time or len(times) < 3:
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


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


def machine(device: torch.device) -> dict[str, str]:
    info = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "threads": str(torch.get_num_threads()),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    try:
        info["cpu"] = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    return info


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    keys = list(dict.fromkeys(k for r in rows for k in r))  # every row's keys, first-seen order
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def _recipe(module: str, name: str) -> Callable[[torch.device, float, bool], list[dict[str, Any]]]:
    """A recipe's benchmark, imported when it runs (recipes own their figures)."""

    def run(device: torch.device, peak: float, quick: bool) -> list[dict[str, Any]]:
        import importlib

        return getattr(importlib.import_module(module), name)(device, peak, quick)

    return run


# name -> function(device, peak_tflops, quick) -> rows.
BENCHMARKS: dict[str, Callable[[torch.device, float, bool], list[dict[str, Any]]]] = {
    "layers": bench_layers,
    "translation": _recipe("seq2seq.translation.bench", "bench_translation"),
    "video": _recipe("seq2seq.video.bench", "bench_video"),
    "music": _recipe("seq2seq.music.bench", "bench_music"),
    "compile": _recipe("seq2seq.translation.bench_compile", "bench_compile"),
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


def write_docs(block: str, kind: str, path: Path) -> None:
    """Replace the ``<!-- bench:KIND -->`` block of docs/benchmarks.md (appending it if absent)."""
    start, end = f"<!-- bench:{kind} -->", f"<!-- /bench:{kind} -->"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    new = f"{start}\n{block}{end}"
    if start in text and end in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: new, text, flags=re.S)
    else:
        text = text.rstrip() + f"\n\n## `make bench` on {kind.upper()}\n\n{new}\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seq2seq.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/bench")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--only", action="append", help=f"run only these: {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke test)")
    parser.add_argument("--docs", action="store_true", help="update docs/benchmarks.md with the result")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    names = args.only or list(BENCHMARKS)
    peak = matmul_peak(device, args.quick)
    result: dict[str, Any] = {
        "command": "make bench" if not argv else "python -m seq2seq.bench " + " ".join(argv),
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
