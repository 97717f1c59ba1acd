"""What the next-step prediction tasks share (``music``: piano rolls; ``text``: characters).

A sequence x_1..x_T gives the inputs x_1..x_{T-1} and the targets x_2..x_T: each step is
predicted from all steps before it, and the metric is the negative log-likelihood of the
predicted steps, summed over a step's outputs, averaged over all predicted steps of a split (the
core's validation loss). Training reads whole sequences and, with ``train.tbptt``, cuts them into
chunks with the recurrent state carried across chunks by the Trainer; validation runs in chunks
of ``eval_chunk`` steps with the state carried, which gives the same numbers in bounded memory.

After training, ``final.pt`` is the model chosen on the validation split: ``best.pt`` or, with
``data.average_last = N``, the mean of the last N step checkpoints' weights when that scores
better; then the test split is scored once (``test_scores.json``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from torch import nn

from seq2seq.config import key
from seq2seq.records import write_json
from seq2seq.task import Batch, Task, split_time


def average_last_key():
    """The ``data.average_last`` key both next-step tasks have (see ``after_training``)."""
    return key(
        0, "> 1: final.pt is the mean of the last N step checkpoints' weights when that scores better on valid "
        "than best.pt (keep train.keep_last >= N)", min=0,
    )  # fmt: skip


def sampling_args(p, unit: str, primer: str, top_k: str) -> None:
    """The flags of ``seq2seq generate`` both next-step tasks take; ``unit`` is what a step is."""
    p.add_argument("--primer", help=primer)
    p.add_argument("--steps", type=int, default=256, help=f"{unit}s to generate (default 256)")
    p.add_argument("--temperature", type=float, help=f"0: the likeliest {unit} each step (default: the "
                   "checkpoint's search.temperature)")  # fmt: skip
    p.add_argument("--top-k", type=int, help=f"{top_k} (default: search.top_k)")
    p.add_argument("--seed", type=int, help="random seed: the same seed gives the same output")


SPLITS = ("train", "valid", "test")


class NextStepTask(Task):
    """Base of the language-model tasks: TBPTT chunks, chunked validation, the final choice."""

    kinds = ("language_model",)
    eval_chunk = 2048
    unit: ClassVar[str] = "loss"  # the metric reported in docs and logs besides the loss (nll, bpc)

    def chunks(self, batch: Batch, length: int) -> Iterator[Batch]:
        return split_time(batch, length)

    def after_training(self, model: nn.Module, out_dir: str) -> dict[str, str]:
        """Choose the final model on the validation split only, then score it on test: the best
        checkpoint, or, with ``data.average_last = N``, the mean of the last N step checkpoints'
        weights when that scores better on valid. Writes final.pt and test_scores.json."""
        from seq2seq import checkpoint as ckpt_io
        from seq2seq.trainer import validate

        out = Path(out_dir)
        device = next(model.parameters()).device
        amp = self.cfg.train.amp

        def scored(split: str) -> dict[str, Any]:
            result = validate(self, model, device, amp, split)
            return {**result.metrics, "steps": result.items}

        candidates = {"best.pt": scored("valid")}
        chosen, n = "best.pt", self.cfg.data.average_last
        steps = ckpt_io.step_checkpoints(out)[-n:] if n > 1 else []
        if len(steps) > 1:
            best_weights = {k: v.clone() for k, v in model.state_dict().items()}
            averaged = ckpt_io.average(steps)
            model.load_state_dict(averaged["model"])
            name = f"average of the last {len(steps)} checkpoints"
            candidates[name] = scored("valid")
            if candidates[name]["loss"] < candidates["best.pt"]["loss"]:
                chosen = name
                ckpt_io.save(out / "final.pt", averaged)
            else:
                model.load_state_dict(best_weights)
        if chosen == "best.pt":
            ckpt_io.atomic_write(out / "final.pt", lambda f: f.write((out / "best.pt").read_bytes()))
        scores: dict[str, Any] = {"final": chosen, "valid": candidates[chosen], "candidates": candidates}
        shown = ", ".join(f"{k} {v[self.unit]:.4f}" for k, v in candidates.items())
        line = f"final.pt = {chosen} (valid {self.unit}: {shown})"
        if self.has_split("test"):
            scores["test"] = scored("test")
            line += f"; test {self.unit} {scores['test'][self.unit]:.4f}"
        path = out / "test_scores.json"
        write_json(path, scores)
        print(line)
        return {"final checkpoint (chosen on valid)": str(out / "final.pt"), "valid and test scores": str(path)}

    def has_split(self, split: str) -> bool:
        """Whether the data has a non-empty ``split``."""
        return True


def evaluate_handler(task: str, per: str, items: str):
    """``seq2seq evaluate -m CKPT [--data PATH] [--split S]`` for a next-step task: the metric of
    each split (or one), on the checkpoint's data or on other data of the same kind."""
    import argparse
    import dataclasses

    from seq2seq.commands import Handler
    from seq2seq.errors import UserError

    def arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data", help="score this file or folder instead of the checkpoint's data (data.path)")
        p.add_argument("--split", help="one split: train, valid or test (default: all three)")

    def run(args: argparse.Namespace) -> int:
        from seq2seq.inference import load_model
        from seq2seq.registry import make_task
        from seq2seq.trainer import validate

        if args.split is not None and args.split not in SPLITS:  # one line, as every user error (not argparse's)
            raise UserError(f"--split {args.split}: use one of {', '.join(SPLITS)}")
        loaded = load_model(args.model, args.device, task=task, command="seq2seq evaluate")
        scored = loaded.task
        if args.data:
            data = dataclasses.replace(loaded.cfg.data, path=args.data)
            if hasattr(data, "format"):
                data = dataclasses.replace(data, format="auto")
            scored = make_task(dataclasses.replace(loaded.cfg, data=data))
            scored.restore(loaded.task.state(), loaded.task.dims)
        where = scored.cfg.data.path or f"the embedded {'text' if task == 'text' else 'chord corpus'}"
        unit = scored.unit
        for split in [args.split] if args.split else SPLITS:
            result = validate(scored, loaded.model, loaded.device, loaded.cfg.train.amp, split)
            print(f"{split:5s} {unit} {result.metrics[unit]:.4f} {per} ({result.items} predicted {items}; {where})")
        return 0

    return Handler(arguments, run, f"the {task} task's metric per split")
