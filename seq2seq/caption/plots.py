"""The Show, Attend and Tell figure: the picture the model saw, once per word, with the word's
attention over the grid drawn on it (bright: attended); and for clips, words against frames."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from seq2seq.plots import save_figure  # noqa: E402

PANELS_PER_ROW = 6


def plot_image_attention(picture: np.ndarray, words: list[str], weights: np.ndarray, path: str | Path) -> Path:
    """picture: (size, size, 3) uint8; weights: (len(words), cells) over a square grid of cells in
    row-major order. One panel per word, the weights scaled up to the picture (each panel's own
    largest weight brightest) and laid over it."""
    cells = weights.shape[1]
    side = math.isqrt(cells)
    if side * side != cells:
        raise ValueError(f"{cells} cells are not a square grid")
    rows = math.ceil(len(words) / PANELS_PER_ROW)
    cols = min(len(words), PANELS_PER_ROW)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.4 * rows), squeeze=False)
    size = picture.shape[0]
    for ax in axes.flat:
        ax.axis("off")
    for ax, word, w in zip(axes.flat, words, weights, strict=False):
        ax.imshow(picture)
        grid = w.reshape(side, side) / max(float(w.max()), 1e-9)
        # smoothed over the picture, as in the Show, Attend and Tell figures
        ax.imshow(grid, cmap="gray", alpha=0.6, extent=(0, size, size, 0), vmin=0, vmax=1, interpolation="bilinear")
        ax.set_title(f"{word} ({w.max():.2f})", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, Path(path), dpi=90)


def plot_clip_attention(words: list[str], weights: np.ndarray, path: str | Path, fps: float) -> Path:
    """weights: (len(words), frames): each word's attention over the sampled frames."""
    fig, ax = plt.subplots(figsize=(min(20.0, 3 + 0.15 * weights.shape[1]), 1.5 + 0.3 * len(words)))
    image = ax.imshow(weights, cmap="Greys", vmin=0.0, aspect="auto")
    fig.colorbar(image, ax=ax, label="attention weight", fraction=0.05, pad=0.02)
    ax.set_yticks(range(len(words)), words, fontsize=8)
    ax.set_xlabel(f"sampled frame ({fps:g} per second)")
    fig.tight_layout()
    return save_figure(fig, Path(path), dpi=90)
