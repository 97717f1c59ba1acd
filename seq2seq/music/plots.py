"""Piano-roll figures: keys up the page, time to the right, the primer shaded and marked."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from seq2seq.music.rolls import LOWEST  # noqa: E402
from seq2seq.plots import save_figure  # noqa: E402

NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(midi: int) -> str:
    return f"{NAMES[midi % 12]}{midi // 12 - 1}"


def piano_roll_png(roll: np.ndarray, path: str | Path, primer_frames: int = 0, title: str = "") -> Path:
    """Draw a (time, 88) roll; the first ``primer_frames`` frames are shaded as the primer and a
    line marks where the continuation starts. Only the range of keys in use is shown."""
    roll = np.asarray(roll)
    used = np.flatnonzero(roll.any(axis=0))
    low, high = (int(used.min()), int(used.max())) if used.size else (39, 51)
    low, high = max(0, low - 2), min(roll.shape[1] - 1, high + 2)
    width = min(18.0, max(6.0, roll.shape[0] * 0.05 + 2))
    fig, ax = plt.subplots(figsize=(width, max(3.0, (high - low) * 0.08 + 1.5)))
    ax.imshow(
        roll[:, low : high + 1].T, aspect="auto", origin="lower", cmap="Greys", interpolation="nearest",
        extent=(-0.5, roll.shape[0] - 0.5, low - 0.5, high + 0.5), vmin=0, vmax=1,
    )  # fmt: skip
    if primer_frames > 0:
        ax.axvspan(-0.5, primer_frames - 0.5, color="tab:blue", alpha=0.15, label="primer")
        ax.axvline(primer_frames - 0.5, color="tab:red", lw=1.5, label="continuation starts")
        ax.legend(loc="upper right", fontsize=8)
    ticks = [k for k in range(low, high + 1) if (LOWEST + k) % 12 == 0]
    ax.set_yticks(ticks, [note_name(LOWEST + k) for k in ticks])
    ax.set(xlabel="frame", ylabel="key", title=title or f"{roll.shape[0]} frames")
    fig.tight_layout()
    return save_figure(fig, path)
