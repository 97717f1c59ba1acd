"""The ``seq2seq`` command line: core sub-commands here, recipe sub-commands registered by the
recipe packages (``COMMAND_MODULES``), each module exposing ``register(subparsers)``.

Errors a user can fix (bad config, bad input file, wrong checkpoint) print one line,
``seq2seq: error: ...``, and exit with status 2; nothing else is printed for them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from seq2seq.config import ConfigError

# Recipe packages that add sub-commands (translate, label, generate, ...).
COMMAND_MODULES: list[str] = ["seq2seq.music.cli", "seq2seq.video.cli", "seq2seq.translation.cli"]


class UserError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from seq2seq.checkpoint import CheckpointError
    from seq2seq.train import TrainingError

    errors: list[type[BaseException]] = [UserError, ConfigError, CheckpointError, TrainingError]
    for name in COMMAND_MODULES:
        errors.extend(getattr(importlib.import_module(name), "USER_ERRORS", ()))
    return tuple(errors)


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu, cuda or cuda:N")


# -- core commands ---------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from seq2seq.config import load_config
    from seq2seq.train import Trainer

    overrides = list(args.set or [])
    if args.device:
        overrides.append(f"train.device={args.device}")
    if args.out:
        overrides.append(f"train.out_dir={args.out}")
    cfg = load_config(args.recipe, overrides)
    resume: str | bool | None = None
    if args.resume is not None:
        resume = True if args.resume == "latest" else args.resume
    summary = Trainer(cfg, resume=resume).fit()
    if "outputs" in summary:
        print(json.dumps(summary, indent=2))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Each recipe module may define ``evaluate(args) -> int | None``: it returns None when the
    arguments are not for it (another task's checkpoint, other options); the first that handles
    them wins. Otherwise the checkpoint's task scores its own validation data."""
    from seq2seq.inference import load_model

    for name in COMMAND_MODULES:
        handler = getattr(importlib.import_module(name), "evaluate", None)
        if handler is not None and (rc := handler(args)) is not None:
            return rc
    if not args.model:
        raise UserError("evaluate: give a checkpoint with -m (or --hyp and --ref to score translations)")
    loaded = load_model(args.model, args.device)
    metrics = loaded.task.evaluate(loaded.model)
    print(json.dumps(metrics, indent=2))
    return 0


def cmd_average(args: argparse.Namespace) -> int:
    from seq2seq import checkpoint as ckpt_io

    paths = [Path(p) for p in args.checkpoints]
    if args.last:
        if len(paths) != 1 or not paths[0].is_dir():
            raise UserError("average --last N takes one run folder")
        found = ckpt_io.step_checkpoints(paths[0])
        if len(found) < args.last:
            raise UserError(f"{paths[0]}: {len(found)} step checkpoints, fewer than --last {args.last}")
        paths = found[-args.last :]
    averaged = ckpt_io.average(paths)
    ckpt_io.save(args.output, averaged)
    print(f"averaged {len(paths)} checkpoints into {args.output}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from seq2seq import checkpoint as ckpt_io

    ckpt = ckpt_io.load(args.model)
    params = sum(v.numel() for v in ckpt["model"].values())
    info = {
        "task": ckpt["task"],
        "kind": ckpt["kind"],
        "parameters": params,
        "progress": ckpt.get("progress"),
        "config": ckpt["config"],
    }
    print(json.dumps(info, indent=2))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from seq2seq.demo import run_demos

    return run_demos(Path(args.out), args.only, args.device)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seq2seq",
        description="Recurrent sequence models: train recipes, translate, label video, generate music.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a recipe (a TOML file)")
    p.add_argument("recipe", help="recipe file, e.g. recipes/translation/multi30k_en_de.toml")
    p.add_argument(
        "--set", action="extend", nargs="+", metavar="SECTION.KEY=VALUE", help="override recipe values (repeatable)"
    )
    p.add_argument("--out", help="run folder (train.out_dir)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (train.device)")
    p.add_argument(
        "--resume", nargs="?", const="latest", help="continue a run: its latest checkpoint, or the one given"
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score a checkpoint (or outputs) on data")
    p.add_argument("-m", "--model", help="checkpoint file")
    p.add_argument("--data", help="data to evaluate on (a file or folder, as the task reads it)")
    p.add_argument("--split", default=None, help="which split of the data (e.g. valid, test)")
    add_device(p)
    p.set_defaults(func=cmd_evaluate)
    evaluate_parser = p

    p = sub.add_parser("average", help="average the weights of checkpoints (e.g. the last N of a run)")
    p.add_argument("checkpoints", nargs="+", help="checkpoint files, or one run folder with --last")
    p.add_argument("--last", type=int, default=0, help="the newest N step checkpoints of the run folder")
    p.add_argument("-o", "--output", required=True, help="where to write the averaged checkpoint")
    p.set_defaults(func=cmd_average)

    p = sub.add_parser("info", help="print a checkpoint's task, model and config")
    p.add_argument("-m", "--model", required=True)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="run the demos end to end on embedded data (offline, CPU)")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--only", action="append", help="run only these demos (repeatable): video, translation, music, toy")
    add_device(p)
    p.set_defaults(func=cmd_demo)

    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
        if hasattr(module, "evaluate_args"):
            module.evaluate_args(evaluate_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except _user_errors() as e:
        print(f"seq2seq: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seq2seq: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout's reader left (`... | head`): no traceback; the interpreter must not flush into
        # the closed pipe again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a command killed by it


if __name__ == "__main__":
    sys.exit(main())
