"""Feature extraction speed against the decode-only ceiling, per picture size and backbone.

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python -m benchmarks.video_speed

For each clip size (the demo's 64x64 clips, and 320x320) a generated H.264 clip is decoded alone
(sampling every frame: the ceiling), then run through ``Extractor`` (decode and scale in a thread,
backbone batches of 32) with each backbone and picture size. Prints frames/s by the wall clock and
by the process's CPU time (what a core of one's own would give, when others share it), and the
share of the ceiling.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

CASES = [  # (clip size, backbone, weights, picture size)
    (64, "efficientnet_lite0", "DEFAULT", 128),
    (64, "efficientnet_lite0", "DEFAULT", 224),
    (64, "resnet18", "none", 64),
    (320, "efficientnet_lite0", "DEFAULT", 224),
    (320, "resnet18", "none", 224),
]


def main() -> None:
    import torch

    from seq2seq.runtime import resolve_device
    from seq2seq.video.decode import Frames
    from seq2seq.video.features import Extractor, spec_for
    from seq2seq.video.synth import write_clip

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args()
    device = resolve_device(args.device)
    print(f"{'clip':>8} {'stage':<40} {'frames':>7} {'frames/s':>9} {'per CPU s':>10} {'of ceiling':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        ceilings = {}
        for clip_size in sorted({c[0] for c in CASES}):
            clip = write_clip(Path(tmp) / f"c{clip_size}.mp4", seed=3, size=clip_size, fps=25)
            start, cpu = time.perf_counter(), time.process_time()
            n = sum(1 for _ in Frames(clip.video, None))
            rate, cpu_rate = n / (time.perf_counter() - start), n / (time.process_time() - cpu)
            ceilings[clip_size] = (clip.video, cpu_rate)
            print(f"{clip_size:>8} {'decode only':<40} {n:>7} {rate:>9.0f} {cpu_rate:>10.0f} {1:>11.2f}")
        for clip_size, backbone, weights, size in CASES:
            path, ceiling = ceilings[clip_size]
            extractor = Extractor(spec_for(backbone, weights, size, 25.0), device, args.batch_size)
            extractor.clip(path)  # warm-up
            start, cpu = time.perf_counter(), time.process_time()
            feats, *_ = extractor.clip(path)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            rate, cpu_rate = len(feats) / (time.perf_counter() - start), len(feats) / (time.process_time() - cpu)
            stage = f"decode + scale + {backbone} at {size}"
            share = cpu_rate / ceiling
            row = f"{clip_size:>8} {stage:<40} {len(feats):>7} {rate:>9.0f} {cpu_rate:>10.0f} {share:>11.3f}"
            print(row, flush=True)


if __name__ == "__main__":
    main()
