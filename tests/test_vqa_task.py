"""The vqa task on generated scenes written as real files: the questions are answerable only by
looking (a question-only model stays near chance), the image model learns them, attention sums
to 1 over the grid, the CLI answers real image files as the API does, and every bad input is a
one-line error."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict

import numpy as np
import pytest
import torch

from seq2seq.config import ConfigError, UserError
from seq2seq.registry import load_config
from seq2seq.trainer import Trainer
from seq2seq.vision.scenes import Scene, Thing, random_scene
from seq2seq.vqa.data import VqaDataError, read_questions
from seq2seq.vqa.questions import TYPES, ask, candidates
from tests.helpers import one_error_line


def test_questions_are_asked_only_when_their_answer_is_defined():
    scene = Scene((Thing("square", "red", 0, 0), Thing("square", "blue", 1, 1), Thing("circle", "red", 2, 2)))
    found = {t: {(q.question, q.answer) for q in qs} for t, qs in candidates(scene).items()}
    assert ("what colour is the circle?", "red") in found["colour"]
    assert not any("the square?" in q for q, _ in found["colour"])  # two squares: no single referent
    assert ("what shape is the blue thing?", "square") in found["shape"]
    assert not any("red thing" in q for q, _ in found["shape"])  # two red things
    assert ("what shape is at the centre?", "square") in found["shape"]
    assert ("how many red things are there?", "2") in found["count"]
    assert ("how many triangles are there?", "0") in found["count"]
    assert ("where is the red square?", "top left") in found["position"]
    assert ("where is the circle?", "bottom right") in found["position"]


def test_answers_are_balanced_and_held_out_pairs_never_asked():
    rng = random.Random(0)
    scenes = [random_scene(rng, 1, 4) for _ in range(1500)]
    asked = [q for qs in ask(scenes, 0, ("red triangle",)) for q in qs]
    assert {q.type for q in asked} == set(TYPES)
    assert not [q for q in asked if q.subject == "red triangle"]
    by_question: dict[str, Counter] = defaultdict(Counter)
    for q in asked:
        by_question[q.question][q.answer] += 1
    # the best guess from the question alone (its commonest answer): near chance for each type
    for kind, chance in (("colour", 1 / 4), ("shape", 1 / 3), ("position", 1 / 9)):
        counts = [c for text, c in by_question.items() if next(q for q in asked if q.question == text).type == kind]
        best = sum(c.most_common(1)[0][1] for c in counts) / sum(sum(c.values()) for c in counts)
        assert best < chance + 0.06, (kind, best)


def test_the_image_model_learns_and_the_question_alone_does_not(vqa_runs):
    root, image, blind = vqa_runs
    looked = json.loads((root / "image" / "test_scores.json").read_text())
    guessed = json.loads((root / "blind" / "test_scores.json").read_text())
    assert looked["accuracy"] >= 0.45 and guessed["accuracy"] <= 0.32, (looked, guessed)
    assert looked["accuracy"] >= guessed["accuracy"] + 0.15
    assert set(looked["questions"]) == {"all", *TYPES, "novel"}
    for kind in ("colour", "shape"):
        assert looked[f"accuracy_{kind}"] >= guessed[f"accuracy_{kind}"] + 0.15, (kind, looked, guessed)


def test_attention_weights_sum_to_one_over_the_cells(vqa_runs):
    from seq2seq.api import load

    model = load(vqa_runs[0] / "image" / "best.pt", "cpu")
    image = sorted((vqa_runs[0] / "data" / "test").glob("*.png"))[0]
    weights = model.attention(image, "what colour is the square?")
    assert weights.shape == (2, 6, 6)  # two hops over the 6 x 6 grid
    assert np.allclose(weights.reshape(2, -1).sum(-1), 1.0, atol=1e-5) and (weights >= 0).all()
    task = model.task
    batch = task.collate(task.examples_of("valid")[:5])
    grid = batch["grid"]
    full = model.model.attention(batch["question"], batch["lengths"], grid)
    assert torch.allclose(full.sum(-1), torch.ones(5, 2), atol=1e-5)


def test_answer_cli_on_image_files_as_the_api(vqa_runs, tmp_path, capsys):
    from seq2seq.api import load
    from seq2seq.cli import main

    ckpt = str(vqa_runs[0] / "image" / "best.pt")
    image = sorted((vqa_runs[0] / "data" / "test").glob("*.png"))[1]
    capsys.readouterr()
    plot = tmp_path / "attention.png"
    assert main(["answer", str(image), "What colour is the Thing at the top left?", "-m", ckpt,
                 "--attention-plot", str(plot), "--device", "cpu"]) == 0  # fmt: skip
    answer, p = capsys.readouterr().out.strip().split("\t")
    model = load(ckpt, "cpu")
    assert (answer, float(p)) == (model.answer(image, "what colour is the thing at the top left?")[0],
                                  pytest.approx(model.answer(image, "what colour is the thing at the top left")[1],
                                                abs=1e-4))  # fmt: skip
    assert plot.stat().st_size > 5000
    questions = tmp_path / "q.csv"
    questions.write_text(f"image,question\n{image},where is the circle?\n{image},how many red things are there?\n")
    assert main(["answer", "--questions", str(questions), "-m", ckpt]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    assert [r[1] for r in rows] == ["where is the circle?", "how many red things are there?"] and len(rows[0]) == 4
    assert main(["evaluate", "-m", ckpt, "--split", "test", "--scores", str(tmp_path / "s.json")]) == 0
    table = capsys.readouterr().out
    assert "colour" in table and "novel" in table and table.strip().splitlines()[-1].startswith("all")
    assert json.loads((tmp_path / "s.json").read_text()) == model.scores("test")


@pytest.mark.parametrize(
    "args, message",
    [
        (lambda d, img: [str(d / "broken.png"), "what shape is at the top?"], "broken.png: not a readable image"),
        (lambda d, img: [str(img), "   "], "question 1: empty question"),
        (lambda d, img: [str(img), "?!"], "question 1: '?!' has no words"),
        (lambda d, img: ["--questions", str(d / "missing.jsonl")], "missing.jsonl:2: image nowhere.png not found"),
        (lambda d, img: [str(img)], "a question about"),
    ],
)
def test_answer_cli_bad_inputs(vqa_runs, tmp_path, capsys, args, message):
    from seq2seq.cli import main

    (tmp_path / "broken.png").write_bytes(b"not a png")
    image = sorted((vqa_runs[0] / "data" / "test").glob("*.png"))[0]
    (tmp_path / "missing.jsonl").write_text(
        json.dumps({"image": str(image), "question": "where is it?"})
        + "\n"
        + json.dumps({"image": "nowhere.png", "question": "what?"})
        + "\n"
    )
    capsys.readouterr()
    assert main(["answer", *args(tmp_path, image), "-m", str(vqa_runs[0] / "image" / "best.pt")]) == 2
    one_error_line(capsys, message)


def test_a_question_of_words_never_seen_is_answered_with_a_note(vqa_runs, tmp_path, capsys):
    """All <unk>: the answer comes from the image alone, and the user is told so on stderr."""
    from seq2seq.cli import main

    ckpt = str(vqa_runs[0] / "image" / "best.pt")
    image = sorted((vqa_runs[0] / "data" / "test").glob("*.png"))[0]
    capsys.readouterr()
    assert main(["answer", str(image), "zebra quux?", "-m", ckpt]) == 0
    out = capsys.readouterr()
    assert len(out.out.split("\t")) == 2 and "no word of this question occurs in the training" in out.err
    assert main(["answer", str(image), "where is the circle?", "-m", ckpt]) == 0
    assert capsys.readouterr().err == ""
    questions = tmp_path / "q.csv"
    questions.write_text(f"question,extra,image\nwhere is the circle?,x,{image}\nblorp?,y,{image}\n", encoding="utf-8")
    assert main(["answer", "--questions", str(questions), "-m", ckpt]) == 0
    out = capsys.readouterr()
    assert len(out.out.splitlines()) == 2 and "1 question(s) have no word" in out.err and "q.csv:3 'blorp?'" in out.err


def test_a_checkpoint_of_another_task_is_refused(tmp_path, capsys):
    from seq2seq.checkpoint import save
    from seq2seq.cli import main

    save(tmp_path / "other.pt", {"task": "classify", "kind": "classifier", "config": {}, "dims": {}, "model": {}})
    capsys.readouterr()
    assert main(["answer", "x.png", "what?", "-m", str(tmp_path / "other.pt")]) == 2
    one_error_line(capsys, "other.pt: a 'classify' checkpoint", "needs a 'vqa' checkpoint")


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("e.jsonl", '{"image": "a.png", "question": " "}\n', "e.jsonl:1: empty question"),
        (
            "p.csv",
            "image,question,answer\na.png,what?,red\na.png,??,red\n",
            "p.csv:3: the question '\\?\\?' has no words",
        ),
        (
            "m.csv",
            "image,question,answer\na.png,what?,red\nb.png,what?,red\nc.png,what?,red\n",
            "m.csv:3: image b.png not found",
        ),
        ("n.tsv", "a.png\twhat colour?\n", "n.tsv:1: no answer"),
        ("h.csv", "picture,question\n", "h.csv:1: header"),
        ("q.csv", 'image,question,answer\na.png,"what colour?,red\n', "q.csv:2: not valid CSV"),
        (
            "s.csv",
            'image,question,answer\na.png,"what\ncolour?",red\n\na.png,"",red\n',
            "s.csv:5: empty question",
        ),
        ("x.json", "{}", "unknown question-file format '.json'"),
    ],
)
def test_bad_question_files(tmp_path, name, text, message):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(VqaDataError, match=message):
        read_questions(tmp_path / name)


def test_question_files_in_three_formats(tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "q.jsonl").write_text('{"image": "a.png", "question": "What  colour?", "answer": "red", '
                                      '"type": "colour"}\n\n')  # fmt: skip
    (tmp_path / "q.csv").write_text('answer,image,question\nRed,a.png,"What colour?"\n')  # one class: "Red", "red "
    (tmp_path / "q.tsv").write_text("a.png\tWhat colour?\tred \tcolour\n")
    read = [read_questions(tmp_path / f"q.{ext}") for ext in ("jsonl", "csv", "tsv")]
    assert {(q.image, q.question, q.answer) for r in read for q in r} == {(tmp_path / "a.png", "What colour?", "red")}
    assert [r[0].type for r in read] == ["colour", "", "colour"]
    # a spreadsheet's quoted cell with a line break: one question, the next line numbered after it
    (tmp_path / "s.csv").write_text('image,question,answer\na.png,"What\ncolour?",red\na.png,"What shape?",round\n')
    assert [(q.question, q.where) for q in read_questions(tmp_path / "s.csv")] == [
        ("What colour?", f"{tmp_path / 's.csv'}:2"),
        ("What shape?", f"{tmp_path / 's.csv'}:4"),
    ]


def test_vqa_recipes_are_checked():
    with pytest.raises(ConfigError, match="needs data.train and data.valid"):
        load_config("vqa/demo", ["data.source=files"])
    with pytest.raises(ConfigError, match="model.pooling is not used by a vqa model"):
        load_config("vqa/demo", ["model.pooling=mean"])
    with pytest.raises(ConfigError, match="'red cube' is not a colour and a shape"):
        load_config("vqa/demo", ["data.held_out=red cube"])
    with pytest.raises(ConfigError, match="model.hops is not used by a question-only vqa model"):
        load_config("vqa/question_only", ["model.hops=3"])


def test_features_made_otherwise_are_refused(vqa_runs, tmp_path, capsys):
    """A checkpoint scores its data only with features made as in its training: here the
    checkpoint claims 160 px pictures, the features folder it names holds 192 px ones."""
    from seq2seq.checkpoint import load, save
    from seq2seq.cli import main

    payload = load(vqa_runs[0] / "image" / "best.pt")
    payload["task_state"]["extraction"]["size"] = 160
    payload["config"]["data"]["features"] = str(vqa_runs[0] / "data" / "grid-efficientnet_lite0-192")
    save(tmp_path / "other.pt", payload)
    capsys.readouterr()
    assert main(["evaluate", "-m", str(tmp_path / "other.pt"), "--split", "test"]) == 2
    one_error_line(capsys, "features made with size 192 (wants 160)")
    assert main(["info", "-m", str(vqa_runs[0] / "image" / "best.pt")]) == 0
    shown = capsys.readouterr().out
    assert "image features" in shown and "1280 per cell" in shown and "fps" not in shown  # still images


def test_files_source_trains_on_a_csv_and_refuses_unknown_answers(vqa_runs, tmp_path, capsys):
    """The generated questions given back as a user's CSV files (images named by absolute path):
    the features are the ones already extracted, found by the same names, so nothing is embedded
    again; a validation answer the training file never had names its line."""
    data = vqa_runs[0] / "data"

    def csv_of(split: str, rows: int, extra: str = "") -> str:
        path = tmp_path / f"{split}.csv"
        lines = [json.loads(line) for line in (data / f"{split}.jsonl").read_text().splitlines()[:rows]]
        body = "".join(f"{data / q['image']},{q['question']},{q['answer']},{q['type']}\n" for q in lines)
        path.write_text("image,question,answer,type\n" + body + extra)
        return str(path)

    common = ["train.device=cpu", "train.progress=false", "train.epochs=1", "data.source=files",
              f"data.train={csv_of('train', 200)}", f"data.features={data / 'grid-efficientnet_lite0-192'}",
              f"train.out_dir={tmp_path / 'run'}"]  # fmt: skip
    trainer = Trainer.from_config(load_config("vqa/demo", [*common, f"data.valid={csv_of('valid', 40)}"]))
    task = trainer.task
    assert len(task.dataset()) == 200 and len(task.examples_of("valid")) == 40
    assert task.encode("What colour is the Zebra?")[-1] == 1  # an unknown word reads as <unk>
    trainer.fit()
    assert set(json.loads((tmp_path / "run" / "valid_scores.json").read_text())["questions"]) <= {"all", *TYPES}
    image = next((data / "valid").glob("*.png"))
    bad = csv_of("valid", 3, f"{image},what colour is it?,purple,colour\n")
    with pytest.raises(VqaDataError, match="valid.csv:5: answer 'purple' never occurs in the training questions"):
        Trainer.from_config(load_config("vqa/demo", [*common, f"data.valid={bad}"]))
    assert "training ones too" not in capsys.readouterr().err
    # one file as both: validation would score memory; training says so
    same = [*common, f"data.valid={common[4].split('=', 1)[1]}", f"train.out_dir={tmp_path / 'same'}"]
    Trainer.from_config(load_config("vqa/demo", same))
    assert "vqa: note: 200 of 200 validation questions are training ones too (the first: " in capsys.readouterr().err


def test_a_relative_question_file_missing_here_says_where_it_was_looked_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(VqaDataError, match=r"q/train.jsonl: no such question file in .*run from the folder training"):
        read_questions("q/train.jsonl")


def test_grey_and_rgba_image_arrays_are_answered_as_their_files(vqa_runs, tmp_path):
    """A grey photograph (skimage's camera) and an RGBA one: the array gives what the file gives."""
    from PIL import Image
    from skimage import data

    from seq2seq.api import load

    model = load(vqa_runs[0] / "image" / "best.pt", "cpu")
    grey, rgba = data.camera()[::4, ::4], np.asarray(Image.fromarray(data.coffee()[::4, ::4]).convert("RGBA"))
    for name, pixels in (("grey.png", grey), ("rgba.png", rgba)):
        Image.fromarray(pixels).save(tmp_path / name)
        by_file, by_array = (
            model.answer(tmp_path / name, "what shape is it?"),
            model.answer(pixels, "what shape is it?"),
        )
        assert by_array[0] == by_file[0] and by_array[1] == pytest.approx(by_file[1], abs=1e-4)
        assert model.plot_attention(pixels, "what shape is it?", tmp_path / f"{name}.attention.png").is_file()
    with pytest.raises(UserError, match=r"shape \(4, 4, 2\)"):
        model.answer(np.zeros((4, 4, 2), np.uint8), "what shape is it?")
