"""seq2seq: recurrent sequence models in PyTorch (tanh-RNN, LSTM, GRU; encoder-decoder with
attention, taggers, language models) with recipes for video labelling, translation, music and text.

    import seq2seq
    model = seq2seq.load("runs/demo/translation/best.pt")
    print(model.translate("I see three red dogs."))
    seq2seq.train("toy/reverse", overrides={"train.epochs": 2}, out="runs/toy")

The names below are imported when first used, so ``import seq2seq`` (and ``seq2seq.config``)
stays light. docs/api.md has an example per task.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

_EXPORTS = {
    "load": "seq2seq.api",
    "train": "seq2seq.api",
    "Model": "seq2seq.api",
    "TranslationModel": "seq2seq.api",
    "VideoModel": "seq2seq.api",
    "MusicModel": "seq2seq.api",
    "TextModel": "seq2seq.api",
    "ClassifierModel": "seq2seq.api",
    "CaptionModel": "seq2seq.api",
    "VqaModel": "seq2seq.api",
    "Labels": "seq2seq.api",
    "PianoRoll": "seq2seq.api",
    "load_config": "seq2seq.registry",
    "Config": "seq2seq.config",
    "Trainer": "seq2seq.trainer",
    "UserError": "seq2seq.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'seq2seq' has no attribute '{name}'")


def __dir__() -> list[str]:
    return [*__all__, "__version__"]
