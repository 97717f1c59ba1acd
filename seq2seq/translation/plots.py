"""The attention matrix of one translated sentence, with subword labels, as a PNG."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
from torch import Tensor  # noqa: E402

from seq2seq.plots import save_figure  # noqa: E402

WORD = "\u2581"  # SentencePiece's mark of a piece that starts a word


def detokenise(pieces: list[str], limit: int = 60) -> str:
    """The text that SentencePiece pieces spell (without </s>), cut to ``limit`` characters."""
    text = "".join(p for p in pieces if p != "</s>").replace(WORD, " ").strip()
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def plot_attention(src: list[str], tgt: list[str], weights: Tensor, path: str | Path, title: str | None = None) -> Path:
    """weights: (len(tgt), len(src)); rows are output pieces, columns input pieces. A colour bar
    gives the weight of each shade (0 to 1; a row sums to 1). ``title`` heads the figure
    (default: "source" -> "translation", the texts the pieces spell)."""
    path = Path(path)
    width = min(24.0, 3.0 + 0.35 * len(src))
    height = min(24.0, 2.0 + 0.3 * len(tgt))
    fig, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(weights.numpy(), cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    fig.colorbar(image, ax=ax, label="attention weight", fraction=0.05, pad=0.02)
    ax.set_xticks(range(len(src)), src, rotation=90, fontsize=8)
    ax.set_yticks(range(len(tgt)), tgt, fontsize=8)
    ax.set_xlabel("source subwords")
    ax.set_ylabel("output subwords")
    title = title if title is not None else f'"{detokenise(src)}" -> "{detokenise(tgt)}"'
    ax.set_title(textwrap.fill(title, max(30, int(width * 11))), fontsize=9)  # wrapped to the figure's width
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
