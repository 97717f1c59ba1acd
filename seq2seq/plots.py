"""PNG figures people would rather look at than numbers: loss curves (recipes add their own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


# the tasks whose training loss is ``Task.token_nll``, which adds ``train.label_smoothing``
SMOOTHED_TASKS = ("translation", "text", "toy")


def run_config(folder: str | Path) -> dict[str, Any] | None:
    """The config (plain data) of the run in ``folder``, from its newest checkpoint (read
    memory-mapped, so cheap for large ones); None when it holds no readable checkpoint."""
    import torch

    from seq2seq.checkpoint import step_checkpoints

    folder = Path(folder)
    for path in [*reversed(step_checkpoints(folder)), folder / "best.pt"]:
        try:
            config = torch.load(path, map_location="cpu", weights_only=True, mmap=True)["config"]
        except Exception:  # missing, damaged or foreign: try the next one
            continue
        if isinstance(config, dict):
            return config
    return None


def label_smoothing_of(config: dict[str, Any] | None) -> float:
    """The label smoothing in a run's training loss (0 when its task's loss takes none)."""
    if not config or config.get("task") not in SMOOTHED_TASKS:
        return 0.0
    return float((config.get("train") or {}).get("label_smoothing") or 0.0)


def same_series(valid: list[dict], keys: list[str]) -> list[list[str]]:
    """``keys`` grouped by their values over the evaluations: metrics that are the same numbers
    (the music task's loss and nll) form one group, drawn as one panel."""
    groups: list[list[str]] = []
    for key in keys:
        values = [r.get(key) for r in valid]
        twin = next((g for g in groups if [r.get(g[0]) for r in valid] == values), None)
        if twin is None:
            groups.append([key])
        else:
            twin.append(key)
    return groups


def plot_training(metrics_jsonl: str | Path, out_png: str | Path, label_smoothing: float | None = None) -> Path:
    """Training loss per logged step with the validation loss per evaluation, and each other
    validation metric per evaluation in a panel of its own.

    Metrics with identical values share one panel, titled with all their names ("loss = nll").
    When the training loss includes label smoothing (``label_smoothing``; None: read from the
    run's config, in a checkpoint beside ``metrics_jsonl``, for the tasks whose loss takes it),
    the two curves stay on one axis, where the gap between them shows, rather than on two: the
    train curve is labelled "train (label-smoothed)", the valid one "valid (NLL)", and a note
    under the figure says why the train curve lies above the valid NLL."""
    records = read(metrics_jsonl)
    train = [r for r in records if r.get("kind") == "train"]
    valid = [r for r in records if r.get("kind") == "valid"]
    if label_smoothing is None:
        label_smoothing = label_smoothing_of(run_config(Path(metrics_jsonl).parent))
    smoothed = label_smoothing > 0
    keys = [k for k in (valid[0] if valid else {}) if k not in ("kind", "step", "epoch", "best")]
    groups = same_series(valid, keys)
    first = next((g for g in groups if "loss" in g), ["loss"])
    others = [g for g in groups if g is not first]
    fig, axes = plt.subplots(1, 1 + len(others), figsize=(4.5 * (1 + len(others)), 3.5), squeeze=False)
    ax = axes[0][0]
    ax.plot(
        [r["step"] for r in train], [r["loss"] for r in train], label="train (label-smoothed)" if smoothed else "train"
    )
    if valid and "loss" in valid[0]:
        ax.plot(
            [r["step"] for r in valid], [r["loss"] for r in valid], "o-", label="valid (NLL)" if smoothed else "valid"
        )
    ax.set(xlabel="step", ylabel="loss", title=" = ".join(first))
    ax.legend()
    for ax, group in zip(axes[0][1:], others, strict=True):
        ax.plot([r["step"] for r in valid], [r.get(group[0]) for r in valid], "o-")
        ax.set(xlabel="step", title="valid " + " = ".join(group))
    if smoothed:
        fig.text(
            0.01, 0.01, f"train.label_smoothing = {label_smoothing:g}: the train loss also scores the smoothed "
            "targets, so it lies above the valid NLL (the plain likelihood) even without overfitting",
            fontsize=7, wrap=True,
        )  # fmt: skip
        fig.tight_layout(rect=(0, 0.08, 1, 1))
    else:
        fig.tight_layout()
    return save_figure(fig, out_png, dpi=100)
