"""Action-segmentation metrics against hand-computed cases and the published ED-TCN outputs."""

from __future__ import annotations

import numpy as np
import pytest

from seq2seq.video.metrics import Scores, edit_score, f1, f1_counts, levenshtein, segments

BG = frozenset({0})
TRUTH = [0, 0, 1, 1, 1, 2, 2, 0]
PRED = [0, 1, 1, 0, 1, 2, 2, 2]


def test_segments_drop_background_runs():
    assert segments(TRUTH, BG) == [(1, 2, 5), (2, 5, 7)]
    assert segments(PRED, BG) == [(1, 1, 3), (1, 4, 5), (2, 5, 8)]
    assert segments(TRUTH) == [(0, 0, 2), (1, 2, 5), (2, 5, 7), (0, 7, 8)]
    assert segments([]) == []


def test_levenshtein_and_edit_by_hand():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein([], [1, 2]) == 2
    # segments [1, 1, 2] against [1, 2]: one deletion over the longer length 3
    assert edit_score(PRED, TRUTH, BG) == pytest.approx(100 * (1 - 1 / 3))
    assert edit_score([0, 0], [0, 0], BG) == 100.0


def test_f1_counts_by_hand():
    # IoUs of the predicted segments with their best true segment: 1/4, 1/3 (already matched), 2/3
    assert f1_counts(PRED, TRUTH, 0.10, BG) == (2, 1, 0)
    assert f1_counts(PRED, TRUTH, 0.50, BG) == (1, 2, 1)
    assert f1(2, 1, 0) == pytest.approx(80.0)
    assert f1(1, 2, 1) == pytest.approx(40.0)
    assert f1(0, 0, 3) == 0.0
    # a wrong label never matches, however much it overlaps
    assert f1_counts([2, 2, 2], [1, 1, 1], 0.1) == (0, 1, 1)


def test_scores_sum_f1_counts_and_average_edit_over_videos():
    s = Scores(background=BG)
    first = s.add(PRED, TRUTH, name="a")
    assert first["accuracy"] == pytest.approx(62.5)
    assert first["f1@50"] == pytest.approx(40.0)
    second = s.add([2, 2, 2, 2], [1, 1, 1, 1], name="b")
    assert second["edit"] == 0.0 and second["f1@10"] == 0.0
    total = s.summary()
    assert total["accuracy"] == pytest.approx(100 * 5 / 12)
    assert total["edit"] == pytest.approx((100 * 2 / 3 + 0) / 2)
    # summed counts at 50%: tp 1, fp 3, fn 2 -> P 1/4, R 1/3 (not the mean of per-video F1, 20)
    assert total["f1@50"] == pytest.approx(200 * (1 / 4) * (1 / 3) / (1 / 4 + 1 / 3))
    assert set(s.per_video) == {"a", "b"}
    with pytest.raises(ValueError, match="3 predicted frames but 2 true frames"):
        s.add([1, 1, 1], [1, 1], name="c")


def test_published_ed_tcn_predictions_give_the_published_figures(shared_data):
    from scipy.io import loadmat

    folder = shared_data / "gtea-tcn" / "predictions" / "GTEA"
    if not folder.is_dir():
        pytest.skip("gtea-tcn predictions not in the shared data")
    expected = {"f1@10": 72.0, "f1@25": 67.2, "f1@50": 54.7, "edit": 69.9, "accuracy": 63.3}
    scores = {name: Scores(background=BG) for name in ("video_ED-TCN_L2_C25", "video_SVM")}
    for name, s in scores.items():
        for split in (1, 2, 3):
            mat = loadmat(folder / name / f"{split}.mat")
            for y, p in zip(mat["Y"][0], mat["P"][0], strict=True):
                s.add(np.ravel(p).tolist(), np.ravel(y).tolist())
    got = scores["video_ED-TCN_L2_C25"].summary()
    assert got["videos"] == 21
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=0.05), key
    # the frame-wise SVM is far behind on the segment metrics
    svm = scores["video_SVM"].summary()
    assert svm["edit"] < 40 and svm["f1@10"] < 45
