"""The caption task on generated clips (real .mp4 files): a recurrent encoder over the frame
features and the attentional decoder (the core's encoder_decoder with feature inputs) trained
from the command line; `seq2seq caption` on a real clip; a clip without frames is one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tomli_w

from seq2seq.cli import main
from seq2seq.errors import UserError
from tests.helpers import one_error_line, train_cli

RECIPE = {
    "task": "caption",
    "data": {"source": "generated-clips", "image_size": 64, "fps": 2.0, "generated_train": 12, "generated_valid": 3},
    "model": {"kind": "encoder_decoder", "cell": "gru", "attention": "bahdanau", "embed_dim": 16, "hidden_size": 24,
              "layers": 1, "dropout": 0.0},
    "search": {"beam_size": 2},
    "train": {"epochs": 2, "batch_size": 8, "lr": 0.01, "metric": "bleu4", "log_every": 100},
}  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(best.pt, the validation clips' folder)."""
    tmp = tmp_path_factory.mktemp("caption-clips")
    recipe = tmp / "recipe.toml"
    recipe.write_text(tomli_w.dumps({**RECIPE, "data": {**RECIPE["data"], "root": str(tmp / "data")}}), "utf-8")
    best = train_cli(str(recipe), tmp / "run")
    return best, next((tmp / "data").glob("clips-*/media/valid-3"))


def test_a_clip_is_captioned_from_its_frames(trained, tmp_path, capsys):
    best, clips = trained
    from seq2seq.api import load

    model = load(best, "cpu")
    clip = sorted(clips.glob("*.mp4"))[0]
    assert main(["caption", str(clip), "-m", str(best), "--device", "cpu", "--attention-plot", str(tmp_path)]) == 0
    name, caption = capsys.readouterr().out.rstrip("\n").split("\t")
    assert name == clip.name and caption == model.caption(clip)
    assert set(caption.split()) <= set(model.task.vocab.words)
    assert (tmp_path / f"{clip.stem}.attention.png").is_file()
    frames = model.features([clip])[0]
    assert frames.ndim == 2 and len(frames) > 1  # one feature vector per sampled frame
    with pytest.raises(UserError, match="image array given to a model that captions clips"):
        model.caption(np.zeros((32, 32, 3), np.uint8))


def test_a_clip_without_frames_is_one_line(trained, tmp_path, capsys):
    import av

    best, _ = trained
    empty = tmp_path / "silent.mp4"
    with av.open(str(empty), "w") as container:  # an audio stream and no video
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    assert main(["caption", str(empty), "-m", str(best), "--device", "cpu"]) == 2
    one_error_line(capsys, "silent.mp4", "no video stream")


def test_an_image_given_to_a_clip_model_is_one_line(trained, tmp_path, capsys):
    from PIL import Image

    best, _ = trained
    Image.new("RGB", (32, 32)).save(tmp_path / "still.png")
    assert main(["caption", str(tmp_path / "still.png"), "-m", str(best), "--device", "cpu"]) == 2
    one_error_line(capsys, "still.png", "captions clips, not images")


def test_segments_of_one_clip_are_captioned_from_their_own_frames(tmp_path):
    """MSVD-style rows name a whole video and the seconds each caption describes: each item gets
    the frames sampled in its segment, and the clip is extracted once."""
    from seq2seq.caption.task import segment
    from seq2seq.registry import load_config, make_task
    from seq2seq.video.synth import write_clip

    clip = write_clip(tmp_path / "vid1.mp4", seed=3, size=32, fps=10)
    seconds = len(clip.labels) / 10
    csv = tmp_path / "msvd.csv"
    rows = [("0", "2", "a shape appears"), ("2", f"{seconds:g}", "it moves and leaves")]
    csv.write_text(
        "VideoID,Start,End,Language,Description\n" + "".join(f"vid1,{a},{b},English,{c}\n" for a, b, c in rows)
    )
    data = {"source": "files", "train": str(csv), "valid": str(csv), "root": str(tmp_path / "data"), "fps": 2.0,
            "backbone": "resnet18", "weights": "none", "image_size": 32}  # fmt: skip
    recipe = tmp_path / "r.toml"
    recipe.write_text(tomli_w.dumps({**RECIPE, "data": data}), "utf-8")
    task = make_task(load_config(recipe))
    feats, refs = task.read_split("train")
    assert refs == [["a shape appears"], ["it moves and leaves"]]
    whole = np.concatenate(feats)
    assert len(feats[0]) == 4 and len(whole) == int(np.ceil(seconds * 2))  # samples at 0, 0.5, 1, 1.5 s; then the rest
    assert len(list((tmp_path / "data").rglob("features/*.npy"))) == 1
    with pytest.raises(Exception, match=r"vid1.mp4: the segment 30 s to 40 s has no frame sampled at 2 fps"):
        segment(whole, (30.0, 40.0), 2.0, clip.video)
