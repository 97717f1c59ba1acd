"""Caption files in the standard formats, on small fixtures written here, and their bad inputs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from seq2seq.caption.formats import CaptionFileError, CaptionItem, read_captions
from seq2seq.errors import UserError


def touch(folder: Path, *names: str) -> Path:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"")
    return folder


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


COCO = {
    "images": [{"id": 7, "file_name": "b.jpg"}, {"id": 3, "file_name": "a.jpg"}, {"id": 9, "file_name": "none.jpg"}],
    "annotations": [
        {"id": 1, "image_id": 3, "caption": "A dog  runs.\n"},
        {"id": 2, "image_id": 7, "caption": "a cat sleeps"},
        {"id": 3, "image_id": 3, "caption": "a brown dog running"},
    ],
}


def test_coco_captions_json(tmp_path):
    images = touch(tmp_path / "val2014", "a.jpg", "b.jpg")
    path = write_json(tmp_path / "annotations" / "captions_val2014.json", COCO)
    items = read_captions(path, media_root=images)
    # the order of 'images'; the image without annotations is skipped; whitespace is made single
    assert items == [
        CaptionItem(images / "b.jpg", ("a cat sleeps",), "valid"),
        CaptionItem(images / "a.jpg", ("A dog runs.", "a brown dog running"), "valid"),
    ]
    # a file name without a split needs the split argument, which also comes before the name
    other = write_json(images / "caps.json", COCO)
    assert {i.split for i in read_captions(other, split="train")} == {"train"}
    assert read_captions(path, fmt="coco", media_root=images, split="test")[0].split == "test"
    with pytest.raises(CaptionFileError, match=r"caps.json: no split in its entries or its name; pass split="):
        read_captions(other)
    # gzipped, read the same
    gz = tmp_path / "annotations" / "captions_train2014.json.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert [i.captions for i in read_captions(gz, media_root=images)] == [i.captions for i in items]


def test_karpathy_split_json(tmp_path):
    touch(tmp_path, "val2014/v.jpg", "train2014/t.jpg", "f.jpg")
    data = {
        "dataset": "coco",
        "images": [
            {"filepath": "val2014", "filename": "v.jpg", "split": "restval",
             "sentences": [{"raw": "A man rides a horse.", "tokens": ["a", "man"]}, {"tokens": ["a", "rider"]}]},
            {"filepath": "train2014", "filename": "t.jpg", "split": "val", "sentences": [{"raw": "two birds"}]},
            {"filename": "f.jpg", "split": "test", "sentences": [{"raw": "a child"}]},
        ],
    }  # fmt: skip
    items = read_captions(write_json(tmp_path / "dataset_coco.json", data))
    assert items == [
        CaptionItem(tmp_path / "val2014/v.jpg", ("A man rides a horse.", "a rider"), "train"),  # restval: train
        CaptionItem(tmp_path / "train2014/t.jpg", ("two birds",), "valid"),
        CaptionItem(tmp_path / "f.jpg", ("a child",), "test"),  # Flickr: no filepath
    ]
    with pytest.raises(CaptionFileError, match=r"images\[0\] \(v.jpg\) sentences\[0\]: names its own split 'train'"):
        read_captions(tmp_path / "dataset_coco.json", split="train")


def test_msrvtt_videodatainfo_json(tmp_path):
    touch(tmp_path / "clips", "video0.mp4", "video1.avi")
    data = {
        "videos": [
            {"video_id": "video0", "start time": 137.72, "end time": 149.44, "split": "train", "id": 0},
            {"video_id": "video1", "start time": 184.33, "end time": 206.89, "split": "validate", "id": 1},
        ],
        "sentences": [
            {"caption": "a car is shown", "video_id": "video1", "sen_id": 0},
            {"caption": "a man talks", "video_id": "video0", "sen_id": 1},
            {"caption": "someone is talking", "video_id": "video0", "sen_id": 2},
        ],
    }
    items = read_captions(write_json(tmp_path / "videodatainfo_2017.json", data), media_root=tmp_path / "clips")
    assert items == [
        CaptionItem(tmp_path / "clips/video0.mp4", ("a man talks", "someone is talking"), "train"),
        CaptionItem(tmp_path / "clips/video1.avi", ("a car is shown",), "valid"),  # the clips are cut: no times
    ]


MSVD = """VideoID,Start,End,WorkerID,Source,AnnotationTime,Language,Description
mv89psg6zh4,33,46,1,clean,19,English,A bird is bathing in a sink.
mv89psg6zh4,33,46,2,clean,10,Spanish,Un pajaro se bana.
mv89psg6zh4,33,46,3,unverified,8,English,"A bird splashes, in water."
ZbzDGXEwtGc,6,15,4,clean,12,English,A man is cutting a cucumber.
"""


def test_msvd_csv_with_clip_ids_and_times(tmp_path):
    # one clip cut as MSVD's YouTubeClips are named, one kept whole: then the item carries the times
    touch(tmp_path, "mv89psg6zh4_33_46.avi", "ZbzDGXEwtGc.mp4")
    path = tmp_path / "MSR Video Description Corpus.csv"
    path.write_text(MSVD, encoding="utf-8")
    items = read_captions(path, split="train")
    assert items == [
        CaptionItem(tmp_path / "mv89psg6zh4_33_46.avi", ("A bird is bathing in a sink.", "A bird splashes, in water."),
                    "train"),  # English rows only, quoted commas kept
        CaptionItem(tmp_path / "ZbzDGXEwtGc.mp4", ("A man is cutting a cucumber.",), "train", 6.0, 15.0),
    ]  # fmt: skip
    # MSR-VTT's CSVs: a clip id without times, and a split column
    touch(tmp_path, "video7.mp4")
    (tmp_path / "msrvtt.csv").write_text("key,vid_key,video_id,sentence,split\nret0,msr7,video7,a cartoon,test\n")
    assert read_captions(tmp_path / "msrvtt.csv") == [CaptionItem(tmp_path / "video7.mp4", ("a cartoon",), "test")]


def test_plain_tsv_and_csv_of_media_and_caption(tmp_path):
    touch(tmp_path / "img", "x.png", "y.png")
    tsv = tmp_path / "train.tsv"
    tsv.write_text("img/x.png\ta red square\nimg/y.png\ta blue\tcircle\n\nimg/x.png\tthe square is red\n")
    assert read_captions(tsv) == [  # the split from the file name; a tab inside the caption is a space
        CaptionItem(tmp_path / "img/x.png", ("a red square", "the square is red"), "train"),
        CaptionItem(tmp_path / "img/y.png", ("a blue circle",), "train"),
    ]
    headed = tmp_path / "mine.tsv"
    headed.write_text("media\tcaption\tsplit\nimg/x.png\ta red square\tdev\n")
    assert read_captions(headed) == [CaptionItem(tmp_path / "img/x.png", ("a red square",), "valid")]
    csv = tmp_path / "mine.csv"
    csv.write_text('caption,file\n"a red, square",x.png\n')
    assert read_captions(csv, media_root=tmp_path / "img", split="test") == [
        CaptionItem(tmp_path / "img/x.png", ("a red, square",), "test")
    ]
    # a spreadsheet's cell with a line break: one caption, its words kept apart
    csv.write_text('caption,file\n"a red\nsquare",x.png\n')
    assert read_captions(csv, media_root=tmp_path / "img", split="test") == [
        CaptionItem(tmp_path / "img/x.png", ("a red square",), "test")
    ]


def test_jsonl(tmp_path):
    touch(tmp_path, "c.mp4")
    path = tmp_path / "clips.jsonl"
    lines = [{"media": "c.mp4", "captions": ["a b", "c d"], "split": "train", "plan": []},
             {"media": "c.mp4", "caption": "e f", "start": 1, "end": 2.5, "split": "test"}]  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert read_captions(path) == [
        CaptionItem(tmp_path / "c.mp4", ("a b", "c d"), "train"),
        CaptionItem(tmp_path / "c.mp4", ("e f",), "test", 1.0, 2.5),
    ]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("captions_train.json", "{not json", r"captions_train.json: not JSON \(.* line 1 column 2\)"),
        ("captions_train.json", "[1]", r"not a JSON object at the top \(found a list\)"),
        ("captions_train.json", {"images": [{"id": 1}], "annotations": []}, r"images\[0\]: no key 'file_name'"),
        ("captions_train.json", {"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 1}]},
         r"annotations\[0\]: no key 'caption'"),
        ("captions_train.json", {"images": [{"id": 1, "file_name": "a.jpg"}],
                                 "annotations": [{"image_id": 1, "caption": "x"}, {"image_id": 5, "caption": "y"}]},
         r"annotations\[1\] names image id 5, which is not in 'images'"),
        ("captions_train.json", {"images": [{"id": 1, "file_name": "a.jpg"}],
                                 "annotations": [{"image_id": 1, "caption": " \n"}]},
         r"annotations\[0\] \(image id 1\): empty caption"),
        ("captions_train.json", {"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"},
                                            {"id": 3, "file_name": "c.jpg"}],
                                 "annotations": [{"image_id": i, "caption": "x"} for i in (1, 2, 3)]},
         r"2 of 3 media file\(s\) do not exist under .*; the first: .*b.jpg \(annotations\[1\] \(image id 2\)\); "
         r"set data.media_root \(--set data.media_root=FOLDER\)"),
        ("data.json", {"images": [{"filename": "a.jpg", "split": "train", "sentences": [{"tokens": []}]}]},
         r"images\[0\] \(a.jpg\) sentences\[0\]: empty caption"),
        ("data.json", {"images": [{"filename": "a.jpg", "split": "holdout", "sentences": [{"raw": "x"}]}]},
         r"images\[0\] \(a.jpg\): unknown split 'holdout'; use train, restval, val\(id\) or test"),
        ("info.json", {"videos": [{"video_id": "v", "split": "train"}],
                       "sentences": [{"video_id": "w", "caption": "x"}]},
         r"sentences\[0\] names video id 'w', which is not in 'videos'"),
        ("info.json", {"captions": []}, r"a JSON object without 'annotations' \(COCO\), 'images'"),
        ("train.tsv", "a.jpg\tfine\na.jpg\t \n", r"train.tsv:2: empty caption"),
        ("train.tsv", "a.jpg\n", r"train.tsv:1: expected media<TAB>caption"),
        ("train.tsv", "", r"train.tsv: empty file"),
        ("train.csv", "image_id,text\n1,x\n", r"train.csv:1: the header \['image_id', 'text'\] names no caption"),
        ("train.csv", "VideoID,Start,End,Description\nv,1,x2,hi\n", r"train.csv:2: end 'x2' is not a number of sec"),
        ("train.csv", "video_id,caption,split\nv,a,train\nv,b,test\n",
         r"train.csv:3: split 'test' where .*train.csv:2 gave this media 'train'"),
        ("train.jsonl", '{"media": "a.jpg", "captions": ["x"]}\n{"media": "a.jpg"\n', r"train.jsonl:2: not JSON"),
        ("train.jsonl", '{"media": "a.jpg", "captions": []}\n', r"train.jsonl:1: no 'captions' list"),
        ("captions.xml", "<x/>", r"cannot tell the caption format from the suffix '.xml'"),
    ],
)  # fmt: skip
def test_bad_caption_files_are_one_line_errors(tmp_path, name, content, message):
    touch(tmp_path, "a.jpg", "v.mp4")
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    with pytest.raises(UserError, match=message) as e:
        read_captions(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_bad_arguments(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("a.jpg\tx\n")
    with pytest.raises(CaptionFileError, match=r"nothing.tsv: no such caption file"):
        read_captions(tmp_path / "nothing.tsv")
    with pytest.raises(CaptionFileError, match=r"unknown caption format 'yaml'; use one of auto, coco"):
        read_captions(path, fmt="yaml")
    with pytest.raises(CaptionFileError, match=r"media_root .*elsewhere is not a folder"):
        read_captions(path, media_root=tmp_path / "elsewhere")
    with pytest.raises(CaptionFileError, match=r"split argument: unknown split 'eval'"):
        read_captions(path, split="eval")


def test_a_relative_caption_file_missing_here_says_where_it_was_looked_for(tmp_path, monkeypatch):
    """A checkpoint keeps data.train as given: evaluate run from another folder looks for it there."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        CaptionFileError, match=r"photos/val.tsv: no such caption file in .*run from the folder training"
    ):
        read_captions("photos/val.tsv")
    with pytest.raises(CaptionFileError, match=r"val.tsv: no such caption file$"):
        read_captions(tmp_path / "val.tsv")


def test_a_split_column_without_its_header_is_refused_not_glued_to_the_caption(tmp_path):
    """'a.jpg<TAB>a cat<TAB>train' would read as the caption 'a cat train'; a tab inside a
    caption whose last field is no split's name stays in the caption."""
    touch(tmp_path, "a.jpg")
    (tmp_path / "train.tsv").write_text("a.jpg\ta cat\ttrain\n", encoding="utf-8")
    with pytest.raises(
        CaptionFileError, match=r"train.tsv:1: a third field 'train' is a split.*media<TAB>caption<TAB>split"
    ):
        read_captions(tmp_path / "train.tsv")
    (tmp_path / "train.tsv").write_text("a.jpg\ta cat\ton a mat\n", encoding="utf-8")
    assert read_captions(tmp_path / "train.tsv")[0].captions == ("a cat on a mat",)
    (tmp_path / "train.tsv").write_text("media\tcaption\tsplit\na.jpg\ta cat\tval\n", encoding="utf-8")
    assert read_captions(tmp_path / "train.tsv")[0].split == "valid"
