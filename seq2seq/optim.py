"""Optimizers and the learning-rate schedule of the training loop.

The schedule is one small class rather than a chain of ``torch.optim.lr_scheduler`` objects:
warm-up, decay and reduce-on-plateau compose in one formula, its state is two plain numbers
(so checkpoints stay ``weights_only``-loadable), and it does not change with torch's scheduler
API (which broke JoeyNMT's "plateau" on current torch).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from seq2seq.config import TrainConfig


def build_optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """Adam / AdamW use the fused kernels (CPU and CUDA), which can skip a step flagged by a
    ``found_inf`` tensor without a host sync; see ``Trainer._update``."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay, fused=True)


class LRSchedule:
    """lr(step, epoch) = lr * warmup(step) * decay(step, epoch) * plateau_scale, floored at min_lr.

    - warmup: linear from 0 to 1 over ``warmup_steps`` (any scheduler)
    - constant: 1; plateau: 1, and ``plateau_scale`` drops by ``plateau_factor`` after
      ``plateau_patience`` evaluations without improvement
    - linear / cosine: from 1 down to min_lr/lr over ``decay_steps`` after warm-up
    - inverse_sqrt: sqrt(warmup_steps / step) after warm-up
    - exponential: decay_rate ** epoch
    """

    def __init__(self, cfg: TrainConfig, total_steps: int) -> None:
        self.cfg = cfg
        self.decay_steps = cfg.decay_steps or max(1, total_steps - cfg.warmup_steps)
        self.plateau_scale = 1.0
        self.bad_evals = 0

    def lr(self, step: int, epoch: int) -> float:
        c = self.cfg
        factor = min(1.0, (step + 1) / c.warmup_steps) if c.warmup_steps > 0 else 1.0
        after = max(0, step - c.warmup_steps)
        floor = c.min_lr / c.lr if c.lr > 0 else 0.0
        if c.scheduler == "linear":
            factor *= max(floor, 1.0 - (1.0 - floor) * after / self.decay_steps)
        elif c.scheduler == "cosine":
            progress = min(1.0, after / self.decay_steps)
            factor *= floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
        elif c.scheduler == "inverse_sqrt" and step >= c.warmup_steps:
            factor *= math.sqrt(max(1, c.warmup_steps) / max(1, step))
        elif c.scheduler == "exponential":
            factor *= c.decay_rate**epoch
        return max(c.min_lr, c.lr * factor * self.plateau_scale)

    def apply(self, optimizer: torch.optim.Optimizer, step: int, epoch: int) -> float:
        lr = self.lr(step, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def on_eval(self, improved: bool) -> bool:
        """Record one evaluation; returns True when the plateau rule just lowered the rate."""
        if self.cfg.scheduler != "plateau":
            return False
        self.bad_evals = 0 if improved else self.bad_evals + 1
        if self.bad_evals >= self.cfg.plateau_patience:
            self.bad_evals = 0
            self.plateau_scale *= self.cfg.plateau_factor
            return True
        return False

    def state_dict(self) -> dict[str, float]:
        return {"plateau_scale": self.plateau_scale, "bad_evals": self.bad_evals}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.plateau_scale = float(state["plateau_scale"])
        self.bad_evals = int(state["bad_evals"])
