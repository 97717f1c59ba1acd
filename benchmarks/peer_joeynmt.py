"""JoeyNMT 2.3.0 as the peer of ``make bench-peers``: its config, its logs, and the fairness checks.

JoeyNMT runs in its own virtual environment (``.venv-peers``), through its own command line, so
this module only writes its YAML config and reads what it logs. Two traps on current torch
decide the scheduler: ``plateau`` fails (a removed ``verbose`` argument) and ``decaying`` (StepLR)
silently multiplies the rate by 0.1 at the first epoch. ``exponential`` with ``decrease_factor:
1.0`` keeps the rate constant; ``check_constant_lr`` asserts it on every logged step.

Its throughput comes from its own epoch summaries (``num. of tokens: T, S[sec]``): target tokens
(subwords + EOS) over the seconds of the training steps, validation excluded -- the same
definition the bench uses for our toolkit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# JoeyNMT's vocabulary always starts with these four, in this order (vocabulary.py).
SPECIALS = ("<unk>", "<pad>", "<s>", "</s>")
# validation_freq above any step budget: JoeyNMT never validates while it is being timed.
NEVER = 1_000_000_000


class PeerError(RuntimeError):
    """The peer could not be run or measured fairly; the message says why and what to do."""


@dataclass
class ModelSize:
    """What both toolkits build: a bidirectional LSTM encoder and an attentional LSTM decoder
    (Luong's bilinear 'general' attention), sizes per direction."""

    embed_dim: int
    hidden_size: int
    layers: int
    dropout: float
    input_feeding: bool


@dataclass
class TrainBudget:
    lr: float
    batch_tokens: int
    epochs: int
    clip_norm: float
    seed: int


@dataclass
class Search:
    beam: int
    alpha: float  # GNMT length penalty, the same formula in both toolkits
    batch_tokens: int


def config(
    size: ModelSize, budget: TrainBudget, search: Search, data: dict[str, str], model_dir: Path, mode: str
) -> dict[str, Any]:
    """JoeyNMT's config as a dict. ``data`` has 'train', 'dev', 'test' (path prefixes: JoeyNMT
    reads PREFIX.en / PREFIX.de), 'spm' (the joint SentencePiece model) and 'vocab' (its pieces,
    one a line). ``mode`` 'train' or 'test' (test: the test set only, from latest.ckpt)."""
    if mode not in ("train", "test"):
        raise ValueError(f"mode {mode!r}: use train or test")
    side = {
        "level": "bpe",
        "tokenizer_type": "sentencepiece",
        "tokenizer_cfg": {"model_file": data["spm"]},
        "voc_file": data["vocab"],
        "lowercase": False,
    }
    data_cfg: dict[str, Any] = {
        "dataset_type": "plain",
        "src": {"lang": "en", **side},
        "trg": {"lang": "de", **side},
    }
    if mode == "train":
        data_cfg.update(train=data["train"], dev=data["dev"])
    else:
        data_cfg["test"] = data["test"]
    embeddings = {"embedding_dim": size.embed_dim, "dropout": 0.0}
    testing: dict[str, Any] = {
        "beam_size": search.beam,
        "beam_alpha": search.alpha,
        "batch_size": search.batch_tokens,
        "batch_type": "token",
        "max_output_length": -1,  # 1.5 x the longest source of the batch
        "eval_metrics": ["bleu"],
    }
    if mode == "test":
        testing["load_model"] = str(model_dir / "latest.ckpt")
    return {
        "name": "bench-peers",
        "joeynmt_version": "2.3.0",
        "model_dir": str(model_dir),
        "use_cuda": False,
        "fp16": False,
        "random_seed": budget.seed,
        "data": data_cfg,
        "training": {
            "optimizer": "adam",
            "adam_betas": [0.9, 0.999],
            "learning_rate": budget.lr,
            "learning_rate_min": budget.lr * 1e-3,
            "scheduling": "exponential",
            "decrease_factor": 1.0,
            "weight_decay": 0.0,
            "clip_grad_norm": budget.clip_norm,
            "label_smoothing": 0.0,
            "normalization": "tokens",  # mean loss per target token, as ours
            "batch_size": budget.batch_tokens,
            "batch_type": "token",
            "batch_multiplier": 1,
            "epochs": budget.epochs,
            "shuffle": True,
            "logging_freq": 1,  # every step: the learning rate is checked on each
            "validation_freq": NEVER,
            "early_stopping_metric": "ppl",
            "keep_best_ckpts": 1,
            "overwrite": True,
            "print_valid_sents": [],
        },
        "testing": testing,
        "model": {
            "tied_embeddings": False,
            "tied_softmax": False,
            "encoder": {
                "type": "recurrent",
                "rnn_type": "lstm",
                "bidirectional": True,
                "hidden_size": size.hidden_size,
                "num_layers": size.layers,
                "dropout": size.dropout,
                "embeddings": embeddings,
            },
            "decoder": {
                "type": "recurrent",
                "rnn_type": "lstm",
                "hidden_size": size.hidden_size,
                "num_layers": size.layers,
                "attention": "luong",  # bilinear: our 'general'
                "input_feeding": size.input_feeding,
                "init_hidden": "bridge",
                "dropout": size.dropout,
                "hidden_dropout": size.dropout,
                "embeddings": embeddings,
            },
        },
    }


def yaml_scalar(v: Any) -> str:
    """A YAML scalar that PyYAML (YAML 1.1) reads back as the same value: a float needs a dot
    and a signed exponent ('2e-06' would be read as a string, '2.0e-06' is a float)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        text = repr(v)
        if "e" in text and "." not in text:
            text = text.replace("e", ".0e")
        return text if ("." in text or "inf" in text or "nan" in text) else text + ".0"
    return json.dumps(str(v))  # a double-quoted YAML string


def to_yaml(obj: dict[str, Any], indent: int = 0) -> list[str]:
    """Block-style YAML lines of nested dicts; lists are written inline (they hold scalars)."""
    lines = []
    pad = "  " * indent
    for key, value in obj.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines += to_yaml(value, indent + 1)
        elif isinstance(value, (list, tuple)):
            lines.append(f"{pad}{key}: [" + ", ".join(yaml_scalar(v) for v in value) + "]")
        else:
            lines.append(f"{pad}{key}: {yaml_scalar(value)}")
    return lines


def write_config(cfg: dict[str, Any], path: Path) -> Path:
    """Write the config as YAML (no YAML library needed on our side)."""
    from seq2seq.checkpoint import atomic_write

    text = "# JoeyNMT 2.3.0 config written by python -m benchmarks.bench_peers\n" + "\n".join(to_yaml(cfg)) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return path


def vocab_lines(pieces: list[str]) -> list[str]:
    """JoeyNMT's vocabulary file for a SentencePiece model's pieces: every piece but the four
    specials JoeyNMT adds itself, so both toolkits use exactly the same set of pieces."""
    missing = [s for s in SPECIALS if s not in pieces]
    if missing:
        raise PeerError(f"the SentencePiece model lacks the pieces {missing}; JoeyNMT needs {list(SPECIALS)}")
    return [p for p in pieces if p not in SPECIALS]


# -- its logs ----------------------------------------------------------------------------------
_STEP = re.compile(r"Step:\s+(\d+), Batch Loss:\s+(\S+), .*Lr: ([\d.e-]+)")
_EPOCH = re.compile(r"total training loss: \S+, num\. of seqs: (\d+), num\. of tokens: (\d+), ([\d.]+)\[sec\]")
_PARAMS = re.compile(r"Total params: (\d+)")
_GAMMA = re.compile(r"ExponentialLR\(gamma=([\d.]+)\)")
_GENERATION = re.compile(r"Generation took ([\d.]+)\[sec\]")


@dataclass
class TrainLog:
    """What a JoeyNMT training log says: per-epoch tokens and step seconds, every logged rate."""

    tokens: int = 0
    seconds: float = 0.0
    sentences: int = 0
    epochs: int = 0
    steps: int = 0
    params: int = 0
    gamma: float | None = None
    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def parse_train_log(text: str, where: str = "JoeyNMT log") -> TrainLog:
    """Totals of a JoeyNMT training log. Every epoch must have its summary line (a run cut short
    by max updates or an interrupt has none for its last epoch and cannot be timed)."""
    log = TrainLog()
    for line in text.splitlines():
        if m := _STEP.search(line):
            log.steps = max(log.steps, int(m.group(1)))
            log.losses.append(float(m.group(2)))
            log.lrs.append(float(m.group(3)))
        elif m := _EPOCH.search(line):
            log.epochs += 1
            log.sentences += int(m.group(1))
            log.tokens += int(m.group(2))
            log.seconds += float(m.group(3))
        elif m := _PARAMS.search(line):
            log.params = int(m.group(1))
        elif m := _GAMMA.search(line):
            log.gamma = float(m.group(1))
    if log.epochs == 0:
        raise PeerError(f"{where}: no epoch summary ('total training loss ... [sec]'); no epoch finished")
    if not log.lrs:
        raise PeerError(f"{where}: no logged step ('Epoch N, Step: ... Lr: ...'); cannot check the learning rate")
    return log


def check_constant_lr(log: TrainLog, lr: float, where: str = "JoeyNMT") -> None:
    """Fail unless the scheduler is the identity and every logged rate is ``lr``: a peer that
    silently trained at a tenth of the rate would make the comparison worthless."""
    if log.gamma != 1.0:
        raise PeerError(f"{where}: scheduler is not ExponentialLR(gamma=1.0) (logged gamma {log.gamma})")
    # JoeyNMT prints the rate with 6 decimals
    wrong = sorted({x for x in log.lrs if abs(x - lr) > 5e-7 + 1e-6 * lr})
    if wrong:
        raise PeerError(f"{where}: learning rate {wrong[0]:g} logged, configured {lr:g}: the rate was not constant")


def parse_generation_seconds(text: str, where: str = "JoeyNMT test log") -> float:
    """Seconds JoeyNMT spent generating (after the model was loaded): its own 'Generation took'."""
    found = _GENERATION.findall(text)
    if len(found) != 1:
        raise PeerError(f"{where}: expected one 'Generation took ...[sec]' line, found {len(found)}")
    return float(found[0])
