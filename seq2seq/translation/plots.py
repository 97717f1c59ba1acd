"""The attention matrix of one translated sentence, with subword labels, as a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
from torch import Tensor  # noqa: E402

from seq2seq.checkpoint import atomic_write  # noqa: E402


def plot_attention(src: list[str], tgt: list[str], weights: Tensor, path: str | Path) -> Path:
    """weights: (len(tgt), len(src)); rows are output pieces, columns input pieces."""
    path = Path(path)
    width = min(24.0, 2.0 + 0.35 * len(src))
    height = min(24.0, 1.5 + 0.3 * len(tgt))
    fig, ax = plt.subplots(figsize=(width, height))
    ax.imshow(weights.numpy(), cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(src)), src, rotation=90, fontsize=8)
    ax.set_yticks(range(len(tgt)), tgt, fontsize=8)
    ax.set_xlabel("source subwords")
    ax.set_ylabel("output subwords")
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    return path
