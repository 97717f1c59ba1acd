"""The generated source: scenes drawn as PNG files and their questions as JSONL files, written
once under ``data.root`` and read back as any user's question files are.

    ROOT/generated.json            the keys they were made with (other keys: made again)
    ROOT/train/scene-NNNN.png      + scenes.jsonl (what each scene holds)
    ROOT/train.jsonl               {"image": "train/scene-0000.png", "question": ..., "answer": ...,
                                    "type": ..., "subject": "red circle"}
    ROOT/valid..., ROOT/test...

The three splits are drawn from different seeds, and a validation or test scene with the same
things in the same cells as a training scene is asked nothing (its picture differs only in
jitter), so every scored question is about a scene never seen in training. Training and
validation questions are never about a ``held_out`` colour-shape pair; the test questions are
balanced without that rule, so they ask about those pairs too.
"""

from __future__ import annotations

import json
from pathlib import Path

from seq2seq.vqa.data import write_questions
from seq2seq.vqa.questions import ask

VERSION = 1  # of the generator: a change of the questions makes every root again


def settings(d) -> dict:
    return {"version": VERSION, "train": d.generated_train, "valid": d.generated_valid, "test": d.generated_test,
            "image_size": d.image_size, "min_things": d.min_things, "max_things": d.max_things,
            "held_out": list(d.held_out), "seed": d.seed,
            "per_type": d.questions_per_type}  # fmt: skip


def generate(d) -> dict[str, Path]:
    """Write (or reuse) the generated scenes and questions of ``d`` (a ``VqaData``); returns each
    split's question file."""
    from seq2seq.checkpoint import atomic_write
    from seq2seq.vision.scenes import write_scenes

    root = Path(d.root)
    wanted = settings(d)
    counts = {"train": d.generated_train, "valid": d.generated_valid, "test": d.generated_test}
    files = {split: root / f"{split}.jsonl" for split, n in counts.items() if n > 0}
    record = root / "generated.json"
    try:
        made = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        made = None
    if made == wanted and all(f.is_file() for f in files.values()):
        return files
    seen: set = set()
    kwargs = {"min_things": d.min_things, "max_things": d.max_things}
    for number, (split, path) in enumerate(files.items()):
        written = write_scenes(root / split, counts[split], seed=d.seed * 1000 + number, size=d.image_size, **kwargs)
        if split == "train":
            seen = {scene for _, scene in written}
        else:
            written = [(p, s) for p, s in written if s not in seen]
        held_out = () if split == "test" else d.held_out
        rows = []
        for (image, _), questions in zip(
            written, ask([s for _, s in written], d.seed + number, held_out, d.questions_per_type), strict=True
        ):
            for q in questions:
                rows.append({"image": f"{split}/{image.name}", "question": q.question, "answer": q.answer,
                             "type": q.type, "subject": q.subject})  # fmt: skip
        write_questions(path, rows)
    atomic_write(record, lambda f: f.write((json.dumps(wanted, indent=1) + "\n").encode("utf-8")))
    return files
