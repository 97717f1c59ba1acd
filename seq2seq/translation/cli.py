"""The translation task's commands: ``translate``, ``select``, and its ``evaluate`` handlers
(``-m CKPT [--split S | --src X --ref Y]`` translates then scores; ``--hyp H --ref Y`` scores a
translation file, no checkpoint needed)."""

from __future__ import annotations

import argparse
import json
import sys

from seq2seq.commands import Handler, add_device, search_options, warn, writable_file
from seq2seq.translation.translator import BATCH_TOKENS, TranslateError


def add_search(p: argparse.ArgumentParser, length_penalty: bool = True) -> None:
    p.add_argument("--beam", type=int, help="beam size; 1 is greedy search (default: the checkpoint's "
                   "search.beam_size)")  # fmt: skip
    if length_penalty:
        p.add_argument("--length-penalty", type=float, help="GNMT alpha; 0: rank by log-probability (default: the "
                       "checkpoint's search.length_penalty)")  # fmt: skip
    p.add_argument("--batch-tokens", type=int, default=BATCH_TOKENS, help=f"padded source subwords per batch "
                   f"(default {BATCH_TOKENS})")  # fmt: skip
    add_amp(p)


def add_amp(p) -> None:
    p.add_argument(
        "--amp", choices=("auto", "bf16", "off"),
        help="bf16 autocast: bf16 (also on the CPU), auto (on CUDA only) or off (default: the checkpoint's train.amp)",
    )  # fmt: skip


def load(path: str, device: str, command: str):
    from seq2seq.inference import load_model

    return load_model(path, device, task="translation", command=command)


def options(loaded, args: argparse.Namespace, nbest: int | None = None, alpha: float | None = None):
    """The search: the command line's flags where given, else the checkpoint's [search]."""
    if alpha is None:
        alpha = getattr(args, "length_penalty", None)
    search = search_options(loaded.cfg.search, beam_size=args.beam, length_penalty=alpha, nbest=nbest)
    if search.nbest > search.beam_size:
        raise TranslateError(f"--nbest {search.nbest}: give 1 to the beam size ({search.beam_size})")
    return search


def translator_of(loaded, args: argparse.Namespace, quiet: bool = False):
    from seq2seq.translation.translator import Translator

    if args.batch_tokens < 1:
        raise TranslateError(f"--batch-tokens {args.batch_tokens}: give a positive number")
    amp = args.amp or loaded.cfg.train.amp
    return Translator(
        loaded.model, loaded.task.subwords, loaded.task.max_src_len, amp=amp, batch_tokens=args.batch_tokens,
        warn=None if quiet else warn,
    )  # fmt: skip


def cmd_translate(args: argparse.Namespace) -> int:
    from seq2seq.translation.translate import run

    if args.output:
        writable_file(args.output, "-o")  # before translating, not after
    if args.attention_plot:
        writable_file(args.attention_plot, "--attention-plot")
    loaded = load(args.model, args.device, "translate")
    search = options(loaded, args, args.nbest)
    run(
        translator_of(loaded, args, args.quiet), search, args.input, args.output, args.window, args.attention_plot,
        args.plot_line, False if args.no_progress else None,
    )  # fmt: skip
    return 0


def at_upper_edge(alpha: float, tried: list[float]) -> bool:
    """Whether the chosen length penalty is the largest of several tried: the optimum may then lie
    beyond the grid, so `select` says so rather than silently settle on its edge."""
    return len(set(tried)) > 1 and alpha == max(tried)


def cmd_select(args: argparse.Namespace) -> int:
    """Validation BLEU of every (checkpoint, length penalty); the best is written to --output with
    that length penalty as its default."""
    from seq2seq import checkpoint as ckpt_io
    from seq2seq.translation.bleu import score
    from seq2seq.translation.text import read_parallel

    writable_file(args.output, "-o")
    src, ref = read_parallel(args.src, args.ref, "validation")
    grid = []
    for path in args.checkpoints:
        loaded = load(path, args.device, "select")
        translator = translator_of(loaded, args, quiet=True)
        for alpha in args.length_penalties:
            bleu = score(translator.best(src, options(loaded, args, alpha=alpha)), ref).bleu
            grid.append({"checkpoint": path, "length_penalty": alpha, "bleu": bleu})
            print(f"{path}  length penalty {alpha:g}: BLEU {bleu:.2f}", file=sys.stderr)
    best = max(grid, key=lambda g: g["bleu"])
    if at_upper_edge(best["length_penalty"], args.length_penalties):
        print(f"select: warning: the best length penalty, {best['length_penalty']:g}, is the largest tried; "
              "try larger ones with --length-penalties", file=sys.stderr)  # fmt: skip
    ckpt = ckpt_io.load(best["checkpoint"])
    for key in ("optimizer", "schedule", "rng"):
        ckpt.pop(key, None)
    ckpt["config"]["search"]["length_penalty"] = best["length_penalty"]
    if args.beam is not None:
        ckpt["config"]["search"]["beam_size"] = args.beam
    ckpt["selected"] = {"on": [args.src, args.ref], "grid": grid}
    ckpt_io.save(args.output, {k: v for k, v in ckpt.items() if k not in ("format", "version")})
    print(json.dumps({"selected": best, "output": args.output}, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("translate", help="translate text lines with a translation checkpoint")
    p.add_argument("-m", "--model", required=True, help="checkpoint (holds its SentencePiece model)")
    p.add_argument("-i", "--input", help="UTF-8 text, one sentence per line, plain or .gz (default: stdin)")
    p.add_argument("-o", "--output", help="translations, one line per input line (default: stdout)")
    add_search(p)
    p.add_argument("--nbest", type=int, help="K > 1: K lines per input, 'N ||| text ||| score' (default: the "
                   "checkpoint's search.nbest)")  # fmt: skip
    p.add_argument("--window", type=int, default=1000, help="input lines read, sorted and translated at a time")
    p.add_argument("--attention-plot", metavar="FILE.png", help="draw the attention of one sentence")
    p.add_argument("--plot-line", type=int, default=0, help="which input line to plot (default: first non-empty)")
    p.add_argument("--quiet", action="store_true", help="no warnings about long lines")
    p.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    add_device(p)
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser(
        "select", help="translation: pick the checkpoint and length penalty with the best validation BLEU"
    )
    p.add_argument("checkpoints", nargs="+", help="translation checkpoints (e.g. best.pt and an averaged one)")
    p.add_argument("--src", required=True, help="validation source text")
    p.add_argument("--ref", required=True, help="validation reference text")
    p.add_argument(
        "--length-penalties", type=float, nargs="+", default=[0.0, 0.6, 1.0, 1.4, 1.8, 2.2], help="alphas to try"
    )
    add_search(p, length_penalty=False)
    p.add_argument("-o", "--output", required=True, help="the chosen checkpoint, with its length penalty")
    add_device(p)
    p.set_defaults(func=cmd_select)


def evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", help="translate and score a split of the checkpoint's data: train, valid or test")
    p.add_argument("--src", help="source text to translate, scored against --ref")
    p.add_argument("--ref", help="reference translations, line-aligned")
    add_search(p)


def hyp_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hyp", required=True, help="translations to score against --ref (no checkpoint needed)")
    p.add_argument("--ref", required=True, help="reference translations, line-aligned")


def evaluate(args: argparse.Namespace) -> int:
    """``-m CKPT --src X --ref Y``: translate X and score it; ``-m CKPT [--split S]``: a split of
    the checkpoint's own data (default valid)."""
    from seq2seq.translation.bleu import score
    from seq2seq.translation.text import read_parallel

    loaded = load(args.model, args.device, "evaluate")
    if args.src or args.ref:
        if not (args.src and args.ref) or args.split:
            raise TranslateError("evaluate: give --src and --ref together (or --split, not both)")
        src, ref = read_parallel(args.src, args.ref, "evaluation")
    else:
        src, ref = loaded.task.split_text(args.split or "valid")
    print(score(translator_of(loaded, args).best(src, options(loaded, args)), ref).report())
    return 0


def evaluate_hyp(args: argparse.Namespace) -> int:
    from seq2seq.translation.bleu import score_files

    print(score_files(args.hyp, args.ref).report())
    return 0


EVALUATE = Handler(evaluate_args, evaluate, "BLEU and chrF (sacreBLEU) of the checkpoint's translations")
EVALUATE_FILES = {"--hyp": Handler(hyp_args, evaluate_hyp, "BLEU and chrF of a translation file (sacreBLEU)")}
