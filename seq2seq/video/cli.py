"""Video sub-commands: ``extract-features``, ``label``, and ``seq2seq evaluate`` for video checkpoints."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seq2seq.commands import Handler, add_device, warn, writable_folder
from seq2seq.errors import UserError
from seq2seq.records import write_json
from seq2seq.video.decode import TIMEOUT, OpenError, clip_name, is_url, unique_names
from seq2seq.video.label import LabelError

COLUMNS = ("accuracy", "edit", "f1@10", "f1@25", "f1@50")
TIER_HELP = "the ELAN tier or VIA attribute that holds the labels, when a clip's .eaf / .json file has several"


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
    p.add_argument(
        "--labels", help="folder of label files NAME.txt, NAME.labels.txt (per frame), NAME.csv, NAME.segments.csv "
        "(segments), NAME.eaf (ELAN), NAME.xml (CVAT for video), NAME.json (VIA 3) (default: beside each clip)"
    )  # fmt: skip
    p.add_argument("--tier", help=TIER_HELP)
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
    p.add_argument("clips", nargs="*", help="clips, folders of clips, or URLs (a live stream needs --stream)")
    p.add_argument("-m", "--model", required=True, help="video checkpoint")
    p.add_argument(
        "--features", metavar="DIR|FILE.npy", help="label precomputed features instead of clips: (D, T) .npy "
        "files as in a layout's features/ (DIR may be the layout folder), e.g. MS-TCN's I3D features"
    )  # fmt: skip
    p.add_argument("-o", "--out", default="labelled", help="output folder (default ./labelled)")
    p.add_argument(
        "--format", choices=("csv", "mstcn"), default="csv", help="labels file: NAME.labels.csv, or mstcn: "
        "MS-TCN's results file NAME (a header line, then the labels separated by spaces)"
    )  # fmt: skip
    p.add_argument("--annotate", help="write the clip with its labels drawn: OUT.mp4 for one clip, a folder for many")
    p.add_argument(
        "--annotate-rate", choices=("source", "sampled"), default="source", help="frame rate of the annotated "
        "video: the clip's own (every frame, labelled as the latest sampled frame at or before it; the default) or "
        "the sampling rate"
    )  # fmt: skip
    p.add_argument(
        "--stream", action="store_true", help="label as frames decode (causal model), print each segment as it "
        "closes; Ctrl-C keeps the outputs of the frames labelled so far"
    )  # fmt: skip
    p.add_argument(
        "--timeout", type=float, default=TIMEOUT, metavar="SECONDS",
        help=f"how long a URL may stay silent, when opening and at each read (default {TIMEOUT:g})",
    )  # fmt: skip
    p.add_argument("--truth", help="ground-truth label file (one clip) or folder of label files (as --labels of "
                   "extract-features; with --features: per-frame files NAME.txt)")  # fmt: skip
    p.add_argument("--tier", help=TIER_HELP + " (with --truth)")
    p.add_argument("--batch-size", type=int, default=32, help="frames per backbone batch (bounds memory)")
    add_device(p)
    p.set_defaults(func=cmd_label)


def cmd_extract(args: argparse.Namespace) -> int:
    from seq2seq.runtime import resolve_device
    from seq2seq.video.features import Extractor, extract, spec_for
    from seq2seq.video.label import expand_clips
    from seq2seq.video.layout import unlabelled_note

    writable_folder(args.out, "-o")
    spec = spec_for(args.backbone, args.weights, args.size, args.fps, args.audio, args.n_mels, args.seed, args.crop)
    extractor = Extractor(spec, resolve_device(args.device), args.batch_size)
    labels = Path(args.labels) if args.labels else None
    if labels is not None and not labels.is_dir():
        raise UserError(f"--labels {labels}: no such folder; give the folder that holds the clips' label files")
    videos = expand_clips(args.videos)
    note = unlabelled_note(videos, labels)
    if note:  # said before the work, not discovered at training as a missing mapping.txt
        warn(note)
    report = extract(
        videos, Path(args.out), extractor, labels, args.float16, args.bundle, args.overwrite, tier=args.tier
    )
    print(
        f"extracted {len(report.done)} clips ({report.frames} frames, {report.fps:.1f} frames/s, "
        f"{spec.dim} features per frame); skipped {len(report.skipped)} already done; into {args.out}"
    )
    return _failures(report.failed, len(report.done) + len(report.skipped) + len(report.failed))


def _failures(failed: dict[str, str], total: int, what: str = "clips") -> int:
    if not failed:
        return 0
    print(f"{len(failed)} of {total} {what} failed:", file=sys.stderr)
    for clip, why in failed.items():
        print(f"  {clip}: {why}", file=sys.stderr)
    return 1


def cmd_label(args: argparse.Namespace) -> int:
    from seq2seq.inference import load_model
    from seq2seq.video.label import Interrupted, Labeller, expand_clips
    from seq2seq.video.layout import find_label_file, label_file_names
    from seq2seq.video.metrics import Scores

    if args.timeout <= 0:
        raise LabelError(f"--timeout {args.timeout:g}: give a positive number of seconds")
    loaded = load_model(args.model, args.device, task="video", command="seq2seq label")
    if args.features:
        return _label_features(args, loaded)
    if not args.clips:
        raise LabelError("label: give clips, folders of clips or URLs, or precomputed features with --features")
    labeller = Labeller(loaded, args.batch_size, args.timeout, args.format, tier=args.tier)
    if args.stream:
        labeller.check_stream()
    clips = expand_clips(args.clips)
    out = writable_folder(args.out, "-o")
    truth = _truth(args.truth, len(clips), "clips")
    annotate = Path(args.annotate) if args.annotate else None
    annotate_rate = args.annotate_rate
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
                warn(
                    f"--truth {truth}: no {label_file_names(clip_name(clip))} for {clip}; it is labelled without scores"
                )
        clip_annotate = None
        if annotate is not None:
            clip_annotate = annotate if len(clips) == 1 and annotate.suffix else annotate / f"{name}.annotated.mp4"
        shown = clip_name(clip) if is_url(clip) else clip.name

        def show(seg, shown=shown):
            print(f"{shown}  {seg.start:8.2f} - {seg.end:8.2f} s  {seg.label}  ({seg.confidence:.2f})", flush=True)

        try:
            result = labeller.label(
                clip, out, args.stream, clip_truth, clip_annotate, show if args.stream else None, name=name,
                annotate_rate=annotate_rate,
            )  # fmt: skip
        except OpenError:
            raise  # a URL that cannot be opened is the user's to fix: one line, exit status 2
        except Interrupted as e:
            kept = e.result
            print(f"{clip}: interrupted after {len(kept.labels)} frames; kept {len(kept.segments)} segments:")
            for path in kept.outputs.values():
                print(f"  {path}")
            raise
        except (UserError, ValueError) as e:
            _fail(failed, clip, e)
            continue
        _show_result(clip, name, result, overall, labeller.task.labels)
    return _finish(overall, failed, len(clips))


def _truth(given: str | None, count: int, what: str) -> Path | None:
    """--truth as a path, checked: it exists, and one file serves only one clip."""
    truth = Path(given) if given else None
    if truth is not None and not truth.exists():
        raise LabelError(f"--truth {truth}: no such file or folder")
    if truth is not None and truth.is_file() and count > 1:
        raise LabelError(f"--truth {truth}: one file for {count} {what}; give a folder of label files")
    return truth


def _show_result(clip, name: str, result, overall, labels: list[str]) -> None:
    """One line per labelled clip or features file (with its scores when there was a truth), its
    other outputs below it; the scores also go into ``overall``."""
    line = f"{clip}: {len(result.labels)} frames, {len(result.segments)} segments -> {result.outputs['labels']}"
    if result.scores is not None:
        overall.add([labels[c] for c in result.labels[: len(result.truth)]], result.truth, name=name)
        line += "  " + "  ".join(f"{k} {result.scores[k]:.1f}" for k in COLUMNS)
    print(line)
    for what, path in result.outputs.items():
        if what != "labels":
            print(f"  {what}: {path}")


def _fail(failed: dict[str, str], clip, e: Exception) -> None:
    failed[str(clip)] = str(e)
    print(f"{clip}: failed: {e}", file=sys.stderr)


def _finish(overall, failed: dict[str, str], total: int, what: str = "clips") -> int:
    """The overall scores of many clips (or feature files), then the failures; the exit status."""
    if overall.frames and len(overall.edits) > 1:
        summary = overall.summary()
        print(f"overall ({len(overall.edits)} clips): " + "  ".join(f"{k} {summary[k]:.1f}" for k in COLUMNS))
    return _failures(failed, total, what)


def _label_features(args: argparse.Namespace, loaded) -> int:
    """``label --features``: per-frame labels of precomputed (D, T) features, as for clips."""
    from seq2seq.video.label import FeatureLabeller, feature_files
    from seq2seq.video.metrics import Scores
    from seq2seq.video.predictions import find_truth

    if args.clips:
        raise LabelError("label: give clips or --features, not both")
    if args.stream or args.annotate:
        raise LabelError("label --features: --stream and --annotate need clips (features hold no pictures)")
    files = feature_files(Path(args.features))
    out = writable_folder(args.out, "-o")
    truth = _truth(args.truth, len(files), "feature files")
    labeller = FeatureLabeller(loaded, args.format)
    overall = Scores(background=frozenset(loaded.cfg.data.background))
    failed: dict[str, str] = {}
    for path in files:
        name = path.stem
        clip_truth = truth if (truth is not None and truth.is_file()) else None
        if truth is not None and truth.is_dir():
            clip_truth = find_truth(truth, name)
            if clip_truth is None:
                warn(f"--truth {truth}: no {name}.txt (or {name}) for {path}; it is labelled without scores")
        try:
            result = labeller.label(labeller.read(path), name, out, clip_truth, source=str(path))
        except (UserError, ValueError) as e:
            _fail(failed, path, e)
            continue
        _show_result(path, name, result, overall, labeller.task.labels)
    return _finish(overall, failed, len(files), "feature files")


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
        root = str(Path(data).resolve())  # as typed, from here (a restored task looks for relative roots elsewhere)
        cfg = dataclasses.replace(loaded.cfg, data=dataclasses.replace(loaded.cfg.data, root=root))
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


def files_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pred", required=True, metavar="DIR|FILE", help="predictions of any tool, one file per video: MS-TCN "
        "results files, NAME.labels.csv of `seq2seq label`, or one label per line"
    )  # fmt: skip
    p.add_argument("--truth", required=True, metavar="DIR|FILE", help="true labels per frame, e.g. groundTruth/")
    p.add_argument("--mapping", help="mapping.txt ('INDEX LABEL' lines): files may give class indices")
    p.add_argument(
        "--background", nargs="+", default=["background"], metavar="LABEL", help="labels left out of the "
        "segments (edit, F1), as MS-TCN's evaluation does"
    )  # fmt: skip
    p.add_argument("--length-tolerance", type=int, default=0, metavar="N", help="frames by which a prediction "
                   "and its truth may differ in length (the longer is trimmed)")  # fmt: skip
    p.add_argument("--json", metavar="OUT", help="also write the figures (per video, overall) as JSON")


def evaluate_files(args: argparse.Namespace) -> int:
    """Score other tools' per-frame predictions against true labels with our metrics."""
    from seq2seq.video.layout import listed
    from seq2seq.video.predictions import score_files

    if args.length_tolerance < 0:
        raise UserError(f"--length-tolerance {args.length_tolerance}: give 0 or more frames")
    scored = score_files(args.pred, args.truth, args.mapping, tuple(args.background), args.length_tolerance)
    for what, files in (("no truth file for", scored.no_truth), ("no prediction for", scored.no_prediction)):
        if files:
            warn(f"{what} {len(files)} files, left out of the scores: {listed(files)}")
    summary = scored.scores.summary()
    _table("video", scored.scores.per_video, summary)
    if args.json:
        write_json(args.json, {"overall": summary, "videos": scored.scores.per_video})
    return 0


EVALUATE = Handler(evaluate_args, evaluate, "accuracy, edit and F1@{10,25,50} per video and overall")
EVALUATE_FILES = {
    "--folds": Handler(folds_args, evaluate, "cross-validation: one checkpoint per fold"),
    "--pred": Handler(files_args, evaluate_files, "score prediction files of any tool against true labels"),
}
