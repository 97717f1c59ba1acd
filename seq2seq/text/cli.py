"""The text task's commands: ``seq2seq inspect``, and ``generate`` / ``evaluate`` for character
models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seq2seq.commands import Handler, add_device, writable_file, writable_folder
from seq2seq.errors import UserError
from seq2seq.nextstep import evaluate_handler, sampling_args
from seq2seq.text.vocab import TextDataError

TASK = "text"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="draw a character model's units over a text; find interpretable ones")
    p.add_argument("-m", "--model", required=True, help="checkpoint of a character (text) model")
    p.add_argument("--text", required=True, help="UTF-8 text file to run the model over")
    p.add_argument("--layer", type=int, default=-1, help="recurrent layer (default: the last)")
    p.add_argument("--state", default="", help="h, c (LSTM), or a gate (i f g o / r z n); default c for an "
                   "LSTM, else h")  # fmt: skip
    p.add_argument("--units", default="", help="comma-separated units to draw (default: the best per property)")
    p.add_argument("--top", type=int, default=5, help="units listed per property (default 5)")
    p.add_argument("--max-chars", type=int, default=2000, help="read at most this many characters (default 2000)")
    p.add_argument("-o", "--out", default="inspect", help="output folder (inspect.html, inspect.png, units.json)")
    add_device(p)
    p.set_defaults(func=cmd_inspect)


def generate_args(p: argparse.ArgumentParser) -> None:
    sampling_args(p, "character", "the text to continue (default: the start of the training text); '-': each "
                  "line of stdin is a primer, answered as it is typed on a terminal",
                  "sample among the k likeliest characters")  # fmt: skip
    p.add_argument("--top-p", type=float, help="nucleus sampling (default: search.top_p)")
    p.add_argument("-o", "--output", help="also write the text to this file")


def generate(args: argparse.Namespace) -> int:
    """A thin layer over ``TextModel.generate``: prints (and with -o writes) primer + continuation."""
    from seq2seq.api import TextModel
    from seq2seq.checkpoint import atomic_write
    from seq2seq.inference import load_model
    from seq2seq.translation.translate import is_terminal

    if args.steps < 1:
        raise UserError("--steps must be at least 1")
    if args.output:
        writable_file(args.output, "-o")
    model = TextModel(load_model(args.model, args.device, task=TASK, command="seq2seq generate"))
    outputs = []

    def answer(primer: str, where: str) -> None:
        model.task.vocab.check(primer, where, strict=False)
        text = model.generate(primer, args.steps, args.temperature, args.top_k, args.top_p, args.seed)
        outputs.append(primer + text)
        print(primer + text, flush=True)  # flushed: a terminal user sees each answer at once

    if args.primer == "-":
        if is_terminal(sys.stdin) and is_terminal(sys.stderr):
            print("seq2seq: continuing each line as you type it; Ctrl-D ends", file=sys.stderr)
        for number, line in enumerate(sys.stdin, start=1):
            if line.strip("\r\n"):  # an empty line has nothing to continue: skipped
                answer(line.rstrip("\r\n"), f"stdin line {number}")
    else:
        primer = args.primer if args.primer is not None else model.task.primer
        if not primer:
            raise TextDataError("the primer is empty; give at least one character")
        answer(primer, "--primer")
    if args.output:
        atomic_write(args.output, lambda f: f.write("\n\n".join(outputs).encode("utf-8")))
        print(f"wrote {args.output}")
    return 0


GENERATE = Handler(generate_args, generate, "continue a text primer with a character model")
EVALUATE = evaluate_handler(TASK, "bits per character", "characters")


# -- inspect ---------------------------------------------------------------------------------
def cmd_inspect(args: argparse.Namespace) -> int:
    from seq2seq.inference import load_model
    from seq2seq.text.inspect import inspect_units
    from seq2seq.text.vocab import read_text

    writable_folder(args.out, "-o")
    loaded = load_model(args.model, args.device, task=TASK, command="seq2seq inspect", reference=True)
    text = read_text(args.text)[: args.max_chars]
    if len(text) < 2:
        raise TextDataError(f"{args.text}: fewer than 2 characters to read")
    try:
        chosen = [int(u) for u in args.units.split(",") if u.strip()]
    except ValueError:
        raise UserError(f"--units {args.units!r}: give unit numbers, e.g. --units 3,17") from None
    report = inspect_units(loaded, text, Path(args.out), args.text, args.layer, args.state, chosen, args.top)
    for prop, ranked in report["top_units"].items():
        shown = ", ".join(f"{r['unit']} ({r['r']:+.2f})" for r in ranked) or "(constant in this text)"
        print(f"{prop:16s} {shown}")
    print(f"wrote {', '.join(report['files'])}")
    return 0
