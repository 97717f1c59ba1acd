"""Configs: plain dataclasses read from a recipe's TOML file, with ``--set a.b=value`` overrides.

A recipe file has a top-level ``task = "..."`` and the tables ``[model]``, ``[train]``,
``[search]`` and ``[data]``. ``[data]`` is the task's own dataclass (see ``seq2seq.task``). An
unknown key anywhere is an error that names it and the closest valid key, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib


class ConfigError(ValueError):
    """A recipe or override that cannot be used; the message says where and what to do."""


@dataclass
class ModelConfig:
    """Architecture. The size fields at the end are filled in by the task from the data."""

    kind: str = "encoder_decoder"  # encoder_decoder | tagger | language_model
    cell: str = "lstm"  # rnn (tanh) | lstm | gru
    embed_dim: int = 256  # token embedding or feature projection size
    hidden_size: int = 256  # per direction
    layers: int = 2  # encoder (or tagger / language model) layers
    decoder_layers: int = 0  # 0: same as layers
    bidirectional: bool = True  # encoder / tagger; a causal tagger or a language model is unidirectional
    dropout: float = 0.3  # between recurrent layers and before the output layer
    embed_dropout: float = 0.0  # on embeddings / projected features
    word_dropout: float = 0.0  # token inputs only: zero a whole token's embedding with this probability
    attention: str = "general"  # none | dot | general | bahdanau
    input_feeding: bool = True  # feed the attentional vector into the next decoder step
    bridge: bool = True  # initialise the decoder from the encoder's final state
    tie_embeddings: bool = False  # output layer shares the (target) input embedding
    share_embeddings: bool = False  # encoder and decoder share one embedding (joint vocabulary)
    output: str = "softmax"  # softmax | sigmoid (independent Bernoulli outputs, e.g. piano-roll keys)
    # Sizes resolved from the data by the task (stored with the checkpoint):
    input_vocab: int = 0  # > 0: token inputs with this vocabulary
    input_dim: int = 0  # > 0: continuous feature inputs of this size
    output_size: int = 0  # classes, target vocabulary or output keys
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2


@dataclass
class TrainConfig:
    """The shared training loop's settings (seq2seq.train)."""

    out_dir: str = "runs/default"
    seed: int = 1
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    epochs: int = 10
    max_steps: int = 0  # 0: no limit; otherwise stop after this many optimizer steps
    batch_size: int = 32  # sequences per batch
    batch_tokens: int = 0  # > 0: batches capped by this many (target) tokens instead
    optimizer: str = "adam"  # adam | adamw | sgd
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0
    scheduler: str = "constant"  # constant | plateau | linear | cosine | inverse_sqrt | exponential
    warmup_steps: int = 0
    decay_steps: int = 0  # linear / cosine: steps from the peak to min_lr (0: the whole run)
    decay_rate: float = 1.0  # exponential: factor per epoch
    plateau_factor: float = 0.5
    plateau_patience: int = 1  # evaluations without improvement before the rate drops
    min_lr: float = 0.0
    clip_norm: float = 5.0  # global L2 norm; 0 disables
    accum_steps: int = 1  # gradient accumulation
    tbptt: int = 0  # > 0: truncated BPTT in chunks of this many steps, state carried
    label_smoothing: float = 0.0
    amp: str = "auto"  # auto (bf16 on CUDA) | bf16 | off
    compile: bool = False  # torch.compile the training loss over the vocabulary (Task.token_nll); the model stays eager
    eval_every: int = 0  # optimizer steps between evaluations; 0: once per epoch
    log_every: int = 50  # optimizer steps between logged losses (the only host syncs)
    metric: str = "loss"  # validation metric for best checkpoint, plateau and early stopping
    patience: int = 0  # evaluations without improvement before stopping; 0: never stop early
    keep_last: int = 3  # step checkpoints kept besides best.pt
    max_nonfinite: int = 5  # consecutive non-finite losses before training stops
    num_workers: int = 0  # data-loader worker processes
    progress: bool = True  # tqdm bar


@dataclass
class SearchConfig:
    """Decoding defaults; the CLI can override each."""

    beam_size: int = 5
    length_penalty: float = 1.0  # alpha of ((5 + len) / 6) ** alpha; 0: raw log-probability
    max_len_ratio: float = 2.0  # max output length = ratio * input length + offset
    max_len_offset: int = 10
    nbest: int = 1
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0


@dataclass
class Config:
    """A whole recipe: which task, its data, the model, training and search settings."""

    task: str = "toy"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    data: Any = None  # the task's data dataclass


# --------------------------------------------------------------------------------------------
# Loading and overriding


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value: Any, typ: Any, where: str) -> Any:
    """Check / convert one TOML or command-line value to the field's type."""
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], where)
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(typ) or (Any,)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, inner, where) for v in value]
    if typ is Any:
        return value
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if typ is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if typ is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if typ is str:
        return str(value)
    return value


# Names other toolkits use for our keys: a typo of one still points at the right key.
ALIASES = {
    "learning_rate": "lr",
    "max_epochs": "epochs",
    "num_epochs": "epochs",
    "hidden": "hidden_size",
    "num_layers": "layers",
    "rnn_type": "cell",
    "grad_clip": "clip_norm",
    "clip_grad_norm": "clip_norm",
    "beam": "beam_size",
    "emb_size": "embed_dim",
    "embedding_dim": "embed_dim",
}


def _unknown(key: str, valid: list[str], where: str) -> ConfigError:
    prefix = key.rsplit(".", 1)[0] + "." if "." in key else ""
    aliases = {prefix + a: prefix + t for a, t in ALIASES.items() if prefix + t in valid}
    close = [aliases.get(c, c) for c in difflib.get_close_matches(key, valid + list(aliases), n=1)]
    hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(sorted(valid))}"
    return ConfigError(f"{where}: unknown key '{key}'{hint}")


def _fill(cls: type, table: dict[str, Any], where: str, prefix: str) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: '{prefix.rstrip('.')}' must be a table")
    types_ = _field_types(cls)
    values = {}
    for key, value in table.items():
        if key not in types_:
            raise _unknown(prefix + key, [prefix + k for k in types_], where)
        values[key] = _coerce(value, types_[key], f"{where}: {prefix}{key}")
    return cls(**values)


def data_class_for(task: str) -> type:
    from seq2seq.task import task_class

    return task_class(task).Data


def from_dict(raw: dict[str, Any], where: str = "config") -> Config:
    """Build a Config from nested plain data (a parsed TOML file or a checkpoint's config)."""
    sections = {"task", "model", "train", "search", "data"}
    for key in raw:
        if key not in sections:
            raise _unknown(key, sorted(sections), where)
    task = raw.get("task", "toy")
    try:
        data_cls = data_class_for(task)
    except KeyError as e:
        raise ConfigError(f"{where}: {e.args[0]}") from None
    return Config(
        task=task,
        model=_fill(ModelConfig, raw.get("model", {}), where, "model."),
        train=_fill(TrainConfig, raw.get("train", {}), where, "train."),
        search=_fill(SearchConfig, raw.get("search", {}), where, "search."),
        data=_fill(data_cls, raw.get("data", {}), where, "data."),
    )


def to_dict(cfg: Config) -> dict[str, Any]:
    """Plain nested data (str, int, float, bool, list): what a checkpoint stores."""
    return dataclasses.asdict(cfg)


def apply_override(cfg: Config, assignment: str) -> None:
    """Apply one ``section.key=value`` override in place."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected section.key=value, e.g. train.lr=0.0005")
    path, value = assignment.split("=", 1)
    parts = path.strip().split(".")
    if len(parts) != 2:
        raise ConfigError(f"--set {assignment!r}: expected section.key=value, e.g. train.lr=0.0005")
    section, key = parts
    if section == "task":
        raise ConfigError("--set: the task cannot be changed by an override; use another recipe")
    sections = ["model", "train", "search", "data"]
    if section not in sections:
        raise _unknown(section, sections, "--set")
    obj = getattr(cfg, section)
    types_ = _field_types(type(obj))
    if key not in types_:
        raise _unknown(path, [f"{section}.{k}" for k in types_], "--set")
    setattr(obj, key, _coerce(value, types_[key], f"--set {path}"))


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read a recipe TOML file into a Config and apply ``--set`` overrides."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such recipe file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    cfg = from_dict(raw, str(path))
    for assignment in overrides or []:
        apply_override(cfg, assignment)
    return cfg
