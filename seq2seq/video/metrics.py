"""Action-segmentation metrics, computed as MS-TCN's evaluation script does.

- frame accuracy: correct frames / all frames, summed over every video (background included);
- segmental edit score: 100 * (1 - Levenshtein(predicted segments, true segments) / the longer
  length), per video, then averaged over videos;
- F1@k: a predicted segment is a true positive when its IoU with the best-overlapping true
  segment of the same label is >= k/100 and that true segment was not matched before; true and
  false positives and false negatives are summed over all videos before F1 is taken.

Runs of background labels are left out of the segments (edit and F1), not of the accuracy.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

OVERLAPS = (0.10, 0.25, 0.50)


def segments(labels: Sequence[Hashable], background: frozenset | set = frozenset()) -> list[tuple[Hashable, int, int]]:
    """Runs of equal labels as (label, start, end) with ``end`` exclusive, background runs dropped."""
    out = []
    start = 0
    for t in range(1, len(labels) + 1):
        if t == len(labels) or labels[t] != labels[start]:
            if labels[start] not in background:
                out.append((labels[start], start, t))
            start = t
    return out


def levenshtein(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Edit distance (insertions, deletions, substitutions) between two label sequences."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def edit_score(pred: Sequence[Hashable], truth: Sequence[Hashable], background: frozenset | set = frozenset()) -> float:
    """Segmental edit score in percent (100: the same order of segments)."""
    p = [s[0] for s in segments(pred, background)]
    y = [s[0] for s in segments(truth, background)]
    longest = max(len(p), len(y))
    if longest == 0:
        return 100.0
    return (1.0 - levenshtein(p, y) / longest) * 100.0


def f1_counts(
    pred: Sequence[Hashable], truth: Sequence[Hashable], overlap: float, background: frozenset | set = frozenset()
) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of the predicted segments at IoU >= overlap."""
    p = segments(pred, background)
    y = segments(truth, background)
    hit = [False] * len(y)
    tp = fp = 0
    for label, start, end in p:
        best, best_iou = -1, -1.0
        for j, (y_label, y_start, y_end) in enumerate(y):
            inter = min(end, y_end) - max(start, y_start)
            union = max(end, y_end) - min(start, y_start)
            iou = inter / union if label == y_label else 0.0
            if iou > best_iou:  # first maximum, like numpy's argmax
                best, best_iou = j, iou
        if best >= 0 and best_iou >= overlap and not hit[best]:
            tp += 1
            hit[best] = True
        else:
            fp += 1
    return tp, fp, len(y) - sum(hit)


def f1(tp: float, fp: float, fn: float) -> float:
    """F1 in percent from summed counts (0 when nothing was predicted or nothing was true)."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return 200.0 * precision * recall / (precision + recall) if precision + recall else 0.0


def f1_name(overlap: float) -> str:
    return f"f1@{round(overlap * 100)}"


@dataclass
class Scores:
    """Accumulates videos; ``video`` gives one video's figures, ``summary`` the overall ones."""

    background: frozenset = frozenset()
    overlaps: tuple[float, ...] = OVERLAPS
    correct: int = 0
    frames: int = 0
    edits: list[float] = field(default_factory=list)
    counts: dict[float, np.ndarray] = field(default_factory=dict)
    per_video: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, pred: Sequence[Hashable], truth: Sequence[Hashable], name: str | None = None) -> dict[str, float]:
        """Score one video (equal-length label sequences) and add it to the totals."""
        if len(pred) != len(truth):
            raise ValueError(f"{name or 'video'}: {len(pred)} predicted frames but {len(truth)} true frames")
        correct = int(sum(a == b for a, b in zip(pred, truth, strict=True)))
        self.correct += correct
        self.frames += len(truth)
        edit = edit_score(pred, truth, self.background)
        self.edits.append(edit)
        result = {"frames": float(len(truth)), "accuracy": 100.0 * correct / max(1, len(truth)), "edit": edit}
        for k in self.overlaps:
            c = np.array(f1_counts(pred, truth, k, self.background), dtype=np.int64)
            self.counts[k] = self.counts.get(k, np.zeros(3, dtype=np.int64)) + c
            result[f1_name(k)] = float(f1(*c))
        if name is not None:
            self.per_video[name] = result
        return result

    def merge(self, other: Scores) -> None:
        """Add another accumulator's videos, e.g. to pool the folds of a cross-validation."""
        self.correct += other.correct
        self.frames += other.frames
        self.edits += other.edits
        for k, c in other.counts.items():
            self.counts[k] = self.counts.get(k, np.zeros(3, dtype=np.int64)) + c
        self.per_video.update(other.per_video)

    def summary(self) -> dict[str, float]:
        """Accuracy over all frames, edit averaged over videos, F1 from the summed counts (percent)."""
        out = {
            "videos": float(len(self.edits)),
            "frames": float(self.frames),
            "accuracy": 100.0 * self.correct / max(1, self.frames),
            "edit": float(np.mean(self.edits)) if self.edits else 0.0,
        }
        for k in self.overlaps:
            out[f1_name(k)] = float(f1(*self.counts.get(k, np.zeros(3))))
        return out
