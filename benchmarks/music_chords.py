"""The embedded chords, sigmoid against joint (nade) frame output: NLL in nats and bits per frame
beside the best each kind of output can reach, and how well sampled continuations obey the rules.

    python -m benchmarks.music_chords [--out runs/chords] [--samples 4]

Trains ``recipes/music/demo.toml`` twice (``model.frame_output`` sigmoid, then nade; nothing else
changes), then continues 4-bar primers of 24 of the 96 renderings by 32 frames at temperatures
1.0 and 0.3 and counts the generated frames that the rules allow (``corpus.rule_share``: bass,
triad and one melody note of a chord of the cycle) and those that are the rules' own continuation.
Writes ``chords.json`` to the output folder and prints a table.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np

from seq2seq.inference import load_model
from seq2seq.music.corpus import HYPOTHESES, chord_splits, joint_bound, render, rule_share
from seq2seq.music.generate import continue_roll
from seq2seq.registry import load_config
from seq2seq.trainer import Trainer

OUTPUTS = ("sigmoid", "nade")
TEMPERATURES = (1.0, 0.3)


def samples_check(model, samples: int) -> dict[str, float]:
    """{f"rules@T", f"exact@T"}: shares of generated frames the rules allow / that continue the piece."""
    out = {}
    for temperature in TEMPERATURES:
        allowed, exact = [], []
        for h in HYPOTHESES[::4]:
            piece = render(*h, bars=12)
            for seed in range(samples):
                roll = continue_roll(model, piece[:16], 32, temperature=temperature, seed=seed)
                allowed.append(rule_share(roll))
                exact += [bool((a == b).all()) for a, b in zip(roll, piece[16:], strict=True)]
        out[f"rules@{temperature:g}"] = float(np.mean(allowed))
        out[f"exact@{temperature:g}"] = float(np.mean(exact))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/chords")
    p.add_argument("--samples", type=int, default=4, help="continuations per primer and temperature")
    args = p.parse_args(argv)
    out = Path(args.out)
    rows = {}
    for output in OUTPUTS:
        run = out / output
        shutil.rmtree(run, ignore_errors=True)
        cfg = load_config("music/demo", [f"train.out_dir={run}", "train.device=cpu", "train.progress=false",
                                         f"model.frame_output={output}"])  # fmt: skip
        start = time.perf_counter()
        summary = Trainer.from_config(cfg).fit()
        seconds = time.perf_counter() - start
        model = load_model(run / "best.pt", "cpu", task="music").model
        rows[output] = {"valid_nll": summary["best"], "bits": summary["best"] / math.log(2), "train_s": seconds,
                        **samples_check(model, args.samples)}  # fmt: skip
    cfg = load_config("music/demo")
    bounds = {"independent": chord_splits(cfg.data.corpus_pieces, cfg.data.corpus_seed)["valid"][1],
              "joint": joint_bound(cfg.data.corpus_pieces, cfg.data.corpus_seed)}  # fmt: skip
    result = {"rows": rows, "bounds_nats": bounds}
    out.mkdir(parents=True, exist_ok=True)
    (out / "chords.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"best possible: independent keys {bounds['independent']:.3f} nats ({bounds['independent'] / math.log(2):.3f}"
          f" bits), joint {bounds['joint']:.3f} nats ({bounds['joint'] / math.log(2):.3f} bits) per frame")  # fmt: skip
    print("| output | valid NLL nats | bits | rules T=1 | exact T=1 | rules T=0.3 | exact T=0.3 | training |")
    print("|---|---|---|---|---|---|---|---|")
    for output, r in rows.items():
        print(f"| {output} | {r['valid_nll']:.3f} | {r['bits']:.3f} | {r['rules@1']:.1%} | {r['exact@1']:.1%} | "
              f"{r['rules@0.3']:.1%} | {r['exact@0.3']:.1%} | {r['train_s']:.0f} s |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
