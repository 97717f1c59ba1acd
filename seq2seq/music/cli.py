"""``seq2seq generate``, ``seq2seq inspect`` and the music part of ``seq2seq evaluate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from seq2seq.music.rolls import MusicDataError

USER_ERRORS = (MusicDataError,)
TASK = "music"


def register(sub: argparse._SubParsersAction) -> None:
    from seq2seq.cli import add_device

    p = sub.add_parser("generate", help="continue a primer (MIDI file or text) with a music or text model")
    p.add_argument("-m", "--model", required=True, help="checkpoint of a music-task model")
    p.add_argument("--primer", help="a MIDI file (piano-roll model) or the text to continue (text model); "
                   "default: the start of the first training piece")  # fmt: skip
    p.add_argument("--steps", type=int, default=256, help="frames or characters to generate")
    p.add_argument("--temperature", type=float, default=1.0, help="0: the likeliest outcome each step")
    p.add_argument("--top-k", type=int, default=0, help="text: sample among the k likeliest characters; "
                   "piano roll: at most k keys per frame")  # fmt: skip
    p.add_argument("--top-p", type=float, default=1.0, help="text only: nucleus sampling")
    p.add_argument("--seed", type=int, help="random seed: the same seed gives the same output")
    p.add_argument("--bpm", type=float, default=120.0, help="tempo of the written MIDI file (quarter notes)")
    p.add_argument("-o", "--output", help="output .mid (piano roll; a .png beside it) or text file")
    add_device(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("inspect", help="draw a character model's units over a text; find interpretable ones")
    p.add_argument("-m", "--model", required=True, help="checkpoint of a character (text) model")
    p.add_argument("--text", required=True, help="UTF-8 text file to run the model over")
    p.add_argument("--layer", type=int, default=-1, help="recurrent layer (default: the last)")
    p.add_argument("--state", default="", help="h, c (LSTM), or a gate (i f g o / r z n); default c for an "
                   "LSTM, else h")  # fmt: skip
    p.add_argument("--units", default="", help="comma-separated units to draw (default: the best per property)")
    p.add_argument("--top", type=int, default=5, help="units listed per property")
    p.add_argument("--max-chars", type=int, default=2000, help="read at most this many characters")
    p.add_argument("-o", "--out", default="inspect", help="output folder (inspect.html, inspect.png, units.json)")
    add_device(p)
    p.set_defaults(func=cmd_inspect)


# -- generate --------------------------------------------------------------------------------
def cmd_generate(args: argparse.Namespace) -> int:
    from seq2seq.cli import UserError
    from seq2seq.inference import load_model

    if args.steps < 1:
        raise UserError("--steps must be at least 1")
    if args.temperature < 0 or not 0 < args.top_p <= 1 or args.top_k < 0:
        raise UserError("need --temperature >= 0, 0 < --top-p <= 1 and --top-k >= 0")
    loaded = load_model(args.model, args.device, task=TASK, command="seq2seq generate")
    if loaded.task.mode == "text":
        return _generate_text(args, loaded)
    if args.top_p < 1.0:
        raise UserError(
            "--top-p applies to text models; for a piano roll use --top-k (keys per frame) or --temperature"
        )
    return _generate_roll(args, loaded)


def _generate_roll(args: argparse.Namespace, loaded) -> int:
    import numpy as np

    from seq2seq.music.generate import continue_roll
    from seq2seq.music.midi import midi_to_roll, roll_to_midi, warn
    from seq2seq.music.plots import piano_roll_png

    grid = loaded.cfg.data.grid
    if args.primer:
        primer, dropped = midi_to_roll(args.primer, grid)
        if dropped:
            warn(f"{args.primer}: dropped {dropped} primer notes outside the 88 piano keys")
    else:
        primer = loaded.task.primer_roll()
    continuation = continue_roll(loaded.model, primer, args.steps, args.temperature, args.top_k, args.seed)
    roll = np.concatenate([primer, continuation])
    out = Path(args.output or "generated.mid")
    if out.suffix.lower() not in (".mid", ".midi"):
        out = out.with_suffix(".mid")
    roll_to_midi(roll, out, grid, args.bpm)
    png = piano_roll_png(roll, out.with_suffix(".png"), len(primer), f"{out.name}: primer + {args.steps} frames")
    print(f"wrote {out} ({len(primer)} primer + {args.steps} generated frames on the {grid} grid) and {png}")
    return 0


def _generate_text(args: argparse.Namespace, loaded) -> int:
    from seq2seq.checkpoint import atomic_write
    from seq2seq.music.generate import continue_text

    primer = args.primer if args.primer is not None else loaded.task.primer
    loaded.task.vocab.check(primer, "--primer", strict=False)
    text = continue_text(
        loaded.model, loaded.task.vocab, primer, args.steps, args.temperature, args.top_k, args.top_p, args.seed
    )
    print(primer + text)
    if args.output:
        atomic_write(args.output, lambda f: f.write((primer + text).encode("utf-8")))
        print(f"wrote {args.output}")
    return 0


# -- inspect ---------------------------------------------------------------------------------
def cmd_inspect(args: argparse.Namespace) -> int:
    import json

    from seq2seq.cli import UserError
    from seq2seq.inference import load_model
    from seq2seq.music import inspect as units
    from seq2seq.music.text import read_text

    loaded = load_model(args.model, args.device, task=TASK, command="seq2seq inspect", reference=True)
    if loaded.task.mode != "text":
        raise UserError(f"{args.model}: a piano-roll model; inspect reads text, so it needs a character model")
    text = read_text(args.text)[: args.max_chars]
    if len(text) < 2:
        raise MusicDataError(f"{args.text}: fewer than 2 characters to read")
    loaded.task.vocab.check(text, args.text, strict=False)
    recorded = units.record(loaded.model, loaded.task.vocab, text)
    m = loaded.cfg.model
    layer = args.layer if args.layer >= 0 else m.layers + args.layer
    state = args.state or ("c" if m.cell == "lstm" else "h")
    key = f"layer {layer} {state}"
    if key not in recorded:
        names = sorted({k.split()[-1] for k in recorded})
        raise UserError(f"no '{state}' in layer {args.layer} of this {m.cell} model ({m.layers} layers); "
                        f"states: {', '.join(names)}")  # fmt: skip
    acts = recorded[key]
    found = units.correlations(acts, units.text_properties(text), args.top)
    chosen: list[int] = []
    if args.units:
        try:
            chosen = [int(u) for u in args.units.split(",") if u.strip()]
        except ValueError:
            raise UserError(f"--units {args.units!r}: give unit numbers, e.g. --units 3,17") from None
        bad = [u for u in chosen if not 0 <= u < acts.shape[1]]
        if bad:
            raise UserError(f"--units: {bad} out of range; layer {layer} has units 0..{acts.shape[1] - 1}")
    else:
        chosen = list(dict.fromkeys(best[0][0] for best in found.values() if best))
    best_for = {u: (p, r) for p, ranked in found.items() for u, r in ranked[:1]}
    panels = []
    for u in chosen:
        note = f"  (r = {best_for[u][1]:+.2f} with {best_for[u][0]})" if u in best_for else ""
        panels.append((f"{key} unit {u}{note}", acts[:, u]))
    out = Path(args.out)
    html_path = units.write_html(out / "inspect.html", text, panels)
    png_path = units.write_png(out / "inspect.png", text[:1200], [(t, v[:1200]) for t, v in panels])
    report = {"state": key, "characters": len(text), "top_units": {p: [{"unit": u, "r": r} for u, r in v]
              for p, v in found.items()}, "drawn": chosen}  # fmt: skip
    (out / "units.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for prop, ranked in found.items():
        shown = ", ".join(f"{u} ({r:+.2f})" for u, r in ranked) or "(constant in this text)"
        print(f"{prop:16s} {shown}")
    print(f"wrote {html_path}, {png_path} and {out / 'units.json'}")
    return 0


# -- evaluate --------------------------------------------------------------------------------
def evaluate(args: argparse.Namespace) -> int | None:
    """``seq2seq evaluate -m CKPT [--data PATH] [--split S]``: NLL per split of a music model.
    Returns None for other tasks' checkpoints."""
    from seq2seq.checkpoint import checkpoint_task
    from seq2seq.cli import UserError
    from seq2seq.inference import load_model
    from seq2seq.music.rolls import SPLITS

    if not args.model or checkpoint_task(args.model) != TASK:
        return None
    if args.split and args.split not in SPLITS:
        raise UserError(f"--split {args.split}: use one of {', '.join(SPLITS)}")
    loaded = load_model(args.model, args.device, task=TASK)
    if args.data:
        loaded.cfg.data.path, loaded.cfg.data.format = args.data, "auto"
    where = loaded.cfg.data.path or f"embedded {loaded.cfg.data.corpus} corpus"
    unit = "bpc" if loaded.task.mode == "text" else "nll"
    per = "bits per character" if unit == "bpc" else "nats per frame"
    for split in [args.split] if args.split else list(SPLITS):
        scores = loaded.task.metrics(loaded.model, split)
        steps = "characters" if unit == "bpc" else "frames"
        print(f"{split:5s} {unit} {scores[unit]:.4f} {per} ({scores['steps']} predicted {steps}; {where})")
    return 0
