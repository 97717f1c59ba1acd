"""Timeline figures: the label of every frame as coloured bars, prediction above truth."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from seq2seq.plots import save_figure  # noqa: E402
from seq2seq.video.metrics import segments  # noqa: E402


def label_colours(labels: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab20" if len(labels) > 10 else "tab10")
    return {name: cmap(i % cmap.N) for i, name in enumerate(labels)}


def plot_timelines(
    out_png: str | Path,
    rows: list[tuple[str, list[str], list[str] | None]],
    labels: list[str],
    fps: float | None = None,
    confidence: list[list[float]] | None = None,
) -> Path:
    """One panel per video: (name, predicted labels, true labels or None). x is in seconds when
    ``fps`` is given, else frames; ``confidence`` draws each frame's top probability as a line
    over the prediction's bar, on a scale of its own at the right (0 to 1, labelled)."""
    colours = label_colours(labels)
    fig, axes = plt.subplots(len(rows), 1, figsize=(11, 1.2 + 1.0 * len(rows)), squeeze=False)
    scale = 1.0 / fps if fps else 1.0
    for n, (ax, (name, pred, truth)) in enumerate(zip(axes[:, 0], rows, strict=True)):
        tracks = [("prediction", pred)] + ([("truth", truth)] if truth is not None else [])
        for y, (_, seq) in enumerate(reversed(tracks)):
            for label, start, end in segments(seq):
                ax.broken_barh([(start * scale, (end - start) * scale)], (y + 0.1, 0.8), color=colours[label])
        if confidence is not None and confidence[n]:
            # on its own scale at the right: 0 at the bottom of the prediction's bar, 1 at its top
            bottom = len(tracks) - 0.9
            scale_ax = ax.twinx()
            scale_ax.set_ylim(-bottom / 0.8, 0.9 / 0.8)
            scale_ax.set_yticks([0.0, 0.5, 1.0], ["0", "0.5", "1"], fontsize=7)
            scale_ax.set_ylabel("confidence", fontsize=8)
            xs = [i * scale for i in range(len(confidence[n]))]
            scale_ax.plot(xs, confidence[n], color="black", linewidth=0.6)
        ax.set_yticks([y + 0.5 for y in range(len(tracks))], [t for t, _ in reversed(tracks)])
        ax.set_xlim(0, len(pred) * scale)
        ax.set_ylim(0, len(tracks))
        ax.set_title(name, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("seconds" if fps else "frame")
    used = [name for name in labels if any(name in row[1] or (row[2] and name in row[2]) for row in rows)]
    fig.legend(
        handles=[Patch(color=colours[n], label=n) for n in used], loc="upper right", fontsize=8, ncol=min(6, len(used))
    )
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    return save_figure(fig, out_png, dpi=100)
