"""`seq2seq label` on real generated clips: outputs, truth, annotation, streaming = offline, failures."""

from __future__ import annotations

import csv
import io
import json
import socket
import threading
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from seq2seq.cli import main
from seq2seq.inference import load_model
from seq2seq.registry import load_config
from seq2seq.trainer import Trainer
from seq2seq.video.features import Extraction, Extractor, extract
from seq2seq.video.label import Labeller
from seq2seq.video.synth import write_clip

REPO = Path(__file__).resolve().parents[1]


def train_small(clips: list, root: Path, causal: bool) -> Path:
    """A small tagger on features of ``clips``: enough to give labels, not to be right."""
    data = root / "data"
    if not (data / "extraction.json").exists():
        extractor = Extractor(Extraction(backbone="resnet18", weights="none", size=32, fps=5.0), torch.device("cpu"))
        extract([c.video for c in clips], data, extractor, bundle="train", progress=False)
        (data / "splits" / "valid.bundle").write_text((data / "splits" / "train.bundle").read_text())
    run = root / ("causal" if causal else "offline")
    cfg = load_config(
        "video/demo",
        [f"data.root={data}", f"train.out_dir={run}", "train.device=cpu", "train.progress=false", "train.epochs=2",
         "model.hidden_size=16", "model.embed_dim=16", f"model.bidirectional={not causal}",
         f"data.centre={not causal}"],
    )  # fmt: skip
    Trainer.from_config(cfg).fit()
    return run / "best.pt"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("label")
    clips = [write_clip(root / "clips" / f"clip{i}.mp4", seed=40 + i, size=48) for i in range(3)]
    return root, clips, train_small(clips, root, causal=True), train_small(clips, root, causal=False)


def test_streaming_agrees_with_offline_for_a_causal_model(setup, tmp_path, capsys):
    root, clips, causal, _ = setup
    loaded = load_model(causal, "cpu", task="video")
    labeller = Labeller(loaded, batch_size=7)  # batches that do not divide the clip
    closed = []
    offline = labeller.label(clips[0].video, tmp_path / "off", annotate=tmp_path / "off.mp4")
    streamed = labeller.label(
        clips[0].video, tmp_path / "on", stream=True, on_segment=closed.append, annotate=tmp_path / "on.mp4"
    )
    assert streamed.labels == offline.labels and len(offline.labels) > 20
    # both annotated at the clip's own rate: every source frame, the same label drawn on each
    pictures = [decoded(tmp_path / f"{which}.mp4") for which in ("off", "on")]
    assert len(pictures[0]) == len(clips[0].labels) > len(offline.labels)
    assert np.array_equal(np.stack(pictures[0]), np.stack(pictures[1]))
    assert [s.as_dict() for s in streamed.segments] == [s.as_dict() for s in offline.segments]
    assert closed == streamed.segments  # each segment reported as it closed
    a = list(csv.reader(open(offline.outputs["labels"])))
    b = list(csv.reader(open(streamed.outputs["labels"])))
    assert a[0] == ["frame", "time", "label", "confidence"] and len(a) == len(offline.labels) + 1
    for row_a, row_b in zip(a[1:], b[1:], strict=True):
        assert row_a[:3] == row_b[:3] and float(row_a[3]) == pytest.approx(float(row_b[3]), abs=1e-3)


def decoded(path: Path) -> list[np.ndarray]:
    """Every frame of a video file as an RGB array."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_label_cli_writes_outputs_and_survives_a_bad_clip(setup, tmp_path, capsys):
    root, clips, _, offline = setup
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clips[1].video.read_bytes()[:2000])
    out = tmp_path / "out"
    truth = root / "clips"
    args = ["label", str(clips[0].video), str(broken), str(clips[2].video), "-m", str(offline), "-o", str(out)]
    assert main([*args, "--truth", str(truth), "--device", "cpu"]) == 1
    captured = capsys.readouterr()
    assert "1 of 3 clips failed" in captured.err and "broken.mp4" in captured.err
    assert "overall (2 clips)" in captured.out
    for clip in (clips[0], clips[2]):
        name = clip.video.stem
        rows = list(csv.DictReader(open(out / f"{name}.labels.csv")))
        segments = json.loads((out / f"{name}.segments.json").read_text())["segments"]
        assert segments[0]["start_frame"] == 0 and segments[-1]["end_frame"] == len(rows)
        assert sum(s["end_frame"] - s["start_frame"] for s in segments) == len(rows)
        assert (out / f"{name}.timeline.png").stat().st_size > 1000
    assert not list(out.glob("broken*")) and not list(out.glob(".*"))

    # a folder of clips in one call, and the annotated copy of one clip: by default at the clip's own
    # rate (every decoded frame), or at the sampling rate
    annotated = tmp_path / "annotated.mp4"
    for rate in ("source", "sampled"):
        args = ["label", str(clips[2].video), "-m", str(offline), "-o", str(out), "--annotate", str(annotated)]
        assert main(args + ([] if rate == "source" else ["--annotate-rate", rate])) == 0
        with av.open(str(annotated)) as c:
            n = sum(1 for _ in c.decode(video=0))
            fps = float(c.streams.video[0].average_rate)
        sampled = len(list(csv.reader(open(out / "clip2.labels.csv")))) - 1
        if rate == "source":
            assert n == len(clips[2].labels) > sampled and fps == pytest.approx(clips[2].fps, rel=0.01)
        else:
            assert n == sampled and fps == pytest.approx(5.0, rel=0.01)
    assert main(["label", str(root / "clips"), "-m", str(offline), "-o", str(tmp_path / "all")]) == 0
    assert len(list((tmp_path / "all").glob("*.labels.csv"))) == 3


def test_truth_from_an_elan_file_with_tier_scores_as_its_csv(setup, tmp_path, capsys):
    from seq2seq.video.layout import read_segments
    from tests.test_video_exports import eaf

    root, clips, _, offline = setup
    segments = [(s.start, s.end, s.label) for s in read_segments(clips[0].segments)[1] if s.label != "background"]
    elan = tmp_path / "clip0.eaf"
    elan.write_text(eaf(segments, tiers=("hands", "phase")))
    args = ["label", str(clips[0].video), "-m", str(offline), "-o", str(tmp_path / "out")]
    assert main([*args, "--truth", str(clips[0].segments)]) == 0
    from_csv = capsys.readouterr().out.splitlines()[0]
    assert main([*args, "--truth", str(elan), "--tier", "phase"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == from_csv and "accuracy" in from_csv
    from seq2seq.api import load

    model = load(offline, "cpu")
    by_csv, by_elan = (model.label(clips[0].video, truth=clips[0].segments),
                       model.label(clips[0].video, truth=elan, tier="phase"))  # fmt: skip
    assert by_elan.scores == by_csv.scores and by_csv.scores["accuracy"] > 0


def test_label_refusals_are_one_line_errors(setup, tmp_path, capsys):
    root, clips, _, offline = setup
    assert main(["label", str(clips[0].video), "-m", str(offline), "--stream", "-o", str(tmp_path)]) == 2
    assert "--stream needs a causal tagger" in capsys.readouterr().err
    assert main(["label", str(clips[0].video), "-m", str(offline), "--timeout", "0", "-o", str(tmp_path)]) == 2
    assert "--timeout 0: give a positive number of seconds" in capsys.readouterr().err
    gtea_like = tmp_path / "plain"
    np.save(tmp_path / "x.npy", np.zeros(3))
    ckpt = torch.load(offline, weights_only=True)
    ckpt["task_state"]["extraction"] = None
    torch.save(ckpt, gtea_like)
    assert main(["label", str(clips[0].video), "-m", str(gtea_like), "-o", str(tmp_path)]) == 2
    assert "no extraction record" in capsys.readouterr().err


def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(open(path)))


def test_a_file_url_streams_to_the_same_labels_as_its_path(setup, tmp_path, capsys):
    root, clips, causal, offline = setup
    clip = clips[0].video
    url = clip.resolve().as_uri()  # file:///...: FFmpeg's file protocol, a real URL with no network
    assert url.startswith("file:///")
    assert main(["label", str(clip), "--stream", "-m", str(causal), "-o", str(tmp_path / "path")]) == 0
    capsys.readouterr()
    assert main(["label", url, "--stream", "-m", str(causal), "-o", str(tmp_path / "url"), "--timeout", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{clip.stem}  ") and "segments ->" in out  # segments printed as they close
    assert _rows(tmp_path / "url" / "clip0.labels.csv") == _rows(tmp_path / "path" / "clip0.labels.csv")
    by_url = json.loads((tmp_path / "url" / "clip0.segments.json").read_text())
    by_path = json.loads((tmp_path / "path" / "clip0.segments.json").read_text())
    assert by_url["clip"] == url and by_url["segments"] == by_path["segments"] and "stopped" not in by_url
    # offline (bidirectional) labelling reads a finite URL whole, like a file
    for name, clip_arg in (("off-path", str(clip)), ("off-url", url)):
        assert main(["label", clip_arg, "-m", str(offline), "-o", str(tmp_path / name)]) == 0
    assert _rows(tmp_path / "off-url" / "clip0.labels.csv") == _rows(tmp_path / "off-path" / "clip0.labels.csv")


def test_a_url_that_cannot_be_opened_is_a_one_line_error_that_writes_nothing(setup, tmp_path, capsys):
    root, clips, causal, _ = setup
    silent = socket.socket()  # accepts the connection, never sends a byte
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    port = silent.getsockname()[1]
    cases = {
        "tcp://127.0.0.1:9": "cannot open: Connection refused",
        "file:///no/such/dir/missing.mp4": "cannot open: No such file or directory",
        f"tcp://127.0.0.1:{port}": "cannot open: no answer within 0.3 s (--timeout)",
    }
    with silent:
        for url, why in cases.items():
            out = tmp_path / "out"
            args = ["label", url, "--stream", "-m", str(causal), "-o", str(out), "--timeout", "0.3"]
            assert main(args) == 2
            err = capsys.readouterr().err
            assert err == f"seq2seq: error: {url}: {why}\n"
            assert not out.exists()


def test_ctrl_c_while_streaming_keeps_the_frames_labelled_so_far(setup, tmp_path, capsys, monkeypatch):
    root, clips, causal, _ = setup
    url = clips[1].video.resolve().as_uri()
    full = tmp_path / "full"
    assert main(["label", url, "--stream", "-m", str(causal), "-o", str(full), "--batch-size", "7"]) == 0
    original = Labeller.probabilities

    def ctrl_c_after_three_batches(self, *args, **kwargs):
        for i, batch in enumerate(original(self, *args, **kwargs)):
            if i == 3:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(Labeller, "probabilities", ctrl_c_after_three_batches)
    out, annotated = tmp_path / "cut", tmp_path / "cut.mp4"
    args = ["label", url, "--stream", "-m", str(causal), "-o", str(out), "--batch-size", "7"]
    assert main([*args, "--annotate", str(annotated)]) == 130
    captured = capsys.readouterr()
    assert "interrupted after 21 frames" in captured.out and "seq2seq: interrupted" in captured.err
    rows = _rows(out / "clip1.labels.csv")
    assert rows == _rows(full / "clip1.labels.csv")[:22]  # header + the 21 frames of 3 batches
    kept = json.loads((out / "clip1.segments.json").read_text())
    assert kept["stopped"] == "interrupted (Ctrl-C)"
    segments = kept["segments"]
    assert segments[0]["start_frame"] == 0 and segments[-1]["end_frame"] == 21
    assert all(a["end_frame"] == b["start_frame"] for a, b in zip(segments[:-1], segments[1:], strict=True))
    whole = json.loads((full / "clip1.segments.json").read_text())["segments"]
    assert segments[:-1] == whole[: len(segments) - 1]  # closed segments are the full run's
    assert (out / "clip1.timeline.png").stat().st_size > 1000
    with av.open(str(annotated)) as c:  # at the source's rate: the decoded frames of the 21 samples' slots
        assert sum(1 for _ in c.decode(video=0)) == sum(int(t * 5.0 + 1e-6) < 21 for t in clips[1].times) > 21
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary files left behind


def test_a_live_stream_that_stalls_keeps_what_was_labelled(setup, tmp_path, capsys):
    """A TCP MPEG-TS stream that sends part of a clip and then goes silent: labelled up to the
    stall, stopped by the read timeout, outputs kept."""
    root, clips, causal, _ = setup
    clip = clips[2].video
    ts = io.BytesIO()
    with av.open(str(clip)) as src, av.open(ts, "w", format="mpegts") as dst:
        video = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = video
                dst.mux(packet)
    data = ts.getvalue()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    done = threading.Event()

    def serve():
        conn, _ = server.accept()
        with conn:
            conn.sendall(data[: len(data) * 2 // 3])
            done.wait(10)  # silent until the test ends

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    assert main(["label", str(clip), "--stream", "-m", str(causal), "-o", str(tmp_path / "file")]) == 0
    try:
        args = ["label", url, "--stream", "-m", str(causal), "-o", str(tmp_path / "live"), "--timeout", "0.5"]
        assert main([*args, "--batch-size", "4"]) == 1  # small batches: labels lag the stream by 4 frames
    finally:
        done.set()
        thread.join()
        server.close()
    err = capsys.readouterr().err
    assert f"{url}: no data for 0.5 s (--timeout)" in err and "kept the" in err
    port = url.rsplit(":", 1)[1]
    rows = _rows(tmp_path / "live" / f"127.0.0.1-{port}.labels.csv")
    whole = _rows(tmp_path / "file" / "clip2.labels.csv")
    assert 10 < len(rows) < len(whole) and rows == whole[: len(rows)]
