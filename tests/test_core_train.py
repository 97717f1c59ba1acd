"""The shared training loop: models learn toy tasks, clipping, exact resume, NaN handling, DDP."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seq2seq.checkpoint import CheckpointError
from seq2seq.checkpoint import load as load_ckpt
from seq2seq.config import Config, ConfigError
from seq2seq.inference import load_model
from seq2seq.registry import from_dict
from seq2seq.runtime import has_cpp_compiler
from seq2seq.task import LossOutput
from seq2seq.trainer import Trainer, TrainingError

REPO = Path(__file__).resolve().parents[1]


def toy(tmp_path: Path, data: dict, model: dict, train: dict) -> Config:
    base_train = {"out_dir": str(tmp_path / "run"), "progress": False, "log_every": 10, "device": "cpu"}
    return from_dict({"task": "toy", "data": data, "model": model, "train": {**base_train, **train}})


def tagger(tmp_path, cell: str, bidirectional: bool, problem: str, **train) -> Config:
    return toy(
        tmp_path,
        {"problem": problem, "symbols": 6, "min_len": 4, "max_len": 10, "train_size": 1500, "valid_size": 200},
        {"kind": "tagger", "cell": cell, "bidirectional": bidirectional, "embed_dim": 16, "hidden_size": 32,
         "layers": 1, "dropout": 0.0},
        {"epochs": 6, "batch_size": 32, "lr": 0.01, "metric": "accuracy", **train},
    )  # fmt: skip


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_causal_tagger_learns_delay(tmp_path, cell):
    """Each cell, unidirectional: label t with the symbol at t-1 (>= 95% of steps)."""
    summary = Trainer.from_config(tagger(tmp_path, cell, False, "delay")).fit()
    assert summary["best"] >= 0.95


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_bidirectional_tagger_learns_lookahead(tmp_path, cell):
    """Each cell, bidirectional: label t with the symbol at t+1, which needs the future."""
    summary = Trainer.from_config(tagger(tmp_path, cell, True, "ahead")).fit()
    assert summary["best"] >= 0.95


def test_causal_tagger_cannot_see_the_future(tmp_path):
    """The same task is out of reach without the backward direction: a real check on causality."""
    summary = Trainer.from_config(tagger(tmp_path, "gru", False, "ahead", epochs=2)).fit()
    assert summary["best"] < 0.4


@pytest.mark.slow
def test_attention_decoder_learns_reversal(tmp_path):
    cfg = toy(
        tmp_path,
        {"problem": "reverse", "symbols": 8, "min_len": 3, "max_len": 8, "train_size": 4000, "valid_size": 200},
        {"kind": "encoder_decoder", "cell": "gru", "embed_dim": 32, "hidden_size": 64, "layers": 1, "dropout": 0.0,
         "attention": "general"},
        {"epochs": 6, "batch_size": 64, "lr": 0.003, "metric": "sequence_accuracy"},
    )  # fmt: skip
    summary = Trainer.from_config(cfg).fit()
    assert summary["best"] >= 0.95
    loaded = load_model(tmp_path / "run" / "best.pt", "cpu")
    assert loaded.task.decode(loaded.model, [[3, 4, 5, 6, 7]]) == [[7, 6, 5, 4, 3]]
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))


def lm_cfg(tmp_path, **train) -> Config:
    return toy(
        tmp_path,
        {"problem": "cycle", "symbols": 7, "min_len": 10, "max_len": 30, "train_size": 300, "valid_size": 50},
        {"kind": "language_model", "cell": "lstm", "embed_dim": 8, "hidden_size": 16, "layers": 2, "dropout": 0.3},
        {"epochs": 3, "batch_size": 16, "tbptt": 8, "eval_every": 7, "keep_last": 10, **train},
    )  # fmt: skip


def test_resume_continues_exactly(tmp_path):
    """N steps straight == k steps, stop, resume, N - k steps: same weights, with dropout, TBPTT and
    a stop in the middle of an epoch."""
    straight = Trainer.from_config(lm_cfg(tmp_path / "a", max_steps=40))
    straight.fit()
    first = Trainer.from_config(lm_cfg(tmp_path / "b", max_steps=21))
    first.fit()
    assert first.batch_index not in (0,), "the stop should fall inside an epoch"
    assert first.step >= 21  # max_steps is checked at batch ends
    resumed = Trainer.resume(tmp_path / "b" / "run", ["train.max_steps=40"])
    assert resumed.step == first.step
    resumed.fit()
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    log = [json.loads(x) for x in (tmp_path / "b" / "run" / "metrics.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == straight.step == resumed.step


def test_refuses_to_overwrite_a_run_without_resume(tmp_path):
    Trainer.from_config(lm_cfg(tmp_path, max_steps=8)).fit()
    with pytest.raises(TrainingError, match="--resume"):
        Trainer.from_config(lm_cfg(tmp_path, max_steps=8))


def test_resume_continues_the_run_as_configured(tmp_path):
    """A resumed run keeps its own settings: only how long it runs may change, and what would
    change the result is refused by name."""
    Trainer.from_config(lm_cfg(tmp_path, max_steps=8, lr=0.02)).fit()
    run = tmp_path / "run"
    with pytest.raises(ConfigError, match="train.lr cannot change when a run continues"):
        Trainer.resume(run, ["train.lr=0.5"])
    with pytest.raises(ConfigError, match="model.hidden_size cannot change"):
        Trainer.resume(run, ["model.hidden_size=3"])
    resumed = Trainer.resume(run, ["train.max_steps=12"])
    assert resumed.task.cfg.train.lr == 0.02 and resumed.cfg.max_steps == 12


def test_checkpoints_are_plain_and_pruned(tmp_path):
    Trainer.from_config(lm_cfg(tmp_path, max_steps=40, keep_last=2)).fit()
    run = tmp_path / "run"
    steps = sorted(p.name for p in run.glob("step-*.pt"))
    assert len(steps) == 2 and steps[-1] == "step-00000041.pt"  # the newest two of six evaluations
    ckpt = torch.load(run / "best.pt", weights_only=True)  # no pickled objects
    assert ckpt["task"] == "toy" and ckpt["config"]["model"]["kind"] == "language_model"
    assert {"model", "optimizer", "schedule", "rng", "progress", "dims"} <= ckpt.keys()
    assert ckpt["dims"]["input_vocab"] == ckpt["dims"]["output_size"] == 10  # from the data, not the config
    assert "input_vocab" not in ckpt["config"]["model"]
    assert not list(run.glob("*.tmp"))


def test_clipping_bounds_the_global_norm(tmp_path):
    cfg = lm_cfg(tmp_path, optimizer="sgd", momentum=0.0, lr=1.0, clip_norm=0.05, max_steps=1)
    trainer = Trainer.from_config(cfg)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    batch = trainer.task.collate([trainer.task.dataset()[i] for i in range(8)])
    out = trainer.task.loss(trainer.model, batch)
    (out.loss / out.count).backward()
    raw = torch.sqrt(sum((p.grad**2).sum() for p in trainer.model.parameters()))
    assert raw > 0.05
    trainer._update()
    delta = torch.sqrt(sum(((p - q) ** 2).sum() for p, q in zip(trainer.model.parameters(), before, strict=True)))
    assert float(delta.detach()) == pytest.approx(0.05, rel=1e-4)  # lr 1: the step is the clipped gradient


def test_nonfinite_loss_skips_the_step_then_stops(tmp_path, monkeypatch):
    cfg = lm_cfg(tmp_path, max_steps=30, log_every=1, max_nonfinite=3, eval_every=100, tbptt=0)
    trainer = Trainer.from_config(cfg)
    real_loss = trainer.task.loss
    calls = {"n": 0}

    def flaky(model, batch, state=None):
        calls["n"] += 1
        out = real_loss(model, batch, state)
        if calls["n"] == 3 or calls["n"] >= 6:
            return LossOutput(out.loss * float("nan"), out.count, out.state)
        return out

    monkeypatch.setattr(trainer.task, "loss", flaky)
    snapshots = []
    real_update = trainer._update

    def update():
        real_update()
        snapshots.append([p.detach().clone() for p in trainer.model.parameters()])

    monkeypatch.setattr(trainer, "_update", update)
    with pytest.warns(RuntimeWarning, match="non-finite"):
        with pytest.raises(TrainingError, match="not finite for 3 steps in a row"):
            trainer.fit()
    # step 3 was skipped: weights after it equal those after step 2, and stay finite
    assert all(torch.equal(a, b) for a, b in zip(snapshots[1], snapshots[2], strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(snapshots[2], snapshots[3], strict=True))
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_checkpoint_of_another_kind_is_refused(tmp_path):
    Trainer.from_config(lm_cfg(tmp_path / "lm", max_steps=8)).fit()
    best = tmp_path / "lm" / "run" / "best.pt"
    with pytest.raises(CheckpointError, match="a 'toy' checkpoint .* needs a 'translation' checkpoint"):
        load_model(best, "cpu", task="translation", command="translate")
    bad = tmp_path / "junk.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt: not a readable seq2seq checkpoint"):
        load_ckpt(bad)


def test_ddp_world_size_one_matches_single_process(tmp_path, monkeypatch):
    single = Trainer.from_config(lm_cfg(tmp_path / "single", max_steps=12))
    single.fit()
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29531", "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("SEQ2SEQ_BACKEND", "gloo")
    try:
        ddp = Trainer.from_config(lm_cfg(tmp_path / "ddp", max_steps=12))
        assert ddp.ddp is not None
        ddp.fit()
    finally:
        torch.distributed.destroy_process_group()
    for (k, a), b in zip(single.model.state_dict().items(), ddp.model.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), k


@pytest.mark.slow
def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    """torchrun, 2 CPU processes (gloo), batch B each == 1 process, accumulating 2 batches of B."""
    recipe = tmp_path / "lm.toml"
    recipe.write_text(
        'task = "toy"\n[data]\nproblem = "cycle"\nsymbols = 7\nmin_len = 10\nmax_len = 20\ntrain_size = 256\n'
        'valid_size = 32\n[model]\nkind = "language_model"\nembed_dim = 8\nhidden_size = 16\n'
        "layers = 1\ndropout = 0.0\n[train]\nepochs = 1\nbatch_size = 16\nlog_every = 1\nprogress = false\n"
        'device = "cpu"\n'
    )
    env = {**os.environ, "SEQ2SEQ_BACKEND": "gloo", "OMP_NUM_THREADS": "1"}
    one = tmp_path / "one"
    two = tmp_path / "two"
    cmd = [sys.executable, "-m", "seq2seq", "train", str(recipe)]
    subprocess.run([*cmd, "--out", str(one), "--set", "train.accum_steps=2"], check=True, env=env, cwd=REPO)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533"]
    subprocess.run([*torchrun, "-m", "seq2seq", "train", str(recipe), "--out", str(two)], check=True, env=env, cwd=REPO)

    def losses(run):
        rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        return [r["loss"] for r in rows if r["kind"] == "valid"], [r["step"] for r in rows if r["kind"] == "train"]

    (v1, s1), (v2, s2) = losses(one), losses(two)
    assert s1 == s2 and len(s1) >= 7
    assert v1 == pytest.approx(v2, rel=1e-4)
    w1, w2 = torch.load(one / "best.pt", weights_only=True), torch.load(two / "best.pt", weights_only=True)
    for k in w1["model"]:
        assert torch.allclose(w1["model"][k], w2["model"][k], atol=1e-5), k


def test_bf16_on_a_cpu_without_bf16_kernels_is_noted_once(monkeypatch, capsys):
    """bf16 autocast on a CPU that only emulates it (5x slower than float32 on the Multi30k
    recipe) says so once per process, with the keys that turn it off; nothing where the CPU has
    the kernels or bf16 is off."""
    from seq2seq import runtime

    assert isinstance(runtime.cpu_has_bf16(), bool)
    cpu = torch.device("cpu")
    for has_kernels, notes in ((True, 0), (False, 1)):
        monkeypatch.setattr(runtime, "_slow_bf16_noted", False)
        monkeypatch.setattr(runtime, "cpu_has_bf16", lambda has=has_kernels: has)
        for amp in ("bf16", "bf16", "off", "auto", "bf16"):
            with runtime.autocast(cpu, amp):
                assert torch.is_autocast_enabled("cpu") == (amp == "bf16")
        err = capsys.readouterr().err
        assert err.count("seq2seq: warning: bf16 on a CPU without bf16 kernels") == notes, err
    assert "--set train.amp=off" in err and "--amp off" in err and len(err.splitlines()) == 1


def test_bf16_autocast_training_step_tracks_float32(tmp_path):
    """The autocast path used on CUDA, exercised on the CPU: from the same weights and batches,
    30 bf16 steps give finite losses within 5% of the float32 run's, and the same model learns."""
    runs = {}
    for amp in ("off", "bf16"):
        trainer = Trainer.from_config(lm_cfg(tmp_path / amp, amp=amp, max_steps=30, log_every=5, eval_every=100,
                                             lr=0.01))  # fmt: skip
        trainer.fit()
        rows = [json.loads(x) for x in (tmp_path / amp / "run" / "metrics.jsonl").read_text().splitlines()]
        runs[amp] = [r["loss"] for r in rows if r["kind"] == "train"]
    fp32, bf16 = runs["off"], runs["bf16"]
    assert len(fp32) == len(bf16) == 6 and all(map(math.isfinite, bf16))
    for a, b in zip(fp32, bf16, strict=True):
        assert abs(a - b) <= 0.05 * a, (fp32, bf16)
    assert bf16[-1] < 0.9 * bf16[0]  # and it learns (by 15% over these 30 steps)


@pytest.mark.slow
@pytest.mark.skipif(not has_cpp_compiler(), reason="torch.compile's CPU backend needs a C++ compiler")
def test_compiled_training_matches_eager_and_saves_a_plain_model(tmp_path):
    """train.compile: the loss runs compiled, gives the same losses as eager (no dropout, fp32),
    and checkpoints stay those of a plain model (no ``_orig_mod.`` prefixes)."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()  # graphs compiled by an earlier test would not count as new ones
    runs = {}
    for compiled in (False, True):
        cfg = lm_cfg(tmp_path / str(compiled), max_steps=12, eval_every=6, compile=compiled)
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, dropout=0.0))
        trainer = Trainer.from_config(cfg)
        frames = counters["stats"]["unique_graphs"]
        trainer.fit()
        assert (counters["stats"]["unique_graphs"] > frames) == compiled  # compiled code ran only when asked
        log = [json.loads(x) for x in (tmp_path / str(compiled) / "run" / "metrics.jsonl").read_text().splitlines()]
        runs[compiled] = ([r["loss"] for r in log if r["kind"] == "valid"], trainer.model.state_dict())
    (eager, eager_w), (comp, comp_w) = runs[False], runs[True]
    assert len(eager) == len(comp) == 2
    for a, b in zip(eager, comp, strict=True):
        assert abs(a - b) < 1e-3 * abs(a), (eager, comp)
    for k in eager_w:
        torch.testing.assert_close(eager_w[k], comp_w[k], atol=1e-4, rtol=1e-3)
    ckpt = torch.load(tmp_path / "True" / "run" / "best.pt", weights_only=True)
    assert not any(k.startswith("_orig_mod") for k in ckpt["model"])
    loaded = load_model(tmp_path / "True" / "run" / "best.pt", "cpu")
    assert loaded.cfg.train.compile is True
