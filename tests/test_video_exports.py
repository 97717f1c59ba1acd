"""Label files exported by annotation tools (ELAN .eaf, CVAT for video 1.1 .xml, VIA 3 .json),
beside the clip like NAME.csv: read through ``extract-features`` on a generated clip, they give
the frame labels its own CSV gives; each malformed file is a one-line error naming it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from seq2seq.cli import main
from seq2seq.video.exports import read_export
from seq2seq.video.layout import LayoutError, read_frame_labels, read_segments
from seq2seq.video.synth import write_clip

EXTRACT = ["--backbone", "resnet18", "--weights", "none", "--size", "32", "--fps", "5", "--device", "cpu"]


def eaf(segments: list[tuple[float, float, str]], tiers: tuple[str, ...] = ("phase",), origin_ms: int = 0) -> str:
    """An ELAN file with the same segments (seconds) on each tier, plus an empty tier."""
    slots, tier_xml = [], []
    for tier in tiers:
        annotations = []
        for start, end, label in segments:
            a, b = f"ts{len(slots) + 1}", f"ts{len(slots) + 2}"
            slots += [(a, round(start * 1000) - origin_ms), (b, round(end * 1000) - origin_ms)]
            annotations.append(
                f'<ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a{len(slots)}" TIME_SLOT_REF1="{a}" '
                f'TIME_SLOT_REF2="{b}"><ANNOTATION_VALUE>{label}</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>'
            )
        tier_xml.append(f'<TIER LINGUISTIC_TYPE_REF="default-lt" TIER_ID="{tier}">{"".join(annotations)}</TIER>')
    order = "".join(f'<TIME_SLOT TIME_SLOT_ID="{i}" TIME_VALUE="{v}"/>' for i, v in slots)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<ANNOTATION_DOCUMENT AUTHOR="" FORMAT="3.0" VERSION="3.0">'
        f'<HEADER MEDIA_FILE="" TIME_UNITS="milliseconds"><MEDIA_DESCRIPTOR MEDIA_URL="file:///c.mp4" '
        f'MIME_TYPE="video/mp4" TIME_ORIGIN="{origin_ms}"/></HEADER><TIME_ORDER>{order}</TIME_ORDER>'
        f'{"".join(tier_xml)}<TIER LINGUISTIC_TYPE_REF="default-lt" TIER_ID="default"/></ANNOTATION_DOCUMENT>'
    )


def cvat(runs: list[tuple[int, int, str]], frames: int, tag_label: str = "") -> str:
    """A CVAT for video 1.1 export: each run (frames, end exclusive) as a track, with a box on its
    first frame and outside="1" after its last (as CVAT writes a keyframed track), except
    ``tag_label``'s runs, which become one <tag> per frame."""
    body = []
    for n, (start, end, label) in enumerate(runs):
        if label == tag_label:
            body += [f'<tag frame="{f}" label="{label}" source="manual"/>' for f in range(start, end)]
            continue
        box = 'xtl="1" ytl="1" xbr="9" ybr="9" occluded="0" keyframe="1" z_order="0"'
        shapes = f'<box frame="{start}" outside="0" {box}><attribute name="x">y</attribute></box>'
        if end < frames:
            shapes += f'<box frame="{end}" outside="1" {box}/>'
        body.append(f'<track id="{n}" label="{label}" source="manual">{shapes}</track>')
    meta = (f"<meta><task><id>1</id><size>{frames}</size><mode>interpolation</mode><start_frame>0</start_frame>"
            f"<stop_frame>{frames - 1}</stop_frame><frame_filter></frame_filter></task></meta>")  # fmt: skip
    return f'<?xml version="1.0"?>\n<annotations><version>1.1</version>{meta}{"".join(body)}</annotations>'


def via(segments: list[tuple[float, float, str]], fname: str = "v.mp4", extra_files: tuple[str, ...] = ()) -> dict:
    """A VIA 3 project: the segments as temporal segments of an attribute with options, plus a
    spatial region at one time (ignored)."""
    names = sorted({label for _, _, label in segments})
    attribute = {"1": {"aname": "activity", "anchor_id": "FILE1_Z2_XY0", "type": 4, "desc": "",
                       "options": {str(i): n for i, n in enumerate(names)}, "default_option_id": ""}}  # fmt: skip
    files = {str(i + 1): {"fid": str(i + 1), "fname": f, "type": 4, "loc": 1, "src": ""}
             for i, f in enumerate((fname, *extra_files))}  # fmt: skip
    metadata = {f"1_s{n}": {"vid": "1", "flg": 0, "z": [start, end], "xy": [], "av": {"1": str(names.index(label))}}
                for n, (start, end, label) in enumerate(segments)}  # fmt: skip
    metadata["1_region"] = {"vid": "1", "flg": 0, "z": [1.0], "xy": [2, 1, 1, 5, 5], "av": {}}
    return {"project": {"pid": "__VIA_PROJECT_ID__", "vid_list": ["1"]}, "config": {}, "attribute": attribute,
            "file": files, "view": {"1": {"fid_list": ["1"]}}, "metadata": metadata}  # fmt: skip


def runs_of(labels: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, label) runs of a per-frame label list, end exclusive."""
    out: list[tuple[int, int, str]] = []
    for i, label in enumerate(labels):
        if out and out[-1][2] == label:
            out[-1] = (out[-1][0], i + 1, label)
        else:
            out.append((i, i + 1, label))
    return out


def test_annotation_tool_exports_give_the_clips_own_labels(tmp_path, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    clip = write_clip(clips / "ref.mp4", seed=1, size=32, fps=10)
    _, segs = read_segments(clip.segments)
    # the tools' files leave background out: time no segment covers is background, as for a CSV
    seconds = [(s.start, s.end, s.label) for s in segs if s.label != "background"]
    frames = [r for r in runs_of(read_frame_labels(clip.frame_labels)) if r[2] != "background"]
    for name in ("e", "k", "v"):
        shutil.copy(clip.video, clips / f"{name}.mp4")
    # ELAN with two tiers: --tier names one (and VIA's attribute of that name; CVAT has no tiers)
    (clips / "e.eaf").write_text(eaf(seconds, tiers=("hands", "activity"), origin_ms=500))
    (clips / "k.xml").write_text(cvat(frames, len(clip.labels), tag_label="appear"))
    (clips / "v.json").write_text(json.dumps(via(seconds)))
    data = tmp_path / "data"
    assert main(["extract-features", str(clips), "-o", str(data), "--tier", "activity", *EXTRACT]) == 0
    assert "warning" not in capsys.readouterr().err
    truth = read_frame_labels(data / "groundTruth" / "ref.txt")
    assert len(set(truth)) == 5
    for name in ("e", "k", "v"):
        assert read_frame_labels(data / "groundTruth" / f"{name}.txt") == truth, name


def bad(path: Path, text: str, *parts: str, tier: str | None = None) -> None:
    path.write_text(text)
    with pytest.raises(LayoutError) as e:
        read_export(path, tier)
    message = str(e.value)
    assert "\n" not in message and message.startswith(str(path)), message
    for part in parts:
        assert part in message, message


def test_malformed_exports_are_one_line_errors_naming_the_file(tmp_path):
    e, k, v = tmp_path / "c.eaf", tmp_path / "c.xml", tmp_path / "c.json"
    two = [(0.5, 1.0, "pour"), (1.0, 2.0, "stir")]
    bad(e, "<ANNOTATION_DOCUMENT><TIER", "not well-formed XML")
    bad(e, "<html/>", "root element <html>, expected <ANNOTATION_DOCUMENT>")
    bad(e, eaf([], tiers=()), "no tier has time segments: nothing labels any frame")
    bad(e, eaf(two), "no tier 'x' with time segments (--tier); it has 'phase' (2 segments)", tier="x")
    two_tiers = "2 tiers with time segments ('phase' (2 segments), 'hands' (2 segments)); name one with --tier NAME"
    bad(e, eaf(two, tiers=("phase", "hands")), two_tiers)
    bad(e, eaf(two).replace('TIME_VALUE="500"', ""), "not time-aligned (slot ts1 has no TIME_VALUE)")
    bad(e, eaf([(0.5, 1.5, "pour"), (1.0, 2.0, "stir")]), "segments 'pour' (0.5-1.5) and 'stir' (1-2 s) overlap")
    bad(e, eaf([(0.5, 1.0, "")]), "has an empty label")
    bad(k, cvat([], 10), "no <tag> and no visible <track> shapes")
    bad(k, cvat([(0, 4, "pour")], 10).replace('frame="0"', 'frame="x"'), "<box> has frame='x'")
    bad(k, cvat([(0, 4, "pour"), (2, 6, "stir")], 10), "segments 'pour' (0-4) and 'stir' (2-6 frames) overlap")
    bad(k, "<annotations><track", "not well-formed XML")
    bad(v, "{", "not a JSON file")
    bad(v, '{"project": {}}', "no 'metadata' object: not a VIA 3 project")
    project = via(two)
    project["metadata"]["1_s0"]["av"]["1"] = "7"
    bad(v, json.dumps(project), "attribute 'activity' is '7'; expected one of its option ids (0=pour, 1=stir)")
    project = via(two)
    project["attribute"]["2"] = {"aname": "hand", "type": 1}
    project["metadata"]["1_s1"]["av"]["2"] = "left"
    bad(v, json.dumps(project), "2 attributes with time segments ('activity' (2 segments), 'hand' (1 segments))")
    assert [s.label for s in read_export(v, "hand")[1]] == ["left"]  # a text attribute: its value is the label
    bad(
        v,
        json.dumps(via(two, fname="a.mp4", extra_files=("b.mp4",))),
        "has 2 files (a.mp4, b.mp4) and none is named 'c'",
    )
    v.write_text(json.dumps(via(two, fname="c.mp4", extra_files=("b.mp4",))))  # the file named like the clip
    assert [s.label for s in read_export(v)[1]] == ["pour", "stir"]
    bad(v, json.dumps(via([(0.5, 1.5, "pour"), (1.0, 2.0, "stir")])), "'pour' (0.5-1.5) and 'stir' (1-2 s) overlap")


def test_cvat_frame_step_job_meta_and_per_frame_tracks(tmp_path):
    """A job export with frame_filter step=2 (each tag labels its 2 frames), a track written on
    every frame as CVAT dumps interpolated tracks (visible while outside="0"), and a track still
    visible at the end (up to stop_frame)."""
    box = 'xtl="1" ytl="1" xbr="9" ybr="9" occluded="0" keyframe="0"'
    shapes = "".join(f'<box frame="{f}" outside="{int(f == 9)}" {box}/>' for f in range(6, 10))
    path = tmp_path / "c.xml"
    path.write_text(
        "<annotations><version>1.1</version><meta><job><stop_frame>13</stop_frame><frame_filter>step=2"
        '</frame_filter></job></meta><tag frame="0" label="pour"/><tag frame="2" label="pour"/>'
        f'<track id="0" label="stir">{shapes}</track>'
        f'<track id="1" label="wipe"><polygon frame="11" outside="0" points="1,1;5,5;1,5"/></track></annotations>'
    )
    unit, segs = read_export(path)
    assert unit == "frames" and [(s.start, s.end, s.label) for s in segs] == [
        (0, 4, "pour"),
        (6, 9, "stir"),
        (11, 14, "wipe"),
    ]


def test_other_xml_and_json_files_beside_a_clip_are_not_label_files(tmp_path):
    from seq2seq.video.layout import find_label_file

    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"")
    (tmp_path / "c.xml").write_text('<?xml version="1.0"?>\n<!-- a player -->\n<playlist><item/></playlist>')
    (tmp_path / "c.json").write_text('{"fps": 30, "duration": 4.0}')
    assert find_label_file(clip) is None  # the clip counts as unlabelled, it does not fail
    (tmp_path / "c.json").write_text(json.dumps(via([(0.5, 1.0, "pour")], fname="c.mp4")))
    assert find_label_file(clip) == tmp_path / "c.json"
    (tmp_path / "c.xml").write_text('<?xml version="1.0"?>\n<annotations><version>1.1</version></annotations>')
    assert find_label_file(clip) == tmp_path / "c.xml"  # looked for before .json
