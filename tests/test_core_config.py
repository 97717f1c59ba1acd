"""Recipe configs, overrides, the learning-rate schedule, checkpoint files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from seq2seq import checkpoint as ckpt_io
from seq2seq.config import ConfigError, ModelConfig, TrainConfig, override, to_dict, to_toml
from seq2seq.nn.models import Dims, build_model
from seq2seq.optim import LRSchedule
from seq2seq.registry import from_dict, load_config, shipped_recipes

RECIPES = Path(__file__).resolve().parents[1] / "seq2seq" / "recipes"

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
    (tmp_path / "back.toml").write_text(to_toml(cfg, "written back"))  # and what a benchmark writes
    assert load_config(tmp_path / "back.toml") == cfg


def test_configs_are_frozen_and_checked_when_built():
    """Nothing downstream can write into a config, and one built in Python is checked too."""
    cfg = ModelConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.hidden_size = 3
    with pytest.raises(ConfigError, match="model.cell: 'lsmt' is not one of rnn, lstm, gru; did you mean 'lstm'"):
        ModelConfig(cell="lsmt")
    with pytest.raises(ConfigError, match="train.batch_size: must be at least 1, got 0"):
        TrainConfig(batch_size=0)


def test_config_module_imports_nothing_else_of_the_package():
    import subprocess
    import sys

    code = "import sys, seq2seq.config; print(sorted(m for m in sys.modules if m.startswith('seq2seq')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['seq2seq', 'seq2seq.config']"


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
        (
            RECIPE.replace('"toy"', '"toys"'),
            "unknown task 'toys'; known tasks: caption, classify, music, text, toy, translation, video, vqa; "
            "did you mean 'toy'?",
        ),
        (RECIPE.replace("0.01", '"fast"'), "train.lr: expected a number, got 'fast'"),
        (RECIPE.replace("32", "32.5"), "model.hidden_size: expected an integer"),
        (RECIPE + "[[", "not valid TOML"),
        # choices are checked at load, with the closest choice
        (
            RECIPE.replace("hidden_size = 32", 'cell = "lsmt"'),
            "model.cell: 'lsmt' is not one of rnn, lstm, gru; did you mean 'lstm'?",
        ),
        (
            RECIPE + 'optimizer = "adma"\n',
            "train.optimizer: 'adma' is not one of adam, adamw, sgd; did you mean 'adam'?",
        ),
        (
            RECIPE + 'metric = "sequence_acc"\n',
            "train.metric 'sequence_acc' is not a metric of the toy task; it reports "
            "loss, accuracy, sequence_accuracy; did you mean 'sequence_accuracy'?",
        ),
        (RECIPE.replace('"copy"', '"reverse"\nsymbols = 1'), "data.symbols: must be at least 2, got 1"),
        (RECIPE.replace("lr = 0.01", "lr = -1.0"), "train.lr: must be above 0, got -1.0"),
        (RECIPE.replace("lr = 0.01", "lr = nan"), "train.lr: expected a finite number, got nan"),
        (RECIPE.replace("lr = 0.01", "epochs = 0"), "train.epochs: must be at least 1, got 0"),
        (RECIPE.replace("lr = 0.01", "max_steps = -3"), "train.max_steps: must be at least 0, got -3"),
        # keys that nothing would read, and cross-key rules, fail before any data is read
        (RECIPE + "[search]\nbeam_size = 4\n", "search.beam_size is not used by the toy task"),
        (
            RECIPE.replace("hidden_size = 32", "hidden_size = 32\nattention = 'dot'")
            .replace('"encoder_decoder"', '"tagger"')
            .replace('"copy"', '"delay"'),
            "model.attention is not used by a tagger model; remove it",
        ),
        (RECIPE.replace('"copy"', '"delay"'), "data.problem 'delay' needs model.kind = 'tagger'"),
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
        override(cfg, ["train.epoch=3"])
    with pytest.raises(ConfigError, match="expected section.key=value"):
        override(cfg, ["train.lr"])
    with pytest.raises(ConfigError, match="expected true or false"):
        override(cfg, ["model.bidirectional=maybe"])
    with pytest.raises(ConfigError, match="no such recipe"):
        load_config(tmp_path / "missing.toml")
    assert cfg.train.lr == 0.01  # an override makes a new config, the old one is untouched
    assert override(cfg, ["train.lr=0.5"]).train.lr == 0.5


def test_an_unrelated_unknown_key_gets_no_far_fetched_suggestion(tmp_path):
    """'train.zzz' shares only the section with every key: it lists the keys instead of guessing."""
    cfg = load_config(write(tmp_path, RECIPE))
    with pytest.raises(ConfigError) as e:
        override(cfg, ["train.zzz=1"])
    assert "did you mean" not in str(e.value) and "valid keys: train.accum_steps" in str(e.value)
    with pytest.raises(ConfigError, match="did you mean 'train.lr'"):
        override(cfg, ["train.learning_rate=1"])  # another toolkit's name for it


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
    with pytest.raises(ConfigError, match="train.scheduler: .noam. is not one of constant"):
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


@pytest.mark.parametrize("recipe", sorted(shipped_recipes()))
def test_every_shipped_recipe_loads_and_builds_its_model(recipe):
    """A mistyped key or an unknown choice in a shipped recipe fails here, not an hour into a run.
    The sizes the task would take from the data are filled in with small stand-ins."""
    cfg = load_config(recipe)
    features = cfg.model.kind == "tagger" or cfg.task == "caption"  # caption: grid cells or frames
    dims = Dims(output_size=16, **({"input_dim": 8} if features else {"input_vocab": 16}))
    if cfg.task == "music":  # multi-hot frames (a joint frame output needs them)
        dims = Dims(output_size=16, input_dim=16, output="sigmoid")
    if cfg.task == "vqa":  # a question and an image grid's features
        dims = Dims(output_size=16, input_vocab=16, image_dim=8)
    model = build_model(cfg.model, dims)
    assert sum(p.numel() for p in model.parameters()) > 0
    assert (RECIPES / f"{recipe}.toml").is_file() and (RECIPES.parent.parent / "recipes" / f"{recipe}.toml").is_file()
