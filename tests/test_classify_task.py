"""The classify task: metrics equal hand-computed values, the embedded reviews are learnt beyond
what a bag of words can reach, labelled files and video segments are read as documented, and
every bad input is a one-line error."""

from __future__ import annotations

import json

import numpy as np
import pytest

from seq2seq.classify.data import ClassifyDataError, read_labelled, segments
from seq2seq.classify.metrics import accuracy, confusion, macro_f1, per_class_f1
from seq2seq.classify.sentences import bag_of_words_ceiling, reviews
from seq2seq.config import ConfigError
from seq2seq.registry import load_config
from seq2seq.trainer import Trainer
from seq2seq.video.layout import LayoutError
from tests.test_cuda import video_layout

FAST = ["train.device=cpu", "train.progress=false", "train.log_every=1000"]


def test_metrics_equal_hand_computed_values():
    truth = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3]
    pred = [0, 0, 1, 1, 2, 2, 2, 2, 0, 3]
    m = confusion(truth, pred, 5)  # class 4 appears nowhere
    assert m.tolist() == [[2, 1, 0, 0, 0], [0, 1, 1, 0, 0], [1, 0, 3, 0, 0], [0, 0, 0, 1, 0], [0] * 5]
    assert accuracy(m) == 7 / 10
    # class 0: tp 2, fp 1, fn 1 -> 4/6; class 1: tp 1, fp 1, fn 1 -> 2/4; class 2: tp 3, fp 1, fn 1 -> 6/8;
    # class 3: 1; class 4 has no example and no prediction: left out of the mean
    assert np.allclose(per_class_f1(m), [4 / 6, 2 / 4, 6 / 8, 1.0, 0.0])
    assert macro_f1(m) == pytest.approx((4 / 6 + 2 / 4 + 6 / 8 + 1.0) / 4)
    assert accuracy(confusion([], [], 2)) == 0.0 and macro_f1(confusion([], [], 2)) == 0.0


def test_a_bag_of_words_cannot_tell_the_clauses_apart():
    texts, labels = reviews(400, seed=3)
    assert reviews(400, seed=3) == (texts, labels)
    contrast = [(t, y) for t, y in zip(texts, labels, strict=True) if " but " in t]
    assert 0.4 < len(contrast) / len(texts) < 0.6 and set(labels) == {"negative", "positive"}
    assert bag_of_words_ceiling(texts) == pytest.approx(1 - len(contrast) / 800)
    held_out = reviews(100, seed=4, exclude=frozenset(texts))[0]
    assert not set(held_out) & set(texts)


@pytest.fixture(scope="module")
def reviews_run(tmp_path_factory):
    """The demo recipe on 800 reviews, 3 epochs: a few seconds on one core."""
    run = tmp_path_factory.mktemp("reviews")
    cfg = load_config("classify/demo", [*FAST, "data.generated_train=800", "data.generated_valid=300",
                                        f"train.out_dir={run}"])  # fmt: skip
    return run, Trainer.from_config(cfg).fit()


def test_the_demo_learns_the_reviews_beyond_any_bag_of_words(reviews_run):
    """At least 95% of 300 unseen reviews, where no bag of words can expect more than about 65%."""
    from seq2seq.api import load

    tmp_path, summary = reviews_run
    scores = json.loads((tmp_path / "valid_scores.json").read_text())
    assert summary["best"] >= 0.95 and scores["accuracy"] >= 0.95 and scores["macro_f1"] >= 0.95, scores
    model = load(tmp_path / "best.pt", "cpu")
    valid = model.task.read_text("valid")[0]
    assert bag_of_words_ceiling(valid) < 0.7
    assert model.classify("the film was not good")[0] == "negative"
    assert [y for y, _ in model.classify(["the room was good but awful", "the room was awful but good"])] == [
        "negative", "positive"]  # fmt: skip
    assert (tmp_path / "confusion.png").stat().st_size > 1000 and scores["confusion"] and len(scores["labels"]) == 2


def test_classify_cli_prints_label_and_probability_per_line_as_the_api(reviews_run, tmp_path, capsys):
    from seq2seq.api import load
    from seq2seq.cli import main

    ckpt = str(reviews_run[0] / "best.pt")
    lines = ["the film was not good", "the book was boring but lovely", "the trip was not bad"]
    (tmp_path / "in.txt").write_text("\n".join([lines[0], "", *lines[1:]]) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["classify", str(tmp_path / "in.txt"), "-m", ckpt, "--device", "cpu"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    expected = load(ckpt, "cpu").classify(lines)
    assert [(y, float(p), t) for y, p, t in rows] == [(y, pytest.approx(p, abs=1e-4), t)
                                                      for t, (y, p) in zip(lines, expected, strict=True)]  # fmt: skip
    assert [y for y, _, _ in rows] == ["negative", "positive", "positive"]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: (d / "empty.txt").write_text("\n \n"), "empty.txt: empty; give one text per line"),
        (lambda d: np.save(d / "x.npy", np.zeros((3, 4))), "x.npy: a feature file, but the model classifies text"),
        (lambda d: None, "missing.txt: no such file"),
    ],
)
def test_classify_cli_bad_inputs(reviews_run, tmp_path, capsys, make, message):
    from seq2seq.cli import main

    make(tmp_path)
    name = message.split(":")[0]
    capsys.readouterr()
    assert main(["classify", str(tmp_path / name), "-m", str(reviews_run[0] / "best.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_classify_api_refuses_empty_text(reviews_run):
    from seq2seq.api import load
    from seq2seq.errors import UserError

    with pytest.raises(UserError, match="input 2: the model classifies non-empty text"):
        load(reviews_run[0] / "best.pt", "cpu").classify(["good", "  "])


# -- labelled files ----------------------------------------------------------------------------
def test_labelled_files_csv_and_tsv(tmp_path):
    csv = tmp_path / "a.csv"
    csv.write_text('id,label,text\n1,pos,"good, really"\n\n2,neg,bad\n', encoding="utf-8")
    assert read_labelled(csv) == (["good, really", "bad"], ["pos", "neg"])
    tsv = tmp_path / "a.tsv"
    tsv.write_text("pos\tgood\tand more\nneg\tbad\n", encoding="utf-8")
    assert read_labelled(tsv) == (["good\tand more", "bad"], ["pos", "neg"])
    headed = tmp_path / "b.txt"
    headed.write_text("text\tlabel\ngood\tpos\n", encoding="utf-8")
    assert read_labelled(headed) == (["good"], ["pos"])


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("e.csv", "", "e.csv: empty file"),
        ("e.tsv", "\n\n", "e.tsv: empty file"),
        ("x.json", '{"text": "a"}', "unknown labelled-file format '.json'"),
        ("h.csv", "sentence,label\na,b\n", "h.csv:1: header"),
        ("h2.csv", "text,label\n", "a header but no examples"),
        ("f.tsv", "pos\tgood\nneg\n", "f.tsv:2: expected a label and a text, got 1 field"),
        ("t.tsv", "pos\t  \n", "t.tsv:1: empty text"),
        ("u.csv", b"text,label\n\xff,b\n", "line 2: not valid UTF-8"),
    ],
)
def test_bad_labelled_files(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    with pytest.raises(ClassifyDataError if name != "u.csv" else Exception, match=message):
        read_labelled(path)


def file_recipe(tmp_path, train: str, valid: str):
    (tmp_path / "train.csv").write_text(train, encoding="utf-8")
    (tmp_path / "valid.csv").write_text(valid, encoding="utf-8")
    return load_config("classify/demo", [*FAST, "data.source=files", f"data.train={tmp_path / 'train.csv'}",
                                         f"data.valid={tmp_path / 'valid.csv'}", "data.vocab_size=30",
                                         f"train.out_dir={tmp_path / 'run'}", "train.epochs=1"])  # fmt: skip


def test_files_train_with_subwords_and_refuse_unknown_valid_labels(tmp_path):
    texts, labels = reviews(120, seed=5)
    rows = "text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(texts, labels, strict=True))
    cfg = file_recipe(tmp_path, rows, "text,label\nthe film was good,positive\n")
    trainer = Trainer.from_config(cfg)
    assert trainer.task.labels == ["negative", "positive"] and trainer.task.dims.input_vocab <= 30
    trainer.fit()
    assert (tmp_path / "run" / "confusion.png").is_file()
    bad = file_recipe(tmp_path, rows, "text,label\nthe film was good,neutral\n")
    with pytest.raises(ClassifyDataError, match="valid.csv: label\\(s\\) 'neutral' never occur in the training"):
        Trainer.from_config(bad)


def test_a_files_recipe_names_its_files():
    with pytest.raises(ConfigError, match="needs data.train and data.valid"):
        load_config("classify/demo", ["data.source=files"])
    with pytest.raises(ConfigError, match="model.kind"):
        load_config("classify/demo", ["model.kind=tagger"])


# -- action segments of a video layout ------------------------------------------------------------
def test_segments_are_the_runs_of_one_label():
    feats = np.arange(14, dtype=np.float32).reshape(7, 2)
    clips = segments("v", feats, np.array([0, 0, 1, 1, 1, 0, 2]), skip={0})
    assert [(c.start, c.end, c.label) for c in clips] == [(2, 5, 1), (6, 7, 2)]
    assert clips[0].features.tolist() == feats[2:5].tolist()


def video_recipe(tmp_path, *extra: str):
    root = video_layout(tmp_path / "layout", dim=5)
    return root, load_config("classify/demo", [
        *FAST, "data.source=video", f"data.root={root}", "data.train=train", "data.valid=valid",
        f"train.out_dir={tmp_path / 'run'}", "train.epochs=4", "train.batch_size=4", "train.lr=0.01",
        "model.pooling=mean", *extra,
    ])  # fmt: skip


def test_video_segments_are_classified_and_the_cli_labels_feature_files(tmp_path, capsys):
    """Each video of the layout has a background, a reach and a grasp third: two examples each
    (background skipped), told apart by their first feature."""
    root, cfg = video_recipe(tmp_path)
    trainer = Trainer.from_config(cfg)
    task = trainer.task
    assert task.labels == ["reach", "grasp"] and task.dims.input_dim == 5
    assert len(task.dataset()) == 8 and len(task.examples_of("valid")) == 4
    summary = trainer.fit()
    assert summary["best"] == 1.0
    capsys.readouterr()
    from seq2seq.cli import main

    clip = tmp_path / "clip.npy"
    feats = np.load(root / "features" / "v5.npy")
    labels = (root / "groundTruth" / "v5.txt").read_text().split()
    grasp = [t for t, y in enumerate(labels) if y == "grasp"]
    np.save(clip, feats[:, grasp])
    assert main(["classify", str(clip), "-m", str(tmp_path / "run" / "best.pt"), "--device", "cpu"]) == 0
    name, label, p = capsys.readouterr().out.strip().split("\t")
    assert (name, label) == ("clip", "grasp") and 0.5 < float(p) <= 1.0
    np.save(clip, feats[:3])
    assert main(["classify", str(clip), "-m", str(tmp_path / "run" / "best.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "clip.npy: has shape (3, 65)" in err[0] and "takes (5, T)" in err[0], err
    # scoring the layout again with another mapping is refused rather than read with shifted classes
    from seq2seq.api import load

    (root / "mapping.txt").write_text("0 background\n1 grasp\n2 reach\n")
    with pytest.raises(LayoutError, match="its labels \\(grasp, reach\\) are not the model's \\(reach, grasp\\)"):
        load(tmp_path / "run" / "best.pt", "cpu").evaluate()


def test_video_source_bad_layouts(tmp_path):
    _, cfg = video_recipe(tmp_path, "data.skip=fetch")
    with pytest.raises(ConfigError, match="data.skip: fetch not in"):
        Trainer.from_config(cfg)
    _, cfg = video_recipe(tmp_path, "data.train=nothing")
    with pytest.raises(LayoutError, match="no such split bundle"):
        Trainer.from_config(cfg)


def test_balanced_class_weights_are_inverse_class_shares(tmp_path):
    from seq2seq.registry import make_task

    rows = "label\ttext\n" + "a\tthe film was good\n" * 3 + "b\tthe film was bad\n"
    (tmp_path / "t.tsv").write_text(rows, encoding="utf-8")
    cfg = load_config("classify/demo", [*FAST, "data.source=files", f"data.train={tmp_path / 't.tsv'}",
                                        f"data.valid={tmp_path / 't.tsv'}", "data.vocab_size=30",
                                        "data.class_weights=balanced"])  # fmt: skip
    task = make_task(cfg)
    task.prepare()
    assert task.labels == ["a", "b"]
    assert task.weights.tolist() == pytest.approx([4 / 3 / 2, 4 / 1 / 2])  # n / count / classes
