"""The translation task's commands: ``translate``, ``select``, and its ``evaluate`` handlers
(``-m CKPT [CKPT ...] [--split S | --src X --ref Y]`` translates then scores; ``--hyp H --ref Y``
scores a translation file, no checkpoint needed). Several checkpoints after ``-m`` decode as one
ensemble. The input is ``-i`` / ``--input`` / ``--src`` in every command."""

from __future__ import annotations

import argparse
import json
import sys

from seq2seq.commands import Handler, add_device, search_options, warn, writable_file
from seq2seq.errors import UserError
from seq2seq.translation.translator import BATCH_TOKENS, TranslateError

# Flags of the sampler, which only `translate --sample` reads.
SAMPLING_FLAGS = {"temperature": "--temperature", "top_k": "--top-k", "top_p": "--top-p", "seed": "--seed"}


def add_search(p: argparse.ArgumentParser, length_penalty: bool = True) -> None:
    p.add_argument("--beam", type=int, help="beam size; 1 is greedy search (default: the checkpoint's "
                   "search.beam_size)")  # fmt: skip
    if length_penalty:
        p.add_argument("--length-penalty", type=float, help="GNMT alpha; 0: rank by log-probability (default: the "
                       "checkpoint's search.length_penalty)")  # fmt: skip
    p.add_argument("--batch-tokens", type=int, default=BATCH_TOKENS, help=f"padded source subwords per batch "
                   f"(default {BATCH_TOKENS})")  # fmt: skip
    p.add_argument("--min-length", type=int, metavar="N", help="no translation ends before N subwords (default: "
                   "the checkpoint's search.min_length)")  # fmt: skip
    p.add_argument("--block-ngram-repeat", type=int, metavar="N", help="no translation repeats an n-gram of N "
                   "subwords; 0: off (default: the checkpoint's search.block_ngram_repeat)")  # fmt: skip
    add_amp(p)


def add_sampling(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sample", action="store_true", help="draw each translation from the model (the core sampler) "
                   "instead of beam search, e.g. for back-translation; --nbest K: K draws per line")  # fmt: skip
    p.add_argument("--temperature", type=float, help="with --sample: divides the logits; 0: greedy (default: the "
                   "checkpoint's search.temperature)")  # fmt: skip
    p.add_argument("--top-k", type=int, help="with --sample: only the k likeliest subwords; 0: all (default: the "
                   "checkpoint's search.top_k)")  # fmt: skip
    p.add_argument("--top-p", type=float, help="with --sample: the smallest set of subwords reaching this "
                   "probability (default: the checkpoint's search.top_p)")  # fmt: skip
    p.add_argument("--seed", type=int, help="with --sample: seeds the draws (default: unseeded)")


def add_amp(p) -> None:
    p.add_argument(
        "--amp", choices=("auto", "bf16", "off"),
        help="bf16 autocast: bf16 (also on the CPU), auto (on CUDA only) or off (default: the checkpoint's train.amp)",
    )  # fmt: skip


def load(path: str, device: str, command: str):
    """The checkpoint as the API's ``TranslationModel`` (the command line is a thin layer over it)."""
    from seq2seq.api import TranslationModel
    from seq2seq.inference import load_model

    return TranslationModel(load_model(path, device, task="translation", command=command))


def load_models(paths: list[str], device: str, command: str) -> list:
    """The checkpoints of an ensemble (one path: a single model), refused unless they share the
    source subwords and the target vocabulary (the SentencePiece models' bytes)."""
    from pathlib import Path

    seen: dict[Path, object] = {}
    models = []
    for path in paths:
        key = Path(path).resolve()
        if key not in seen:
            seen[key] = load(path, device, command)
        models.append(seen[key])
    first = models[0]
    for path, model in zip(paths[1:], models[1:], strict=True):
        a, b = first.task.subwords, model.task.subwords
        for what, mine, theirs in (
            ("source subwords", a.src_proto, b.src_proto),
            ("target vocabulary", a.tgt_proto or a.src_proto, b.tgt_proto or b.src_proto),
        ):
            if mine != theirs:
                raise TranslateError(
                    f"{path}: its {what} differ from {paths[0]}'s (another SentencePiece model); an ensemble needs "
                    "checkpoints with the same subword models"
                )
    return models


def options(model, args: argparse.Namespace, nbest: int | None = None, alpha: float | None = None):
    """The search: the command line's flags where given, else the checkpoint's [search]."""
    if alpha is None:
        alpha = getattr(args, "length_penalty", None)
    sampling = getattr(args, "sample", False)
    if sampling and args.beam is not None:
        raise TranslateError("--beam: --sample draws translations instead of searching; give one or the other")
    if not sampling:
        given = [flag for name, flag in SAMPLING_FLAGS.items() if getattr(args, name, None) is not None]
        if given:
            raise TranslateError(f"{given[0]}: a sampling option; add --sample (beam search does not read it)")
    try:
        search = model.search(args.beam, None if sampling else nbest, alpha)
    except UserError as e:
        if str(e).startswith("nbest"):
            raise TranslateError(f"--{e}") from None  # the flag's name: --nbest
        raise
    more = {name: getattr(args, name, None) for name in ("min_length", "block_ngram_repeat")}
    if sampling:
        more.update(nbest=nbest, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)
    return search_options(search, **more)


def translator_of(models, args: argparse.Namespace, quiet: bool = False):
    """The translator of one model (the API's) or of an ensemble (a list of models), sampling
    with ``--sample``."""
    from seq2seq.search import Ensemble
    from seq2seq.translation.translator import Translator

    if args.batch_tokens < 1:
        raise TranslateError(f"--batch-tokens {args.batch_tokens}: give a positive number")
    models = list(models) if isinstance(models, (list, tuple)) else [models]
    base = models[0].translator(args.amp, args.batch_tokens, None if quiet else warn)
    sampling = getattr(args, "sample", False)
    if len(models) == 1 and not sampling:
        return base
    model = base.model if len(models) == 1 else Ensemble([m.model for m in models]).eval()
    # the longest source every member was trained on (0: no limit)
    max_src_len = min((m.task.max_src_len for m in models if m.task.max_src_len > 0), default=0)
    return Translator(
        model, base.subwords, max_src_len, amp=base.amp, batch_tokens=base.batch_tokens, warn=base.warn,
        sample=sampling, seed=getattr(args, "seed", None),
    )  # fmt: skip


def cmd_translate(args: argparse.Namespace) -> int:
    from seq2seq.translation.translate import run

    if args.output:
        writable_file(args.output, "-o")  # before translating, not after
    if args.attention_plot:
        if len(args.model) > 1:
            raise TranslateError("--attention-plot draws one model's attention: give one checkpoint with -m")
        writable_file(args.attention_plot, "--attention-plot")
    models = load_models(args.model, args.device, "translate")
    search = options(models[0], args, args.nbest)
    run(
        translator_of(models, args, args.quiet), search, args.input, args.output, args.window, args.attention_plot,
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
    for name, value in (("beam_size", args.beam), ("min_length", args.min_length),
                        ("block_ngram_repeat", args.block_ngram_repeat)):  # fmt: skip
        if value is not None:
            ckpt["config"]["search"][name] = value
    ckpt["selected"] = {"on": [args.src, args.ref], "grid": grid}
    ckpt_io.save(args.output, {k: v for k, v in ckpt.items() if k not in ("format", "version")})
    print(json.dumps({"selected": best, "output": args.output}, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("translate", help="translate text lines with a translation checkpoint (or an ensemble)")
    p.add_argument("-m", "--model", required=True, nargs="+", action="extend", metavar="CKPT",
                   help="checkpoint (holds its SentencePiece model); several (-m A B, or -m A -m B): an ensemble, "
                   "decoded with the mean of their log-probabilities (the first one's [search] and "
                   "precision)")  # fmt: skip
    p.add_argument("-i", "--input", "--src", dest="input", help="UTF-8 text, one sentence per line, plain or .gz "
                   "(default: stdin; typed on a terminal, each line is translated as it is entered)")  # fmt: skip
    p.add_argument("-o", "--output", help="translations, one line per input line (default: stdout)")
    add_search(p)
    p.add_argument("--nbest", type=int, help="K > 1: K lines per input, 'N ||| text ||| score' (default: the "
                   "checkpoint's search.nbest)")  # fmt: skip
    add_sampling(p)
    p.add_argument("--window", type=int, default=1000, help="input lines read, sorted and translated at a time "
                   "(1 on a terminal)")  # fmt: skip
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
    p.add_argument("--src", "-i", "--input", dest="src", required=True, help="validation source text")
    p.add_argument("--ref", required=True, help="validation reference text")
    p.add_argument(
        "--length-penalties", type=float, nargs="+", default=[0.0, 0.6, 1.0, 1.4, 1.8, 2.2], help="alphas to try"
    )
    add_search(p, length_penalty=False)
    p.add_argument("-o", "--output", required=True, help="the chosen checkpoint, with its length penalty")
    add_device(p)
    p.set_defaults(func=cmd_select)


def evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("ensemble", nargs="*", metavar="CKPT", help="more checkpoints after -m's (-m A B): translate "
                   "with the ensemble")  # fmt: skip
    p.add_argument("--split", help="translate and score a split of the checkpoint's data: train, valid or test")
    p.add_argument("--src", "-i", "--input", dest="src", help="source text to translate, scored against --ref")
    p.add_argument("--ref", help="reference translations, line-aligned")
    add_search(p)


def hyp_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hyp", required=True, help="translations to score against --ref (no checkpoint needed)")
    p.add_argument("--ref", required=True, help="reference translations, line-aligned")


def evaluate(args: argparse.Namespace) -> int:
    """``-m CKPT --src X --ref Y``: translate X and score it; ``-m CKPT [--split S]``: a split of
    the checkpoint's own data (default valid). ``-m A B ...``: with the ensemble of A, B, ..."""
    from seq2seq.translation.bleu import score
    from seq2seq.translation.text import read_parallel

    models = load_models([args.model, *args.ensemble], args.device, "evaluate")
    loaded = models[0]
    if args.src or args.ref:
        if not (args.src and args.ref) or args.split:
            raise TranslateError("evaluate: give --src and --ref together (or --split, not both)")
        src, ref = read_parallel(args.src, args.ref, "evaluation")
    else:
        src, ref = loaded.task.split_text(args.split or "valid")
    print(score(translator_of(models, args).best(src, options(loaded, args)), ref).report())
    return 0


def evaluate_hyp(args: argparse.Namespace) -> int:
    from seq2seq.translation.bleu import score_files

    print(score_files(args.hyp, args.ref).report())
    return 0


EVALUATE = Handler(evaluate_args, evaluate, "BLEU and chrF (sacreBLEU) of the checkpoint's translations")
EVALUATE_FILES = {"--hyp": Handler(hyp_args, evaluate_hyp, "BLEU and chrF of a translation file (sacreBLEU)")}
