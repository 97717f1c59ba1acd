"""What several test modules share: small recipes read as the command line reads them, a trained
checkpoint from the command line, and checks of one-line errors."""

from __future__ import annotations

from pathlib import Path

import tomli_w

from seq2seq import checkpoint as ckpt_io
from seq2seq.cli import main
from seq2seq.config import Config
from seq2seq.registry import load_config


def small_lm_recipe(
    tmp_path: Path, task: str, data: dict, model: dict | None = None, train: dict | None = None,
    search: dict | None = None,
) -> Config:  # fmt: skip
    """A small language-model recipe of ``task``, written as a file and read with ``load_config``
    (so every check against the task applies)."""
    raw = {
        "task": task,
        "data": data,
        "model": {"kind": "language_model", "cell": "gru", "embed_dim": 16, "hidden_size": 24, "layers": 1,
                  "dropout": 0.0, **(model or {})},
        "train": {"out_dir": str(tmp_path / "run"), "device": "cpu", "progress": False, "epochs": 1,
                  "batch_size": 8, "metric": "loss", **(train or {})},
    }  # fmt: skip
    if search:
        raw["search"] = search
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return load_config(recipe)


def train_cli(recipe: str, out: Path, *overrides: str) -> Path:
    """Train ``recipe`` with ``seq2seq train`` on the CPU; returns best.pt."""
    args = ["train", recipe, "--out", str(out), "--device", "cpu", "--set", "train.progress=false"]
    for o in overrides:
        args += ["--set", o]
    assert main(args) == 0
    return out / "best.pt"


def with_search(ckpt: Path, out: Path, **search) -> Path:
    """A copy of a checkpoint whose config's [search] section holds ``search``."""
    payload = ckpt_io.load(ckpt)
    payload["config"]["search"].update(search)
    ckpt_io.save(out, payload)
    return out


def one_error_line(capsys, *parts: str) -> str:
    """The command's stderr is one 'seq2seq: error: ...' line holding every one of ``parts``."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("seq2seq: error: "), err
    for part in parts:
        assert part in err[0]
    return err[0]
