"""The tasks, and loading a recipe against its task's declarations.

``load_config`` is where a recipe is checked in full, before any data is read: every key and
type (``seq2seq.config``), then against the task: the model kind is one it trains, every key the
recipe sets is one that the model kind or the task reads, ``train.metric`` is one of the task's
metrics, and the task's own cross-key rules (``Task.check``).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from seq2seq.config import Config, ConfigError, override, parse, split_override
from seq2seq.task import Task

# Task name -> "module:Class". Imported lazily so the CLI starts fast and a recipe's optional
# dependencies load only when it is used.
TASKS: dict[str, str] = {
    "toy": "seq2seq.toy:ToyTask",
    "translation": "seq2seq.translation.task:TranslationTask",
    "video": "seq2seq.video.task:VideoTask",
    "music": "seq2seq.music.task:MusicTask",
    "text": "seq2seq.text.task:TextTask",
    "classify": "seq2seq.classify.task:ClassifyTask",
    "caption": "seq2seq.caption.task:CaptionTask",
    "vqa": "seq2seq.vqa.task:VqaTask",
}
# Each task's command module: its sub-commands (``register``) and its ``evaluate`` handler.
COMMANDS: dict[str, str] = {
    "translation": "seq2seq.translation.cli",
    "video": "seq2seq.video.cli",
    "music": "seq2seq.music.cli",
    "text": "seq2seq.text.cli",
    "classify": "seq2seq.classify.cli",
    "caption": "seq2seq.caption.cli",
    "vqa": "seq2seq.vqa.cli",
}


def task_class(name: str) -> type[Task]:
    """The Task subclass registered under ``name``."""
    if name not in TASKS:
        raise unknown_task(name)
    module, cls = TASKS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def unknown_task(name: str) -> ConfigError:
    return ConfigError(
        f"unknown task '{name}'; known tasks: {', '.join(sorted(TASKS))}{_did_you_mean(name, list(TASKS))}"
    )


def make_task(cfg: Config) -> Task:
    """The task of a config (it reads no data until ``prepare``)."""
    return task_class(cfg.task)(cfg)


# -- recipes ---------------------------------------------------------------------------------
def shipped_recipes() -> dict[str, Any]:
    """Recipes that ship with the package, by name (``translation/multi30k_en_de``)."""
    root = resources.files("seq2seq") / "recipes"
    found = {}
    for folder in root.iterdir():
        if folder.is_dir():
            for item in folder.iterdir():
                if item.name.endswith(".toml"):
                    found[f"{folder.name}/{item.name[:-5]}"] = item
    return dict(sorted(found.items()))


def recipe_text(recipe: str | Path) -> tuple[str, str]:
    """(where, TOML text) of a recipe file, or of a shipped recipe named like ``toy/reverse``."""
    path = Path(recipe)
    if path.is_file():
        try:
            return str(path), path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    shipped = shipped_recipes()
    name = str(recipe).removesuffix(".toml").removeprefix("recipes/")
    if name in shipped:
        return f"recipe {name}", shipped[name].read_text(encoding="utf-8")
    raise ConfigError(
        f"{recipe}: no such recipe file{_did_you_mean(name, list(shipped))} (shipped recipes: {', '.join(shipped)})"
    )


def read_recipe(recipe: str | Path) -> tuple[str, dict[str, Any]]:
    """(where, tables) of a recipe file or shipped recipe name."""
    import tomllib

    where, text = recipe_text(recipe)
    try:
        return where, tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: not valid TOML: {e}") from None


def from_dict(raw: dict[str, Any], where: str = "config") -> Config:
    """A Config of nested plain data (a checkpoint's), parsed with its task's data keys."""
    task = raw.get("task", "toy") if isinstance(raw, dict) else None
    if not isinstance(task, str) or task not in TASKS:
        raise ConfigError(f"{where}: {unknown_task(str(task))}")
    return parse(raw, task_class(task).Data, where)


def load_config(recipe: str | Path, overrides: Iterable[str] = ()) -> Config:
    """Read a recipe (a TOML file, or a shipped recipe's name), apply ``--set`` overrides and
    check the result against its task; every mistake is a ConfigError naming the key."""
    where, raw = read_recipe(recipe)
    overrides = list(overrides)
    cfg = override(from_dict(raw, where), overrides)
    explicit = {f"{s}.{k}" for s in ("model", "search") for k in (raw.get(s) or {})}
    explicit |= {".".join(split_override(a)[:2]) for a in overrides}
    check(cfg, explicit, where)
    return cfg


def check(cfg: Config, explicit: Iterable[str] = (), where: str = "config") -> None:
    """Refuse a config its task cannot run: the model kind, keys set that nothing reads, the
    metric, the task's own rules. ``explicit`` holds the ``section.key`` names the user set."""
    from seq2seq.nn.models import READS

    task = task_class(cfg.task)
    kind = cfg.model.kind
    if kind not in task.kinds:
        raise ConfigError(f"{where}: the {cfg.task} task trains {' or '.join(task.kinds)} models, not '{kind}' "
                          f"(model.kind)")  # fmt: skip
    for name in sorted(explicit):
        section, key = name.split(".", 1)
        if section == "model" and key not in READS[kind]:
            raise ConfigError(f"{where}: model.{key} is not used by a {kind} model; remove it")
        if section == "search" and key not in task.search_keys:
            uses = ", ".join(f"search.{k}" for k in sorted(task.search_keys)) or "no [search] keys"
            raise ConfigError(f"{where}: search.{key} is not used by the {cfg.task} task (it reads {uses}); remove it")
    if cfg.train.metric not in task.metrics:
        raise ConfigError(
            f"{where}: train.metric '{cfg.train.metric}' is not a metric of the {cfg.task} task; it reports "
            f"{', '.join(task.metrics)}" + _did_you_mean(cfg.train.metric, list(task.metrics))
        )
    try:
        task.check(cfg)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def _did_you_mean(word: str, choices: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
