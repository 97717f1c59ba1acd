"""`seq2seq label` on real generated clips: outputs, truth, annotation, streaming = offline, failures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from seq2seq.cli import main
from seq2seq.config import load_config
from seq2seq.inference import load_model
from seq2seq.train import Trainer
from seq2seq.video.features import Extraction, Extractor, extract
from seq2seq.video.label import Labeller
from seq2seq.video.synth import write_clip

REPO = Path(__file__).resolve().parents[1]


def train_small(clips: list, root: Path, causal: bool) -> Path:
    """A small tagger on features of ``clips``: enough to give labels, not to be right."""
    data = root / "data"
    if not (data / "extraction.json").exists():
        extractor = Extractor(Extraction(backbone="resnet18", weights="none", size=32, fps=5.0), torch.device("cpu"))
        extract([c.video for c in clips], data, extractor, bundle="train", progress=False)
        (data / "splits" / "valid.bundle").write_text((data / "splits" / "train.bundle").read_text())
    run = root / ("causal" if causal else "offline")
    cfg = load_config(
        REPO / "recipes" / "video" / "demo.toml",
        [f"data.root={data}", f"train.out_dir={run}", "train.device=cpu", "train.progress=false", "train.epochs=2",
         "model.hidden_size=16", "model.embed_dim=16", f"model.bidirectional={not causal}"],
    )  # fmt: skip
    Trainer(cfg).fit()
    return run / "best.pt"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("label")
    clips = [write_clip(root / "clips" / f"clip{i}.mp4", seed=40 + i, size=48) for i in range(3)]
    return root, clips, train_small(clips, root, causal=True), train_small(clips, root, causal=False)


def test_streaming_agrees_with_offline_for_a_causal_model(setup, tmp_path, capsys):
    root, clips, causal, _ = setup
    loaded = load_model(causal, "cpu", task="video")
    labeller = Labeller(loaded, batch_size=7)  # batches that do not divide the clip
    closed = []
    offline = labeller.label(clips[0].video, tmp_path / "off")
    streamed = labeller.label(clips[0].video, tmp_path / "on", stream=True, on_segment=closed.append)
    assert streamed.labels == offline.labels and len(offline.labels) > 20
    assert [s.as_dict() for s in streamed.segments] == [s.as_dict() for s in offline.segments]
    assert closed == streamed.segments  # each segment reported as it closed
    a = list(csv.reader(open(offline.outputs["labels"])))
    b = list(csv.reader(open(streamed.outputs["labels"])))
    assert a[0] == ["frame", "time", "label", "confidence"] and len(a) == len(offline.labels) + 1
    for row_a, row_b in zip(a[1:], b[1:], strict=True):
        assert row_a[:3] == row_b[:3] and float(row_a[3]) == pytest.approx(float(row_b[3]), abs=1e-3)


def test_label_cli_writes_outputs_and_survives_a_bad_clip(setup, tmp_path, capsys):
    root, clips, _, offline = setup
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clips[1].video.read_bytes()[:2000])
    out = tmp_path / "out"
    truth = root / "clips"
    args = ["label", str(clips[0].video), str(broken), str(clips[2].video), "-m", str(offline), "-o", str(out)]
    assert main([*args, "--truth", str(truth), "--device", "cpu"]) == 1
    captured = capsys.readouterr()
    assert "1 of 3 clips failed" in captured.err and "broken.mp4" in captured.err
    assert "overall (2 clips)" in captured.out
    for clip in (clips[0], clips[2]):
        name = clip.video.stem
        rows = list(csv.DictReader(open(out / f"{name}.labels.csv")))
        segments = json.loads((out / f"{name}.segments.json").read_text())["segments"]
        assert segments[0]["start_frame"] == 0 and segments[-1]["end_frame"] == len(rows)
        assert sum(s["end_frame"] - s["start_frame"] for s in segments) == len(rows)
        assert (out / f"{name}.timeline.png").stat().st_size > 1000
    assert not list(out.glob("broken*")) and not list(out.glob(".*"))

    # a folder of clips in one call, and the annotated copy of one clip
    annotated = tmp_path / "annotated.mp4"
    assert main(["label", str(clips[2].video), "-m", str(offline), "-o", str(out), "--annotate", str(annotated)]) == 0
    with av.open(str(annotated)) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert n == len(list(csv.reader(open(out / "clip2.labels.csv")))) - 1
    assert main(["label", str(root / "clips"), "-m", str(offline), "-o", str(tmp_path / "all")]) == 0
    assert len(list((tmp_path / "all").glob("*.labels.csv"))) == 3


def test_label_refusals_are_one_line_errors(setup, tmp_path, capsys):
    root, clips, _, offline = setup
    assert main(["label", str(clips[0].video), "-m", str(offline), "--stream", "-o", str(tmp_path)]) == 2
    assert "--stream needs a causal tagger" in capsys.readouterr().err
    gtea_like = tmp_path / "plain"
    np.save(tmp_path / "x.npy", np.zeros(3))
    ckpt = torch.load(offline, weights_only=True)
    ckpt["task_state"]["extraction"] = None
    torch.save(ckpt, gtea_like)
    assert main(["label", str(clips[0].video), "-m", str(gtea_like), "-o", str(tmp_path)]) == 2
    assert "no extraction record" in capsys.readouterr().err
