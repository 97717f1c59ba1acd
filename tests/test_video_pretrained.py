"""The packaged pretrained backbone (EfficientNet-Lite0, offline): it classifies real photographs,
its preprocessing is recorded and reused, checkpoints refer to it by hash, and features made
another way than a checkpoint's are refused."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from seq2seq.cli import main
from seq2seq.video import pretrained
from seq2seq.video.features import (
    BackboneError,
    Extraction,
    ExtractionMismatch,
    background,
    check_same,
    load_backbone,
    picture,
    spec_for,
)
from seq2seq.video.synth import write_clip


def photographs() -> dict[str, np.ndarray]:
    """Real photographs shipped by installed packages: scikit-image's cat and coffee, and
    matplotlib's Grace Hopper (in uniform)."""
    import matplotlib
    import skimage.data

    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return {"cat": skimage.data.chelsea(), "coffee": skimage.data.coffee(),
            "hopper": np.asarray(Image.open(hopper).convert("RGB"))}  # fmt: skip


def test_the_packaged_backbone_classifies_real_photographs():
    from torchvision.models import ResNet18_Weights  # the ImageNet class names; no weights are fetched

    categories = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    spec = spec_for()  # the default: packaged EfficientNet-Lite0, preprocessed as it was trained
    model = pretrained.load(spec.size)
    expected = {"cat": {"Egyptian cat", "tabby", "tiger cat"}, "coffee": {"espresso"}, "hopper": {"military uniform"}}
    for name, image in photographs().items():
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        x = torch.from_numpy(picture(frame, spec)[None]).permute(0, 3, 1, 2).float() / 255  # the extractor's path
        x = (x - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
        with torch.no_grad():
            top5 = {categories[i] for i in model(x).topk(5).indices[0].tolist()}
        assert top5 & expected[name], (name, top5)
    features = load_backbone(spec)  # without its classifier: the 1280 pooled features
    with torch.no_grad():
        assert features(torch.zeros(2, 3, spec.size, spec.size)).shape == (2, pretrained.DIM)


def test_fusing_for_inference_keeps_the_outputs():
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        plain, fused = pretrained.load(96, fused=False)(x), pretrained.load(96)(x)
    assert torch.allclose(plain, fused, atol=1e-4 * float(plain.abs().max()))


def test_preprocessing_follows_the_weights_and_is_recorded():
    spec = spec_for()
    assert (spec.backbone, spec.weights, spec.size, spec.resize) == ("efficientnet_lite0", "IMAGENET1K", 224, "crop")
    assert spec.crop == pytest.approx(0.875) and spec.interpolation == "bicubic"
    assert spec.mean == pytest.approx((127 / 255,) * 3) and spec.std == pytest.approx((128 / 255,) * 3)
    assert spec.weights_sha256 == pretrained.SHA256
    tv = spec_for("resnet18", "DEFAULT", size=112)  # torchvision's own transforms(): no download needed
    assert (tv.resize, tv.crop, tv.interpolation, tv.size) == ("crop", 224 / 256, "bilinear", 112)
    assert tv.mean == pytest.approx((0.485, 0.456, 0.406))
    random = spec_for("resnet18", "none", size=32)
    assert (random.resize, random.crop, random.weights_sha256) == ("stretch", 1.0, "")
    assert Extraction.from_dict(json.loads(json.dumps(spec.__dict__))) == spec  # JSON lists back to tuples
    with pytest.raises(BackboneError, match="'IMAGENET9K' is not a weights name of efficientnet_lite0"):
        spec_for(weights="IMAGENET9K")
    with pytest.raises(BackboneError, match="--crop 1.5: give the fraction"):
        spec_for(crop=1.5)


def test_a_frame_is_scaled_then_centre_cropped():
    image = np.zeros((40, 80, 3), np.uint8)  # wide: 80 x 40
    image[:, 38:42] = 255  # a bar in the middle, and one at the left edge
    image[:, :4] = 255
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    spec = Extraction(size=20, resize="crop", crop=1.0)
    out = picture(frame, spec)  # the shorter side to 20 (40 x 20), then the centre 20 x 20
    assert out.shape == (20, 20, 3)
    assert out[:, 9:11].mean() > 200 and out[:, :3].mean() < 30  # the centre bar stays, the edge bar is cut
    stretched = picture(frame, Extraction(size=20))
    assert stretched.shape == (20, 20, 3) and stretched[:, 0].mean() > 200  # the whole frame, squeezed


def test_other_weights_than_recorded_are_refused(monkeypatch, tmp_path):
    spec = spec_for(size=32)
    spec.weights_sha256 = "0" * 64  # what a checkpoint made with other weights would record
    with pytest.raises(pretrained.PackagedError, match="SHA-256 579344248a93... is not 000000000000"):
        load_backbone(spec)
    fake = tmp_path / "missing.pth"
    monkeypatch.setattr(pretrained, "weights_file", lambda: fake)
    with pytest.raises(pretrained.PackagedError, match="missing.pth: the efficientnet_lite0 weights file is missing"):
        load_backbone(spec_for(size=32))


def test_check_same_names_what_differs():
    made = spec_for("resnet18", "none", size=32, fps=5.0).__dict__
    check_same(dict(made), dict(made), "data/extraction.json", "m.pt")  # the same: fine
    check_same(dict(made), None, "data/extraction.json", "m.pt")  # a checkpoint of precomputed features
    other = {**made, "size": 64}
    with pytest.raises(ExtractionMismatch, match=r"^data/extraction.json: features made with size 64 \(wants 32\)"):
        check_same(other, made, "data/extraction.json", "m.pt")
    with pytest.raises(ExtractionMismatch, match="no extraction record, but m.pt was trained on features made with"):
        check_same(None, made, "data/extraction.json", "m.pt")


def test_background_passes_errors_on_and_stops_when_abandoned():
    def failing():
        yield 1
        raise ValueError("broken at 2")

    with pytest.raises(ValueError, match="broken at 2"):
        list(background(failing))
    made, stopped = [], threading.Event()

    def endless():
        try:
            for i in range(10_000):
                made.append(i)
                yield i
        finally:
            stopped.set()

    items = background(endless, depth=2)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()
    assert stopped.wait(5) and len(made) < 10  # bounded: it ran at most a few items ahead


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small tagger on packaged-backbone features of 3 clips (32 px pictures: fast)."""
    root = tmp_path_factory.mktemp("pretrained")
    clips = [write_clip(root / "clips" / f"clip{i}.mp4", seed=60 + i, size=48) for i in range(3)]
    data = root / "data"
    args = ["extract-features", str(root / "clips"), "-o", str(data), "--size", "32", "--fps", "5"]
    assert main([*args, "--bundle", "train", "--device", "cpu"]) == 0
    (data / "splits" / "valid.bundle").write_text((data / "splits" / "train.bundle").read_text())
    run = root / "run"
    args = ["train", "video/demo", "--out", str(run), "--device", "cpu"]
    for o in (f"data.root={data}", "train.progress=false", "train.epochs=2", "model.hidden_size=16",
              "model.embed_dim=16"):  # fmt: skip
        args += ["--set", o]
    assert main(args) == 0
    return root, clips, data, run / "best.pt"


def test_a_checkpoint_refers_to_the_packaged_backbone_and_info_shows_it(trained, capsys, tmp_path):
    root, clips, data, ckpt = trained
    recorded = json.loads((data / "extraction.json").read_text())
    assert recorded["backbone"] == "efficientnet_lite0" and recorded["weights_sha256"] == pretrained.SHA256
    assert recorded["resize"] == "crop" and recorded["dim"] == 1280
    assert not (data / "backbone.pt").exists()
    assert ckpt.stat().st_size < 10e6  # the 18 MB of weights are not in it
    capsys.readouterr()
    assert main(["info", "-m", str(ckpt)]) == 0
    shown = capsys.readouterr().out
    expected = ["appear, background, change, leave, move", "efficientnet_lite0 (weights IMAGENET1K sha256 5793442"]
    expected += ["5 fps", "shorter side scaled to 37 px, centre 32 x 32", "referred to by name and SHA-256 5793"]
    for part in expected:
        assert part in shown, (part, shown)
    out = tmp_path / "labelled"
    assert main(["label", str(clips[0].video), "-m", str(ckpt), "-o", str(out), "--device", "cpu"]) == 0
    assert (out / "clip0.labels.csv").is_file()  # rebuilt from the packaged weights, by hash


def test_evaluate_refuses_features_made_another_way(trained, capsys, tmp_path):
    root, clips, data, ckpt = trained
    other = tmp_path / "other"
    args = ["extract-features", str(root / "clips"), "-o", str(other), "--size", "64", "--fps", "5"]
    assert main([*args, "--bundle", "valid", "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "-m", str(ckpt), "--data", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{other / 'extraction.json'}: features made with size 64 (wants 32)" in err
    assert main(["evaluate", "-m", str(ckpt), "--data", str(data)]) == 0  # its own features are fine
    capsys.readouterr()
    out = tmp_path / "labelled"
    # nor labelled: each file fails (a line each, as clips do) and nothing is written
    assert main(["label", "--features", str(other), "-m", str(ckpt), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "3 of 3 feature files failed" in err and err.count("features made with size 64 (wants 32)") >= 3
    assert not out.exists() or not any(out.iterdir())
    assert main(["label", "--features", str(data), "-m", str(ckpt), "-o", str(out)]) == 0
