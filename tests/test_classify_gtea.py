"""GTEA segment classification: the baseline's majority vote, and the segments of the real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.classify_gtea import vote
from seq2seq.registry import load_config, make_task
from tests.helpers import prepared_gtea

REPO = Path(__file__).resolve().parents[1]


def test_majority_vote_of_the_frame_argmax():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6], [0.5, 0.6, 0.0], [0.8, 0.1, 0.1]])
    assert vote(scores, [0, 1, 2]) == 0  # frames vote 0, 1, 2, 1, 0: a tie goes to the lower class
    assert vote(scores, [1, 2]) == 1  # without class 0: 1, 1, 2, 1, 1
    assert vote(scores[2:3], [0, 1, 2]) == 2


def test_gtea_segments_are_the_actions_of_the_real_videos(shared_data, tmp_path):
    out = prepared_gtea(shared_data, tmp_path / "gtea")
    task = make_task(load_config("classify/gtea", [f"data.root={out}", "data.split=1"]))
    task.prepare()
    assert len(task.labels) == 10 and "background" not in task.labels and task.dims.input_dim == 11
    # 14 training and 7 test videos; background segments are not examples
    assert (len(task.dataset()), len(task.examples_of("valid"))) == (259, 132)
    assert all(len(x) >= 1 for x, _ in task.dataset())
