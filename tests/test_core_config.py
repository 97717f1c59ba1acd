"""Recipe configs, overrides, the learning-rate schedule, checkpoint files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from seq2seq import checkpoint as ckpt_io
from seq2seq.config import ConfigError, TrainConfig, apply_override, from_dict, load_config, to_dict
from seq2seq.nn.models import build_model
from seq2seq.optim import LRSchedule

RECIPES = Path(__file__).resolve().parents[1] / "recipes"

RECIPE = """
task = "toy"
[data]
problem = "copy"
[model]
kind = "encoder_decoder"
hidden_size = 32
[train]
lr = 0.01
"""


def write(tmp_path, text: str):
    path = tmp_path / "r.toml"
    path.write_text(text)
    return path


def test_recipe_loads_into_dataclasses_with_overrides(tmp_path):
    cfg = load_config(write(tmp_path, RECIPE), ["train.lr=0.5", "model.bidirectional=false", "data.symbols=4"])
    assert cfg.train.lr == 0.5 and cfg.model.bidirectional is False and cfg.data.symbols == 4
    assert cfg.model.hidden_size == 32 and cfg.data.problem == "copy"
    again = from_dict(to_dict(cfg))  # what a checkpoint stores round-trips
    assert again == cfg


@pytest.mark.parametrize(
    "text,message",
    [
        (
            RECIPE.replace("lr = 0.01", "lerning_rate = 0.01"),
            "unknown key 'train.lerning_rate'; did you mean 'train.lr'?",
        ),
        (
            RECIPE.replace("hidden_size", "hiden_size"),
            "unknown key 'model.hiden_size'; did you mean 'model.hidden_size'?",
        ),
        (RECIPE.replace("problem", "problme"), "unknown key 'data.problme'; did you mean 'data.problem'?"),
        (RECIPE.replace("[train]", "[trian]"), "unknown key 'trian'; did you mean 'train'?"),
        (RECIPE.replace('"toy"', '"toys"'), "unknown task 'toys'"),
        (RECIPE.replace("0.01", '"fast"'), "train.lr: expected a number, got 'fast'"),
        (RECIPE.replace("32", "32.5"), "model.hidden_size: expected an integer"),
        (RECIPE + "[[", "not valid TOML"),
    ],
)
def test_bad_recipes_name_the_key_and_the_fix(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    assert message in str(e.value)
    assert "r.toml" in str(e.value)


def test_bad_overrides(tmp_path):
    cfg = load_config(write(tmp_path, RECIPE))
    with pytest.raises(ConfigError, match="did you mean 'train.epochs'"):
        apply_override(cfg, "train.epoch=3")
    with pytest.raises(ConfigError, match="expected section.key=value"):
        apply_override(cfg, "train.lr")
    with pytest.raises(ConfigError, match="expected true or false"):
        apply_override(cfg, "model.bidirectional=maybe")
    with pytest.raises(ConfigError, match="no such recipe"):
        load_config(tmp_path / "missing.toml")


def schedule(**kw) -> LRSchedule:
    return LRSchedule(TrainConfig(lr=1.0, **kw), total_steps=110)


def test_learning_rate_schedules():
    s = schedule(scheduler="linear", warmup_steps=10, min_lr=0.0)
    assert s.lr(0, 0) == pytest.approx(0.1) and s.lr(9, 0) == pytest.approx(1.0)
    assert s.lr(60, 0) == pytest.approx(0.5) and s.lr(110, 0) == pytest.approx(0.0)
    c = schedule(scheduler="cosine", warmup_steps=10, min_lr=0.1)
    assert c.lr(60, 0) == pytest.approx(0.55) and c.lr(110, 0) == pytest.approx(0.1)
    r = schedule(scheduler="inverse_sqrt", warmup_steps=4)
    assert r.lr(16, 0) == pytest.approx(0.5)
    e = schedule(scheduler="exponential", decay_rate=0.5)
    assert e.lr(5, 3) == pytest.approx(0.125)
    p = schedule(scheduler="plateau", plateau_factor=0.5, plateau_patience=2, min_lr=0.2)
    assert not p.on_eval(False) and p.on_eval(False) and p.lr(0, 0) == 0.5
    assert not p.on_eval(True) and not p.on_eval(False) and p.on_eval(False) and p.lr(0, 0) == 0.25
    p.on_eval(False), p.on_eval(False)
    assert p.lr(0, 0) == 0.2  # floored at min_lr
    q = schedule(scheduler="plateau", min_lr=0.2)
    q.load_state_dict(p.state_dict())
    assert q.lr(0, 0) == p.lr(0, 0)
    with pytest.raises(ConfigError, match="unknown train.scheduler"):
        schedule(scheduler="noam")


def test_average_is_the_mean_of_weights(tmp_path):
    paths = []
    for i, value in enumerate([1.0, 2.0, 6.0]):
        path = tmp_path / f"step-{i}.pt"
        ckpt_io.save(path, {"task": "toy", "kind": "tagger", "config": {}, "model": {"w": torch.full((2,), value),
                            "n": torch.tensor(i)}})  # fmt: skip
        paths.append(path)
    avg = ckpt_io.average(paths)
    assert torch.equal(avg["model"]["w"], torch.full((2,), 3.0))
    other = tmp_path / "other.pt"
    ckpt_io.save(
        other, {"task": "toy", "kind": "tagger", "config": {}, "model": {"w": torch.zeros(3), "n": torch.tensor(0)}}
    )
    with pytest.raises(ckpt_io.CheckpointError, match="other.pt: tensor 'w' has shape"):
        ckpt_io.average([paths[0], other])


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def boom(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ckpt_io.atomic_write(target, boom)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


@pytest.mark.parametrize("recipe", sorted(RECIPES.glob("*/*.toml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_recipe_loads_and_builds_its_model(recipe):
    """A mistyped key or an unknown choice in a shipped recipe fails here, not an hour into a run.
    The sizes the task would take from the data are filled in with small stand-ins."""
    cfg = load_config(recipe)
    sizes = {"input_dim": 8} if cfg.model.kind == "tagger" else {"input_vocab": 16}
    model = build_model(dataclasses.replace(cfg.model, output_size=16, **sizes))
    assert sum(p.numel() for p in model.parameters()) > 0
