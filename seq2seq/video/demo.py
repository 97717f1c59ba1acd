"""``make video-demo``: raw generated clips to labelled frames, end to end, on a CPU.

Generates labelled clips (``synth``), extracts per-frame features with a small randomly
initialised torchvision backbone (no download: the demo runs offline), trains
``recipes/video/demo.toml``, labels a held-out clip from its raw video (``seq2seq label``'s
pipeline, with its timeline PNG) and prints the held-out metrics.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

RECIPES = Path(__file__).resolve().parents[2] / "recipes"

TRAIN_CLIPS = 150
HELDOUT_CLIPS = 12
CLIP_SIZE = 64  # pixels of the generated clips
BACKBONE = "resnet18"  # randomly initialised (seed 0): offline, and cheap at FEATURE_SIZE
FEATURE_SIZE = 32
FPS = 8.0


def demo(out: Path, device: str) -> dict[str, str]:
    """Generate, extract, train, label; returns {what: path} of the outputs."""
    import torch

    from seq2seq.config import load_config
    from seq2seq.inference import load_model
    from seq2seq.runtime import resolve_device
    from seq2seq.train import Trainer
    from seq2seq.video.features import Extraction, Extractor, extract
    from seq2seq.video.label import Labeller
    from seq2seq.video.synth import write_clips

    root = out / "video"
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    train = write_clips(root / "clips" / "train", TRAIN_CLIPS, seed=1000, size=CLIP_SIZE)
    held = write_clips(root / "clips" / "heldout", HELDOUT_CLIPS, seed=90_000, size=CLIP_SIZE)
    print(f"  generated {len(train)} training and {len(held)} held-out clips in {time.perf_counter() - started:.0f} s")

    data = root / "data"
    spec = Extraction(backbone=BACKBONE, weights="none", size=FEATURE_SIZE, fps=FPS)
    extractor = Extractor(spec, resolve_device(device))
    for clips, bundle in ((train, "train"), (held, "valid")):
        report = extract([c.video for c in clips], data, extractor, bundle=bundle, progress=False)
        if report.failed:
            raise RuntimeError(f"feature extraction failed: {report.failed}")
        print(f"  {bundle}: {report.frames} frames of features at {report.fps:.0f} frames/s")

    run = root / "model"
    cfg = load_config(
        RECIPES / "video" / "demo.toml",
        [f"data.root={data}", f"train.out_dir={run}", f"train.device={device}"],
    )
    with torch.random.fork_rng():
        summary = Trainer(cfg).fit()
    scores = json.loads((run / "valid_scores.json").read_text(encoding="utf-8"))["overall"]
    shown = "  ".join(f"{k} {scores[k]:.1f}" for k in ("accuracy", "edit", "f1@10", "f1@25", "f1@50"))
    print(f"  held-out clips ({int(scores['videos'])}): {shown}")

    loaded = load_model(run / "best.pt", device, task="video")
    clip = held[0]
    result = Labeller(loaded).label(clip.video, root / "labelled", truth=clip.segments)
    one = "  ".join(f"{k} {result.scores[k]:.1f}" for k in ("accuracy", "edit", "f1@50"))
    print(f"  labelled {clip.video.name} from raw video: {len(result.segments)} segments, {one}")
    print(f"  timeline: {result.outputs['timeline']}")
    return {
        **summary.get("outputs", {}),
        "held-out clip labels": result.outputs["labels"],
        "held-out clip segments": result.outputs["segments"],
        "held-out clip timeline": result.outputs["timeline"],
    }
