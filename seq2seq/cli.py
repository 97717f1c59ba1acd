"""The ``seq2seq`` command line: the core sub-commands here, each recipe's own sub-commands and
handlers in its command module (``registry.COMMANDS``; see ``seq2seq.commands``).

Errors a user can fix (bad config, bad input file, wrong checkpoint, a full disk or a folder it
may not write) print one line, ``seq2seq: error: ...``, and exit with status 2; nothing else is
printed for them. SIGTERM and SIGHUP stop a command as Ctrl-C does.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import threading
from pathlib import Path
from types import ModuleType

from seq2seq import records
from seq2seq.commands import DefaultsFormatter, Handler, add_device, writable_file, writable_folder
from seq2seq.errors import USER_ERRORS, UserError
from seq2seq.registry import COMMANDS


class _Once(argparse.Action):
    """-m given twice is an error, not a silent choice of the last (an ensemble is -m A B)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} given twice; several checkpoints go after one -m (translate: -m A B)")
        setattr(namespace, self.dest, values)


def command_modules() -> dict[str, ModuleType]:
    return {task: importlib.import_module(name) for task, name in COMMANDS.items()}


# -- train -----------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from seq2seq.config import differences
    from seq2seq.registry import load_config
    from seq2seq.trainer import Trainer, latest_checkpoint

    overrides = list(args.set or [])
    if args.device:
        overrides.append(f"train.device={args.device}")
    cfg = load_config(args.recipe, [*overrides, *([f"train.out_dir={args.out}"] if args.out else [])])
    writable_folder(cfg.train.out_dir, "--out")  # before any data is read
    if args.resume is None:
        summary = Trainer.from_config(cfg).fit()
    else:
        path = latest_checkpoint(Path(cfg.train.out_dir)) if args.resume == "latest" else Path(args.resume)
        if args.out and args.resume != "latest":
            overrides.append(f"train.out_dir={args.out}")
        trainer = Trainer.resume(path, overrides, task=cfg.task)
        ignored = [k for k, _, _ in differences(trainer.task.cfg, cfg) if k not in ("train.out_dir", "train.device")]
        if ignored:
            print(f"note: the run continues as it was configured; {args.recipe} now differs from it in "
                  f"{', '.join(ignored)}, which only a new run takes", file=sys.stderr)  # fmt: skip
        summary = trainer.fit()
    if "outputs" in summary:
        print(records.dumps(summary, indent=2))
    return 0


# -- evaluate and generate: one handler, chosen by the checkpoint's task -----------------------
def default_evaluate() -> Handler:
    """A task without its own handler: the validation metrics of a split, as JSON."""

    def arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--split", default="valid", help="which split of the checkpoint's data (default valid)")

    def run(args: argparse.Namespace) -> int:
        from seq2seq.inference import load_model
        from seq2seq.trainer import validate

        loaded = load_model(args.model, args.device)
        result = validate(loaded.task, loaded.model, loaded.device, loaded.cfg.train.amp, args.split)
        print(records.dumps(result.metrics, indent=2))
        return 0

    return Handler(arguments, run)


def _dispatch(command: str, args: argparse.Namespace, extra: list[str]) -> tuple[Handler, str]:
    """The one handler of ``command`` for these arguments, and what it is for (shown in --help)."""
    from seq2seq.checkpoint import checkpoint_task

    modules = command_modules()
    if args.model:
        task = checkpoint_task(args.model)
        handler = getattr(modules.get(task), command.upper(), None)
        if handler is None and command == "evaluate":
            handler = default_evaluate()
        if handler is None:
            served = ", ".join(t for t, m in modules.items() if hasattr(m, command.upper()))
            raise UserError(f"{args.model}: a '{task}' checkpoint; {command} works with {served} checkpoints")
        return handler, f"a '{task}' checkpoint"
    if command == "evaluate":
        flags = {a.split("=", 1)[0] for a in extra}
        for task, module in modules.items():
            for flag, handler in getattr(module, "EVALUATE_FILES", {}).items():
                if flag in flags:
                    return handler, f"{task}: {flag}"
    return None, ""


def cmd_dispatched(args: argparse.Namespace, extra: list[str]) -> int:
    """``evaluate`` and ``generate``: parse the rest of the command line with the chosen handler's
    flags alone, then run it."""
    command = args.command
    handler, what = _dispatch(command, args, extra)
    p = argparse.ArgumentParser(
        prog=f"seq2seq {command}",
        description=handler.description if handler else None,
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("-m", "--model", help="checkpoint file")
    add_device(p)
    if handler is None:
        p.epilog = (
            f"The options depend on the task of the checkpoint: `seq2seq {command} -m CKPT --help` lists its own."
        )
        _all_flags(p, command)
        if args.help:
            p.print_help()
            return 0
        needs = "give a checkpoint with -m" + (", or files to score (see --help)" if command == "evaluate" else "")
        raise UserError(f"{command}: {needs}")
    handler.arguments(p)
    if args.help:
        p.description = f"{p.description or ''} (options for {what})".strip()
        p.print_help()
        return 0
    full, unknown = p.parse_known_args([*(["-m", args.model] if args.model else []), "--device", args.device, *extra])
    if unknown:
        flags = [a.split("=", 1)[0] for a in unknown if a.startswith("-")] or unknown
        owners = _flag_owners(command, flags[0])
        elsewhere = f"; {flags[0]} is for {' and '.join(owners)}" if owners else ""
        raise UserError(f"{command} for {what} takes no {' '.join(flags)}{elsewhere} "
                        f"(its options: seq2seq {command} -m CKPT --help)")  # fmt: skip
    return handler.run(full)


def _flag_owners(command: str, flag: str) -> list[str]:
    """The tasks whose ``command`` handlers take ``flag`` (for a message about a misplaced flag)."""
    owners = []
    for task, module in command_modules().items():
        handlers = [getattr(module, command.upper(), None), *getattr(module, f"{command.upper()}_FILES", {}).values()]
        for handler in filter(None, handlers):
            scratch = argparse.ArgumentParser(add_help=False)
            handler.arguments(scratch)
            if flag in scratch._option_string_actions:
                owners.append(f"{task} checkpoints")
                break
    return owners


def _all_flags(p: argparse.ArgumentParser, command: str) -> None:
    """For --help without a checkpoint: every task's flags, one group per task (a flag that
    several tasks take is shown with the first)."""
    seen: set[str] = {"-h", "--help", "-m", "--model", "--device"}
    for task, module in command_modules().items():
        handlers = [getattr(module, command.upper(), None), *getattr(module, f"{command.upper()}_FILES", {}).values()]
        if not any(handlers):
            continue
        group = p.add_argument_group(f"{task} checkpoints and files")
        for handler in filter(None, handlers):
            scratch = argparse.ArgumentParser(add_help=False)
            handler.arguments(scratch)
            for action in scratch._actions:
                if not set(action.option_strings) & seen:
                    action.required = False  # shown for all tasks at once: each is required only by its own
                    group._add_action(action)
                    seen |= set(action.option_strings)


# -- small core commands ---------------------------------------------------------------------
def cmd_average(args: argparse.Namespace) -> int:
    from seq2seq import checkpoint as ckpt_io

    writable_file(args.output, "-o")
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


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def cmd_info(args: argparse.Namespace) -> int:
    """What a checkpoint holds, readably: the task and model, what it needs and knows, its training
    and validation figures, and what makes up the file's size (--json: the raw data)."""
    import torch

    from seq2seq import checkpoint as ckpt_io
    from seq2seq.inference import load_model

    ckpt = ckpt_io.load(args.model)
    if args.json:
        info = {k: ckpt.get(k) for k in ("task", "kind", "dims", "progress", "config", "selected", "averaged")}
        info["parameters"] = sum(v.numel() for v in ckpt["model"].values())
        print(records.dumps(info, indent=2))
        return 0

    def tensor_bytes(obj) -> int:
        if isinstance(obj, torch.Tensor):
            return obj.numel() * obj.element_size()
        if isinstance(obj, dict):
            return sum(tensor_bytes(v) for v in obj.values())
        if isinstance(obj, (list, tuple)):
            return sum(tensor_bytes(v) for v in obj)
        return 0

    loaded = load_model(args.model, "cpu")
    m, params = loaded.cfg.model, sum(v.numel() for v in ckpt["model"].values())
    rows = {
        "task": f"{ckpt['task']} ({ckpt['kind']})",
        "model": f"{m.cell} {m.layers}x{m.hidden_size}"
        + (" bidirectional" if m.bidirectional and m.kind not in ("language_model", "captioner") else "")
        + f", embeddings {m.embed_dim}, {params:,} parameters",  # fmt: skip
        "sizes": ", ".join(f"{k} {v}" for k, v in ckpt["dims"].items() if v not in (0, "softmax")),
        **loaded.task.describe(),
    }
    p = ckpt.get("progress") or {}
    if p:
        best = p.get("best")
        shown = f"{best:.4g}" if isinstance(best, float) else str(best)
        rows["trained"] = (f"{p.get('step')} steps, {p.get('epoch')} epochs, {p.get('seconds', 0):.0f} s; best "
                           f"{loaded.cfg.train.metric} {shown}")  # fmt: skip
        if p.get("metrics"):
            rows["validation"] = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in p["metrics"].items())  # fmt: skip
    if "averaged" in ckpt:
        rows["averaged"] = f"the weights of {len(ckpt['averaged'])} checkpoints"
    if "selected" in ckpt:
        best = max(ckpt["selected"]["grid"], key=lambda g: g["bleu"])
        rows["selected"] = (
            f"on {ckpt['selected']['on'][0]}: length penalty {best['length_penalty']}, BLEU {best['bleu']:.2f}"
        )
    parts = {"model": tensor_bytes(ckpt["model"]), "optimizer": tensor_bytes(ckpt.get("optimizer")),
             "task state": tensor_bytes(ckpt.get("task_state"))}  # fmt: skip
    size = Path(args.model).stat().st_size
    rows["file"] = f"{_megabytes(size)}: " + ", ".join(f"{k} {_megabytes(v)}" for k, v in parts.items() if v)
    width = max(len(k) for k in rows)
    for key, value in rows.items():
        print(f"{key:<{width}}  {value}")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    """Every config key with its default and meaning (what docs/core.md shows)."""
    from seq2seq.config import SECTION_CLASSES, markdown_table
    from seq2seq.registry import TASKS, task_class

    tasks = [args.task] if args.task else sorted(TASKS)
    if args.task and args.task not in TASKS:
        raise UserError(f"keys: unknown task '{args.task}'; known tasks: {', '.join(sorted(TASKS))}")
    parts = [f"## [{name}]\n\n{markdown_table(cls)}" for name, cls in SECTION_CLASSES.items()]
    for task in tasks:
        parts.append(f'## [data] of task = "{task}"\n\n{markdown_table(task_class(task).Data)}')
    print("\n".join(parts), end="")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from seq2seq.demo import run_demos

    return run_demos(Path(args.out), args.only, args.device)


def build_parser() -> argparse.ArgumentParser:
    from seq2seq import __version__

    parser = argparse.ArgumentParser(
        prog="seq2seq",
        description="Recurrent sequence models: train recipes, translate, label video, generate music and text.",
    )
    parser.add_argument("--version", action="version", version=f"seq2seq {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a recipe (a TOML file or a shipped recipe's name)")
    p.add_argument("recipe", help="recipe file, or a shipped recipe such as translation/multi30k_en_de")
    p.add_argument(
        "--set", action="extend", nargs="+", metavar="SECTION.KEY=VALUE", help="override recipe values (repeatable)"
    )
    p.add_argument("--out", help="run folder (train.out_dir)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (train.device)")
    p.add_argument(
        "--resume", nargs="?", const="latest", help="continue a run as it was configured: its latest checkpoint, "
        "or the one given; --set may then change only how long it runs and how it is watched",
    )  # fmt: skip
    p.set_defaults(func=cmd_train)

    for name, what in (("evaluate", "score a checkpoint on data, or score output files"),
                       ("generate", "continue a primer with a music or text checkpoint")):  # fmt: skip
        p = sub.add_parser(name, help=what, add_help=False)
        p.add_argument("-m", "--model", action=_Once, help="checkpoint file; its task decides the other options")
        p.add_argument("-h", "--help", action="store_true", help="show the options (of the checkpoint's task)")
        add_device(p)
        p.set_defaults(func=cmd_dispatched, extra=True)

    p = sub.add_parser("average", help="average the weights of checkpoints (e.g. the last N of a run)")
    p.add_argument("checkpoints", nargs="+", help="checkpoint files, or one run folder with --last")
    p.add_argument("--last", type=int, default=0, help="the newest N step checkpoints of the run folder")
    p.add_argument("-o", "--output", required=True, help="where to write the averaged checkpoint")
    p.set_defaults(func=cmd_average)

    p = sub.add_parser("info", help="what a checkpoint holds: task, model, labels or vocabulary, figures, size")
    p.add_argument("-m", "--model", required=True, help="checkpoint file")
    p.add_argument("--json", action="store_true", help="the raw task, sizes, progress and config as JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("keys", help="list every recipe key with its default and meaning")
    p.add_argument("task", nargs="?", help="only this task's [data] keys (default: every task's)")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("demo", help="run the demos end to end on embedded data (offline, CPU)")
    p.add_argument("--out", default="runs/demo", help="where the demos write their runs and outputs")
    p.add_argument(
        "--only",
        action="append",
        help="run only these demos (repeatable): video, translation, music, text, classify, caption, vqa, toy",
    )
    add_device(p)
    p.set_defaults(func=cmd_demo)

    for module in command_modules().values():
        if hasattr(module, "register"):
            module.register(sub)
    for action in sub._name_parser_map.values():
        action.set_defaults(parser=action)
        action.formatter_class = DefaultsFormatter
    return parser


# Write failures that are the user's to fix (a full disk, a read-only or foreign folder, a path
# that is a folder): one line naming the file, not a traceback.
WRITE_ERRORS = {
    errno.ENOSPC: "free some space, or write elsewhere",
    errno.EDQUOT: "free some space, or write elsewhere",
    errno.EROFS: "write to a folder that is not read-only (--out / -o)",
    errno.EACCES: "write to a folder you may write (--out / -o)",
    errno.EPERM: "write to a folder you may write (--out / -o)",
    errno.EISDIR: "give a file name, not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
}


def _interrupt(signum: int, frame) -> None:
    """SIGTERM and SIGHUP end a command the way Ctrl-C does: what it writes is cleaned up (no
    half-written file under a final name), and what it keeps on Ctrl-C it keeps."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        handlers = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        if getattr(args, "extra", False):
            return args.func(args, extra)
        if extra:
            args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return args.func(args)
    except USER_ERRORS as e:
        print(f"seq2seq: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        if isinstance(e, BrokenPipeError):
            # stdout's reader left (`... | head`): no traceback; the interpreter must not flush into
            # the closed pipe again at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141  # 128 + SIGPIPE, as a shell reports a command killed by it
        if e.errno not in WRITE_ERRORS:
            raise
        where = e.filename or "an output file"
        print(f"seq2seq: error: {where}: {e.strerror} ({errno.errorcode[e.errno]}); {WRITE_ERRORS[e.errno]}",
              file=sys.stderr)  # fmt: skip
        return 2
    except KeyboardInterrupt as e:
        name = str(e) if str(e).startswith("SIG") else "SIGINT"
        print(f"seq2seq: interrupted ({name})", file=sys.stderr)
        return 128 + signal.Signals[name].value
    finally:
        for sig, previous in handlers.items():
            signal.signal(sig, previous)


if __name__ == "__main__":
    sys.exit(main())
