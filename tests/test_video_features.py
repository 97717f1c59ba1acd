"""Feature extraction on generated clips: shape, labels, resumability, weights, audio, bad clips."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torchvision

from seq2seq.cli import main
from seq2seq.video.decode import DecodeError, frames
from seq2seq.video.features import BackboneError, Extraction, Extractor, extract, load_backbone, strip_classifier
from seq2seq.video.layout import read_bundle, read_frame_labels, read_mapping
from seq2seq.video.synth import write_clip

SPEC = dict(backbone="resnet18", weights="none", size=32, fps=6.0)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list:
    folder = tmp_path_factory.mktemp("clips")
    return [write_clip(folder / f"clip{i}.mp4", seed=i, size=48) for i in range(2)]


def test_strip_classifier_exposes_the_penultimate_features():
    for name, dim in (("resnet18", 512), ("mobilenet_v3_small", 1024)):
        model = strip_classifier(torchvision.models.get_model(name, weights=None)).eval()
        with torch.no_grad():
            assert model(torch.zeros(1, 3, 32, 32)).shape == (1, dim)


def test_extraction_writes_the_layout_and_is_resumable(clips, tmp_path, capsys):
    out = tmp_path / "data"
    args = ["extract-features", *(str(c.video) for c in clips), "-o", str(out), "--backbone", "resnet18"]
    args += ["--weights", "none", "--size", "32", "--fps", "6", "--bundle", "train", "--device", "cpu"]
    assert main(args) == 0
    assert "extracted 2 clips" in capsys.readouterr().out
    for clip in clips:
        feats = np.load(out / "features" / f"{clip.video.stem}.npy")
        n = len(list(frames(clip.video, fps=6)))
        assert feats.shape == (512, n) and feats.dtype == np.float32  # (D, T)
        labels = read_frame_labels(out / "groundTruth" / f"{clip.video.stem}.txt")
        times = [k / 6 for k in range(n)]
        expected = [clip.labels[max(i for i, t in enumerate(clip.times) if t <= s + 1e-6)] for s in times]
        assert labels == expected
    assert set(read_mapping(out / "mapping.txt")) == {lab for c in clips for lab in c.labels}
    assert read_bundle(out / "splits" / "train.bundle") == [c.video.stem for c in clips]
    info = json.loads((out / "extraction.json").read_text())
    assert info["dim"] == 512 and info["fps"] == 6.0 and (out / "backbone.pt").is_file()

    before = {p: p.stat().st_mtime_ns for p in (out / "features").iterdir()}
    assert main(args) == 0
    assert "skipped 2 already done" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in (out / "features").iterdir()} == before
    args[args.index("--fps") + 1] = "5"
    assert main(args) == 2  # another sampling rate into the same folder is refused
    assert "extraction.json" in capsys.readouterr().err


def test_float16_and_a_failing_clip_among_good_ones(clips, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(clips[0].video.read_bytes()[:3000])
    extractor = Extractor(Extraction(**SPEC), torch.device("cpu"))
    out = tmp_path / "data"
    report = extract([clips[0].video, bad, clips[1].video], out, extractor, float16=True, progress=False)
    assert report.done == ["clip0", "clip1"] and list(report.failed) == [str(bad)]
    assert "broken.mp4" in report.failed[str(bad)]
    assert np.load(out / "features" / "clip0.npy").dtype == np.float16
    assert not (out / "features" / "broken.npy").exists()
    assert not [p for p in (out / "features").iterdir() if p.name.startswith(".")]  # no temporary files left


def test_weights_by_file_and_bad_weights(tmp_path):
    model = strip_classifier(torchvision.models.resnet18(weights=None))
    torch.save({"state_dict": torchvision.models.resnet18(weights=None).state_dict()}, tmp_path / "w.pt")
    loaded = load_backbone(Extraction(backbone="resnet18", weights=str(tmp_path / "w.pt")))
    saved = torch.load(tmp_path / "w.pt")["state_dict"]
    assert torch.equal(loaded.conv1.weight, saved["conv1.weight"])
    assert model.fc.__class__.__name__ == "Identity"
    with pytest.raises(BackboneError, match="not a weights name of resnet18; use one of IMAGENET1K_V1"):
        load_backbone(Extraction(backbone="resnet18", weights="IMAGENET9K"))
    with pytest.raises(BackboneError, match="unknown backbone 'resnet7'"):
        load_backbone(Extraction(backbone="resnet7", weights="none"))
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), tmp_path / "r34.pt")
    with pytest.raises(BackboneError, match="tensors that resnet18 does not have, e.g. 'layer1.2"):
        load_backbone(Extraction(backbone="resnet18", weights=str(tmp_path / "r34.pt")))
    wide = torchvision.models.resnet18(weights=None).state_dict()
    wide["conv1.weight"] = torch.zeros(64, 4, 7, 7)
    torch.save(wide, tmp_path / "wide.pt")
    with pytest.raises(BackboneError, match=r"'conv1.weight' has shape \(64, 4, 7, 7\)"):
        load_backbone(Extraction(backbone="resnet18", weights=str(tmp_path / "wide.pt")))
    # the same seed gives the same random backbone, so a checkpoint can rebuild it
    a, b = load_backbone(Extraction(**SPEC)), load_backbone(Extraction(**SPEC))
    assert torch.equal(a.conv1.weight, b.conv1.weight)


def test_audio_log_mel_features_are_appended(tmp_path):
    path = tmp_path / "sound.mp4"
    rate, fps, seconds = 16000, 10, 2
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width = v.height = 32
        v.pix_fmt = "yuv420p"
        a = c.add_stream("aac", rate=rate)
        for i in range(fps * seconds):
            img = np.full((32, 32, 3), 40 * (i % 5), np.uint8)
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        t = np.arange(rate * seconds) / rate
        tone = (0.5 * np.sin(2 * np.pi * 440 * t) * (t >= 1.0)).astype(np.float32)  # silence, then a tone
        for start in range(0, len(tone), 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            for p in a.encode(frame):
                c.mux(p)
        for stream in (v, a):
            for p in stream.encode():
                c.mux(p)
    spec = Extraction(**{**SPEC, "fps": 10.0}, audio=True, n_mels=16)
    feats, _, times, _ = Extractor(spec, torch.device("cpu")).clip(path)
    assert spec.dim == 512 + 16 and feats.shape == (len(times), 528)
    mel = feats[:, 512:]
    quiet, loud = mel[[i for i, t in enumerate(times) if t < 0.8]], mel[[i for i, t in enumerate(times) if t > 1.2]]
    assert loud.max(1).mean() > quiet.max(1).mean() + 10  # the tone shows up, in the right frames
    silent = write_clip(tmp_path / "silent.mp4", seed=1, size=32)
    with pytest.raises(DecodeError, match="silent.mp4: has no sound track"):
        Extractor(spec, torch.device("cpu")).clip(silent.video)


def test_extract_cli_reports_each_failure(clips, tmp_path, capsys):
    (tmp_path / "empty.mp4").write_bytes(b"")
    args = ["extract-features", str(clips[0].video), str(tmp_path / "empty.mp4"), "-o", str(tmp_path / "d")]
    args += ["--weights", "none", "--size", "32", "--fps", "4", "--device", "cpu"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "1 of 2 clips failed" in err and "empty.mp4" in err
    assert Path(tmp_path / "d" / "features" / "clip0.npy").is_file()
