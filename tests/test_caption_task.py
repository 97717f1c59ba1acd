"""The caption task on generated images: a small captioner trained from the command line learns
what is where to a stated BLEU-4; `seq2seq caption` on real image files gives what the Python API
gives, with n-best lists and attention figures; `seq2seq evaluate` scores against every
reference; bad inputs give one-line errors. The features are extracted once for the module."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from seq2seq import checkpoint as ckpt_io
from seq2seq.caption.describe import describe
from seq2seq.cli import main
from seq2seq.vision.scenes import Scene, Thing
from tests.helpers import one_error_line, train_cli

RECIPE = {
    "task": "caption",
    "data": {"source": "generated-images", "image_size": 128, "generated_train": 240, "generated_valid": 40,
             "max_things": 1},
    "model": {"kind": "captioner", "cell": "gru", "attention": "bahdanau", "embed_dim": 32, "hidden_size": 64,
              "layers": 1, "dropout": 0.0},
    "search": {"beam_size": 2},
    "train": {"epochs": 4, "batch_size": 32, "lr": 0.005, "metric": "bleu4", "log_every": 100},
}  # fmt: skip


@pytest.fixture(scope="module")
def caption_run(tmp_path_factory) -> tuple[Path, dict, Path]:
    """(best.pt, its validation scores, the validation images' folder)."""
    tmp = tmp_path_factory.mktemp("caption")
    recipe = tmp / "recipe.toml"
    raw = {**RECIPE, "data": {**RECIPE["data"], "root": str(tmp / "data")}}
    recipe.write_text(tomli_w.dumps(raw), encoding="utf-8")
    best = train_cli(str(recipe), tmp / "run")
    from seq2seq.api import load

    scores = load(best, "cpu").evaluate()
    images = next((tmp / "data").glob("images-*/media/valid-40"))
    return best, scores, images


def test_learns_what_is_where_to_a_stated_bleu4(caption_run):
    """One shape per scene, 240 training images, four epochs: BLEU-4 at least 80 on 40 new images."""
    _, scores, _ = caption_run
    assert scores["bleu4"] >= 80, scores  # 90 measured; exact captions 78%
    assert set(scores) >= {"loss", "bleu1", "bleu2", "bleu3", "bleu4", "chrf", "cider", "exact"}


def test_caption_cli_on_image_files_is_the_api(caption_run, tmp_path, capsys):
    best, _, images = caption_run
    from seq2seq.api import load

    files = sorted(images.glob("*.png"))[:4]
    out = tmp_path / "captions.tsv"
    assert main(["caption", *map(str, files), "-m", str(best), "--device", "cpu", "-o", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    expected = load(best, "cpu").caption(files)
    assert lines == [f"{f.name}\t{c}" for f, c in zip(files, expected, strict=True)]
    assert all(c.split()[0] in ("a", "one", "there") for c in expected)


def test_nbest_and_the_attention_figure(caption_run, tmp_path, capsys):
    best, _, images = caption_run
    files = sorted(images.glob("*.png"))[:2]
    plots = tmp_path / "plots"
    args = ["caption", *map(str, files), "-m", str(best), "--device", "cpu", "--beam", "3", "--nbest", "2",
            "--attention-plot", str(plots)]  # fmt: skip
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [files[0].name] * 2 + [files[1].name] * 2
    scores = [float(line.split("\t")[2]) for line in lines]
    assert scores[0] >= scores[1] and scores[2] >= scores[3]
    assert sorted(p.name for p in plots.iterdir()) == [f"{f.stem}.attention.png" for f in files]


def test_a_model_that_would_end_at_once_still_says_a_word(caption_run):
    """A barely trained captioner's likeliest first token is often the end: the caption is never
    blank (no reference is), and search.min_length still raises the floor."""
    import torch

    from seq2seq.api import load
    from seq2seq.caption.words import EOS

    best, _, images = caption_run
    model = load(best, "cpu")
    with torch.no_grad():
        model.model.decoder.out.bias[EOS] += 1e3  # the end outweighs every word at every step
    files = sorted(images.glob("*.png"))[:3]
    assert [len(c.split()) for c in model.caption(files)] == [1, 1, 1]
    assert [len(c.split()) for c in model.caption(files, min_length=3)] == [3, 3, 3]


def test_image_arrays_are_captioned_as_their_files(caption_run, tmp_path):
    """RGB, grey and RGBA uint8 arrays (a notebook's pictures) give their files' captions and
    figures; float arrays are features already; other arrays are one-line errors."""
    from PIL import Image
    from skimage import data

    from seq2seq.api import load
    from seq2seq.errors import UserError

    best, _, images = caption_run
    model = load(best, "cpu")
    scene = np.asarray(Image.open(sorted(images.glob("*.png"))[0]).convert("RGB"))
    arrays = {"scene.png": scene, "grey.png": data.camera()[::8, ::8],
              "rgba.png": np.asarray(Image.fromarray(data.coffee()[::6, ::6]).convert("RGBA"))}  # fmt: skip
    for name, pixels in arrays.items():
        Image.fromarray(pixels).save(tmp_path / name)
    files = [tmp_path / name for name in arrays]
    assert model.caption(list(arrays.values())) == model.caption(files)
    assert model.caption(scene, nbest=2) == model.caption(files[0], nbest=2)
    assert model.caption(model.features([scene])[0]) == model.caption(files[0])  # a float array: features
    assert model.attention_plot(arrays["grey.png"], tmp_path / "grey.attention.png").is_file()
    for bad in (np.zeros((4, 4, 2), np.uint8), np.zeros((0, 4, 3), np.uint8)):
        with pytest.raises(UserError, match=r"image array of shape .*give \(H, W, 3\) uint8 RGB"):
            model.caption(bad)


def test_a_folder_of_photo_folders_is_captioned_with_inner_paths(caption_run, tmp_path, capsys):
    """A photo library: nested folders, a name with a space, an upper-case .JPG, a grey JPEG and an
    RGBA PNG beside a text file; every picture is found and named by its path inside the folder."""
    from PIL import Image
    from skimage import data

    best, _, _ = caption_run
    photos = tmp_path / "my photos"
    (photos / "cats").mkdir(parents=True)
    (photos / "room 2").mkdir()
    Image.fromarray(data.chelsea()[::4, ::4]).save(photos / "cats" / "Chelsea.JPG")
    Image.fromarray(data.camera()[::8, ::8]).save(photos / "room 2" / "camera.jpg")
    Image.fromarray(data.coffee()[::6, ::6]).convert("RGBA").save(photos / "room 2" / "cup.png")
    (photos / "room 2" / "notes.txt").write_text("not a picture", encoding="utf-8")
    plots = tmp_path / "plots"
    assert main(["caption", str(photos), "-m", str(best), "--device", "cpu", "--attention-plot", str(plots)]) == 0
    names = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["cats/Chelsea.JPG", "room 2/camera.jpg", "room 2/cup.png"]
    drawn = sorted(p.relative_to(plots).as_posix() for p in plots.rglob("*.png"))
    assert drawn == ["cats/Chelsea.attention.png", "room 2/camera.attention.png", "room 2/cup.attention.png"]
    # two inputs of one name would print lines nobody can tell apart and draw one figure over the other
    (photos / "cats" / "cup.jpg").write_bytes((photos / "cats" / "Chelsea.JPG").read_bytes())
    args = ["caption", str(photos / "cats" / "cup.jpg"), str(photos / "room 2" / "cup.png"), "-m", str(best)]
    assert main(args) == 2
    one_error_line(capsys, "cup.png", "separate runs")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "a.txt").write_text("x", encoding="utf-8")
    assert main(["caption", str(tmp_path / "empty"), "-m", str(best)]) == 2
    one_error_line(capsys, "empty", "no images or clips in this folder or its subfolders")


def test_evaluate_scores_against_all_references(caption_run, capsys):
    best, scores, _ = caption_run
    assert main(["evaluate", "-m", str(best), "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["bleu4"] == pytest.approx(scores["bleu4"])


def test_references_say_colours_shapes_counts_and_positions():
    scene = Scene((Thing("circle", "red", 0, 0), Thing("square", "blue", 0, 2), Thing("square", "blue", 2, 2)))
    refs = describe(scene)
    assert refs[0] == "a red circle at the top left and two blue squares on the right"
    assert refs[1] == "two blue squares on the right and a red circle at the top left"
    assert len(set(refs)) == 4


def test_an_unreadable_image_is_one_line(caption_run, tmp_path, capsys):
    best, _, _ = caption_run
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    assert main(["caption", str(bad), "-m", str(best), "--device", "cpu"]) == 2
    one_error_line(capsys, "broken.png", "not a readable image")


def test_a_checkpoint_of_another_task_is_one_line(caption_run, tmp_path, capsys):
    best, _, images = caption_run
    payload = ckpt_io.load(best)
    payload["task"] = "classify"
    other = tmp_path / "other.pt"
    ckpt_io.save(other, payload)
    assert main(["caption", str(next(images.glob("*.png"))), "-m", str(other)]) == 2
    one_error_line(capsys, "other.pt", "'classify' checkpoint", "'caption' checkpoint")


def test_a_caption_file_naming_missing_images_is_one_line(caption_run, tmp_path, capsys):
    _, _, images = caption_run
    coco = tmp_path / "captions.json"
    coco.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "scene-0000.png"}, {"id": 2, "file_name": "gone.png"}],
        "annotations": [{"id": 1, "image_id": 1, "caption": "a red circle"},
                        {"id": 2, "image_id": 2, "caption": "a blue square"}],
    }), encoding="utf-8")  # fmt: skip
    args = ["train", "caption/demo", "--out", str(tmp_path / "run"), "--set", "data.source=files",
            "--set", f"data.train={coco}", "--set", f"data.valid={coco}", "--set", f"data.media_root={images}",
            "--set", f"data.root={tmp_path / 'data'}"]  # fmt: skip
    assert main(args) == 2
    one_error_line(capsys, "gone.png")


def test_a_caption_file_trains_and_its_splits_are_kept(caption_run, tmp_path, capsys):
    """A TSV of media<TAB>caption<TAB>split lines: the train lines train, the valid ones validate."""
    from seq2seq.api import load
    from seq2seq.vision.scenes import read_scenes

    _, _, images = caption_run
    scenes = read_scenes(images)
    lines = ["media\tcaption\tsplit"]
    for k, (path, scene) in enumerate(scenes[:24]):
        lines += [f"{path.name}\t{ref}\t{'valid' if k < 6 else 'train'}" for ref in describe(scene)[:2]]
    tsv = tmp_path / "captions.tsv"
    tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["train", "caption/demo", "--out", str(tmp_path / "run"), "--device", "cpu", "--set", "data.source=files",
            "--set", f"data.train={tsv}", "--set", f"data.valid={tsv}", "--set", "data.train_split=train",
            "--set", "data.valid_split=val", "--set", f"data.media_root={images}", "--set", "data.image_size=128",
            "--set", f"data.root={tmp_path / 'data'}", "--set", "train.max_steps=2",
            "--set", "train.progress=false"]  # fmt: skip
    assert main(args) == 0
    model = load(tmp_path / "run" / "best.pt", "cpu")
    assert len(model.task.read_split("train")[0]) == 18 and len(model.task.read_split("valid")[0]) == 6
    assert isinstance(model.caption(scenes[0][0]), str)


def test_real_photographs_end_to_end_from_a_karpathy_file(tmp_path, capsys):
    """A Karpathy split file of real photographs (grey, RGBA, an upper-case .JPG, a folder with a
    space): given as data.train and data.valid without the splits, training notes that validation
    is training; with them it trains, and the folder is captioned as the API does and evaluated."""
    from PIL import Image
    from skimage import data

    from seq2seq.api import load
    from seq2seq.registry import load_config, make_task

    photos = {"cat": (data.chelsea(), "Cat.JPG"), "cup": (data.coffee(), "cup.png"), "man": (data.camera(), "man.jpg"),
              "rocket": (data.rocket(), "rocket.jpg"), "coins": (data.coins(), "coins.png")}  # fmt: skip
    (tmp_path / "my photos").mkdir()
    for name, (pixels, file) in photos.items():
        image = Image.fromarray(pixels[::8, ::8])
        (image.convert("RGBA") if name == "cup" else image).save(tmp_path / "my photos" / file)
    dataset = {"images": [{"filepath": "my photos", "filename": file, "split": "val" if name == "man" else "train",
                           "sentences": [{"raw": f"A {name}.", "tokens": ["a", name]},
                                         {"raw": f"a photo of a {name}", "tokens": []}]}
                          for name, (_, file) in photos.items()]}  # fmt: skip
    (tmp_path / "dataset.json").write_text(json.dumps(dataset), encoding="utf-8")
    file = str(tmp_path / "dataset.json")
    data_keys = {"source": "files", "train": file, "valid": file, "root": str(tmp_path / "data"),
                 "backbone": "resnet18", "weights": "none", "image_size": 32}  # fmt: skip
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        tomli_w.dumps({**RECIPE, "data": data_keys, "train": {**RECIPE["train"], "epochs": 1, "log_examples": 0}}),
        "utf-8",
    )
    capsys.readouterr()
    make_task(load_config(recipe)).prepare()  # extracts the features the training run below reuses
    assert "5 of 5 validation images are training ones too" in capsys.readouterr().err
    best = train_cli(str(recipe), tmp_path / "run", "data.train_split=train", "data.valid_split=val")
    assert "training ones too" not in capsys.readouterr().err
    out = tmp_path / "captions.tsv"
    assert main(["caption", str(tmp_path / "my photos"), "-m", str(best), "--device", "cpu", "-o", str(out)]) == 0
    model = load(best, "cpu")
    files = sorted((tmp_path / "my photos").iterdir())
    assert out.read_text(encoding="utf-8").splitlines() == [
        f"{f.name}\t{c}" for f, c in zip(files, model.caption(files), strict=True)
    ]
    capsys.readouterr()
    assert main(["evaluate", "-m", str(best), "--device", "cpu"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores == pytest.approx(model.evaluate()) and set(scores) >= {"bleu4", "cider", "exact"}
