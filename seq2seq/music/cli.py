"""The music task's commands: ``seq2seq generate`` and ``seq2seq evaluate`` for piano-roll models."""

from __future__ import annotations

import argparse
from pathlib import Path

from seq2seq.commands import Handler, writable_file
from seq2seq.errors import UserError
from seq2seq.nextstep import evaluate_handler, sampling_args

TASK = "music"


def generate_args(p: argparse.ArgumentParser) -> None:
    sampling_args(p, "frame", "a MIDI file to continue (default: the start of the first training piece)",
                  "at most k keys per frame, the likeliest")  # fmt: skip
    p.add_argument("--bpm", type=float, help="tempo of the written MIDI file (default: the primer file's tempo, "
                   "else 120)")  # fmt: skip
    p.add_argument("--num-outputs", type=int, default=1, metavar="N", help="write N samples: out-1.mid ... "
                   "out-N.mid, each with its PNG; with --seed S the k-th uses seed S + k - 1 (default 1)")  # fmt: skip
    p.add_argument("-o", "--output", default="generated.mid", help="output .mid; a .png beside it (default "
                   "generated.mid)")  # fmt: skip


def output_names(out: Path, n: int) -> list[Path]:
    """``out`` itself for one sample; out-1.mid ... out-N.mid for N."""
    return [out] if n == 1 else [out.with_name(f"{out.stem}-{k}{out.suffix}") for k in range(1, n + 1)]


def generate(args: argparse.Namespace) -> int:
    """A thin layer over ``MusicModel.generate``: the primer file read here (to warn about notes
    outside the keys and tempo or metre changes), each sample written as MIDI (at the primer's
    tempo, metre and velocities unless --bpm) and a PNG."""
    import math

    from seq2seq.api import MusicModel
    from seq2seq.inference import load_model
    from seq2seq.music.midi import read_midi, warn

    if args.steps < 1:
        raise UserError("--steps must be at least 1")
    if args.num_outputs < 1:
        raise UserError(f"--num-outputs: must be at least 1, got {args.num_outputs}")
    if args.bpm is not None and not (math.isfinite(args.bpm) and args.bpm > 0):
        raise UserError(f"--bpm: must be a finite number above 0, got {args.bpm}")
    out = Path(args.output)
    if not out.suffix:
        out = out.with_suffix(".mid")
    if out.suffix.lower() not in (".mid", ".midi"):
        raise UserError(f"-o {out}: a piano-roll model writes MIDI; give a .mid or .midi file name (or no suffix)")
    outs = output_names(out, args.num_outputs)
    for path in outs:
        writable_file(path, "-o")
    model = MusicModel(load_model(args.model, args.device, task=TASK, command="seq2seq generate"))
    grid = model.cfg.data.grid
    primer = None
    if args.primer:
        primer = read_midi(args.primer, grid)
        if primer.dropped:
            warn(f"{args.primer}: dropped {primer.dropped} primer notes outside the 88 piano keys")
        changes = [f"{n} tempos" for n in [primer.tempos] if n > 1 and args.bpm is None]
        changes += [f"{n} time signatures" for n in [primer.time_signatures] if n > 1]
        if changes:
            bpm, meter = primer.bpm if args.bpm is None else args.bpm, "/".join(map(str, primer.time_signature))
            warn(f"{args.primer}: the primer has {' and '.join(changes)}; the output keeps one throughout "
                 f"({bpm:g} bpm, {meter})")  # fmt: skip
    for k, path in enumerate(outs):
        seed = None if args.seed is None else args.seed + k
        song = model.generate(primer, args.steps, args.temperature, args.top_k, seed)
        song.to_midi(path, args.bpm)
        png = song.to_png(path.with_suffix(".png"))
        print(f"wrote {path} ({song.primer_frames} primer + {args.steps} generated frames on the {grid} grid) "
              f"and {png}")  # fmt: skip
    return 0


GENERATE = Handler(generate_args, generate, "continue a MIDI primer with a piano-roll model")
EVALUATE = evaluate_handler(TASK, "nats per frame", "frames")
