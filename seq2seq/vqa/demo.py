"""``make vqa-demo``: learn the generated scenes' questions (``seq2seq.vqa.questions``), then the
question-only baseline on the same data, answer a question of each type about an unseen test scene
and draw where its position question looked. Offline, a few minutes on one CPU core (most of it drawing the scenes
and embedding them, once: a second run reuses both)."""

from __future__ import annotations

import shutil
from pathlib import Path


def demo(out: Path, device: str) -> dict[str, str]:
    from seq2seq.api import load, train
    from seq2seq.registry import load_config

    run, blind = out / "vqa", out / "vqa-question-only"
    data = f"data.root={out / 'vqa-scenes'}"  # kept across runs: drawn and embedded once
    for folder in (run, blind):
        shutil.rmtree(folder, ignore_errors=True)
    summary = train(load_config("vqa/demo", [data, f"train.out_dir={run}", f"train.device={device}"]))
    baseline = train(load_config("vqa/question_only", [data, f"train.out_dir={blind}", f"train.device={device}"]))
    model, guesser = load(run / "best.pt", device), load(blind / "best.pt", device)
    looked, guessed = model.scores("test"), guesser.scores("test")
    print(f"  vqa: test accuracy {looked['accuracy']:.3f} with the image, {guessed['accuracy']:.3f} from the "
          f"question alone (validation {summary['best']:.3f} / {baseline['best']:.3f})")  # fmt: skip
    for kind in looked["questions"]:
        if kind != "all":
            print(f"    {kind:<9} {looked[f'accuracy_{kind}']:.3f}  vs  {guessed[f'accuracy_{kind}']:.3f}")
    examples, plot = show(model, out / "vqa-scenes" / "test.jsonl", run)
    return {**{f"vqa {k}": v for k, v in summary.get("outputs", {}).items()},
            "vqa examples": str(examples), "vqa attention": str(plot),
            "vqa question-only test scores": str(blind / "test_scores.json")}  # fmt: skip


def show(model, questions: Path, run: Path) -> tuple[Path, Path]:
    """Answer a question of each type about the first test scene that has all four, beside the
    truth (printed and written to RUN/examples.txt), and draw where its position question looked
    (RUN/attention.png)."""
    from seq2seq.checkpoint import atomic_write
    from seq2seq.vqa.data import read_questions

    asked = read_questions(questions)
    image = next(q.image for q in asked if len({a.type for a in asked if a.image == q.image}) == 4)
    shown = list({q.type: q for q in asked if q.image == image}.values())
    answers = model.answer([q.image for q in shown], [q.question for q in shown])
    lines = []
    for q, (answer, p) in zip(shown, answers, strict=True):
        lines.append(f"{image.name}\t{q.question}\t{answer}\t{p:.3f}\t(truth: {q.answer})")
        print("  " + lines[-1])
    atomic_write(run / "examples.txt", lambda f: f.write(("\n".join(lines) + "\n").encode("utf-8")))
    where = next(q.question for q in shown if q.type == "position")
    return run / "examples.txt", model.plot_attention(image, where, run / "attention.png")
