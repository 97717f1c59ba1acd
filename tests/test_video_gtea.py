"""datasets/prepare_gtea_tcn.py turns the TCN release into the layout the GTEA recipe trains on;
`make video-cv` cross-validates any such layout, `make video-gtea` is one use of it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from seq2seq.registry import load_config
from seq2seq.video.layout import read_bundle, read_frame_labels, read_mapping
from seq2seq.video.task import VideoTask
from tests.helpers import prepared_gtea

REPO = Path(__file__).resolve().parents[1]


def test_prepare_gtea_release_into_the_layout(shared_data, tmp_path):
    out = prepared_gtea(shared_data, tmp_path / "gtea")
    assert read_mapping(out / "mapping.txt")[0] == "background" and len(read_mapping(out / "mapping.txt")) == 11
    tests = [read_bundle(out / "splits" / f"test.split{k}.bundle") for k in (1, 2, 3)]
    assert [len(t) for t in tests] == [7, 7, 7] and len(set(sum(tests, []))) == 21
    assert tests[0][0] == "S1_Coffee_C1"
    train1 = read_bundle(out / "splits" / "train.split1.bundle")
    assert sorted(train1) == sorted(tests[1] + tests[2])
    from scipy.io import loadmat

    mat = loadmat(shared_data / "gtea-tcn" / "predictions" / "GTEA" / "video_SVM" / "1.mat")
    feats = np.load(out / "features" / "S1_Coffee_C1.npy")
    assert feats.shape == (11, mat["S"][0][0].shape[0])  # (D, T)
    np.testing.assert_allclose(feats.T, mat["S"][0][0], rtol=1e-6)
    labels = read_frame_labels(out / "groundTruth" / "S1_Coffee_C1.txt")
    names = read_mapping(out / "mapping.txt")
    assert labels == [names[c] for c in np.ravel(mat["Y"][0][0])]

    cfg = load_config("video/gtea", [f"data.root={out}", "data.split=2"])
    task = VideoTask(cfg)
    dims = task.prepare()
    assert len(task.train_videos) == 14 and len(task.valid_videos) == 7
    assert dims.input_dim == 11 and dims.output_size == 11
    assert {v.name for v in task.valid_videos} == set(tests[1])


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_video_cv_takes_data_folds_and_recipe_and_video_gtea_is_one_use_of_it():
    def dry(*args: str) -> str:
        done = subprocess.run(["make", "-n", "-o", ".venv/.installed", *args], cwd=REPO, capture_output=True,
                              text=True, check=True)  # fmt: skip
        return done.stdout

    cv = dry("video-cv", "DATA=data/50salads", "FOLDS=5", "RECIPE=recipes/video/x.toml", "RUN=runs/50salads")
    assert "for k in 1 2 3 4 5; do" in cv and "for k in 1 2 3 4 5; do ls runs/50salads/split$k/step-*.pt" in cv
    assert "seq2seq train recipes/video/x.toml --set data.root=data/50salads --set data.split=$k" in cv
    assert "evaluate --data data/50salads --json runs/50salads/scores.json --folds" in cv
    gtea = dry("video-gtea", "GTEA_DATA=/nonexistent/gtea", "OUT=runs")
    assert "for k in 1 2 3; do" in gtea and "train recipes/video/gtea.toml --set data.root=/nonexistent/gtea" in gtea
    done = subprocess.run(["make", "-o", ".venv/.installed", "video-cv"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode != 0 and "video-cv: give the layout folder" in done.stderr
