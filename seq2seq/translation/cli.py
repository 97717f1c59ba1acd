"""Translation sub-commands: ``translate``, ``select``, and the ``evaluate`` hook
(``--src X --ref Y`` translates then scores; ``--hyp H --ref Y`` scores a translation file)."""

from __future__ import annotations

import argparse
import json
import sys

from seq2seq.translation.subwords import SubwordError
from seq2seq.translation.text import TextError
from seq2seq.translation.translate import TranslateError

USER_ERRORS = (TextError, SubwordError, TranslateError)


def add_search(p: argparse.ArgumentParser, length_penalty: bool = True) -> None:
    p.add_argument("--beam", type=int, help="beam size (default: the recipe's search.beam_size)")
    if length_penalty:
        p.add_argument("--length-penalty", type=float, help="GNMT alpha; 0: rank by log-probability (default: recipe)")
    p.add_argument("--batch-tokens", type=int, default=2000, help="padded source subwords per batch")
    add_amp(p)


def add_amp(p) -> None:
    p.add_argument(
        "--amp", choices=("auto", "bf16", "off"),
        help="bf16 autocast: bf16 (also on the CPU), auto (on CUDA only) or off (default: the recipe's train.amp)",
    )  # fmt: skip


def load(path: str, device: str, command: str):
    from seq2seq.inference import load_model

    return load_model(path, device, task="translation", command=command)


def options(loaded, args: argparse.Namespace, nbest: int = 1, alpha: float | None = None):
    """Search options: the command line's where given, else the checkpoint's [search]."""
    from seq2seq.translation.translator import Options

    s = loaded.cfg.search
    beam = args.beam if args.beam is not None else s.beam_size
    if alpha is None:
        alpha = args.length_penalty if args.length_penalty is not None else s.length_penalty
    if beam < 1:
        raise TranslateError(f"--beam {beam}: give at least 1 (1 is greedy search)")
    if nbest < 1 or nbest > beam:
        raise TranslateError(f"--nbest {nbest}: give 1 to the beam size ({beam})")
    if args.batch_tokens < 1:
        raise TranslateError(f"--batch-tokens {args.batch_tokens}: give a positive number")
    amp = args.amp or loaded.cfg.train.amp
    return Options(beam, alpha, nbest, s.max_len_ratio, s.max_len_offset, args.batch_tokens, amp)


def translator_of(loaded, quiet: bool = False):
    from seq2seq.translation.translator import Translator

    def warn(message: str) -> None:
        if not quiet:
            print(f"seq2seq: warning: {message}", file=sys.stderr)

    return Translator(loaded.model, loaded.task.subwords, loaded.task.max_src_len, warn)


def cmd_translate(args: argparse.Namespace) -> int:
    from seq2seq.translation.translate import run

    loaded = load(args.model, args.device, "translate")
    opts = options(loaded, args, args.nbest)
    run(
        translator_of(loaded, args.quiet), opts, args.input, args.output, args.window, args.attention_plot,
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

    src, ref = read_parallel(args.src, args.ref, "validation")
    grid = []
    for path in args.checkpoints:
        loaded = load(path, args.device, "select")
        translator = translator_of(loaded, quiet=True)
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
    from seq2seq.cli import add_device

    p = sub.add_parser("translate", help="translate text lines with a translation checkpoint")
    p.add_argument("-m", "--model", required=True, help="checkpoint (holds its SentencePiece model)")
    p.add_argument("-i", "--input", help="UTF-8 text, one sentence per line, plain or .gz (default: stdin)")
    p.add_argument("-o", "--output", help="translations, one line per input line (default: stdout)")
    add_search(p)
    p.add_argument("--nbest", type=int, default=1, help="K > 1: K lines per input, 'N ||| text ||| score'")
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
    g = p.add_argument_group("translation (BLEU and chrF with sacreBLEU)")
    g.add_argument("--src", help="source text to translate with -m, scored against --ref")
    g.add_argument("--hyp", help="translations to score against --ref (no model needed)")
    g.add_argument("--ref", help="reference translations, line-aligned")
    g.add_argument("--beam", type=int, help="beam size (default: the checkpoint's)")
    g.add_argument("--length-penalty", type=float, help="GNMT alpha (default: the checkpoint's)")
    g.add_argument("--batch-tokens", type=int, default=2000, help="padded source subwords per batch")
    add_amp(g)


SPLITS = {"train": "train", "valid": "valid", "val": "valid", "dev": "valid", "test": "test"}


def evaluate(args: argparse.Namespace) -> int | None:
    """Handles ``--src``/``--hyp`` with ``--ref``, and ``-m CKPT --split S`` for a translation
    checkpoint (its recipe's split translated and scored); anything else is not for translation."""
    from seq2seq.translation.bleu import score, score_files

    if not getattr(args, "src", None) and not getattr(args, "hyp", None):
        return _evaluate_split(args) if args.model and args.split else None
    if args.src and args.hyp:
        raise TranslateError("evaluate: give --src (translate with -m) or --hyp (score a file), not both")
    if not args.ref:
        raise TranslateError("evaluate: --ref is needed: the reference translations to score against")
    if args.hyp:
        result = score_files(args.hyp, args.ref)
    else:
        if not args.model:
            raise TranslateError("evaluate --src: give the translation checkpoint with -m")
        from seq2seq.translation.text import read_parallel

        loaded = load(args.model, args.device, "evaluate --src")
        src, ref = read_parallel(args.src, args.ref, "evaluation")
        result = score(translator_of(loaded).best(src, options(loaded, args)), ref)
    print(result.report())
    return 0


def _evaluate_split(args: argparse.Namespace) -> int | None:
    from seq2seq.checkpoint import checkpoint_task
    from seq2seq.translation.bleu import score

    if checkpoint_task(args.model) != "translation":
        return None
    if args.split not in SPLITS:
        raise TranslateError(f"evaluate --split {args.split}: use train, valid or test")
    loaded = load(args.model, args.device, "evaluate")
    src, ref = loaded.task.split_text(SPLITS[args.split])
    print(score(translator_of(loaded).best(src, options(loaded, args)), ref).report())
    return 0
