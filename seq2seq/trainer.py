"""The one training loop and the one validation loop, shared by every recipe.

    trainer = Trainer.from_config(cfg)          # task, prepare() -> dims, build_model, optimizer
    summary = trainer.fit()                     # trains, validates, checkpoints; returns a summary
    Trainer.resume("runs/x", ["train.epochs=20"]).fit()   # continue a run as it was configured

What it does, in order of a step (``train_step``): optionally split the batch along time for
truncated BPTT, carrying the detached state; loss under bf16 autocast on CUDA; backward
(accumulated over ``accum_steps``); clip the global L2 norm; step the optimizer unless the
gradient was not finite (decided on the device, no host sync); set the learning rate. Losses are
summed on the device and read once every ``log_every`` steps. Validation (``validate``: the
task's batches of its validation split, the summed loss, then the task's own scores), best /
last-N checkpoints (written atomically), the plateau rule and early stopping happen at
``eval_every`` steps or each epoch. Under torchrun each process takes every world-th batch and DDP
averages the gradients.
"""

from __future__ import annotations

import contextlib
import copy
import math
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader

from seq2seq import checkpoint as ckpt_io
from seq2seq import records
from seq2seq.config import Config, ConfigError, TrainConfig, differences, override, to_dict
from seq2seq.errors import TrainingError
from seq2seq.nn.models import build_model
from seq2seq.optim import LRSchedule, build_optimizer
from seq2seq.registry import check, from_dict, make_task
from seq2seq.runtime import autocast, init_distributed, resolve_device, seed_everything
from seq2seq.task import Batch, Task

# Keys a resumed run may change: how long it goes on and how it is watched, never what it trains.
RESUMABLE = frozenset(
    f"train.{k}"
    for k in ("epochs", "max_steps", "patience", "device", "progress", "log_every", "log_examples", "num_workers",
              "keep_last", "max_nonfinite", "out_dir")
)  # fmt: skip


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


@dataclass
class Validation:
    """The metrics of one validation pass and the number of items (tokens, frames) it scored."""

    metrics: dict[str, float]
    items: int


@torch.no_grad()
def validate(task: Task, model: nn.Module, device: torch.device, amp: str = "off", split: str = "valid") -> Validation:
    """The one validation loop: the summed loss over the task's batches of ``split`` (each batch
    in ``task.eval_chunk`` chunks with the state carried, if the task sets it), divided by their
    items, then the task's own scores. The model is in eval mode throughout."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=device, dtype=torch.float64)
    count = torch.zeros((), device=device, dtype=torch.float64)
    try:
        with autocast(device, amp):
            for batch in task.valid_batches(split):
                batch = to_device(batch, device)
                state = None
                for piece in task.chunks(batch, task.eval_chunk) if task.eval_chunk > 0 else [batch]:
                    out = task.loss(model, piece, state)
                    total += out.loss.double()
                    count += out.count.double()
                    state = out.state
            items = float(count)
            loss = float(total) / max(items, 1.0)
            metrics = {"loss": loss, **task.scores(model, split, loss)}
    finally:
        model.train(was_training)
    return Validation(metrics, int(round(items)))


def latest_checkpoint(folder: Path) -> Path:
    existing = ckpt_io.step_checkpoints(folder)
    if not existing:
        raise TrainingError(f"--resume: no step-*.pt checkpoint in {folder} to resume from")
    return existing[-1]


def resume_config(saved: Config, overrides: Sequence[str], where: str) -> Config:
    """The run's own config with ``overrides`` applied, each change printed. An override that
    changes a key outside ``RESUMABLE`` is refused (it would change what the run trains); one that
    repeats the run's own value changes nothing and is accepted."""
    cfg = override(saved, overrides)
    changed = differences(saved, cfg)
    refused = [(name, old) for name, old, _ in changed if name not in RESUMABLE]
    if refused:
        name, old = refused[0]
        raise ConfigError(
            f"--resume: {name} cannot change when a run continues (it changes what the run trains); the run "
            f"keeps {name} = {old!r}. Start a new run (--out) to change it; on resume only "
            f"{', '.join(sorted(RESUMABLE))} may change"
        )
    for name, old, new in changed:
        print(f"resume {where}: {name} = {new!r} (the run had {old!r})")
    return cfg


class Trainer:
    """Trains ``model`` on ``task`` with the loop's settings ``cfg``. Build one with
    ``from_config`` (a new run) or ``resume`` (a run that stopped)."""

    def __init__(self, cfg: TrainConfig, task: Task, model: nn.Module, checkpoint: dict[str, Any] | None = None):
        self.cfg = tc = cfg
        self.task = task
        self.dist = init_distributed()
        self.device = resolve_device(tc.device, self.dist.local_rank)
        self.out_dir = Path(tc.out_dir)
        self._lock = None
        if self.dist.main:
            # One run writes a folder at a time; a second gets an error naming the first's process.
            self._lock = ckpt_io.lock_run(self.out_dir)
            ckpt_io.sweep_temp_files(self.out_dir)  # a writer killed mid-checkpoint left its temporary file
            if checkpoint is None and (existing := ckpt_io.step_checkpoints(self.out_dir)):
                self.release()
                raise TrainingError(
                    f"{self.out_dir} already holds checkpoints ({existing[-1].name}); pass --resume to "
                    f"continue that run, or --out (train.out_dir) for a new one"
                )
        self.model = model.to(self.device)
        self.optimizer = build_optimizer(self.model, tc, self.device)
        self.steps_per_epoch = max(1, len(self._shard(self.task.train_batches(0))) // max(1, tc.accum_steps))
        # With truncated BPTT a batch takes several steps; set train.decay_steps for a decay then.
        total = tc.max_steps or self.steps_per_epoch * tc.epochs
        self.schedule = LRSchedule(tc, total)
        self.step = self.epoch = self.batch_index = 0
        self.best: float | None = None
        self.bad_evals = 0
        self.next_eval = tc.eval_every
        self.seconds_before = 0.0  # training time of the sittings before this one (resumed runs)
        self.last_metrics: dict[str, float] = {}
        self.saved_step = -1  # the step of the newest step checkpoint
        self._purge_step: int | None = None
        if checkpoint is not None:
            self._restore(checkpoint)
            self.saved_step = self.step
            if self.dist.main:
                # What a killed run logged past its checkpoint is logged again by this one.
                records.truncate(self.out_dir / "metrics.jsonl", self.step)
                self._purge_step = self.step + 1
        self.ddp = None
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        if tc.metric not in self.task.metrics:
            raise ConfigError(f"train.metric '{tc.metric}' is not a metric of the {task.name} task; it reports "
                              f"{', '.join(task.metrics)}")  # fmt: skip
        self.mode = self.task.metrics[tc.metric]
        # Device-side counters read only at logging time.
        self._loss_sum = torch.zeros((), device=self.device)
        self._count = torch.zeros((), device=self.device)
        self._nonfinite_run = torch.zeros((), device=self.device, dtype=torch.long)
        self._nonfinite_total = torch.zeros((), device=self.device, dtype=torch.long)
        self._last_norm = torch.zeros(())
        self._skipped_reported = 0
        self._micro = 0  # batches (or TBPTT chunks) since the run began, for gradient accumulation
        self._writer = None
        self._bar = None
        self._started = self._logged_at = time.perf_counter()

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def from_config(cls, cfg: Config) -> Trainer:
        """A new run: the one-way flow config -> task -> prepare() -> dims -> model -> Trainer. A
        config built in Python is checked against its task first, as ``load_config`` checks a
        recipe."""
        check(cfg)
        seed_everything(cfg.train.seed)
        task = make_task(cfg)
        dims = task.prepare()
        return cls(cfg.train, task, build_model(cfg.model, dims))

    @classmethod
    def resume(cls, run: str | Path, overrides: Sequence[str] = (), task: str | None = None) -> Trainer:
        """Continue a run from ``run`` (a run folder: its newest step checkpoint; or a checkpoint
        file) exactly as it was configured; ``overrides`` may change only ``RESUMABLE`` keys. The
        run folder is the checkpoint's unless ``train.out_dir`` is overridden. ``task``: refuse a
        checkpoint of another task (before any data is read)."""
        run = Path(run)
        path = latest_checkpoint(run) if run.is_dir() else run
        try:
            ckpt = ckpt_io.load(path)
        except ckpt_io.CheckpointError as e:
            older = [p for p in ckpt_io.step_checkpoints(path.parent) if p != path and p.name < path.name]
            if not older:
                raise
            raise ckpt_io.CheckpointError(
                f"{e}. {path.parent} also holds {', '.join(p.name for p in older)}: continue from the newest of "
                f"them with --resume {older[-1]}"
            ) from None
        if "optimizer" not in ckpt:
            raise ckpt_io.CheckpointError(f"{path}: holds no training state (an averaged or selected checkpoint?)")
        if task is not None and ckpt.get("task") != task:
            raise ckpt_io.CheckpointError(f"{path}: a '{ckpt.get('task')}' checkpoint cannot resume a '{task}' recipe")
        saved = from_dict(ckpt["config"], str(path))
        overrides = [f"train.out_dir={path.parent}", *overrides]
        cfg = resume_config(saved, overrides, str(path))
        seed_everything(cfg.train.seed)
        task = make_task(cfg)
        dims = task.prepare(restored=ckpt.get("task_state", {}))
        if dims.as_dict() != ckpt["dims"]:
            raise ckpt_io.CheckpointError(
                f"{path}: the data now gives a model of sizes {dims.as_dict()}, the run was trained with "
                f"{ckpt['dims']}; resume on the data the run began with"
            )
        return cls(cfg.train, task, build_model(cfg.model, dims), checkpoint=ckpt)

    def _restore(self, ckpt: dict[str, Any]) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.schedule.load_state_dict(ckpt["schedule"])
        p = ckpt["progress"]
        self.step, self.epoch, self.batch_index = p["step"], p["epoch"], p["batch"]
        self.best, self.bad_evals, self.next_eval = p["best"], p["bad_evals"], p["next_eval"]
        self.seconds_before = float(p.get("seconds", 0.0))
        self.last_metrics = dict(p.get("metrics") or {})
        ckpt_io.set_rng_state(ckpt["rng"])

    def release(self) -> None:
        """Unlock the run folder (done at the end of ``fit``; a process that ends unlocks it too)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

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

            # purge_step: a resumed run drops the events a killed run wrote past its checkpoint
            self._writer = SummaryWriter(str(self.out_dir / "tensorboard"), purge_step=self._purge_step)
        return self._writer

    # -- checkpoints -------------------------------------------------------------------------
    def _payload(self) -> dict[str, Any]:
        cfg = self.task.cfg
        return {
            "task": cfg.task,
            "kind": cfg.model.kind,
            "config": to_dict(cfg),
            "dims": self.task.dims.as_dict(),
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
                "seconds": self.seconds_before + (time.perf_counter() - self._started),
                "metrics": records.finite(self.last_metrics),  # the validation that came with this checkpoint
            },
            "task_state": self.task.state(),
        }

    def save(self, improved: bool) -> Path | None:
        if not self.dist.main:
            return None
        path = self.out_dir / f"step-{self.step:08d}.pt"
        ckpt_io.save(path, self._payload())
        self.saved_step = self.step
        if improved:
            ckpt_io.atomic_write(self.out_dir / "best.pt", lambda f: f.write(path.read_bytes()))
        ckpt_io.prune(self.out_dir, self.cfg.keep_last)
        return path

    # -- logging -----------------------------------------------------------------------------
    def _log(self, record: dict[str, Any]) -> None:
        if not self.dist.main:
            return
        with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(records.dumps(record) + "\n")
        for k, v in record.items():
            if k not in ("step", "epoch", "kind") and isinstance(v, (int, float)):
                self.writer.add_scalar(f"{record['kind']}/{k}", v, self.step)

    def _log_examples(self) -> None:
        """A few example outputs of the model on the validation split, to TensorBoard (text and
        images). The torch RNG is forked, so a run with examples trains exactly like one without."""
        n = self.cfg.log_examples
        if n <= 0 or not self.dist.main:
            return
        from matplotlib.image import imread

        devices = [self.device] if self.device.type == "cuda" else []
        was_training = self.model.training
        self.model.eval()
        try:
            with tempfile.TemporaryDirectory() as tmp, torch.random.fork_rng(devices=devices), torch.no_grad():
                examples = self.task.examples(self.model, "valid", n, Path(tmp))
                for tag, text in examples.text.items():
                    self.writer.add_text(f"examples/{tag}", text, self.step)
                for tag, png in examples.images.items():
                    self.writer.add_image(f"examples/{tag}", imread(png)[..., :3], self.step, dataformats="HWC")
        finally:
            self.model.train(was_training)

    def _check_nonfinite(self) -> None:
        run, total = int(self._nonfinite_run), int(self._nonfinite_total)
        if run >= self.cfg.max_nonfinite:
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

    def _report(self) -> None:
        """Log the loss since the last report: the items (tokens, frames) it covers, their rate."""
        loss_sum, count = float(self._loss_sum), float(self._count)
        self._check_nonfinite()
        now = time.perf_counter()
        seconds = max(1e-9, now - self._logged_at)
        self._logged_at = now
        record = {
            "kind": "train",
            "step": self.step,
            "epoch": self.epoch,
            "loss": loss_sum / max(count, 1.0),
            "lr": self.optimizer.param_groups[0]["lr"],
            "grad_norm": float(self._last_norm),
            "items": count,
            "seconds": seconds,
            "items_per_s": count / seconds,
            "elapsed_s": self.seconds_before + now - self._started,
        }
        self._log(record)
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}")
        self._loss_sum.zero_()
        self._count.zero_()

    def _print(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text)

    # -- one step ----------------------------------------------------------------------------
    def _update(self) -> None:
        """Clip, skip-if-not-finite, optimizer step, learning rate: no host sync."""
        tc = self.cfg
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

    def train_step(self, batch: Batch) -> Tensor:
        """Train on one batch (already on the device), as ``fit`` does: its TBPTT chunks, forward,
        backward, and the optimizer step when ``accum_steps`` batches have accumulated. Returns the
        number of items (tokens, frames) the batch's loss covered, as a device tensor (reading it
        waits for the device)."""
        tc = self.cfg
        model = self.ddp or self.model
        pieces = self.task.chunks(batch, tc.tbptt) if tc.tbptt > 0 else [batch]
        state = None
        items = torch.zeros((), device=self.device)
        for piece in pieces:
            self._micro += 1
            sync = self._micro % tc.accum_steps == 0
            ctx = model.no_sync() if (self.ddp is not None and not sync) else contextlib.nullcontext()
            with ctx:
                with autocast(self.device, tc.amp):
                    out = self.task.loss(model, piece, state)
                mean = out.loss.float() / out.count.clamp(min=1)
                (mean / tc.accum_steps).backward()
            state = detach_state(out.state)
            self._loss_sum += out.loss.detach().float()
            self._count += out.count.detach().float()
            items += out.count.detach().float()
            if sync:
                self._update()
                if self.step % tc.log_every == 0:
                    self._report()
        return items

    # -- validation --------------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """Validation on rank 0 (``validate``); the result is shared with the other ranks."""
        metrics: dict[str, float] = {}
        if self.dist.main:
            metrics = validate(self.task, self.model, self.device, self.cfg.amp).metrics
        if self.dist.enabled:
            box = [metrics]
            dist.broadcast_object_list(box, src=0)
            metrics = box[0]
        return metrics

    def _eval_and_save(self) -> bool:
        """Evaluate, checkpoint, apply plateau and early stopping; True to stop training."""
        tc = self.cfg
        metrics = self.evaluate()
        self.last_metrics = metrics
        value = metrics[tc.metric]
        better = (lambda a, b: a < b) if self.mode == "min" else (lambda a, b: a > b)
        # A non-finite value (a diverged model) is never the best: best.pt keeps the last good one.
        improved = math.isfinite(value) and (self.best is None or better(value, self.best))
        if improved:
            self.best = value
            self.bad_evals = 0
        else:
            self.bad_evals += 1
        lowered = self.schedule.on_eval(improved)
        self.schedule.apply(self.optimizer, self.step, self.epoch)
        self._log({"kind": "valid", "step": self.step, "epoch": self.epoch, **metrics, "best": self.best})
        self._log_examples()
        self.save(improved)
        if self.dist.main:
            note = " (best)" if improved else (" (lr lowered)" if lowered else "")
            shown = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
            self._print(f"step {self.step} epoch {self.epoch}: {shown}{note}")
        return tc.patience > 0 and self.bad_evals >= tc.patience

    # -- the loop ----------------------------------------------------------------------------
    def batches(self, epoch: int, start: int = 0, order: list[list[int]] | None = None) -> Iterator[Batch]:
        """The batches of ``epoch`` from batch ``start`` on (this rank's share of ``order``, by
        default the task's ``train_batches(epoch)``), collated and on the device."""
        tc = self.cfg
        order = self._shard(self.task.train_batches(epoch)) if order is None else order
        # A private generator keeps the loader from drawing on the global RNG, so dropout masks
        # after a resume are the ones an uninterrupted run would have drawn.
        gen = torch.Generator().manual_seed(tc.seed * 100_003 + epoch)
        loader = DataLoader(
            self.task.dataset(),
            batch_sampler=order[start:],
            collate_fn=self.task.collate,
            num_workers=tc.num_workers,
            pin_memory=self.device.type == "cuda",
            generator=gen,
            persistent_workers=False,
        )
        for batch in loader:
            yield to_device(batch, self.device)

    def fit(self) -> dict[str, Any]:
        """Train until the epochs, max_steps or patience run out. Returns a summary. The run
        folder is unlocked at the end, however training ends."""
        try:
            return self._fit()
        finally:
            self.release()

    def _fit(self) -> dict[str, Any]:
        from tqdm import tqdm

        tc = self.cfg
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.ddp or self.model).train()
        self.schedule.apply(self.optimizer, self.step, self.epoch)
        self._started = self._logged_at = time.perf_counter()
        # A resumed run that already reached its budget trains no further (not one batch more).
        stop = bool(tc.max_steps and self.step >= tc.max_steps) or bool(tc.patience and self.bad_evals >= tc.patience)
        if tc.progress and self.dist.main:
            # One bar per epoch, in batches, so it shows the epoch's ETA; hidden when stderr is not
            # a terminal (a log file gets the evaluation lines instead of carriage-return noise).
            self._bar = tqdm(unit="batch", dynamic_ncols=True, disable=None)
        while not stop and self.epoch < tc.epochs:
            order = self._shard(self.task.train_batches(self.epoch))
            if self._bar is not None:
                self._bar.reset(total=len(order))
                self._bar.update(self.batch_index)
                self._bar.set_description(f"epoch {self.epoch + 1}/{tc.epochs}")
            for batch in self.batches(self.epoch, self.batch_index, order):
                self.train_step(batch)
                self.batch_index += 1
                if self._bar is not None:
                    self._bar.update(1)
                if self._micro % tc.accum_steps == 0:
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
            if self._micro % tc.accum_steps != 0:  # leftover accumulated gradient at the epoch's end
                self._update()
                self._micro = 0
            self.epoch += 1
            self.batch_index = 0
            if tc.eval_every == 0:
                stop = self._eval_and_save()
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._count.item() > 0:
            self._report()
        self._check_nonfinite()
        if self.saved_step != self.step:
            self.save(improved=False)  # the steps after the last evaluation are not lost
        return self._finish(self.seconds_before + time.perf_counter() - self._started)

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
            model = copy.deepcopy(self.model)
            model.load_state_dict(ckpt_io.load(best, self.device)["model"])
            model.eval()
            outputs.update(self.task.after_training(model, str(self.out_dir)))
        summary["outputs"] = outputs
        records.write_json(self.out_dir / "summary.json", summary)
        return summary
