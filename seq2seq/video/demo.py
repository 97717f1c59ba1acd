"""``make video-demo``: raw generated clips to labelled frames, end to end, on a CPU.

Generates labelled clips (``synth``), extracts per-frame features with the packaged
ImageNet-pretrained EfficientNet-Lite0 (no download: the demo runs offline), trains
``recipes/video/demo.toml`` (the checkpoint chosen on validation clips), scores it once on
test clips that played no part in training or in the choice, and labels a test clip from its raw
video (``seq2seq label``'s pipeline, with its timeline PNG).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

TRAIN_CLIPS = 150  # pretrained features: 150 suffice (the random backbone's needed 300) and cost half the time
TRAIN_SEED = 1000  # clip seeds TRAIN_SEED, TRAIN_SEED + 1, ...
VALID_CLIPS = 24  # choose the checkpoint; 12 clips (~830 frames) moved the figure by +-2 points
TEST_CLIPS = 24  # scored once, at the end
CLIP_SIZE = 64  # pixels of the generated clips
BACKBONE, WEIGHTS = "efficientnet_lite0", "DEFAULT"  # packaged, pretrained on ImageNet: offline
FEATURE_SIZE = 128  # pictures the backbone sees (the 64 px clips scaled up); 224, its training size, costs 3x
CROP = 1.0  # the whole frame: objects leave through its border, which the weights' 0.875 centre crop cuts off
FPS = 8.0


def demo(
    out: Path, device: str, clips: tuple[int, int, int] = (TRAIN_CLIPS, VALID_CLIPS, TEST_CLIPS), overrides=()
) -> dict[str, str]:
    """Generate, extract, train, label; returns {what: path} of the outputs. ``clips``: how many
    training, validation and test clips; ``overrides``: ``--set`` overrides of the recipe (a
    smaller run for the tests)."""
    import torch

    from seq2seq.inference import load_model
    from seq2seq.records import write_json
    from seq2seq.registry import load_config
    from seq2seq.runtime import resolve_device
    from seq2seq.trainer import Trainer
    from seq2seq.video.features import Extractor, extract, spec_for
    from seq2seq.video.label import Labeller
    from seq2seq.video.synth import write_clips

    root = out / "video"
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    n_train, n_valid, n_test = clips
    train = write_clips(root / "clips" / "train", n_train, seed=TRAIN_SEED, size=CLIP_SIZE)
    valid = write_clips(root / "clips" / "valid", n_valid, seed=90_000, size=CLIP_SIZE)
    test = write_clips(root / "clips" / "test", n_test, seed=95_000, size=CLIP_SIZE)
    took = time.perf_counter() - started
    print(f"  generated {len(train)} training, {len(valid)} validation and {len(test)} test clips in {took:.0f} s")

    data = root / "data"
    spec = spec_for(BACKBONE, WEIGHTS, FEATURE_SIZE, FPS, crop=CROP)  # scaled and normalised as the weights expect
    extractor = Extractor(spec, resolve_device(device))
    for clips, bundle in ((train, "train"), (valid, "valid"), (test, "test")):
        report = extract([c.video for c in clips], data, extractor, bundle=bundle, progress=False)
        if report.failed:
            raise RuntimeError(f"feature extraction failed: {report.failed}")
        print(f"  {bundle}: {report.frames} frames of features in {report.seconds:.0f} s ({report.fps:.0f} frames/s)")

    run = root / "model"
    cfg = load_config(
        "video/demo",
        [f"data.root={data}", f"train.out_dir={run}", f"train.device={device}", *overrides],
    )
    started = time.perf_counter()
    with torch.random.fork_rng():
        summary = Trainer.from_config(cfg).fit()
    print(f"  trained in {time.perf_counter() - started:.0f} s")
    keys = ("accuracy", "edit", "f1@10", "f1@25", "f1@50")
    scores = json.loads((run / "valid_scores.json").read_text(encoding="utf-8"))["overall"]
    print(
        f"  validation clips ({int(scores['videos'])}, chose best.pt): "
        + "  ".join(f"{k} {scores[k]:.1f}" for k in keys)
    )

    loaded = load_model(run / "best.pt", device, task="video")
    tested, _ = loaded.task.score(loaded.model, loaded.task.videos("test"))
    overall = tested.summary()
    report = run / "test_scores.json"
    write_json(report, {"overall": overall, "videos": tested.per_video})
    print(f"  test clips ({int(overall['videos'])}, scored once): " + "  ".join(f"{k} {overall[k]:.1f}" for k in keys))

    clip = test[0]
    result = Labeller(loaded).label(clip.video, root / "labelled", truth=clip.segments)
    one = "  ".join(f"{k} {result.scores[k]:.1f}" for k in ("accuracy", "edit", "f1@50"))
    print(f"  labelled {clip.video.name} from raw video: {len(result.segments)} segments, {one}")
    print(f"  timeline: {result.outputs['timeline']}")
    return {
        **summary.get("outputs", {}),
        "test scores": str(report),
        "test clip labels": result.outputs["labels"],
        "test clip segments": result.outputs["segments"],
        "test clip timeline": result.outputs["timeline"],
    }
