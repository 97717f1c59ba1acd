"""Example outputs in TensorBoard at each validation (``train.log_examples``): every task's
examples are written, and a run that writes them trains exactly like one that does not."""

from __future__ import annotations

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from seq2seq.registry import load_config
from seq2seq.trainer import Trainer
from tests.test_cuda import TASKS, video_layout

# What each task writes: text tags (as TensorBoard names them) and image tags under examples/.
EXPECTED = {
    "translation": ({"examples/translations/text_summary"}, {"examples/attention"}),
    "video": (set(), {"examples/timelines"}),
    "music": (set(), {"examples/sample_0", "examples/sample_1"}),
    "text": ({"examples/samples/text_summary"}, set()),
    "classify": (set(), {"examples/confusion"}),
}


def train(task: str, tmp_path, log_examples: int):
    recipe, overrides = TASKS[task]
    if task == "video":
        overrides = [*overrides, f"data.root={video_layout(tmp_path / 'layout')}"]
    out = tmp_path / f"run{log_examples}"
    cfg = load_config(
        recipe,
        [*overrides, "train.device=cpu", "train.progress=false", "train.max_steps=4", "train.eval_every=2",
         "train.log_every=1", f"train.log_examples={log_examples}", f"train.out_dir={out}"],
    )  # fmt: skip
    trainer = Trainer.from_config(cfg)
    trainer.fit()
    return out, trainer.task


def losses(run) -> list[tuple[str, int, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["kind"], r["step"], r["loss"]) for r in rows if "loss" in r]


@pytest.mark.parametrize("task", list(EXPECTED))
def test_examples_are_logged_at_each_validation_and_change_nothing(tmp_path, task):
    with_examples, trained = train(task, tmp_path, 2)
    events = EventAccumulator(str(with_examples / "tensorboard"), size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    texts, images = EXPECTED[task]
    tags = events.Tags()
    assert texts <= set(tags["tensors"]), tags
    assert images <= set(tags["images"]), tags
    validated = [step for kind, step, _ in losses(with_examples) if kind == "valid"]
    assert validated
    for tag in texts:
        assert [e.step for e in events.Tensors(tag)] == validated
    for tag in images:
        shown = events.Images(tag)
        assert [e.step for e in shown] == validated
        assert shown[0].width > 100 and shown[0].height > 50
    if task == "translation":  # each row shows the source, the output and the reference
        table = events.Tensors("examples/translations/text_summary")[0].tensor_proto.string_val[0].decode()
        header, _, first, second = table.splitlines()
        assert header == "| source | translation | reference |"
        src, ref = trained.scored_text("valid")
        assert first.startswith(f"| {src[0]} | ") and first.endswith(f" | {ref[0]} |")
        assert second.startswith(f"| {src[1]} | ") and second.endswith(f" | {ref[1]} |")
    # the examples draw random numbers (sampling) but the training run is bit-identical
    assert losses(with_examples) == losses(train(task, tmp_path, 0)[0])
