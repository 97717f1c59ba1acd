"""The seq2seq command line on real files: train, evaluate, info, average, errors as one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seq2seq.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY = """
task = "toy"
[data]
problem = "delay"
symbols = 5
train_size = 400
valid_size = 50
[model]
kind = "tagger"
bidirectional = false
embed_dim = 8
hidden_size = 16
layers = 1
[train]
epochs = 3
batch_size = 32
eval_every = 5
keep_last = 5
progress = false
metric = "accuracy"
"""


@pytest.fixture
def recipe(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "seq2seq", "--help"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0
    for command in ("train", "evaluate", "average", "info", "demo"):
        assert command in out.stdout


def test_train_evaluate_info_average(tmp_path, recipe, capsys):
    run = tmp_path / "run"
    assert main(["train", str(recipe), "--out", str(run), "--device", "cpu", "--set", "train.lr=0.01"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 39 and Path(summary["outputs"]["loss curve"]).exists()
    capsys.readouterr()

    assert main(["evaluate", "-m", str(run / "best.pt"), "--device", "cpu"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["accuracy"] == pytest.approx(summary["best"])

    assert main(["info", "-m", str(run / "best.pt"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "tagger" and info["config"]["train"]["lr"] == 0.01
    assert main(["info", "-m", str(run / "best.pt")]) == 0  # readable: what the model is, knows, scored, weighs
    shown = capsys.readouterr().out
    assert "task        toy (tagger)" in shown and "lstm 2x16 bidirectional" not in shown
    assert f"validation  loss {metrics['loss']:.4g}" in shown and "accuracy" in shown
    assert "file" in shown and "model" in shown and "optimizer" in shown

    assert main(["average", str(run), "--last", "3", "-o", str(tmp_path / "avg.pt")]) == 0
    avg = torch.load(tmp_path / "avg.pt", weights_only=True)
    assert len(avg["averaged"]) == 3 and "optimizer" not in avg
    assert main(["evaluate", "-m", str(tmp_path / "avg.pt"), "--device", "cpu"]) == 0

    # continue the same run for more epochs
    assert main(["train", str(recipe), "--out", str(run), "--set", "train.epochs=4", "--resume"]) == 0
    assert json.loads((run / "summary.json").read_text())["steps"] == 52


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "{recipe}", "--set", "model.hiden_size=3"], "did you mean 'model.hidden_size'?"),
        (["train", "{tmp}/none.toml"], "none.toml: no such recipe file"),
        (["train", "{recipe}", "--device", "tpu"], "train.device: 'tpu' is not allowed; use auto, cpu, cuda or cuda:N"),
        (["train", "{recipe}", "--resume"], "no step-*.pt checkpoint"),
        (["evaluate", "-m", "{tmp}/missing.pt"], "missing.pt: no such checkpoint file"),
        (["evaluate", "-m", "{recipe}"], "tiny.toml: not a readable seq2seq checkpoint"),
        (["average", "{tmp}", "--last", "2", "-o", "{tmp}/x.pt"], "fewer than --last 2"),
    ],
)
def test_user_errors_are_one_line(tmp_path, recipe, capsys, argv, message):
    argv = [a.format(recipe=recipe, tmp=tmp_path) for a in argv]
    if argv[0] == "train":
        argv += ["--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("seq2seq: error: ") and message in err
    assert "\n" not in err


def test_set_takes_several_overrides_after_one_flag_or_many():
    from seq2seq.cli import build_parser

    args = build_parser().parse_args(
        ["train", "r.toml", "--set", "train.lr=0.1", "train.epochs=2", "--out", "x", "--set", "model.layers=1"]
    )
    assert args.recipe == "r.toml" and args.out == "x"
    assert args.set == ["train.lr=0.1", "train.epochs=2", "model.layers=1"]
