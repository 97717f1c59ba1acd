"""The confusion-matrix figure: rows are the true classes, columns the predicted ones."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from seq2seq.classify.metrics import accuracy, macro_f1  # noqa: E402
from seq2seq.plots import save_figure  # noqa: E402


def plot_confusion(matrix: np.ndarray, labels: list[str], out_png: str | Path, title: str = "") -> Path:
    """Draw (classes, classes) counts, each row's share as the colour and the count written in
    every cell; the title gives accuracy and macro-F1. Saved atomically."""
    n = len(labels)
    share = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    side = min(2.0 + 0.5 * n, 12.0)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    if n <= 30:  # beyond that the numbers would not fit
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8,
                            color="white" if share[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_xticks(range(n), labels, rotation=45 if n > 3 else 0, ha="right" if n > 3 else "center")
    ax.set_yticks(range(n), labels)
    ax.set(xlabel="predicted", ylabel="true")
    ax.set_title(f"{title + ': ' if title else ''}accuracy {accuracy(matrix):.3f}, macro-F1 {macro_f1(matrix):.3f}"
                 f" ({int(matrix.sum())} examples)", fontsize=9)  # fmt: skip
    fig.tight_layout()
    return save_figure(fig, out_png)
