"""What a user with clips and labels of their own meets (issue #26, "traps on the way"): label
file names, a checkpoint evaluated from another folder, labelling precomputed features, scoring
other tools' predictions, annotation at the source's rate (the Makefile's video-cv: test_video_gtea.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from seq2seq.cli import main
from seq2seq.video.layout import LayoutError, read_segments
from seq2seq.video.synth import write_clip
from tests.helpers import one_error_line
from tests.test_video_task import make_layout

REPO = Path(__file__).resolve().parents[1]
EXTRACT = ["--backbone", "resnet18", "--weights", "none", "--size", "32", "--fps", "5", "--device", "cpu"]


# -- 1. label files named NAME.labels.txt / NAME.segments.csv, and clips without labels --------
def test_usual_label_file_names_are_read_and_unlabelled_clips_are_named(tmp_path, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    a = write_clip(clips / "a.mp4", seed=1, size=32)
    b = write_clip(clips / "b.mp4", seed=2, size=32)
    c = write_clip(clips / "c.mp4", seed=3, size=32)
    a.video.with_suffix(".txt").rename(clips / "a.labels.txt")
    a.video.with_suffix(".csv").unlink()
    b.video.with_suffix(".csv").rename(clips / "b.segments.csv")
    b.video.with_suffix(".txt").unlink()
    for suffix in (".txt", ".csv"):
        c.video.with_suffix(suffix).unlink()
    data = tmp_path / "data"
    assert main(["extract-features", str(clips), "-o", str(data), "--bundle", "train", *EXTRACT]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(err) == 1 and "1 of 3 clips have no label file" in err[0] and "c.mp4" in err[0]
    assert "a.mp4" not in err[0] and "NAME.labels.txt" in err[0] and "NAME.segments.csv" in err[0]
    assert sorted(p.name for p in (data / "groundTruth").iterdir()) == ["a.txt", "b.txt"]
    assert (data / "mapping.txt").is_file()
    # the bundle lists c too: training says which clip has no labels, not "no such file"
    from seq2seq.registry import load_config
    from seq2seq.video.task import VideoTask

    (data / "splits" / "valid.bundle").write_text("a\n")
    cfg = load_config("video/demo", [f"data.root={data}", f"train.out_dir={tmp_path / 'run'}"])
    with pytest.raises(LayoutError, match=r"groundTruth/c.txt: no such file: 'c' has features but no labels"):
        VideoTask(cfg).prepare()

    # the same label files in a --labels folder; with none at all, training names the reason
    labels = tmp_path / "labels"
    labels.mkdir()
    for f in ("a.labels.txt", "b.segments.csv"):
        (clips / f).rename(labels / f)
    other = tmp_path / "other"
    assert main(["extract-features", str(clips / "a.mp4"), str(clips / "b.mp4"), "-o", str(other),
                 "--labels", str(labels), *EXTRACT]) == 0  # fmt: skip
    assert "warning" not in capsys.readouterr().err
    assert (other / "groundTruth" / "a.txt").read_text() == (data / "groundTruth" / "a.txt").read_text()
    bare = tmp_path / "bare"
    assert main(["extract-features", str(clips / "a.mp4"), "-o", str(bare), "--bundle", "train", *EXTRACT]) == 0
    assert "1 of 1 clips have no label file" in capsys.readouterr().err
    cfg = load_config("video/demo", [f"data.root={bare}", f"train.out_dir={tmp_path / 'run'}"])
    with pytest.raises(LayoutError, match=r"mapping.txt: no such file: .* has features but no labels"):
        VideoTask(cfg).prepare()
    assert main(["extract-features", str(clips), "-o", str(bare), "--labels", str(tmp_path / "nope"), *EXTRACT]) == 2
    one_error_line(capsys, "--labels", "nope: no such folder")


def test_segment_tables_as_annotation_tools_write_them(tmp_path):
    path = tmp_path / "x.segments.csv"
    path.write_text("Label,Begin,End,Annotator\npour,0.5,1.5,kim\nstir,1.5,3,kim\n")
    unit, segs = read_segments(path)
    assert unit == "seconds" and [(s.start, s.end, s.label) for s in segs] == [(0.5, 1.5, "pour"), (1.5, 3, "stir")]
    path.write_text("start_frame,end_frame,action\n0,4,pour\n")
    assert read_segments(path)[0] == "frames"
    path.write_text("when,label\n0,pour\n")
    with pytest.raises(LayoutError, match=r"x.segments.csv:1: header .*expected columns start,end,label"):
        read_segments(path)


# -- 2. evaluate -m from another folder ----------------------------------------------------------
def test_evaluate_finds_the_data_from_any_folder_and_after_the_run_moves(tmp_path, monkeypatch, capsys):
    project = tmp_path / "project"
    make_layout(project / "data" / "mine", videos=8)
    monkeypatch.chdir(project)
    args = ["train", "video/demo", "--out", "runs/mine", "--device", "cpu", "--set", "data.root=data/mine",
            "train.progress=false", "train.epochs=1", "model.hidden_size=8", "model.embed_dim=8"]  # fmt: skip
    assert main(args) == 0
    assert main(["evaluate", "-m", "runs/mine/best.pt", "--json", "here.json"]) == 0
    expected = json.loads(Path("here.json").read_text())["folds"]["runs/mine/best.pt"]["overall"]
    capsys.readouterr()

    def scored(ckpt: Path) -> dict:
        assert main(["evaluate", "-m", str(ckpt), "--json", str(tmp_path / "e.json")]) == 0, capsys.readouterr()
        return json.loads((tmp_path / "e.json").read_text())["folds"][str(ckpt)]["overall"]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert scored(project / "runs" / "mine" / "best.pt") == expected
    shutil.move(project / "runs" / "mine", tmp_path / "moved")  # the run folder alone: the absolute path
    assert scored(tmp_path / "moved" / "best.pt") == expected
    shutil.move(project, tmp_path / "renamed")  # data and runs together: the path from the run folder
    shutil.move(tmp_path / "moved", tmp_path / "renamed" / "runs" / "mine")
    assert scored(tmp_path / "renamed" / "runs" / "mine" / "best.pt") == expected
    # train --resume from here finds the run's own data too, not ./data/mine (a different layout here)
    make_layout(elsewhere / "data" / "mine", videos=8, seed=5)
    run = tmp_path / "renamed" / "runs" / "mine"
    assert main(["train", "video/demo", "--resume", str(run), "--set", "train.epochs=2"]) == 0
    resumed = torch.load(sorted(run.glob("step-*.pt"))[-1], weights_only=True)
    assert resumed["progress"]["epoch"] == 2
    assert resumed["task_state"]["root"] == str((tmp_path / "renamed" / "data" / "mine").resolve())
    shutil.move(tmp_path / "renamed" / "data", tmp_path / "gone")  # nowhere to be found: one line
    capsys.readouterr()
    assert main(["evaluate", "-m", str(tmp_path / "renamed" / "runs" / "mine" / "best.pt")]) == 2
    one_error_line(capsys, "no such data folder", "'data/mine'", "--data ROOT")
    assert main(["evaluate", "-m", str(tmp_path / "renamed" / "runs" / "mine" / "best.pt"), "--data",
                 "../gone/mine"]) == 0  # fmt: skip


# -- 3. label --features: precomputed features, our files or MS-TCN's ------------------------------
@pytest.fixture(scope="module")
def features_model(tmp_path_factory) -> tuple[Path, Path]:
    """A small tagger trained on a features layout of 8 videos (v06, v07 are its validation split)."""
    from tests.helpers import train_cli

    root = make_layout(tmp_path_factory.mktemp("features") / "data", videos=8)
    ckpt = train_cli("video/demo", root.parent / "run", f"data.root={root}", "train.epochs=2",
                     "model.hidden_size=8", "model.embed_dim=8")  # fmt: skip
    return root, ckpt


def test_label_features_writes_labels_and_mstcn_results_that_score_as_evaluate_does(features_model, tmp_path, capsys):
    import csv

    import numpy as np

    import seq2seq

    root, ckpt = features_model
    out = tmp_path / "labelled"
    assert main(["label", "--features", str(root), "-m", str(ckpt), "-o", str(out), "--device", "cpu"]) == 0
    assert len(list(out.glob("*.labels.csv"))) == 8 and len(list(out.glob("*.segments.json"))) == 8
    frames = np.load(root / "features" / "v03.npy").shape[1]
    rows = list(csv.DictReader(open(out / "v03.labels.csv")))
    assert len(rows) == frames and rows[0]["frame"] == "0"
    segments = json.loads((out / "v03.segments.json").read_text())["segments"]
    assert segments[-1]["end_frame"] == frames
    api = seq2seq.load(ckpt, device="cpu").label(root / "features" / "v03.npy")
    assert api.labels == [r["label"] for r in rows]  # the Python API gives what the command line wrote

    # the validation videos in MS-TCN's format, scored by evaluate --pred = evaluate -m on them
    valid = tmp_path / "valid"
    valid.mkdir()
    for name in ("v06", "v07"):
        shutil.copy(root / "features" / f"{name}.npy", valid)
    results = tmp_path / "results"
    assert main(["label", "--features", str(valid), "-m", str(ckpt), "-o", str(results), "--format", "mstcn",
                 "--truth", str(root / "groundTruth")]) == 0  # fmt: skip
    lines = (results / "v06").read_text().split("\n")
    assert (
        lines[0] == "### Frame level recognition: ###" and len(lines[1].split()) == np.load(valid / "v06.npy").shape[1]
    )
    capsys.readouterr()
    assert main(["evaluate", "-m", str(ckpt), "--json", str(tmp_path / "m.json")]) == 0
    assert main(["evaluate", "--pred", str(results), "--truth", str(root / "groundTruth"),
                 "--json", str(tmp_path / "p.json")]) == 0  # fmt: skip
    assert "no prediction for 6 files" in capsys.readouterr().err
    by_model = json.loads((tmp_path / "m.json").read_text())["folds"][str(ckpt)]["overall"]
    by_files = json.loads((tmp_path / "p.json").read_text())["overall"]
    for k in ("videos", "frames", "accuracy", "edit", "f1@10", "f1@25", "f1@50"):
        assert by_files[k] == pytest.approx(by_model[k]), k

    # a file of the wrong width fails alone, in one line naming it; clips and --features exclude each other
    np.save(valid / "v99.npy", np.zeros((5, 30), np.float32))
    assert main(["label", "--features", str(valid), "-m", str(ckpt), "-o", str(tmp_path / "bad")]) == 1
    err = capsys.readouterr().err
    assert "1 of 3 feature files failed" in err and "v99.npy: has shape (5, 30), expected (6, T)" in err
    assert main(["label", "x.mp4", "--features", str(valid), "-m", str(ckpt)]) == 2
    one_error_line(capsys, "give clips or --features, not both")
    assert main(["label", "--features", str(tmp_path / "none"), "-m", str(ckpt)]) == 2
    one_error_line(capsys, "--features", "no such file or folder")


def test_a_checkpoint_trained_on_every_nth_frame_labels_every_frame(features_model):
    """data.sample_rate n: every n-th frame is labelled and its label repeated (as MS-TCN's
    predict does), so the labels still cover every frame of the file."""
    import dataclasses

    import numpy as np

    from seq2seq.inference import load_model
    from seq2seq.video.label import FeatureLabeller

    root, ckpt = features_model
    loaded = load_model(ckpt, "cpu", task="video")
    loaded.cfg = dataclasses.replace(loaded.cfg, data=dataclasses.replace(loaded.cfg.data, sample_rate=3))
    labeller = FeatureLabeller(loaded)
    feats = labeller.read(root / "features" / "v01.npy")
    result = labeller.label(feats, "v01")
    assert len(result.labels) == len(feats) and len(feats) % 3 != 0
    every_third = labeller.task.predict(loaded.model, [np.ascontiguousarray(feats[::3])])[0].argmax(-1).tolist()
    assert result.labels == [c for c in every_third for _ in range(3)][: len(feats)]


# -- 4. evaluate --pred: any tool's predictions, our metrics -------------------------------------
def test_evaluate_pred_scores_files_of_other_tools_by_hand(tmp_path, capsys):
    truth, pred = tmp_path / "groundTruth", tmp_path / "results"
    truth.mkdir()
    pred.mkdir()
    (tmp_path / "mapping.txt").write_text("0 bg\n1 a\n2 b\n3 c\n")
    (truth / "A.txt").write_text("\n".join("bg bg a a a b b bg bg bg".split()) + "\n")
    (truth / "B.txt").write_text("\n".join("a a a a b b".split()) + "\n")
    (truth / "D.txt").write_text("a\n")  # no prediction: warned, left out
    (pred / "A").write_text("### Frame level recognition: ###\nbg a a a a b b b b b")  # MS-TCN's results file
    (pred / "B.txt").write_text("1\n1\n3\n3\n2\n2\n")  # class indices, one per line
    (pred / "E.labels.csv").write_text("frame,time,label,confidence\n0,0.000,a,0.9\n")  # ours; no truth
    (pred / "E.timeline.png").write_bytes(b"not read")
    args = ["evaluate", "--pred", str(pred), "--truth", str(truth), "--mapping", str(tmp_path / "mapping.txt"),
            "--background", "bg", "--json", str(tmp_path / "s.json")]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "no truth file for 1 files" in err and "E.labels.csv" in err and "no prediction for 1 files" in err
    scores = json.loads((tmp_path / "s.json").read_text())
    # A: 6 of 10 frames right; segments a, b in both (edit 100); a: IoU 3/4, b: IoU 2/5 (a miss at 50%).
    # B: 4 of 6 right; a | c | b against a | b (edit 1 - 1/3); a: IoU 2/4, c a false positive, b exact.
    a, b = scores["videos"]["A"], scores["videos"]["B"]
    assert a["accuracy"] == pytest.approx(60.0) and a["edit"] == pytest.approx(100.0)
    assert a["f1@25"] == pytest.approx(100.0) and a["f1@50"] == pytest.approx(50.0)
    assert b["accuracy"] == pytest.approx(400 / 6) and b["edit"] == pytest.approx(200 / 3)
    assert b["f1@50"] == pytest.approx(80.0)  # tp 2, fp 1, fn 0
    overall = scores["overall"]
    assert overall["accuracy"] == pytest.approx(62.5)  # 10 of 16 frames
    assert overall["edit"] == pytest.approx(250 / 3)  # (100 + 66.7) / 2
    assert overall["f1@10"] == pytest.approx(800 / 9)  # tp 4, fp 1, fn 0: P 0.8, R 1
    assert overall["f1@50"] == pytest.approx(200 / 3)  # tp 3, fp 2, fn 1: P 0.6, R 0.75
    # a label that is neither a name nor an index names its file and line; so does a length mismatch
    (pred / "B.txt").write_text("1\n1\nz\n3\n2\n2\n")
    assert main(args) == 2
    one_error_line(capsys, "B.txt:3: label 'z' is neither a label nor an index of the mapping")
    (pred / "B.txt").write_text("a\na\n")
    assert main(args) == 2
    one_error_line(capsys, "B.txt: 2 frames but", "B.txt has 6", "--length-tolerance")
    assert main(["evaluate", "--pred", str(tmp_path / "nothing"), "--truth", str(truth)]) == 2
    one_error_line(capsys, "--pred", "no such file or folder")


# -- 5. --annotate at the source's rate --------------------------------------------------------------
def test_each_source_frame_takes_the_label_of_the_sampled_frame_whose_slot_it_falls_in():
    from seq2seq.video.label import sample_slot

    # a 15 fps clip sampled at 5 fps: frames 0-2 show sample 0, frames 3-5 sample 1, ...
    assert [sample_slot(i / 15, 5.0, 4) for i in range(12)] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert sample_slot(13 / 15, 5.0, 4) == 3  # past the last sample: the last label
    # 12 fps at 8 fps: the slots of 0.125 s hold 1 or 2 source frames
    assert [sample_slot(i / 12, 8.0, 8) for i in range(6)] == [0, 0, 1, 2, 2, 3]
