"""Generated clips with generated captions, for the video captioning demo and tests.

The clips are the video recipe's flat scenes (``seq2seq.video.synth``): one object appears, then
moves and changes in turn, then leaves through a border. Here its colours are named ones, so a
caption can say what happens in order, with colour and shape, what it changes to and where it
goes: "a red circle appears, moves, turns striped and blue, moves again and leaves to the left".
Only a model that looks at the right times gets it right: the first colour is seen at the start,
the order of moving and changing and the new colour in the middle, the way out at the end.

Every clip gets the same three phrasings of its story (``PHRASINGS``), the references a
captioning model is scored against. Besides each ``clip_NNNN.mp4`` (and the video recipe's label
files ``.txt``, ``.csv``) the folder gets ``captions.tsv`` (``media<TAB>caption<TAB>split``, one
line per reference, with a header) and ``clips.jsonl`` (one clip a line: ``media``, ``captions``,
``split``, and the truth: ``shape``, ``colours``, ``events``, ``exit``, ``plan``, ``seed``); both
read with ``seq2seq.caption.formats.read_captions``.
"""

from __future__ import annotations

import json
import random
from itertools import groupby
from pathlib import Path

from seq2seq.checkpoint import atomic_write
from seq2seq.video.synth import write_clip

# named colours: hues 0..1 far enough apart to tell after video compression
COLOURS = {"red": 0.0, "yellow": 0.15, "green": 0.33, "blue": 0.62, "purple": 0.8}
EXIT_WORDS = {"left": "the left", "right": "the right", "top": "the top", "bottom": "the bottom"}
PHRASINGS = 3


def story(shape: str, colours: list[str], events: list[str], exit: str) -> list[str]:
    """The ``PHRASINGS`` captions of a clip: its object's shape, its colour at first and after each
    change, its moves and changes in order (``events``: move | change) and the border it leaves by."""
    first, later = colours[0], iter(colours[1:])
    plain, loose, told = [], [], []
    seen = set()
    for event in events:
        again = event in seen
        seen.add(event)
        if event == "move":
            plain.append("moves again" if again else "moves")
            loose.append("slides around again" if again else "slides around")
            told.append("it moves again" if again else "it moves")
        else:
            colour = next(later)
            plain.append(f"turns striped and {colour}")
            loose.append(f"flickers in stripes and becomes {colour}")
            told.append(f"it turns {colour} with stripes")
    side = EXIT_WORDS[exit]
    return [
        f"a {first} {shape} appears, {', '.join(plain)} and leaves to {side}",
        f"a {first} {shape} shows up, {', '.join(loose)}, then exits on {side}",
        f"first a {first} {shape} appears; {', then '.join(told)}, and then it leaves through {side}",
    ]


def write_captioned_clips(
    out_dir: str | Path, count: int, seed: int = 0, size: int = 64, **kw
) -> list[tuple[Path, list[str]]]:
    """Write ``count`` captioned clips ``clip_NNNN.mp4`` (seeds seed, seed+1, ...) of ``size`` x
    ``size`` pixels to ``out_dir``, with ``captions.tsv`` and ``clips.jsonl`` (module docstring).
    ``split`` (a keyword, default ``train``) is written as every clip's split; the other keywords
    go to ``seq2seq.video.synth.write_clip`` (``fps``, ``codec``, ``vfr``; the family is flat).
    Returns each clip's path and its captions. A seed always gives the same clip and captions."""
    split = kw.pop("split", "train")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, rows, lines = [], ["media\tcaption\tsplit"], []
    for i in range(count):
        clip_seed = seed + i
        # the colours from a stream of their own, so the clip is the video recipe's clip of this seed
        names = _colour_names(random.Random(f"caption colours {clip_seed}"))
        clip = write_clip(out_dir / f"clip_{clip_seed:04d}.mp4", clip_seed, size=size, hues=[COLOURS[n] for n in names],
                          family="flat", **kw)  # fmt: skip
        plan = [(label, len(list(run))) for label, run in groupby(clip.labels)]
        events = [label for label, _ in plan if label in ("move", "change")]
        colours = names[: events.count("change") + 1]
        captions = story(clip.shape, colours, events, clip.exit)
        written.append((clip.video, captions))
        name = clip.video.name
        rows += [f"{name}\t{caption}\t{split}" for caption in captions]
        truth = {"shape": clip.shape, "colours": colours, "events": events, "exit": clip.exit, "plan": plan}
        lines.append(json.dumps({"media": name, "captions": captions, "split": split, **truth, "seed": clip_seed}))
    atomic_write(out_dir / "captions.tsv", lambda f: f.write("".join(r + "\n" for r in rows).encode()))
    atomic_write(out_dir / "clips.jsonl", lambda f: f.write("".join(line + "\n" for line in lines).encode()))
    return written


def _colour_names(rng: random.Random) -> list[str]:
    """Three colour names, each unlike the one before: at first, after a first and a second change."""
    names = [rng.choice(list(COLOURS))]
    while len(names) < 3:
        names.append(rng.choice([n for n in COLOURS if n != names[-1]]))
    return names
