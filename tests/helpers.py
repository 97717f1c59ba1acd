"""What several test modules share: small recipes read as the command line reads them, a trained
checkpoint from the command line, a command typed into on a terminal, and checks of one-line
errors."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import tomli_w

from seq2seq import checkpoint as ckpt_io
from seq2seq.cli import main
from seq2seq.config import Config
from seq2seq.registry import load_config
from tests.conftest import REPO


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


def typed_on_a_terminal(command: list[str], exchanges: Iterable[tuple[str, str]]) -> None:
    """Run ``seq2seq COMMAND`` with stdin a pseudo-terminal; for each (line, answer) type the
    line and check that exactly ``answer`` comes back on stdout (flushed) before the next line is
    typed or the input ends; then Ctrl-D ends the command, with status 0."""
    import pty
    import select

    master, slave = pty.openpty()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "seq2seq", *command], cwd=REPO, env=env, stdin=slave,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    os.close(slave)
    try:
        for line, answer in exchanges:
            os.write(master, line.encode() + b"\n")
            got, want = b"", answer.encode()
            while len(got) < len(want):
                ready, _, _ = select.select([proc.stdout], [], [], 300)  # a bound against hanging, not a timing
                assert ready, "no answer came back while the input stayed open"
                chunk = os.read(proc.stdout.fileno(), 4096)
                assert chunk, proc.stderr.read().decode()
                got += chunk
            assert got == want
        os.write(master, b"\x04")  # Ctrl-D: the end of the input
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def prepared_gtea(shared_data: Path, out: Path) -> Path:
    """The shared GTEA release prepared into our layout at ``out`` by datasets/prepare_gtea_tcn.py
    (the test is skipped without the shared data)."""
    import pytest

    release = shared_data / "gtea-tcn"
    if not release.is_dir():
        pytest.skip("gtea-tcn not in the shared data")
    script = REPO / "datasets" / "prepare_gtea_tcn.py"
    subprocess.run([sys.executable, str(script), "--from", str(release), "--out", str(out)], check=True)
    return out
