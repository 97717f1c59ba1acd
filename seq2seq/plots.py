"""PNG figures people would rather look at than numbers: loss curves (recipes add their own)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402

from seq2seq.records import read  # noqa: E402


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Save a figure as PNG atomically and close it."""
    from seq2seq.checkpoint import atomic_write

    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi))
    plt.close(fig)
    return Path(path)


def plot_training(metrics_jsonl: str | Path, out_png: str | Path) -> Path:
    """Training loss per logged step, and each validation metric per evaluation."""
    records = read(metrics_jsonl)
    train = [r for r in records if r.get("kind") == "train"]
    valid = [r for r in records if r.get("kind") == "valid"]
    keys = [k for k in (valid[0] if valid else {}) if k not in ("kind", "step", "epoch", "best")]
    fig, axes = plt.subplots(1, 1 + len(keys), figsize=(4.5 * (1 + len(keys)), 3.5), squeeze=False)
    ax = axes[0][0]
    ax.plot([r["step"] for r in train], [r["loss"] for r in train], label="train")
    if valid and "loss" in valid[0]:
        ax.plot([r["step"] for r in valid], [r["loss"] for r in valid], "o-", label="valid")
    ax.set(xlabel="step", ylabel="loss", title="loss")
    ax.legend()
    for ax, key in zip(axes[0][1:], keys, strict=False):
        ax.plot([r["step"] for r in valid], [r.get(key) for r in valid], "o-")
        ax.set(xlabel="step", title=f"valid {key}")
    fig.tight_layout()
    return save_figure(fig, out_png, dpi=100)
