"""``make demo`` for translation: English -> German on the generated numbers corpus, on the CPU
in a couple of minutes: train, translate held-out sentences to a file, print their BLEU."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def demo(out: Path, device: str) -> dict[str, str]:
    from seq2seq.api import train
    from seq2seq.inference import load_model
    from seq2seq.registry import load_config
    from seq2seq.translation.bleu import score_files
    from seq2seq.translation.text import write_lines
    from seq2seq.translation.translate import run

    folder = out / "translation"
    shutil.rmtree(folder, ignore_errors=True)
    summary = train(load_config("translation/demo", [f"train.out_dir={folder}", f"train.device={device}"]))
    loaded = load_model(folder / "best.pt", device, task="translation")
    task = loaded.task
    # Held-out sentences: the generated test split excludes every training and validation sentence.
    src, ref = task.split_text("test")
    write_lines(folder / "examples.en", src[:8])
    write_lines(folder / "examples.ref.de", ref[:8])
    run(task.translator(loaded.model), loaded.cfg.search, str(folder / "examples.en"), str(folder / "examples.de"),
        progress=False)  # fmt: skip
    hyps = (folder / "examples.de").read_text(encoding="utf-8").splitlines()
    for line, hyp, gold in zip(src[:8], hyps, ref[:8], strict=True):
        mark = "" if hyp == gold else "   (reference: " + gold + ")"
        print(f"  {line}\n    -> {hyp}{mark}")
    test = json.loads((folder / "test_scores.json").read_text(encoding="utf-8"))
    examples = score_files(folder / "examples.de", folder / "examples.ref.de")
    print(f"  best validation BLEU {summary['best']:.1f}; held-out test ({len(src)} sentences) {test['bleu_text']}")
    print(f"  the 8 examples above: BLEU {examples.bleu:.1f}  ({test['bleu_signature']})")
    return {**summary.get("outputs", {}), "example translations": str(folder / "examples.de")}
