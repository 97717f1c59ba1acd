"""The run's JSON files (metrics.jsonl, summary.json, scores): strict JSON, whatever the numbers.

A NaN or infinite value (a diverged loss) is written as ``null``, never as the bare ``NaN`` /
``Infinity`` that ``json.dumps`` emits by default and that strict readers reject.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def finite(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (nested dicts and lists too)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """Strict JSON of ``obj`` (non-finite numbers as null)."""
    return json.dumps(finite(obj), allow_nan=False, **kwargs)


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented strict JSON, atomically."""
    from seq2seq.checkpoint import atomic_write

    atomic_write(path, lambda f: f.write((dumps(obj, indent=2) + "\n").encode("utf-8")))
    return Path(path)


def read(path: str | Path) -> list[dict]:
    """The records of a JSON-lines file (none if it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def truncate(path: str | Path, step: int) -> int:
    """Drop the records logged after ``step`` (what a killed run logged past its checkpoint, which
    the resumed run logs again); returns how many were dropped."""
    from seq2seq.checkpoint import atomic_write

    path = Path(path)
    records = read(path)
    kept = [r for r in records if r.get("step", 0) <= step]
    if len(kept) != len(records):
        atomic_write(path, lambda f: f.write("".join(dumps(r) + "\n" for r in kept).encode("utf-8")))
    return len(records) - len(kept)
