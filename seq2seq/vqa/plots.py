"""The attention figure: the picture the CNN saw, with each hop's weights over the grid drawn on it."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from seq2seq.plots import save_figure  # noqa: E402


def plot_attention(picture: np.ndarray, weights: np.ndarray, title: str, out_png: str | Path) -> Path:
    """picture: (size, size, 3) uint8; weights: (hops, rows, cols), each hop summing to 1. One
    panel per hop: the picture, the weights as a heat map over it and each cell's share written."""
    hops, rows, cols = weights.shape
    size = picture.shape[0]
    fig, axes = plt.subplots(1, hops, figsize=(3.2 * hops, 3.6), squeeze=False)
    for k, ax in enumerate(axes[0]):
        ax.imshow(picture)
        ax.imshow(weights[k], cmap="magma", alpha=0.55, extent=(0, size, size, 0), vmin=0.0, vmax=weights[k].max())
        for r in range(rows):
            for c in range(cols):
                ax.text((c + 0.5) * size / cols, (r + 0.5) * size / rows, f"{weights[k, r, c]:.2f}", ha="center",
                        va="center", fontsize=7, color="white")  # fmt: skip
        ax.set(xticks=[], yticks=[], title=f"hop {k + 1}")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out_png)
