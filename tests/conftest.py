"""Shared fixtures. Real development data lives beside the project in ../shared/data; tests that
use it skip cleanly when it is absent (as on a user's machine or a clean CI clone)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SEQ2SEQ_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip the test when it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"development data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def vqa_runs(tmp_path_factory):
    """The vqa demo recipes on 100 generated training scenes with 3 questions of each type (~1100
    questions; 192 px, a 6 x 6 grid): the image model and the question-only baseline, the
    features extracted once for both. Session-wide: tests/test_vqa_task.py and the docs/api.md
    examples share it. Returns (folder, image model's summary, baseline's summary)."""
    from seq2seq.registry import load_config
    from seq2seq.trainer import Trainer

    root = tmp_path_factory.mktemp("vqa")
    common = ["train.device=cpu", "train.progress=false", "train.log_every=1000", "train.log_examples=0",
              f"data.root={root / 'data'}", "data.generated_train=100", "data.generated_valid=20",
              "data.generated_test=30", "data.questions_per_type=3"]  # fmt: skip
    image = Trainer.from_config(load_config("vqa/demo", [*common, f"train.out_dir={root / 'image'}", "train.epochs=8"]))
    summary = image.fit()
    blind = load_config("vqa/question_only", [*common, f"train.out_dir={root / 'blind'}", "train.epochs=5"])
    return root, summary, Trainer.from_config(blind).fit()
