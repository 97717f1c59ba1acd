"""The figures' content, read from their matplotlib objects (not pixels): the training loss plot
(label smoothing explained, identical panels drawn once), the attention map's colour bar and
title, the video timeline's confidence scale."""

from __future__ import annotations

import json

import pytest
import torch

import seq2seq.plots
import seq2seq.translation.plots
import seq2seq.video.plots
from seq2seq.plots import plot_training, run_config
from seq2seq.translation.plots import plot_attention
from seq2seq.video.plots import plot_timelines


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions save, in order (each still written as a PNG)."""
    saved = []
    original = seq2seq.plots.save_figure

    def keep(fig, path, dpi=110):
        saved.append(fig)
        return original(fig, path, dpi)

    for module in (seq2seq.plots, seq2seq.translation.plots, seq2seq.video.plots):
        monkeypatch.setattr(module, "save_figure", keep)
    return saved


def write_metrics(path, valid: list[dict]) -> None:
    train = [{"kind": "train", "step": 10 * i, "loss": 3.0 - 0.2 * i} for i in range(1, 6)]
    evals = [{"kind": "valid", "step": 25 * (i + 1), "epoch": i + 1, **v, "best": 0.0} for i, v in enumerate(valid)]
    path.write_text("".join(json.dumps(r) + "\n" for r in [*train, *evals]))


def legend_labels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_identical_validation_metrics_share_one_panel(tmp_path, figures):
    """The music task's valid loss and nll are the same numbers: one panel, "loss = nll"."""
    write_metrics(tmp_path / "metrics.jsonl", [{"loss": 2.5, "nll": 2.5}, {"loss": 2.1, "nll": 2.1}])
    png = plot_training(tmp_path / "metrics.jsonl", tmp_path / "loss.png")
    assert png.stat().st_size > 1000
    (fig,) = figures
    assert [ax.get_title() for ax in fig.axes] == ["loss = nll"]
    assert legend_labels(fig.axes[0]) == ["train", "valid"]  # no smoothing: no note
    assert not fig.texts
    write_metrics(tmp_path / "other.jsonl", [{"loss": 2.5, "bpc": 3.6}, {"loss": 2.1, "bpc": 3.0}])
    plot_training(tmp_path / "other.jsonl", tmp_path / "other.png")
    assert [ax.get_title() for ax in figures[1].axes] == ["loss", "valid bpc"]  # different numbers: two panels


def test_label_smoothing_is_explained_from_the_run_config(tmp_path, figures):
    """A translation run with label smoothing (its config read from a checkpoint in the folder):
    the train curve is marked as smoothed and a note says why it lies above the valid NLL."""
    valid = [{"loss": 2.5, "ppl": 12.2, "bleu": 10.0}, {"loss": 2.0, "ppl": 7.4, "bleu": 14.0}]
    write_metrics(tmp_path / "metrics.jsonl", valid)
    config = {"task": "translation", "train": {"label_smoothing": 0.1}}
    torch.save({"format": "seq2seq-checkpoint", "config": config}, tmp_path / "step-00000050.pt")
    assert run_config(tmp_path) == config
    plot_training(tmp_path / "metrics.jsonl", tmp_path / "loss.png")
    fig = figures[0]
    assert [ax.get_title() for ax in fig.axes] == ["loss", "valid ppl", "valid bleu"]
    assert legend_labels(fig.axes[0]) == ["train (label-smoothed)", "valid (NLL)"]
    (note,) = fig.texts
    assert "label_smoothing = 0.1" in note.get_text() and "above the valid NLL" in note.get_text()

    plot_training(tmp_path / "metrics.jsonl", tmp_path / "plain.png", label_smoothing=0.0)  # given: wins
    assert legend_labels(figures[1].axes[0]) == ["train", "valid"] and not figures[1].texts
    music = tmp_path / "music"
    music.mkdir()
    write_metrics(music / "metrics.jsonl", [{"loss": 2.5, "nll": 2.5}])
    torch.save({"config": {"task": "music", "train": {"label_smoothing": 0.1}}}, music / "best.pt")
    plot_training(music / "metrics.jsonl", music / "loss.png")  # the music loss takes no smoothing
    assert legend_labels(figures[2].axes[0]) == ["train", "valid"] and not figures[2].texts
    assert run_config(tmp_path / "nowhere") is None


def test_attention_map_has_a_colour_bar_and_a_title(tmp_path, figures):
    src, tgt = ["\u2581ein", "\u2581Hund", "."], ["\u2581a", "\u2581do", "g", ".", "</s>"]
    weights = torch.softmax(torch.randn(len(tgt), len(src)), dim=-1)
    assert plot_attention(src, tgt, weights, tmp_path / "a.png").stat().st_size > 1000
    fig = figures[0]
    main, bar = fig.axes
    assert main.get_title() == '"ein Hund." -> "a dog."'
    assert bar.get_ylabel() == "attention weight" and bar.get_ylim() == (0.0, 1.0)
    assert [t.get_text() for t in main.get_xticklabels()] == src
    plot_attention(src, tgt, weights, tmp_path / "b.png", title="demo model: line 3")
    assert figures[1].axes[0].get_title() == "demo model: line 3"


def test_timeline_confidence_has_a_labelled_scale(tmp_path, figures):
    pred, truth = ["a", "a", "b", "b", "b"], ["a", "b", "b", "b", "b"]
    conf = [0.9, 0.6, 0.8, 1.0, 0.3]
    png = plot_timelines(tmp_path / "t.png", [("clip", pred, truth)], ["a", "b"], fps=2.0, confidence=[conf])
    assert png.stat().st_size > 1000
    panel, scale = figures[0].axes
    assert scale.get_ylabel() == "confidence"
    assert [t.get_text() for t in scale.get_yticklabels()] == ["0", "0.5", "1"]
    (line,) = scale.get_lines()
    assert list(line.get_ydata()) == conf and list(line.get_xdata()) == [0.0, 0.5, 1.0, 1.5, 2.0]

    def on_panel(c: float) -> float:  # where confidence c lies in the panel's units
        low, high = scale.get_ylim()
        p_low, p_high = panel.get_ylim()
        return p_low + (c - low) / (high - low) * (p_high - p_low)

    assert on_panel(0.0) == pytest.approx(1.1) and on_panel(1.0) == pytest.approx(1.9)  # the prediction's bar
    assert [t.get_text() for t in panel.get_yticklabels()] == ["truth", "prediction"]
    plot_timelines(tmp_path / "n.png", [("clip", pred, None)], ["a", "b"])  # without confidence: no scale
    assert len(figures[1].axes) == 1
