"""The demo recipe end to end from raw generated video reaches its figures on test clips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_video_demo_reaches_its_figures_on_test_clips(tmp_path):
    from seq2seq.video.demo import demo

    outputs = demo(tmp_path, "cpu")
    run = tmp_path / "video" / "model"
    valid = json.loads((run / "valid_scores.json").read_text())["overall"]
    test = json.loads((run / "test_scores.json").read_text())["overall"]
    assert valid["videos"] == 24 and test["videos"] == 24
    # The checkpoint is chosen on the validation clips; the test clips chose nothing. The recorded
    # run (docs/benchmarks.md) gave validation 99.3, test 99.9 / F1@50 99.5 on pretrained features;
    # the guards leave room for run-to-run variation.
    assert valid["accuracy"] >= 97.0, valid
    assert test["accuracy"] >= 97.0 and test["f1@50"] >= 95.0, test
    for key in ("test clip labels", "test clip segments", "test clip timeline", "test scores", "best checkpoint"):
        assert Path(outputs[key]).is_file(), key
