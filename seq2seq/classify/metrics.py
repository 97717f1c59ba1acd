"""Accuracy, macro-F1 and the confusion matrix of class predictions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion(truth: Sequence[int], pred: Sequence[int], classes: int) -> np.ndarray:
    """(classes, classes) int64 counts: row = true class, column = predicted class."""
    out = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(out, (np.asarray(truth, dtype=np.int64), np.asarray(pred, dtype=np.int64)), 1)
    return out


def accuracy(matrix: np.ndarray) -> float:
    """The fraction of examples on the diagonal (0 for no examples)."""
    total = int(matrix.sum())
    return float(np.trace(matrix)) / total if total else 0.0


def per_class_f1(matrix: np.ndarray) -> np.ndarray:
    """F1 of each class (classes,): 2 tp / (2 tp + fp + fn), 0 where a class has no tp."""
    tp = np.diag(matrix).astype(float)
    fp = matrix.sum(0) - tp
    fn = matrix.sum(1) - tp
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def macro_f1(matrix: np.ndarray) -> float:
    """The mean F1 over the classes that occur in the truth or the predictions (as scikit-learn's
    ``f1_score(average="macro")``): a class absent from both says nothing about the model."""
    seen = (matrix.sum(0) + matrix.sum(1)) > 0
    return float(per_class_f1(matrix)[seen].mean()) if seen.any() else 0.0
