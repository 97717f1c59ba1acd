"""``seq2seq caption IMAGE|CLIP|FOLDER... -m CKPT``: one ``name<TAB>caption`` line per input
(``--nbest`` > 1: ``name<TAB>caption<TAB>score`` per hypothesis), and with ``--attention-plot DIR``
each input's attention figure; ``seq2seq evaluate -m CKPT``: BLEU-1..4 and chrF against all the
references of the checkpoint's validation items. A thin layer over ``CaptionModel``."""

from __future__ import annotations

import argparse
from pathlib import Path

from seq2seq.caption.media import CLIP_SUFFIXES, CaptionDataError
from seq2seq.commands import Handler, add_device, writable_file, writable_folder

TASK = "caption"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "caption",
        help="caption images or clips with a caption checkpoint",
        description="Prints NAME<TAB>CAPTION per image or clip (folders: every image or clip in them and their "
        "subfolders, sorted, named by their path inside the folder).",
    )
    p.add_argument("inputs", nargs="+", help="image files (.png, .jpg, ...), clips (.mp4, ...) or folders of them")
    p.add_argument("-m", "--model", required=True, help="caption checkpoint (best.pt)")
    p.add_argument("--beam", type=int, help="beam size (default: the checkpoint's search.beam_size)")
    p.add_argument("--nbest", type=int, help="captions per input, best first, each with its score")
    p.add_argument("--length-penalty", type=float, help="GNMT alpha (default: the checkpoint's)")
    p.add_argument("-o", "--output", help="write the lines to this file (atomically) instead of stdout")
    p.add_argument("--attention-plot", metavar="DIR", help="write NAME.attention.png per input: each word's attention")
    add_device(p)
    p.set_defaults(func=cmd_caption)


def media_files(inputs: list[str]) -> list[tuple[Path, str]]:
    """(file, name) of the files named (named by their file name), and of the images and clips found,
    sorted, in the folders named and their subfolders (named by their path inside the folder, so
    that ``cat/1.jpg`` and ``dog/1.jpg`` stay apart)."""
    from seq2seq.vision.images import IMAGE_SUFFIXES

    suffixes = (*IMAGE_SUFFIXES, *CLIP_SUFFIXES)
    files: list[tuple[Path, str]] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
            if not found:
                raise CaptionDataError(
                    f"{item}: no images or clips in this folder or its subfolders ({', '.join(suffixes)})"
                )
            files += [(p, p.relative_to(item).as_posix()) for p in found]
        elif not item.exists():
            raise CaptionDataError(f"{item}: no such file or folder")
        else:
            files.append((item, item.name))
    # the names head the output lines and name the attention figures: two inputs under one name
    # would print lines nobody can tell apart and draw one figure over the other
    seen: dict[str, Path] = {}
    for path, name in files:
        plot = str(Path(name).with_suffix(""))
        if plot in seen:
            raise CaptionDataError(f"{path}: named {name} like {seen[plot]} (or its figure would be); "
                                   "caption them in separate runs or rename one")  # fmt: skip
        seen[plot] = path
    return files


def cmd_caption(args: argparse.Namespace) -> int:
    from seq2seq.api import CaptionModel
    from seq2seq.caption.media import media_of
    from seq2seq.checkpoint import atomic_write
    from seq2seq.inference import load_model

    if args.output:
        writable_file(args.output, "-o")
    if args.attention_plot:
        writable_folder(args.attention_plot, "--attention-plot")
    model = CaptionModel(load_model(args.model, args.device, task=TASK, command="seq2seq caption"))
    named = media_files(args.inputs)
    files = [f for f, _ in named]
    for f in files:
        if media_of(f) != model.task.media:
            raise CaptionDataError(f"{f}: the model captions {model.task.media}s, not {media_of(f)}s")
    feats = model.features(files)
    results = model.caption(feats, args.beam, args.nbest, args.length_penalty)
    lines, best = [], []
    for (_, name), result in zip(named, results, strict=True):
        best.append(result if isinstance(result, str) else result[0][0])
        if isinstance(result, str):
            lines.append(f"{name}\t{result}\n")
        else:
            lines += [f"{name}\t{text}\t{score:.4f}\n" for text, score in result]
    text = "".join(lines)
    if args.output:
        atomic_write(args.output, lambda f: f.write(text.encode("utf-8")))
    else:
        print(text, end="")
    if args.attention_plot:
        out = Path(args.attention_plot)
        out.mkdir(parents=True, exist_ok=True)
        for (path, name), f, caption in zip(named, feats, best, strict=True):
            plot = out / f"{Path(name).with_suffix('')}.attention.png"
            plot.parent.mkdir(parents=True, exist_ok=True)
            model.attention_plot(path, plot, caption, f)
    return 0


def evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", default="valid", help="which split of the checkpoint's data")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from seq2seq import records
    from seq2seq.api import CaptionModel
    from seq2seq.inference import load_model

    model = CaptionModel(load_model(args.model, args.device, task=TASK, command="seq2seq evaluate"))
    print(records.dumps(model.evaluate(args.split), indent=2))
    return 0


EVALUATE = Handler(
    evaluate_arguments, cmd_evaluate,
    "BLEU-1..4 and chrF of the checkpoint's beam-search captions against all references of its validation items.",
)  # fmt: skip
