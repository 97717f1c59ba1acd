"""``seq2seq answer IMAGE QUESTION -m CKPT`` (or ``--questions FILE``): the answer and its
probability, a thin layer over ``VqaModel.answer``; ``--attention-plot`` draws where the question
looked. ``seq2seq evaluate -m CKPT``: accuracy per question type on a split of the checkpoint's data."""

from __future__ import annotations

import argparse
import sys

from seq2seq import records
from seq2seq.commands import Handler, add_device, writable_file
from seq2seq.errors import UserError

TASK = "vqa"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "answer",
        help="answer questions about images with a vqa checkpoint",
        description="Prints ANSWER<TAB>PROBABILITY for one image and question; with --questions FILE (a question "
        "file, docs/vqa.md) IMAGE<TAB>QUESTION<TAB>ANSWER<TAB>PROBABILITY per question, and the accuracy on stderr "
        "when the file gives answers.",
    )
    p.add_argument("image", nargs="?", help="an image file (PNG, JPEG, ...)")
    p.add_argument("question", nargs="?", help='the question, quoted: "what colour is the square?"')
    p.add_argument("-m", "--model", required=True, help="vqa checkpoint (best.pt)")
    p.add_argument("--questions", help="a question file (.jsonl, .csv, .tsv) instead of IMAGE QUESTION")
    p.add_argument("--attention-plot", help="PNG: the image with the question's attention over the grid")
    add_device(p)
    p.set_defaults(func=cmd_answer)


def cmd_answer(args: argparse.Namespace) -> int:
    from seq2seq.api import VqaModel
    from seq2seq.inference import load_model

    if bool(args.questions) == bool(args.image):
        raise UserError("answer: give IMAGE and QUESTION, or --questions FILE")
    if args.image and args.question is None:
        raise UserError(f'answer: a question about {args.image} is missing: seq2seq answer IMAGE "QUESTION" -m CKPT')
    if args.questions and args.question is not None:
        raise UserError("answer: --questions FILE takes no IMAGE QUESTION arguments")
    if args.attention_plot:
        if args.questions:
            raise UserError("--attention-plot draws one question; give IMAGE QUESTION, not --questions")
        writable_file(args.attention_plot, "--attention-plot")
    model = VqaModel(load_model(args.model, args.device, task=TASK, command="seq2seq answer"))
    if args.image:
        answer, p = model.answer(args.image, args.question)
        print(f"{answer}\t{p:.4f}")
        if not model.task.known(args.question):
            print("note: no word of this question occurs in the training questions; the answer is a guess",
                  file=sys.stderr)  # fmt: skip
        if args.attention_plot:
            print(f"attention: {model.plot_attention(args.image, args.question, args.attention_plot)}",
                  file=sys.stderr)  # fmt: skip
        return 0
    from seq2seq.vqa.data import read_questions

    asked = read_questions(args.questions, answers=False)
    results = model.answer([q.image for q in asked], [q.question for q in asked])
    for q, (answer, p) in zip(asked, results, strict=True):
        print(f"{q.image}\t{q.question}\t{answer}\t{p:.4f}")
    unknown = [q for q in asked if not model.task.known(q.question)]
    if unknown:
        print(f"note: {len(unknown)} question(s) have no word the training questions had (the first: "
              f"{unknown[0].where} {unknown[0].question!r}); their answers are guesses", file=sys.stderr)  # fmt: skip
    scored = [(q.answer, a) for q, (a, _) in zip(asked, results, strict=True) if q.answer]
    if scored:
        right = sum(truth == a for truth, a in scored)
        print(f"accuracy {right / len(scored):.4f} ({right} of {len(scored)} questions with answers)", file=sys.stderr)
    return 0


def evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", default="valid", help="valid, or test (data.test; generated: the test scenes)")
    p.add_argument("--scores", help="also write the scores as JSON to this file")


def evaluate(args: argparse.Namespace) -> int:
    from seq2seq.api import VqaModel
    from seq2seq.inference import load_model

    if args.scores:
        writable_file(args.scores, "--scores")
    model = VqaModel(load_model(args.model, args.device, task=TASK, command="seq2seq evaluate"))
    report = model.scores(args.split)
    counts = report["questions"]
    print(f"{'questions':<10} {'count':>6}  accuracy")
    for name in [*(n for n in counts if n != "all"), "all"]:
        n = counts[name]
        value = report["accuracy" if name == "all" else f"accuracy_{name}"]
        print(f"{name:<10} {n:>6}  {value:.4f}")
    if args.scores:
        records.write_json(args.scores, report)
    return 0


EVALUATE = Handler(evaluate_args, evaluate, "accuracy per question type on a split of the checkpoint's data")
