"""Video sub-commands: ``extract-features``, ``label``, and ``seq2seq evaluate`` for video checkpoints."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seq2seq.commands import Handler, add_device, writable_folder
from seq2seq.errors import UserError
from seq2seq.records import write_json
from seq2seq.video.decode import TIMEOUT, OpenError, clip_name, is_url, unique_names
from seq2seq.video.label import LabelError

COLUMNS = ("accuracy", "edit", "f1@10", "f1@25", "f1@50")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract-features", help="per-frame CNN features of clips, in the action-segmentation layout")
    p.add_argument("videos", nargs="+", help="clips or folders of clips")
    p.add_argument("-o", "--out", required=True, help="layout folder to write (features/, groundTruth/, ...)")
    p.add_argument(
        "--backbone", default="efficientnet_lite0", help="efficientnet_lite0 (default: ImageNet-pretrained, "
        "packaged, offline) or any torchvision classification model (resnet18, resnet50, ...)"
    )  # fmt: skip
    p.add_argument(
        "--weights", default="DEFAULT", help="DEFAULT (the backbone's pretrained weights: packaged for "
        "efficientnet_lite0, downloaded by torchvision otherwise), a torchvision weights name (IMAGENET1K_V1, ...), "
        "a local state-dict file, or none (random initialisation, seeded by --seed)"
    )  # fmt: skip
    p.add_argument("--fps", type=float, default=15.0, help="sampled frames per second (by timestamp)")
    p.add_argument(
        "--size", type=int, help="the backbone sees SIZE x SIZE pictures (default: what its weights were trained "
        "at, 224; smaller is faster)"
    )  # fmt: skip
    p.add_argument(
        "--crop", type=float, help="keep this fraction of the frame's shorter side, centred (default: as the weights "
        "were evaluated, 0.875; 1: the whole shorter side)"
    )  # fmt: skip
    p.add_argument("--batch-size", type=int, default=32, help="frames per backbone batch (bounds memory)")
    p.add_argument("--float16", action="store_true", help="store features as float16 (half the disk)")
    p.add_argument("--audio", action="store_true", help="append log-mel features of the sound track")
    p.add_argument("--n-mels", type=int, default=64, help="mel bands of the audio features (with --audio)")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed of a random backbone")
    p.add_argument("--labels", help="folder of label files NAME.txt / NAME.csv (default: beside each clip)")
    p.add_argument("--bundle", help="also write splits/BUNDLE.bundle listing these clips")
    p.add_argument("--overwrite", action="store_true", help="redo clips whose features exist")
    add_device(p)
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser(
        "label",
        help="label every frame of clips with a video checkpoint",
        description="Label every frame of clips, folders of clips, or URLs FFmpeg opens (rtsp://, http(s)://, "
        "udp://, tcp://, file://, ...). Outputs are named after the clip's file stem; for a URL after its last path "
        "part without extension, else its host and port (rtsp://cam/live -> live, udp://@:1234 -> udp-1234).",
    )
    p.add_argument("clips", nargs="+", help="clips, folders of clips, or URLs (a live stream needs --stream)")
    p.add_argument("-m", "--model", required=True, help="video checkpoint")
    p.add_argument("-o", "--out", default="labelled", help="output folder (default ./labelled)")
    p.add_argument("--annotate", help="write the clip with its labels drawn: OUT.mp4 for one clip, a folder for many")
    p.add_argument(
        "--stream", action="store_true", help="label as frames decode (causal model), print each segment as it "
        "closes; Ctrl-C keeps the outputs of the frames labelled so far"
    )  # fmt: skip
    p.add_argument(
        "--timeout", type=float, default=TIMEOUT, metavar="SECONDS",
        help=f"how long a URL may stay silent, when opening and at each read (default {TIMEOUT:g})",
    )  # fmt: skip
    p.add_argument("--truth", help="ground-truth label file (one clip) or folder of NAME.txt / NAME.csv")
    p.add_argument("--batch-size", type=int, default=32, help="frames per backbone batch (bounds memory)")
    add_device(p)
    p.set_defaults(func=cmd_label)


def cmd_extract(args: argparse.Namespace) -> int:
    from seq2seq.runtime import resolve_device
    from seq2seq.video.features import Extractor, extract, spec_for
    from seq2seq.video.label import expand_clips

    writable_folder(args.out, "-o")
    spec = spec_for(args.backbone, args.weights, args.size, args.fps, args.audio, args.n_mels, args.seed, args.crop)
    extractor = Extractor(spec, resolve_device(args.device), args.batch_size)
    labels = Path(args.labels) if args.labels else None
    report = extract(
        expand_clips(args.videos), Path(args.out), extractor, labels, args.float16, args.bundle, args.overwrite
    )
    print(
        f"extracted {len(report.done)} clips ({report.frames} frames, {report.fps:.1f} frames/s, "
        f"{spec.dim} features per frame); skipped {len(report.skipped)} already done; into {args.out}"
    )
    return _failures(report.failed, len(report.done) + len(report.skipped) + len(report.failed))


def _failures(failed: dict[str, str], total: int) -> int:
    if not failed:
        return 0
    print(f"{len(failed)} of {total} clips failed:", file=sys.stderr)
    for clip, why in failed.items():
        print(f"  {clip}: {why}", file=sys.stderr)
    return 1


def cmd_label(args: argparse.Namespace) -> int:
    from seq2seq.inference import load_model
    from seq2seq.video.label import Interrupted, Labeller, expand_clips
    from seq2seq.video.layout import find_label_file
    from seq2seq.video.metrics import Scores

    if args.timeout <= 0:
        raise LabelError(f"--timeout {args.timeout:g}: give a positive number of seconds")
    loaded = load_model(args.model, args.device, task="video", command="seq2seq label")
    labeller = Labeller(loaded, args.batch_size, args.timeout)
    if args.stream:
        labeller.check_stream()
    clips = expand_clips(args.clips)
    out = writable_folder(args.out, "-o")
    truth = Path(args.truth) if args.truth else None
    if truth is not None and truth.is_file() and len(clips) > 1:
        raise LabelError(f"--truth {truth}: one file for {len(clips)} clips; give a folder of NAME.txt / NAME.csv")
    if truth is not None and not truth.exists():
        raise LabelError(f"--truth {truth}: no such file or folder")
    annotate = Path(args.annotate) if args.annotate else None
    overall = Scores(background=frozenset(loaded.cfg.data.background))
    failed: dict[str, str] = {}
    names = unique_names(clips)  # clips of different folders with one file name get distinct outputs
    for clip, name in names.items():
        if name != clip_name(clip):
            print(f"{clip}: labelled as '{name}' (another clip has the name '{clip_name(clip)}')", file=sys.stderr)
    for clip in clips:
        name = names[clip]
        clip_truth = truth if (truth is not None and truth.is_file()) else None
        if truth is not None and truth.is_dir():
            clip_truth = find_label_file(clip, truth)
            if clip_truth is None:
                print(f"seq2seq: warning: --truth {truth}: no {clip_name(clip)}.txt or .csv for {clip}; it is "
                      "labelled without scores", file=sys.stderr)  # fmt: skip
        clip_annotate = None
        if annotate is not None:
            clip_annotate = annotate if len(clips) == 1 and annotate.suffix else annotate / f"{name}.annotated.mp4"
        shown = clip_name(clip) if is_url(clip) else clip.name

        def show(seg, shown=shown):
            print(f"{shown}  {seg.start:8.2f} - {seg.end:8.2f} s  {seg.label}  ({seg.confidence:.2f})", flush=True)

        try:
            result = labeller.label(
                clip, out, args.stream, clip_truth, clip_annotate, show if args.stream else None, name=name
            )
        except OpenError:
            raise  # a URL that cannot be opened is the user's to fix: one line, exit status 2
        except Interrupted as e:
            kept = e.result
            print(f"{clip}: interrupted after {len(kept.labels)} frames; kept {len(kept.segments)} segments:")
            for path in kept.outputs.values():
                print(f"  {path}")
            raise
        except (UserError, ValueError) as e:
            failed[str(clip)] = str(e)
            print(f"{clip}: failed: {e}", file=sys.stderr)
            continue
        line = f"{clip}: {len(result.labels)} frames, {len(result.segments)} segments -> {result.outputs['labels']}"
        if result.scores is not None:
            overall.add([labeller.task.labels[c] for c in result.labels], result.truth, name=name)
            line += "  " + "  ".join(f"{k} {result.scores[k]:.1f}" for k in COLUMNS)
        print(line)
        for what, path in result.outputs.items():
            if what != "labels":
                print(f"  {what}: {path}")
    if overall.frames and len(overall.edits) > 1:
        summary = overall.summary()
        print(f"overall ({len(overall.edits)} clips): " + "  ".join(f"{k} {summary[k]:.1f}" for k in COLUMNS))
    return _failures(failed, len(clips))


# -- seq2seq evaluate ------------------------------------------------------------------------
def evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="the layout folder to score (default: the checkpoint's data.root)")
    p.add_argument("--split", help="the split bundle to score (default: the checkpoint's data.valid)")
    p.add_argument("--json", metavar="OUT", help="also write the figures (per video, overall) as JSON")


def folds_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--folds", nargs="+", metavar="CKPT", required=True, help="cross-validation: each checkpoint scored on its "
        "own validation split; prints each fold, the mean over folds and the figures pooled over all videos"
    )  # fmt: skip
    evaluate_args(p)


def _table(title: str, per_video: dict[str, dict[str, float]], summary: dict[str, float]) -> None:
    width = max([len(title), 12] + [len(n) for n in per_video]) + 2
    print(f"{title:<{width}}{'frames':>8}" + "".join(f"{c:>10}" for c in COLUMNS))
    for name, row in per_video.items():
        print(f"{name:<{width}}{int(row['frames']):>8}" + "".join(f"{row[c]:>10.1f}" for c in COLUMNS))
    label = f"overall ({int(summary['videos'])} videos)"
    print(f"{label:<{width}}{int(summary['frames']):>8}" + "".join(f"{summary[c]:>10.1f}" for c in COLUMNS))


def _score_checkpoint(path: str, device: str, data: str | None, split: str | None):
    import dataclasses

    from seq2seq.inference import load_model
    from seq2seq.registry import make_task

    loaded = load_model(path, device, task="video", command="seq2seq evaluate")
    task = loaded.task
    if data:
        cfg = dataclasses.replace(loaded.cfg, data=dataclasses.replace(loaded.cfg.data, root=data))
        task = make_task(cfg)
        task.restore(loaded.task.state(), loaded.task.dims)
    scores, _ = task.score(loaded.model, task.videos(split or "valid"))
    return scores


def evaluate(args: argparse.Namespace) -> int:
    """Per-video and overall segmentation figures of video checkpoints (one, or one per fold)."""
    import numpy as np

    from seq2seq.video.metrics import Scores

    paths = list(getattr(args, "folds", None) or [args.model])
    report: dict = {"folds": {}}
    pooled: Scores | None = None
    for path in paths:
        scores = _score_checkpoint(path, args.device, args.data, args.split)
        summary = scores.summary()
        _table(f"{path}" if len(paths) > 1 else "video", scores.per_video, summary)
        print()
        report["folds"][path] = {"overall": summary, "videos": scores.per_video}
        if pooled is None:
            pooled = Scores(background=scores.background)
        pooled.merge(scores)
    if len(paths) > 1:
        means = {c: float(np.mean([f["overall"][c] for f in report["folds"].values()])) for c in COLUMNS}
        report["mean_over_folds"] = means
        report["pooled"] = pooled.summary()
        print(f"{'':<24}" + "".join(f"{c:>10}" for c in COLUMNS))
        print(f"{f'mean over {len(paths)} folds':<24}" + "".join(f"{means[c]:>10.1f}" for c in COLUMNS))
        pooled_summary = report["pooled"]
        label = f"pooled ({int(pooled_summary['videos'])} videos)"
        print(f"{label:<24}" + "".join(f"{pooled_summary[c]:>10.1f}" for c in COLUMNS))
    if args.json:
        write_json(args.json, report)
    return 0


EVALUATE = Handler(evaluate_args, evaluate, "accuracy, edit and F1@{10,25,50} per video and overall")
EVALUATE_FILES = {"--folds": Handler(folds_args, evaluate, "cross-validation: one checkpoint per fold")}
