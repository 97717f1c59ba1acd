"""What the benchmarks share: paths, timing, the machine's description, tables, the docs block."""

from __future__ import annotations

import json
import os
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
# Data the benchmarks read when it is there (Multi30k, JSB Chorales); nothing is downloaded.
SHARED = Path(os.environ.get("SEQ2SEQ_SHARED_DATA", REPO.parent / "shared" / "data"))


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a timer reads the work's end, not its launch."""
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


def train_records(metrics: Path) -> list[dict[str, Any]]:
    """The "train" records of a run's metrics.jsonl, in order."""
    rows = [json.loads(x) for x in metrics.read_text(encoding="utf-8").splitlines() if x.strip()]
    return [r for r in rows if r.get("kind") == "train"]


def train_rate(metrics: Path, skip: int = 3) -> float:
    """Items (target tokens, frames) per second of a run's logged steps after step ``skip``
    (warm-up): the records' own ``items`` over their own ``seconds``."""
    train = [r for r in train_records(metrics) if r["step"] > skip]
    items = sum(r["items"] for r in train)
    seconds = sum(r["seconds"] for r in train)
    return items / seconds if seconds else 0.0


def error_text(e: BaseException) -> str:
    """One line for a row: the exception's type and the first line of its message."""
    lines = [x for x in str(e).strip().splitlines() if x.strip()]
    return f"{type(e).__name__}: {lines[0][:200] if lines else ''}"


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
