"""Video figures for ``make bench``: decode-only frames/s (the ceiling), decode + resize +
backbone frames/s (feature extraction; ResNet-18 on a CPU, ResNet-50 on a GPU, random weights:
speed does not depend on them), and the tagger's labelling frames/s on the features. The clip is
generated (320 x 320, H.264), so the figures need no data."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import sync
from seq2seq.config import ModelConfig
from seq2seq.nn.models import Dims, build_model


def bench_video(device: torch.device, peak: float, quick: bool) -> list[dict[str, Any]]:
    from seq2seq.video.decode import Frames
    from seq2seq.video.features import Extraction, Extractor
    from seq2seq.video.synth import write_clip

    backbone = "resnet18" if device.type == "cpu" else "resnet50"
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_clip(Path(tmp) / "bench.mp4", seed=3, size=320, fps=25)
        start = time.perf_counter()
        decoded = sum(1 for _ in Frames(clip.video, None))
        ceiling = decoded / (time.perf_counter() - start)
        rows.append({"stage": "decode only", "frames": decoded, "frames_s": ceiling, "of_ceiling": 1.0})
        spec = Extraction(backbone=backbone, weights="none", size=224 if not quick else 112, fps=25)
        extractor = Extractor(spec, device, batch_size=32 if device.type == "cpu" else 128)
        start = time.perf_counter()
        feats, *_ = extractor.clip(clip.video)
        sync(device)
        rate = len(feats) / (time.perf_counter() - start)
        rows.append({"stage": f"decode + resize + {backbone}", "frames": len(feats), "frames_s": rate,
                     "of_ceiling": rate / ceiling})  # fmt: skip
    cfg = ModelConfig(kind="tagger", cell="lstm", embed_dim=64, hidden_size=64, layers=2, bidirectional=True)
    model = build_model(cfg, Dims(input_dim=feats.shape[1], output_size=6)).to(device).eval()
    x = torch.from_numpy(feats).float()[None].repeat(1, 20, 1).to(device)  # a 20x longer video
    with torch.inference_mode():
        model(x)
        sync(device)
        start = time.perf_counter()
        model(x)
        sync(device)
        rate = x.size(1) / (time.perf_counter() - start)
    rows.append({"stage": "tagger on features (BiLSTM 2x64)", "frames": x.size(1), "frames_s": rate,
                 "of_ceiling": rate / ceiling})  # fmt: skip
    return rows
