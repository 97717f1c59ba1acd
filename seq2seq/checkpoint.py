"""Checkpoints: one format for every task, plain tensors and data only.

A checkpoint is a dict readable with ``torch.load(path, weights_only=True)``::

    format, version      "seq2seq-checkpoint", 2
    task, kind           task name and model kind
    config               the Config as nested plain data (what the run was asked to do)
    dims                 the sizes and ids the task read from the data (``Dims``)
    model                the model's state_dict
    optimizer, schedule  optimizer state_dict and LRSchedule state (training only)
    rng                  torch / CUDA / Python RNG states
    progress             step, epoch, batch (data position), best metric, counters
    task_state           what inference needs besides weights (vocabularies, label names)

Files are written to a temporary name in the same folder, flushed, then renamed, so a kill
never leaves a half-written checkpoint under a final name.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from seq2seq.errors import CheckpointError

FORMAT = "seq2seq-checkpoint"
VERSION = 2


def atomic_write(path: str | Path, write) -> None:
    """Call ``write(file_object)`` on a temporary file next to ``path``, then rename it over
    ``path``. On any error (or Ctrl-C) the temporary file is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(path: str | Path, payload: dict[str, Any]) -> None:
    payload = {"format": FORMAT, "version": VERSION, **payload}
    atomic_write(path, lambda f: torch.save(payload, f))


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint (tensors and plain data only) or fail with a message naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for a corrupt or foreign file
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a readable seq2seq checkpoint ({reason[:200]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a seq2seq checkpoint (no '{FORMAT}' header)")
    if ckpt.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: written by a newer seq2seq (format {ckpt['version']}); upgrade")
    if ckpt.get("version", 0) < VERSION:
        raise CheckpointError(
            f"{path}: written by seq2seq 0.1 (checkpoint format {ckpt.get('version')}), whose configs held the data's "
            f"sizes; retrain it with this version"
        )
    return ckpt


def checkpoint_task(path: str | Path) -> str:
    """The task name of a checkpoint (memory-mapped read: cheap even for large files)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        ckpt = load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a seq2seq checkpoint (no '{FORMAT}' header)")
    return str(ckpt.get("task"))


def rng_state() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    state = {"torch": torch.get_rng_state(), "python": [version, list(internal), gauss]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


_STEP = re.compile(r"step-(\d+)\.pt$")


def step_checkpoints(folder: str | Path) -> list[Path]:
    """The ``step-N.pt`` files of a run folder, oldest first."""
    folder = Path(folder)
    found = [(int(m.group(1)), p) for p in folder.glob("step-*.pt") if (m := _STEP.search(p.name))]
    return [p for _, p in sorted(found)]


def prune(folder: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` step checkpoints."""
    if keep <= 0:
        return
    for p in step_checkpoints(folder)[:-keep]:
        p.unlink(missing_ok=True)


def average(paths: list[str | Path]) -> dict[str, Any]:
    """A checkpoint whose model weights are the mean of the given checkpoints' (same model).
    Training state is dropped: the result is for inference (and fine-tuning from scratch)."""
    if not paths:
        raise CheckpointError("nothing to average: give at least one checkpoint")
    first = load(paths[0])
    total = {k: v.double().clone() if v.is_floating_point() else v for k, v in first["model"].items()}
    for p in paths[1:]:
        ckpt = load(p)
        if ckpt["kind"] != first["kind"] or ckpt["model"].keys() != total.keys():
            raise CheckpointError(f"{p}: a different model from {paths[0]}; average checkpoints of one run")
        for k, v in ckpt["model"].items():
            if v.shape != total[k].shape:
                raise CheckpointError(f"{p}: tensor '{k}' has shape {tuple(v.shape)}, not {tuple(total[k].shape)}")
            if v.is_floating_point():
                total[k] += v.double()
    model = {k: (v / len(paths)).to(first["model"][k].dtype) if v.is_floating_point() else v for k, v in total.items()}
    keep = ("task", "kind", "config", "dims", "task_state", "progress")
    out = {k: first[k] for k in keep if k in first}
    out["model"] = model
    out["averaged"] = [str(p) for p in paths]
    return out
