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
    # The checkpoint is chosen on the validation clips; the test clips chose nothing. Recorded runs
    # (docs/benchmarks.md, 3 training seeds) reach the figure there, accuracy 95.3-96.2 and
    # F1@50 98.5-100; the accuracy guard sits a little below, as one run's margin over 95 was 0.3 points.
    assert valid["accuracy"] >= 94.0, valid
    assert test["accuracy"] >= 94.5 and test["f1@50"] >= 90.0, test
    for key in ("test clip labels", "test clip segments", "test clip timeline", "test scores", "best checkpoint"):
        assert Path(outputs[key]).is_file(), key
