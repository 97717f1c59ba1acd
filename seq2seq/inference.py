"""Loading a checkpoint for inference: only the file is needed (config, sizes and vocabularies
inside), and the data flows the same one way as in training: config -> task (restored from the
file, no data read) -> dims -> model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from seq2seq import checkpoint as ckpt_io
from seq2seq.config import Config
from seq2seq.errors import CheckpointError
from seq2seq.nn.models import Dims, build_model
from seq2seq.registry import from_dict, make_task
from seq2seq.runtime import resolve_device
from seq2seq.task import Task


@dataclass
class Loaded:
    model: nn.Module
    cfg: Config
    task: Task
    device: torch.device
    path: Path


def load_model(
    path: str | Path,
    device: str = "auto",
    task: str | None = None,
    command: str = "this command",
    reference: bool = False,
) -> Loaded:
    """Model (in eval mode, on ``device``), config and task state of a checkpoint. With ``task``
    given, a checkpoint of another task is refused with a message naming both."""
    path = Path(path)
    ckpt = ckpt_io.load(path)
    if task is not None and ckpt.get("task") != task:
        raise CheckpointError(
            f"{path}: a '{ckpt.get('task')}' checkpoint ({ckpt.get('kind')} model); {command} needs a "
            f"'{task}' checkpoint"
        )
    cfg = from_dict(ckpt["config"], str(path))
    try:
        dims = Dims(**ckpt["dims"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its model sizes are unreadable ({e})") from None
    dev = resolve_device(device)
    model = build_model(cfg.model, dims, reference=reference)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        reason = str(e).strip().splitlines()[0]
        raise CheckpointError(f"{path}: its weights do not fit the model its config describes ({reason})") from None
    model.to(dev).eval()
    t = make_task(cfg)
    t.restore(ckpt.get("task_state", {}), dims, str(path))
    return Loaded(model, cfg, t, dev, path)
