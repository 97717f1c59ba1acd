"""Loading a checkpoint for inference: only the file is needed (config and vocabularies inside)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from seq2seq import checkpoint as ckpt_io
from seq2seq.config import Config, from_dict
from seq2seq.nn.models import build_model
from seq2seq.runtime import resolve_device
from seq2seq.task import Task, task_class


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
        raise ckpt_io.CheckpointError(
            f"{path}: a '{ckpt.get('task')}' checkpoint ({ckpt.get('kind')} model); {command} needs a "
            f"'{task}' checkpoint"
        )
    cfg = from_dict(ckpt["config"], str(path))
    dev = resolve_device(device)
    model = build_model(cfg.model, reference=reference)
    model.load_state_dict(ckpt["model"])
    model.to(dev).eval()
    t = task_class(cfg.task)(cfg)
    t.load_state(ckpt.get("task_state", {}))
    return Loaded(model, cfg, t, dev, path)
