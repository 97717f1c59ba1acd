"""``make vqa-demo``: learn the generated scenes' questions (``seq2seq.vqa.questions``), then the
question-only baseline on the same data, answer a few questions about unseen test scenes and draw
where one of them looked. Offline, a few minutes on one CPU core (most of it drawing the scenes
and embedding them, once: a second run reuses both)."""

from __future__ import annotations

import shutil
from pathlib import Path

SHOWN = (
    "what colour is the thing at the top left?",
    "what shape is at the centre?",
    "how many red things are there?",
    "where is the circle?",
)


def demo(out: Path, device: str) -> dict[str, str]:
    from seq2seq.api import load, train
    from seq2seq.checkpoint import atomic_write
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
    image = sorted((out / "vqa-scenes" / "test").glob("*.png"))[0]
    lines = [f"{image.name}\t{q}\t{a}\t{p:.3f}" for q, (a, p) in zip(SHOWN, model.answer([image] * 4, list(SHOWN)),
                                                                       strict=True)]  # fmt: skip
    for line in lines:
        print("  " + line)
    atomic_write(run / "examples.txt", lambda f: f.write(("\n".join(lines) + "\n").encode("utf-8")))
    plot = model.plot_attention(image, SHOWN[3], run / "attention.png")
    return {**{f"vqa {k}": v for k, v in summary.get("outputs", {}).items()},
            "vqa examples": str(run / "examples.txt"), "vqa attention": str(plot),
            "vqa question-only test scores": str(blind / "test_scores.json")}  # fmt: skip
