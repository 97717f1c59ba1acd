"""Configs: frozen dataclasses read from a recipe's TOML file, with ``--set a.b=value`` overrides.

A recipe file has a top-level ``task = "..."`` and the tables ``[model]``, ``[train]``,
``[search]`` and ``[data]``; ``[data]`` is the task's own dataclass (``Task.Data``). Every key is
declared once, here or in its task, with its default, its meaning and its allowed values
(``key(...)``); a value is checked when the config is built, so a typo, a wrong type, a choice
that does not exist or a number out of range fails at load, naming the key, the closest valid
name and what is allowed, before any data is read. Configs are frozen: nothing downstream can
write into them (sizes read from the data travel as ``Dims``, see ``seq2seq.nn.models``).

This module imports nothing else of the package, so anything may import it.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal


class UserError(Exception):
    """A problem with the user's input: the message names the file, line or key and the fix.
    Defined here, where nothing else is imported, so that ``ConfigError`` can be one; its public
    home is ``seq2seq.errors``."""


class ConfigError(UserError, ValueError):
    """A recipe or override that cannot be used; the message says where and what to do."""


def key(
    default: Any,
    doc: str = "",
    *,
    min: float | None = None,
    max: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
    pattern: str | None = None,
) -> Any:
    """A config field: its default, what it means (shown by ``seq2seq keys`` and docs/core.md) and
    the bounds its value must keep (``min <= v <= max``, ``gt < v < lt``, or a regex ``pattern``).
    A list default is stored as a tuple, so a config stays immutable."""
    meta = {"doc": doc, "min": min, "max": max, "gt": gt, "lt": lt, "pattern": pattern}
    if isinstance(default, list):
        default = tuple(default)
    return field(default=default, metadata=meta)


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _close(word: str, choices: typing.Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def _choice_error(value: Any, choices: tuple, name: str) -> ConfigError:
    hint = _close(str(value), [str(c) for c in choices])
    listed = ", ".join(str(c) for c in choices)
    return ConfigError(f"{name}: {value!r} is not one of {listed}" + (f"; did you mean '{hint}'?" if hint else ""))


def check_value(value: Any, typ: Any, meta: dict[str, Any], name: str) -> None:
    """Raise ConfigError unless ``value`` is an allowed value of a field of type ``typ``."""
    if typing.get_origin(typ) is Literal and value not in typing.get_args(typ):
        raise _choice_error(value, typing.get_args(typ), name)
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name}: expected a finite number, got {value!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        bounds = (
            ("min", lambda b: value >= b, "at least"),
            ("max", lambda b: value <= b, "at most"),
            ("gt", lambda b: value > b, "above"),
            ("lt", lambda b: value < b, "below"),
        )
        for which, ok, words in bounds:
            bound = meta.get(which)
            if bound is not None and not ok(bound):
                raise ConfigError(f"{name}: must be {words} {bound:g}, got {value!r}")
    pattern = meta.get("pattern")
    if pattern and isinstance(value, str) and not re.fullmatch(pattern, value):
        raise ConfigError(f"{name}: {value!r} is not allowed; use {meta.get('doc') or pattern}")


class Section:
    """Base of every config table: checks each field's value when the dataclass is built, so a
    config that exists is a valid one (also when built in Python, not from TOML)."""

    section: ClassVar[str] = "data"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check_value(getattr(self, f.name), field_types(type(self))[f.name], f.metadata, f"{self.section}.{f.name}")


# -- the shared sections ---------------------------------------------------------------------
ModelKind = Literal["encoder_decoder", "tagger", "language_model", "classifier", "captioner", "vqa"]
Pooling = Literal["last", "mean", "attention"]
Cell = Literal["rnn", "lstm", "gru"]
AttentionKind = Literal["none", "dot", "general", "bahdanau"]
Optimizer = Literal["adam", "adamw", "sgd"]
Scheduler = Literal["constant", "plateau", "linear", "cosine", "inverse_sqrt", "exponential"]
Amp = Literal["auto", "bf16", "off"]
FrameOutput = Literal["sigmoid", "nade"]


@dataclass(frozen=True)
class ModelConfig(Section):
    """Architecture. The sizes the data decides (vocabularies, feature size, classes) are not
    here: the task returns them from ``prepare()`` as ``Dims``."""

    section: ClassVar[str] = "model"

    kind: ModelKind = key("encoder_decoder", "encoder_decoder / tagger / language_model / classifier / captioner / vqa")
    cell: Cell = key("lstm", "rnn (tanh) / lstm / gru")
    embed_dim: int = key(256, "token embedding or feature projection size", min=1)
    hidden_size: int = key(256, "per direction", min=1)
    layers: int = key(2, "encoder (or tagger / language model) layers", min=1)
    decoder_layers: int = key(0, "encoder_decoder: decoder layers; 0: same as layers", min=0)
    bidirectional: bool = key(True, "encoder / tagger; false: a causal tagger (language models are always causal)")
    pooling: Pooling = key(
        "last", "classifier: how the steps become one vector: `last` (the last real step of the forward direction "
        "and the first of the backward one), `mean` over the real steps, `attention` (learnt weights over them)",
    )  # fmt: skip
    dropout: float = key(0.3, "between recurrent layers and before the output layer", min=0, lt=1)
    embed_dropout: float = key(0.0, "on embeddings / projected features", min=0, lt=1)
    word_dropout: float = key(
        0.0,
        "token inputs only: in training, zero a whole input token's embedding with this probability and scale "
        "the rest by 1 / (1 - p); the encoder-decoder drops source tokens and the teacher-forced target inputs",
        min=0,
        lt=1,
    )
    attention: AttentionKind = key(
        "general", "encoder_decoder, captioner: none / dot / general / bahdanau; vqa: the score of the question over "
        "the image cells (none: the mean of the cells, no attention)",
    )  # fmt: skip
    input_feeding: bool = key(
        True, "encoder_decoder, captioner: feed the attentional vector into the next decoder step"
    )
    bridge: bool = key(True, "encoder_decoder: initialise the decoder from the encoder's final state")
    tie_embeddings: bool = key(False, "the output layer shares the (target) input embedding")
    frame_output: FrameOutput = key(
        "sigmoid",
        "language models of multi-hot frames (music): sigmoid (each key independent given the past) / nade (the keys "
        "of a frame jointly, key by key in pitch order: RNN-NADE, docs/music.md)",
    )
    nade_hidden: int = key(150, "frame_output = nade: hidden units of the NADE", min=1)
    share_embeddings: bool = key(False, "encoder_decoder: encoder and decoder share one embedding (joint vocabulary)")
    image: bool = key(True, "vqa: false: answer from the question alone (the baseline that shows how much the "
                      "answers can be guessed without looking)")  # fmt: skip
    hops: int = key(2, "vqa: attention hops over the image grid, each query the last plus what it saw (stacked "
                    "attention)", min=1)  # fmt: skip


@dataclass(frozen=True)
class TrainConfig(Section):
    """The shared training loop's settings (``seq2seq.trainer``)."""

    section: ClassVar[str] = "train"

    out_dir: str = key("runs/default", "the run folder (`--out`)")
    seed: int = key(1, "seeds the weights, dropout and the batch order")
    device: str = key("auto", "auto, cpu, cuda or cuda:N", pattern=r"auto|cpu|cuda(:\d+)?")
    epochs: int = key(10, "passes over the training data", min=1)
    max_steps: int = key(0, "0: no limit; otherwise stop after this many optimizer steps", min=0)
    batch_size: int = key(32, "sequences per batch", min=1)
    batch_tokens: int = key(0, "> 0: batches capped by this many padded (target) tokens instead", min=0)
    optimizer: Optimizer = key("adam", "adam / adamw / sgd")
    lr: float = key(1e-3, "peak learning rate", gt=0)
    beta1: float = key(0.9, "Adam / AdamW", min=0, lt=1)
    beta2: float = key(0.999, "Adam / AdamW", min=0, lt=1)
    momentum: float = key(0.9, "sgd only", min=0, lt=1)
    weight_decay: float = key(0.0, "L2 (adam, sgd) or decoupled (adamw) weight decay", min=0)
    scheduler: Scheduler = key("constant", "constant / plateau / linear / cosine / inverse_sqrt / exponential")
    warmup_steps: int = key(0, "linear warm-up from 0 (any scheduler)", min=0)
    decay_steps: int = key(0, "linear / cosine: steps from the peak to min_lr (0: the whole run)", min=0)
    decay_rate: float = key(1.0, "exponential: factor per epoch", gt=0)
    plateau_factor: float = key(0.5, "plateau: the rate is multiplied by this", gt=0, max=1)
    plateau_patience: int = key(1, "plateau: evaluations without improvement before the rate drops", min=1)
    min_lr: float = key(0.0, "floor of the learning rate", min=0)
    clip_norm: float = key(5.0, "global L2 norm of the gradient; 0 disables", min=0)
    accum_steps: int = key(1, "batches accumulated into one optimizer step", min=1)
    tbptt: int = key(0, "> 0: truncated BPTT in chunks of this many steps, state carried", min=0)
    label_smoothing: float = key(0.0, "training loss only; validation scores the plain likelihood", min=0, lt=1)
    amp: Amp = key("auto", "auto (bf16 on CUDA) / bf16 (also on the CPU) / off")
    compile: bool = key(
        False,
        "`torch.compile` the training loss over the vocabulary (log-softmax, label smoothing; dynamic shapes); the "
        "recurrent kernels cannot be compiled. 10-20 s of compiling at the start; what it gains is measured by "
        "`python -m benchmarks.bench --only compile` (docs/benchmarks.md). Checkpoints and inference are unchanged",
    )
    eval_every: int = key(0, "optimizer steps between evaluations; 0: once per epoch", min=0)
    log_every: int = key(50, "optimizer steps between logged losses (the only host syncs)", min=1)
    log_examples: int = key(
        2, "example outputs written to TensorBoard at each validation (translations with their references and "
        "an attention map, a timeline, a sampled piano roll or text); 0: none", min=0,
    )  # fmt: skip
    metric: str = key("loss", "validation metric for best.pt, the plateau rule and early stopping (the task's)")
    patience: int = key(0, "evaluations without improvement before stopping; 0: never stop early", min=0)
    keep_last: int = key(3, "step checkpoints kept besides best.pt; 0: all", min=0)
    max_nonfinite: int = key(5, "consecutive non-finite losses before training stops", min=1)
    num_workers: int = key(0, "data-loader worker processes", min=0)
    progress: bool = key(True, "tqdm bar")


@dataclass(frozen=True)
class SearchConfig(Section):
    """Decoding defaults stored with the model; `translate` / `generate` flags override each."""

    section: ClassVar[str] = "search"

    beam_size: int = key(5, "beam width of beam search", min=1)
    length_penalty: float = key(1.0, "GNMT alpha of ((5 + len) / 6) ** alpha; 0: raw log-probability", min=0)
    max_len_ratio: float = key(2.0, "max output length = ratio * input length + offset", gt=0)
    max_len_offset: int = key(10, "see max_len_ratio", min=0)
    nbest: int = key(1, "hypotheses written per input (at most beam_size)", min=1)
    min_length: int = key(
        0, "no output ends (EOS) before this many tokens; the length limit still wins; 0: any length", min=0
    )
    block_ngram_repeat: int = key(
        0, "N > 0: no output repeats an n-gram of N tokens (1: no token twice); 0: off", min=0
    )
    temperature: float = key(1.0, "sampling: divides the logits; 0: the likeliest outcome each step", min=0)
    top_k: int = key(0, "sampling: only the k likeliest outcomes (0: all)", min=0)
    top_p: float = key(1.0, "sampling: the smallest set reaching this probability (nucleus)", gt=0, max=1)


@dataclass(frozen=True)
class Config:
    """A whole recipe: which task, its data, the model, training and search settings."""

    task: str = "toy"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    data: Any = None  # the task's data dataclass


SECTIONS = ("model", "train", "search", "data")
SECTION_CLASSES = {"model": ModelConfig, "train": TrainConfig, "search": SearchConfig}


# --------------------------------------------------------------------------------------------
# Reading values


def coerce(value: Any, typ: Any, where: str) -> Any:
    """Check / convert one TOML or command-line value to the field's type."""
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if value is None:
            return None
        return coerce(value, args[0], where)
    if origin is Literal:
        choices = typing.get_args(typ)
        text = value if isinstance(value, str) else None
        if text not in choices:
            raise _choice_error(value, choices, where)
        return text
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(typ) or (Any,)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(coerce(v, inner, where) for v in value)
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
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if typ is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if typ is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected text, got {value!r}")
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


def unknown_key(key: str, valid: list[str], where: str, section: str = "") -> ConfigError:
    """An unknown key, with the closest valid one when there is one (compared without the shared
    ``section.`` prefix, which would make any two keys of a section look alike)."""
    prefix = f"{section}." if section else ""
    name = key[len(prefix) :] if key.startswith(prefix) else key
    names = [v[len(prefix) :] if v.startswith(prefix) else v for v in valid]
    target = ALIASES.get(name) if ALIASES.get(name) in names else _close(name, names)
    if target is None:
        alias = _close(name, [a for a, t in ALIASES.items() if t in names])
        target = ALIASES[alias] if alias else None
    hint = f"; did you mean '{prefix}{target}'?" if target else f"; valid keys: {', '.join(sorted(valid))}"
    return ConfigError(f"{where}: unknown key '{key}'{hint}")


def fill(cls: type, table: Any, where: str, section: str) -> Any:
    """Build section dataclass ``cls`` from a table of plain values, checking every key."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: '{section}' must be a table")
    types_ = field_types(cls)
    values = {}
    for k, value in table.items():
        if k not in types_:
            raise unknown_key(f"{section}.{k}", [f"{section}.{n}" for n in types_], where, section)
        values[k] = coerce(value, types_[k], f"{where}: {section}.{k}")
    try:
        return cls(**values)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def parse(raw: dict[str, Any], data_class: type, where: str = "config") -> Config:
    """A Config from nested plain data (a parsed TOML file or a checkpoint's config); ``data_class``
    is the task's ``Data``."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected tables task, model, train, search and data")
    for k in raw:
        if k not in ("task", *SECTIONS):
            raise unknown_key(k, ["task", *SECTIONS], where)
    task = raw.get("task", "toy")
    if not isinstance(task, str):
        raise ConfigError(f"{where}: task must be a name, got {task!r}")
    parts = {name: fill(cls, raw.get(name, {}), where, name) for name, cls in SECTION_CLASSES.items()}
    return Config(task=task, data=fill(data_class, raw.get("data", {}), where, "data"), **parts)


def split_override(assignment: str) -> tuple[str, str, str]:
    """``section.key=value`` -> (section, key, value text)."""
    path, sep, value = assignment.partition("=")
    parts = path.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        raise ConfigError(f"--set {assignment!r}: expected section.key=value, e.g. train.lr=0.0005")
    section, name = parts
    if section == "task":
        raise ConfigError("--set: the task cannot be changed by an override; use another recipe")
    if section not in SECTIONS:
        raise unknown_key(section, list(SECTIONS), "--set")
    return section, name, value


def override(cfg: Config, assignments: typing.Iterable[str]) -> Config:
    """A new Config with each ``section.key=value`` applied, checked like a recipe's values."""
    changes: dict[str, dict[str, Any]] = {}
    for assignment in assignments:
        section, name, value = split_override(assignment)
        table = getattr(cfg, section)
        types_ = field_types(type(table))
        if name not in types_:
            raise unknown_key(f"{section}.{name}", [f"{section}.{n}" for n in types_], "--set", section)
        changes.setdefault(section, {})[name] = coerce(value, types_[name], f"--set {section}.{name}")
    try:
        return dataclasses.replace(
            cfg, **{s: dataclasses.replace(getattr(cfg, s), **kv) for s, kv in changes.items()}
        )  # fmt: skip
    except ConfigError as e:
        raise ConfigError(f"--set: {e}") from None


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def to_dict(cfg: Config) -> dict[str, Any]:
    """Plain nested data (str, int, float, bool, list): what a checkpoint stores."""
    return _plain(dataclasses.asdict(cfg))


def to_toml(cfg: Config, header: str = "") -> str:
    """The config as a recipe file that ``load_config`` reads back to the same Config: the task
    and every value that differs from its default (so the file sets only keys that are read)."""
    import tomli_w

    raw: dict[str, Any] = {"task": cfg.task}
    for section in SECTIONS:
        table = getattr(cfg, section)
        values = {f.name: getattr(table, f.name) for f in dataclasses.fields(table)}
        changed = {k: v for k, v in values.items() if v != type(table).__dataclass_fields__[k].default}
        if changed:
            raw[section] = _plain(changed)
    text = tomli_w.dumps(raw)
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    return "\n".join(lines) + ("\n" if lines else "") + text


def flat(cfg: Config) -> dict[str, Any]:
    """``{"section.key": value}`` of every key."""
    out: dict[str, Any] = {}
    for section in SECTIONS:
        table = getattr(cfg, section)
        for f in dataclasses.fields(table):
            out[f"{section}.{f.name}"] = getattr(table, f.name)
    return out


def differences(a: Config, b: Config) -> list[tuple[str, Any, Any]]:
    """(key, value in a, value in b) where the two configs differ."""
    fa, fb = flat(a), flat(b)
    return [(k, fa[k], fb.get(k)) for k in fa if fa[k] != fb.get(k)]


# --------------------------------------------------------------------------------------------
# Documentation, generated from the fields


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return repr(value)


def markdown_table(cls: type) -> str:
    """The key / default / meaning table of a section dataclass, as docs show it."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(cls):
        doc = f.metadata.get("doc", "").replace("|", "/")
        rows.append(f"| `{f.name}` | `{_shown(f.default)}` | {doc} |")
    return "\n".join(rows) + "\n"
