"""The music task's commands: ``seq2seq generate`` and ``seq2seq evaluate`` for piano-roll models."""

from __future__ import annotations

import argparse
from pathlib import Path

from seq2seq.commands import Handler, search_options, writable_file
from seq2seq.errors import UserError
from seq2seq.nextstep import evaluate_handler, sampling_args

TASK = "music"


def generate_args(p: argparse.ArgumentParser) -> None:
    sampling_args(p, "frame", "a MIDI file to continue (default: the start of the first training piece)",
                  "at most k keys per frame, the likeliest")  # fmt: skip
    p.add_argument("--bpm", type=float, default=120.0, help="tempo of the written MIDI file (default 120)")
    p.add_argument("-o", "--output", default="generated.mid", help="output .mid; a .png beside it (default "
                   "generated.mid)")  # fmt: skip


def generate(args: argparse.Namespace) -> int:
    from seq2seq.inference import load_model
    from seq2seq.music.generate import write_continuation
    from seq2seq.music.midi import midi_to_roll, warn

    if args.steps < 1:
        raise UserError("--steps must be at least 1")
    out = Path(args.output)
    if not out.suffix:
        out = out.with_suffix(".mid")
    if out.suffix.lower() not in (".mid", ".midi"):
        raise UserError(f"-o {out}: a piano-roll model writes MIDI; give a .mid or .midi file name (or no suffix)")
    writable_file(out, "-o")
    loaded = load_model(args.model, args.device, task=TASK, command="seq2seq generate")
    search = search_options(loaded.cfg.search, temperature=args.temperature, top_k=args.top_k)
    grid = loaded.cfg.data.grid
    primer = None
    if args.primer:
        primer, dropped = midi_to_roll(args.primer, grid)
        if dropped:
            warn(f"{args.primer}: dropped {dropped} primer notes outside the 88 piano keys")
    out, png, primed = write_continuation(loaded, out, args.steps, search.temperature, search.top_k, args.seed, primer,
                                  args.bpm)  # fmt: skip
    print(f"wrote {out} ({primed} primer + {args.steps} generated frames on the {grid} grid) and {png}")
    return 0


GENERATE = Handler(generate_args, generate, "continue a MIDI primer with a piano-roll model")
EVALUATE = evaluate_handler(TASK, "nats per frame", "frames")
