"""The one training loop, shared by every recipe.

    trainer = Trainer(cfg)        # builds the task, the model (build_model) and the optimizer
    summary = trainer.fit()       # trains, evaluates, checkpoints; returns best metric and paths

What it does, in order of a step: fetch a batch (deterministic order per epoch, so the data
position is (epoch, batch index)); optionally split it along time for truncated BPTT, carrying
the detached state; loss under bf16 autocast on CUDA; backward (accumulated over
``accum_steps``); clip the global L2 norm; step the optimizer unless the gradient was not
finite (decided on the device, no host sync); set the learning rate. Losses are summed on the
device and read once every ``log_every`` steps. Evaluation, best / last-N checkpoints (written
atomically), the plateau rule and early stopping happen at ``eval_every`` steps or each epoch.
Under torchrun each process takes every world-th batch and DDP averages the gradients.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader

from seq2seq import checkpoint as ckpt_io
from seq2seq.config import Config, ConfigError, from_dict, to_dict
from seq2seq.nn.models import build_model
from seq2seq.optim import LRSchedule, build_optimizer
from seq2seq.runtime import autocast, init_distributed, resolve_device, seed_everything
from seq2seq.task import Batch, Task, task_class


class TrainingError(RuntimeError):
    """Training cannot go on; the message says why and what to do."""


def to_device(batch: Batch, device: torch.device) -> Batch:
    """Move a batch's tensors to ``device``; keys ending in 'lengths' stay on the CPU because
    packing sequences needs CPU lengths (and reading them there costs no sync)."""
    non_blocking = device.type == "cuda"
    return {
        k: v if k.endswith("lengths") or not isinstance(v, Tensor) else v.to(device, non_blocking=non_blocking)
        for k, v in batch.items()
    }


def detach_state(state: Any) -> Any:
    if state is None:
        return None
    return tuple(s.detach() for s in state)


class Trainer:
    def __init__(self, cfg: Config, task: Task | None = None, resume: str | Path | bool | None = None) -> None:
        self.cfg = cfg
        self.dist = init_distributed()
        tc = cfg.train
        self.device = resolve_device(tc.device, self.dist.local_rank)
        self.out_dir = Path(tc.out_dir)
        seed_everything(tc.seed)
        self.task = task or task_class(cfg.task)(cfg)
        resume_path = self._resume_path(resume)
        if resume_path is not None:
            # Train with the configuration the run started with; only the training-loop
            # settings given now (e.g. more epochs) are taken from the new config.
            self.ckpt = ckpt_io.load(resume_path)
            self._check_resumable(self.ckpt, resume_path)
            saved = from_dict(self.ckpt["config"], str(resume_path))
            saved.train = tc
            self.cfg = cfg = saved
            self.task.cfg = cfg
        else:
            self.ckpt = None
        self.task.prepare()
        self.model = build_model(cfg.model).to(self.device)
        self.optimizer = build_optimizer(self.model, tc, self.device)
        self.steps_per_epoch = max(1, len(self._shard(self.task.train_batches(0))) // max(1, tc.accum_steps))
        # With truncated BPTT a batch takes several steps; set train.decay_steps for a decay then.
        total = tc.max_steps or self.steps_per_epoch * tc.epochs
        self.schedule = LRSchedule(tc, total)
        self.step = self.epoch = self.batch_index = 0
        self.best: float | None = None
        self.bad_evals = 0
        self.next_eval = tc.eval_every
        if self.ckpt is not None:
            self._restore(self.ckpt)
            self.ckpt = None
        self.ddp = None
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.mode = self.task.metric_mode(tc.metric)
        # Device-side counters read only at logging time.
        self._loss_sum = torch.zeros((), device=self.device)
        self._count = torch.zeros((), device=self.device)
        self._nonfinite_run = torch.zeros((), device=self.device, dtype=torch.long)
        self._nonfinite_total = torch.zeros((), device=self.device, dtype=torch.long)
        self._skipped_reported = 0
        self._writer = None

    # -- set-up ------------------------------------------------------------------------------
    def _resume_path(self, resume: str | Path | bool | None) -> Path | None:
        existing = ckpt_io.step_checkpoints(self.out_dir)
        if resume is None or resume is False:
            if existing and self.dist.main:
                raise TrainingError(
                    f"{self.out_dir} already holds checkpoints ({existing[-1].name}); pass --resume to "
                    f"continue that run, or --set train.out_dir=... for a new one"
                )
            return None
        if resume is True:
            if not existing:
                raise TrainingError(f"--resume: no step-*.pt checkpoint in {self.out_dir} to resume from")
            return existing[-1]
        return Path(resume)

    def _check_resumable(self, ckpt: dict[str, Any], path: Path) -> None:
        if ckpt.get("task") != self.cfg.task:
            raise ckpt_io.CheckpointError(
                f"{path}: a '{ckpt.get('task')}' checkpoint cannot resume a '{self.cfg.task}' recipe"
            )
        if ckpt["config"]["model"]["kind"] != self.cfg.model.kind:
            raise ckpt_io.CheckpointError(
                f"{path}: holds a '{ckpt['config']['model']['kind']}' model, the recipe asks for "
                f"'{self.cfg.model.kind}'"
            )
        if "optimizer" not in ckpt:
            raise ckpt_io.CheckpointError(f"{path}: holds no training state (an averaged checkpoint?)")

    def _restore(self, ckpt: dict[str, Any]) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.schedule.load_state_dict(ckpt["schedule"])
        self.task.load_state(ckpt.get("task_state", {}))
        p = ckpt["progress"]
        self.step, self.epoch, self.batch_index = p["step"], p["epoch"], p["batch"]
        self.best, self.bad_evals, self.next_eval = p["best"], p["bad_evals"], p["next_eval"]
        ckpt_io.set_rng_state(ckpt["rng"])

    def _shard(self, batches: list[list[int]]) -> list[list[int]]:
        """Every world-th batch, cut to the same count on every rank so all ranks step together."""
        if self.dist.world == 1:
            return batches
        n = len(batches) // self.dist.world
        if n == 0:
            raise TrainingError(f"{len(batches)} batches cannot be shared by {self.dist.world} processes")
        return batches[self.dist.rank :: self.dist.world][:n]

    @property
    def writer(self):
        if self._writer is None and self.dist.main:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.out_dir / "tensorboard"))
        return self._writer

    # -- checkpoints -------------------------------------------------------------------------
    def _payload(self) -> dict[str, Any]:
        return {
            "task": self.cfg.task,
            "kind": self.cfg.model.kind,
            "config": to_dict(self.cfg),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "rng": ckpt_io.rng_state(),
            "progress": {
                "step": self.step,
                "epoch": self.epoch,
                "batch": self.batch_index,
                "best": self.best,
                "bad_evals": self.bad_evals,
                "next_eval": self.next_eval,
            },
            "task_state": self.task.state(),
        }

    def save(self, improved: bool) -> Path | None:
        if not self.dist.main:
            return None
        path = self.out_dir / f"step-{self.step:08d}.pt"
        ckpt_io.save(path, self._payload())
        if improved:
            ckpt_io.atomic_write(self.out_dir / "best.pt", lambda f: f.write(path.read_bytes()))
        ckpt_io.prune(self.out_dir, self.cfg.train.keep_last)
        return path

    # -- the loop ----------------------------------------------------------------------------
    def _log(self, record: dict[str, Any]) -> None:
        if not self.dist.main:
            return
        with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        for k, v in record.items():
            if k not in ("step", "epoch", "kind") and isinstance(v, (int, float)):
                self.writer.add_scalar(f"{record['kind']}/{k}", v, self.step)

    def _update(self) -> None:
        """Clip, skip-if-not-finite, optimizer step, learning rate: no host sync."""
        tc = self.cfg.train
        params = [p for p in self.model.parameters() if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, tc.clip_norm if tc.clip_norm > 0 else math.inf)
        nonfinite = ~torch.isfinite(norm)
        if getattr(self.optimizer, "_step_supports_amp_scaling", False):
            self.optimizer.found_inf = nonfinite.float()  # the fused kernel skips the update
            self.optimizer.grad_scale = None
        else:
            keep = (~nonfinite).float()
            for p in params:
                p.grad.nan_to_num_(0.0, 0.0, 0.0).mul_(keep)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self._nonfinite_run = torch.where(nonfinite, self._nonfinite_run + 1, 0)
        self._nonfinite_total += nonfinite.long()
        self.step += 1
        self.schedule.apply(self.optimizer, self.step, self.epoch)
        self._last_norm = norm

    def _check_nonfinite(self) -> None:
        run, total = int(self._nonfinite_run), int(self._nonfinite_total)
        if run >= self.cfg.train.max_nonfinite:
            raise TrainingError(
                f"the loss was not finite for {run} steps in a row (step {self.step}); training stopped. "
                f"Lower train.lr, set train.clip_norm, or check the data for NaN/inf values"
            )
        if total > self._skipped_reported:
            warnings.warn(
                f"step {self.step}: skipped {total - self._skipped_reported} update(s) with a non-finite "
                f"loss or gradient",
                RuntimeWarning,
                stacklevel=2,
            )
            self._skipped_reported = total

    def _report(self, bar, started: float, counted: list[float]) -> None:
        loss_sum, count = float(self._loss_sum), float(self._count)
        self._check_nonfinite()
        now = time.perf_counter()
        rate = (count - counted[0]) / max(1e-9, now - counted[1])
        counted[:] = [0.0, now]
        record = {
            "kind": "train",
            "step": self.step,
            "epoch": self.epoch,
            "loss": loss_sum / max(count, 1.0),
            "lr": self.optimizer.param_groups[0]["lr"],
            "grad_norm": float(self._last_norm),
            "items_per_s": rate,
            "elapsed_s": now - started,
        }
        self._log(record)
        if bar is not None:
            bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}")
        self._loss_sum.zero_()
        self._count.zero_()

    def evaluate(self) -> dict[str, float]:
        """Validation on rank 0; the result is shared with the other ranks."""
        metrics: dict[str, float] = {}
        if self.dist.main:
            self.model.eval()
            with autocast(self.device, self.cfg.train.amp):
                metrics = self.task.evaluate(self.model)
            self.model.train()
            if self.cfg.train.metric not in metrics:
                raise ConfigError(
                    f"train.metric '{self.cfg.train.metric}' is not reported by the {self.cfg.task} task; "
                    f"it reports: {', '.join(sorted(metrics))}"
                )
        if self.dist.enabled:
            box = [metrics]
            dist.broadcast_object_list(box, src=0)
            metrics = box[0]
        return metrics

    def _eval_and_save(self) -> bool:
        """Evaluate, checkpoint, apply plateau and early stopping; True to stop training."""
        tc = self.cfg.train
        metrics = self.evaluate()
        value = metrics[tc.metric]
        better = (lambda a, b: a < b) if self.mode == "min" else (lambda a, b: a > b)
        improved = self.best is None or (math.isfinite(value) and better(value, self.best))
        if improved:
            self.best = value
            self.bad_evals = 0
        else:
            self.bad_evals += 1
        lowered = self.schedule.on_eval(improved)
        self.schedule.apply(self.optimizer, self.step, self.epoch)
        self._log({"kind": "valid", "step": self.step, "epoch": self.epoch, **metrics, "best": self.best})
        self.save(improved)
        if self.dist.main:
            note = " (best)" if improved else (" (lr lowered)" if lowered else "")
            shown = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
            self._print(f"step {self.step} epoch {self.epoch}: {shown}{note}")
        return tc.patience > 0 and self.bad_evals >= tc.patience

    def _print(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text)

    def _loader(self, batches: list[list[int]], epoch: int) -> DataLoader:
        tc = self.cfg.train
        # A private generator keeps the loader from drawing on the global RNG, so dropout masks
        # after a resume are the ones an uninterrupted run would have drawn.
        gen = torch.Generator().manual_seed(tc.seed * 100_003 + epoch)
        return DataLoader(
            self.task.dataset(),
            batch_sampler=batches,
            collate_fn=self.task.collate,
            num_workers=tc.num_workers,
            pin_memory=self.device.type == "cuda",
            generator=gen,
            persistent_workers=False,
        )

    def fit(self) -> dict[str, Any]:
        """Train until the epochs, max_steps or patience run out. Returns a summary."""
        from tqdm import tqdm

        tc = self.cfg.train
        self.out_dir.mkdir(parents=True, exist_ok=True)
        model = self.ddp or self.model
        model.train()
        self.schedule.apply(self.optimizer, self.step, self.epoch)
        started = time.perf_counter()
        counted = [0.0, started]
        self._last_norm = torch.zeros(())
        stop = False
        micro = 0
        bar = None
        if tc.progress and self.dist.main:
            # One bar per epoch, in batches, so it shows the epoch's ETA; hidden when stderr is not
            # a terminal (a log file gets the evaluation lines instead of carriage-return noise).
            bar = tqdm(unit="batch", dynamic_ncols=True, disable=None)
        while not stop and self.epoch < tc.epochs:
            batches = self._shard(self.task.train_batches(self.epoch))
            if bar is not None:
                bar.reset(total=len(batches))
                bar.update(self.batch_index)
                bar.set_description(f"epoch {self.epoch + 1}/{tc.epochs}")
            for batch in self._loader(batches[self.batch_index :], self.epoch):
                batch = to_device(batch, self.device)
                pieces = self.task.chunks(batch, tc.tbptt) if tc.tbptt > 0 else [batch]
                state = None
                for piece in pieces:
                    micro += 1
                    sync = micro % tc.accum_steps == 0
                    ctx = model.no_sync() if (self.ddp is not None and not sync) else contextlib.nullcontext()
                    with ctx:
                        with autocast(self.device, tc.amp):
                            out = self.task.loss(model, piece, state)
                        mean = out.loss.float() / out.count.clamp(min=1)
                        (mean / tc.accum_steps).backward()
                    state = detach_state(out.state)
                    self._loss_sum += out.loss.detach().float()
                    self._count += out.count.detach().float()
                    if sync:
                        self._update()
                        if self.step % tc.log_every == 0:
                            self._report(bar, started, counted)
                self.batch_index += 1
                if bar is not None:
                    bar.update(1)
                if micro % tc.accum_steps == 0:
                    if tc.eval_every > 0 and self.step >= self.next_eval:
                        self.next_eval = self.step + tc.eval_every
                        stop = self._eval_and_save()
                    if tc.max_steps and self.step >= tc.max_steps:
                        # Checked at batch ends (a TBPTT batch takes several steps), so the data
                        # position stays a whole batch; evaluate and save so the run can resume.
                        stop = True
                        if self.next_eval - tc.eval_every != self.step or tc.eval_every == 0:
                            self._eval_and_save()
                if stop:
                    break
            if stop:
                break
            if micro % tc.accum_steps != 0:  # leftover accumulated gradient at the epoch's end
                self._update()
                micro = 0
            self.epoch += 1
            self.batch_index = 0
            if tc.eval_every == 0:
                stop = self._eval_and_save()
        if bar is not None:
            bar.close()
        if self._count.item() > 0:
            self._report(None, started, counted)
        self._check_nonfinite()
        return self._finish(time.perf_counter() - started)

    def _finish(self, seconds: float) -> dict[str, Any]:
        summary: dict[str, Any] = {"steps": self.step, "epochs": self.epoch, "best": self.best, "seconds": seconds}
        if not self.dist.main:
            return summary
        if self._writer is not None:
            self._writer.close()
        from seq2seq.plots import plot_training

        outputs = {"loss curve": str(plot_training(self.out_dir / "metrics.jsonl", self.out_dir / "loss.png"))}
        best = self.out_dir / "best.pt"
        if best.exists():
            outputs["best checkpoint"] = str(best)
            model = build_model(self.cfg.model).to(self.device)
            model.load_state_dict(ckpt_io.load(best, self.device)["model"])
            model.eval()
            outputs.update(self.task.after_training(model, str(self.out_dir)))
        summary["outputs"] = outputs
        (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        return summary
