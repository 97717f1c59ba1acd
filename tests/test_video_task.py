"""VideoTask on a small feature layout: bad inputs, the smoothing loss, learning, evaluation CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from seq2seq.cli import main
from seq2seq.registry import load_config
from seq2seq.video.layout import LayoutError, read_mapping, write_mapping
from seq2seq.video.task import VideoTask, smoothing_loss, stretch

REPO = Path(__file__).resolve().parents[1]
LABELS = ["background", "a", "b", "c"]


def make_layout(root: Path, videos: int = 24, seed: int = 0, dim: int = 6) -> Path:
    """Videos of segments background, a|b, c, background; each frame's features are a noisy
    one-hot of its class in the first 4 dims, so a frame alone is often wrong (noise) but the
    segment is clear: what a temporal model with smoothing fixes."""
    rng = np.random.default_rng(seed)
    write_mapping(root / "mapping.txt", LABELS)
    names = []
    for v in range(videos):
        plan = [0, int(rng.integers(1, 3)), 3, 0]
        labels = np.concatenate([np.full(int(rng.integers(6, 20)), c) for c in plan])
        x = rng.normal(0, 0.9, (len(labels), dim)).astype(np.float32)
        x[np.arange(len(labels)), labels] += 1.0
        name = f"v{v:02d}"
        (root / "features").mkdir(parents=True, exist_ok=True)
        np.save(root / "features" / f"{name}.npy", x.T)
        (root / "groundTruth").mkdir(exist_ok=True)
        (root / "groundTruth" / f"{name}.txt").write_text("".join(f"{LABELS[c]}\n" for c in labels))
        names.append(name)
    (root / "splits").mkdir(exist_ok=True)
    cut = videos * 3 // 4
    (root / "splits" / "train.bundle").write_text("".join(f"{n}.txt\n" for n in names[:cut]))
    (root / "splits" / "valid.bundle").write_text("".join(f"{n}\n" for n in names[cut:]))
    return root


def config(root: Path, out: Path, *overrides: str):
    return load_config(
        "video/demo",
        [f"data.root={root}", f"train.out_dir={out}", "train.device=cpu", "train.progress=false", *overrides],
    )


def test_smoothing_loss_by_hand():
    logits = torch.tensor([[[0.0, 0.0], [2.0, 0.0], [2.0, 0.0]]])
    mask = torch.tensor([[True, True, True]])
    logp = torch.log_softmax(logits, -1)[0]
    expected = ((logp[1] - logp[0]) ** 2).mean() + 0.0
    assert smoothing_loss(logits, mask, tau=4.0) == pytest.approx(float(expected))
    # truncated at tau^2 and masked past the length
    big = torch.tensor([[[0.0, 0.0], [50.0, 0.0]]])
    # per class: (ln 2)^2 = 0.48 stays, (50 - ln 2)^2 is cut to tau^2 = 1; then the mean over classes
    assert smoothing_loss(big, torch.tensor([[True, True]]), tau=1.0) == pytest.approx((np.log(2) ** 2 + 1) / 2)
    assert smoothing_loss(big, torch.tensor([[True, False]]), tau=1.0) == 0.0


def test_time_stretch_replays_a_clip_slower_or_faster_with_its_labels(tmp_path, monkeypatch):
    torch.manual_seed(0)
    speeds = []
    for _ in range(300):
        picks = stretch(40, 0.5)
        assert picks[0] == 0 and np.all(np.diff(picks) >= 0) and np.all(np.diff(picks) <= 2)  # in order
        speed = 40 / len(picks)
        assert picks[-1] >= 39 - speed  # played to its end
        speeds.append(speed)
    assert 1 / 1.5 - 0.02 <= min(speeds) < 0.75 and 1.35 < max(speeds) <= 1.5 + 0.05
    # by hand: rand 0 with s = 1 is half speed (each frame twice), rand 1 double speed
    monkeypatch.setattr(torch, "rand", lambda *a: torch.tensor(0.0))
    assert stretch(4, 1.0).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    monkeypatch.setattr(torch, "rand", lambda *a: torch.tensor(1.0))
    assert stretch(8, 1.0).tolist() == [1, 3, 5, 7] and stretch(1, 1.0).tolist() == [0]
    monkeypatch.undo()

    root = make_layout(tmp_path / "data", videos=8)
    task = VideoTask(config(root, tmp_path / "run", "data.feature_noise=0", "data.time_stretch=1.0"))
    task.prepare()
    torch.manual_seed(3)
    batch = task.collate(task.items[:4])
    lengths = batch["lengths"].tolist()
    assert lengths != [e - s for _, s, e in task.items[:4]]  # replayed at other speeds
    for k, (i, s, e) in enumerate(task.items[:4]):  # each frame keeps its own label
        raw = task.train_videos[i]
        x, y = batch["x"][k, : lengths[k]], batch["y"][k, : lengths[k]]
        nearest = torch.cdist(x, task.normalise(torch.from_numpy(raw.features[s:e]))).argmin(1)
        assert torch.allclose(x, task.normalise(torch.from_numpy(raw.features[s:e]))[nearest])
        assert torch.equal(y, torch.from_numpy(raw.labels[s:e])[nearest])
    torch.manual_seed(3)  # a resumed run restores torch's generator: the same speeds
    assert task.collate(task.items[:4])["lengths"].tolist() == lengths


def test_bad_layouts_name_the_file_and_the_fix(tmp_path):
    root = make_layout(tmp_path / "data", videos=4)
    task = VideoTask(config(root, tmp_path / "run"))
    (root / "splits" / "valid.bundle").write_text("v03\n")
    (root / "splits" / "train.bundle").write_text("v00\nv01\nv02\n")
    task.prepare()  # fine as written

    gt = root / "groundTruth" / "v01.txt"
    good = gt.read_text()
    gt.write_text(good.replace("background", "nothing", 1))
    with pytest.raises(LayoutError, match=r"v01.txt:1: label 'nothing' is not in mapping.txt"):
        VideoTask(config(root, tmp_path / "run")).prepare()
    gt.write_text("".join(good.splitlines(keepends=True)[:-2]))
    frames = len(good.splitlines())
    with pytest.raises(LayoutError, match=f"{frames} feature frames but .*v01.txt has {frames - 2} labels"):
        VideoTask(config(root, tmp_path / "run")).prepare()
    VideoTask(config(root, tmp_path / "run", "data.length_tolerance=2")).prepare()  # trimmed when allowed
    gt.write_text(good)

    feats = root / "features" / "v02.npy"
    kept = feats.read_bytes()
    np.save(feats, np.zeros((5, frames), np.float32))
    with pytest.raises(LayoutError, match=r"v02.npy: has shape \(5, \d+\), expected \(6, T\)"):
        VideoTask(config(root, tmp_path / "run")).prepare()
    np.save(feats, np.zeros((6, 3, 2), np.float32))
    with pytest.raises(LayoutError, match=r"v02.npy: has shape \(6, 3, 2\)"):
        VideoTask(config(root, tmp_path / "run")).prepare()
    feats.write_bytes(b"garbage")
    with pytest.raises(LayoutError, match="v02.npy: not a readable .npy"):
        VideoTask(config(root, tmp_path / "run")).prepare()
    feats.write_bytes(kept)
    with pytest.raises(LayoutError, match="no such split bundle"):
        VideoTask(config(root, tmp_path / "run", "data.valid=test")).prepare()
    (root / "mapping.txt").write_text("0 background\n2 a\n")
    with pytest.raises(LayoutError, match=r"mapping.txt:2: expected '1 LABEL'"):
        read_mapping(root / "mapping.txt")


@pytest.mark.slow
def test_tagger_learns_segments_beyond_frame_noise_and_evaluate_prints_them(tmp_path, capsys):
    from seq2seq.trainer import Trainer

    root = make_layout(tmp_path / "data")
    # set here, independent of the demo recipe's tuning
    fixed = ["train.epochs=40", "train.batch_size=4", "train.scheduler=constant", "train.metric=f1@50"]
    fixed += ["model.hidden_size=32", "model.embed_dim=16", "model.dropout=0.1", "model.embed_dropout=0"]
    cfg = config(root, tmp_path / "run", "data.feature_noise=0", "data.centre=false", *fixed)
    summary = Trainer.from_config(cfg).fit()
    best = json.loads((tmp_path / "run" / "valid_scores.json").read_text())["overall"]
    assert summary["best"] >= 85 and best["accuracy"] >= 90 and best["edit"] >= 80
    # a frame-wise argmax of the features themselves is far noisier
    task = VideoTask(cfg)
    task.prepare()
    frame_wise = np.mean(np.concatenate([v.features[:, :4].argmax(1) == v.labels for v in task.valid_videos]))
    assert frame_wise < 0.85
    assert (tmp_path / "run" / "valid_timelines.png").stat().st_size > 1000

    capsys.readouterr()
    assert main(["evaluate", "-m", str(tmp_path / "run" / "best.pt"), "--json", str(tmp_path / "e.json")]) == 0
    printed = capsys.readouterr().out
    assert "v18" in printed and "overall (6 videos)" in printed
    scores = json.loads((tmp_path / "e.json").read_text())
    fold = next(iter(scores["folds"].values()))
    assert fold["overall"]["f1@50"] == pytest.approx(best["f1@50"])
    # cross-validation style: the same checkpoint twice averages to itself
    ckpt = str(tmp_path / "run" / "best.pt")
    assert main(["evaluate", "--folds", ckpt, ckpt, "--json", str(tmp_path / "f.json")]) == 0
    folds = json.loads((tmp_path / "f.json").read_text())
    assert folds["mean_over_folds"]["edit"] == pytest.approx(best["edit"])
    assert folds["pooled"]["videos"] == 12  # every fold's videos, here twice the same six
    assert folds["pooled"]["accuracy"] == pytest.approx(best["accuracy"])


def test_centred_features_ignore_what_stays_the_same_through_a_clip(tmp_path, capsys):
    """data.centre: each clip's features minus the clip's mean. Every clip here gets its own
    constant offset (another background, another camera), as large as the class signal: the
    centred tagger still learns the segments, and its labels of a clip do not change when the
    clip's offset does, whether scored from the layout or labelled from a .npy file."""
    from seq2seq.inference import load_model
    from seq2seq.trainer import Trainer

    root = make_layout(tmp_path / "data", videos=16, seed=1)
    rng = np.random.default_rng(5)
    for path in sorted((root / "features").glob("*.npy")):
        x = np.load(path)  # (dim, time)
        np.save(path, x + rng.normal(0, 1.0, (x.shape[0], 1)).astype(np.float32))
    fixed = ["train.epochs=12", "train.batch_size=4", "train.scheduler=constant", "train.lr=0.01"]
    fixed += ["model.hidden_size=32", "model.embed_dim=16", "model.dropout=0.1", "model.embed_dropout=0"]
    Trainer.from_config(config(root, tmp_path / "run", "data.centre=true", "data.feature_noise=0", *fixed)).fit()
    best = json.loads((tmp_path / "run" / "valid_scores.json").read_text())["overall"]
    assert best["accuracy"] >= 75, best  # 81.3; the same run without data.centre: 68.7
    loaded = load_model(tmp_path / "run" / "best.pt", "cpu", task="video")
    task, model = loaded.task, loaded.model
    videos = task.videos("valid")
    assert all(np.abs(v.features.mean(0)).max() < 1e-5 for v in videos)  # centred when read
    raw = [np.load(root / "features" / f"{v.name}.npy").T for v in videos]
    moved = [f + rng.normal(0, 3.0, (1, f.shape[1])).astype(np.float32) for f in raw]
    for a, b, v in zip(task.predict(model, raw), task.predict(model, moved), videos, strict=True):
        assert torch.allclose(a, b, atol=1e-4) and torch.equal(
            a.argmax(-1), task.predict(model, [v.features])[0].argmax(-1)
        )
    np.save(tmp_path / "moved.npy", moved[0].T)
    for name, path in (("raw", root / "features" / f"{videos[0].name}.npy"), ("moved", tmp_path / "moved.npy")):
        assert (
            main(
                ["label", "--features", str(path), "-m", str(tmp_path / "run" / "best.pt"), "-o", str(tmp_path / name)]
            )
            == 0
        )
    capsys.readouterr()
    written = [sorted((tmp_path / name).glob("*.labels.csv")) for name in ("raw", "moved")]
    assert [p.read_text().splitlines()[1:] for p in written[0]] == [p.read_text().splitlines()[1:] for p in written[1]]


def test_causal_tagger_trains_in_tbptt_chunks_and_bidirectional_refuses(tmp_path):
    from seq2seq.config import ConfigError
    from seq2seq.trainer import Trainer

    root = make_layout(tmp_path / "data", videos=8)
    with pytest.raises(ConfigError, match="data.centre needs each whole clip"):
        config(root, tmp_path / "run", "model.bidirectional=false", "data.centre=true")
    cfg = config(root, tmp_path / "run", "model.bidirectional=false", "data.centre=false", "train.tbptt=10",
                 "train.epochs=1")  # fmt: skip
    trainer = Trainer.from_config(cfg)
    task = trainer.task
    # one optimizer step per 10-frame chunk of each batch's longest video
    chunks = sum(-(-max(task.items[i][2] - task.items[i][1] for i in b) // 10) for b in task.train_batches(0))
    assert chunks > len(task.train_batches(0))
    assert trainer.fit()["steps"] == chunks
    with pytest.raises(ConfigError, match="causal tagger"):
        config(root, tmp_path / "run2", "train.tbptt=10", "train.epochs=1")
    cfg = config(root, tmp_path / "run3", "data.chunk=12", "data.class_weights=balanced", "train.epochs=1")
    trainer = Trainer.from_config(cfg)
    assert all(end - start <= 12 for _, start, end in trainer.task.items)
    assert trainer.task.weights is not None and trainer.task.weights[0] < trainer.task.weights[1]


def test_the_demo_writes_where_the_demo_recipe_reads():
    """After `make demo`, `seq2seq train video/demo` finds the demo's features (it did not)."""
    import inspect

    from seq2seq.cli import build_parser
    from seq2seq.video import demo

    out = build_parser().parse_args(["demo"]).out
    assert 'root = out / "video"' in inspect.getsource(demo.demo) and 'data = root / "data"' in inspect.getsource(
        demo.demo
    )
    assert load_config("video/demo").data.root == str(Path(out) / "video" / "data")
