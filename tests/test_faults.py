"""The fault and bad-input matrix: what a hostile new user does, and what must happen.

Each case failed before the reliability work (issue 25) and names what it guards. Silent wrong
results first (resume, corrupt files, two runs, same-named clips, long lines, NaN), then files
and security (temporary files, permissions, a tampered weights cache), then one-line errors
(a full disk, a read-only folder, bad values), interruption (SIGTERM, SIGHUP, kill -9) and
messages. The dataset scripts' cases are in test_datasets.py.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seq2seq import checkpoint as ckpt_io
from seq2seq.cli import main
from seq2seq.registry import from_dict
from seq2seq.trainer import Trainer
from tests.helpers import one_error_line
from tests.test_translation_cli import SENTENCES, loaded, run  # noqa: F401 -- fixtures
from tests.test_video_label import setup  # noqa: F401 -- fixture

REPO = Path(__file__).resolve().parents[1]
LM = """task = "toy"
[data]
problem = "cycle"
symbols = 7
min_len = 10
max_len = 20
train_size = 200
valid_size = 40
[model]
kind = "language_model"
embed_dim = 8
hidden_size = 16
layers = 1
dropout = 0.3
[train]
epochs = 3
batch_size = 16
tbptt = 8
eval_every = 7
keep_last = 20
log_every = 1
progress = false
device = "cpu"
"""


def lm(tmp_path: Path, **train) -> Path:
    recipe = tmp_path / "lm.toml"
    recipe.write_text(LM + "".join(f"{k} = {json.dumps(v)}\n" for k, v in train.items()))
    return recipe


def train_cli(recipe: Path, out: Path, *extra: str) -> int:
    return main(["train", str(recipe), "--out", str(out), *extra])


def weights(path: Path) -> dict[str, torch.Tensor]:
    return ckpt_io.load(path)["model"]


def strict_json(text: str):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


# -- silent wrong results ---------------------------------------------------------------------
def test_resume_of_a_finished_run_trains_no_further_batch(tmp_path, capsys):
    recipe, out = lm(tmp_path, max_steps=20), tmp_path / "run"
    assert train_cli(recipe, out) == 0
    before = ckpt_io.step_checkpoints(out)
    trained = weights(before[-1])
    assert int(before[-1].stem.split("-")[1]) >= 20  # max_steps is checked at batch ends (TBPTT chunks)
    assert train_cli(recipe, out, "--resume") == 0
    assert ckpt_io.step_checkpoints(out) == before  # no newer checkpoint: not one more batch
    after = weights(before[-1])
    assert all(torch.equal(trained[k], after[k]) for k in trained)


def test_resume_keeps_the_runs_own_train_settings(tmp_path, capsys):
    """Trained with --set train.epochs=2 train.patience=0 and stopped: a plain --resume continues to
    epoch 2 (the run's), not the recipe's 3, and says where the recipe differs."""
    recipe, out = lm(tmp_path, patience=2), tmp_path / "run"
    assert train_cli(recipe, out, "--set", "train.epochs=2", "train.patience=0", "train.max_steps=9") == 0
    capsys.readouterr()
    assert train_cli(recipe, out, "--resume", "--set", "train.max_steps=0") == 0
    captured = capsys.readouterr()
    assert json.loads((out / "summary.json").read_text())["epochs"] == 2
    assert "train.max_steps = 0 (the run had 9)" in captured.out
    assert "the run continues as it was configured" in captured.err and "train.epochs" in captured.err
    assert train_cli(recipe, out, "--resume", "--set", "train.lr=0.5") == 2
    one_error_line(capsys, "train.lr cannot change when a run continues")


def flip_tensor_bytes(path: Path, out: Path) -> Path:
    """A copy of a checkpoint with bytes inside a tensor's data changed (the zip CRC is now wrong)."""
    import struct
    import zipfile

    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len + info.file_size // 2  # inside the tensor's bytes
    data[start : start + 16] = bytes(range(16))
    out.write_bytes(bytes(data))
    return out


def test_a_corrupted_checkpoint_is_refused_and_resume_names_an_older_one(tmp_path, capsys):
    recipe, out = lm(tmp_path, max_steps=20), tmp_path / "run"
    assert train_cli(recipe, out) == 0
    newest = ckpt_io.step_checkpoints(out)[-1]
    flip_tensor_bytes(newest, newest)
    assert main(["evaluate", "-m", str(newest)]) == 2
    message = one_error_line(capsys, f"{newest}: corrupt: its stored data", "fails its checksum")
    assert "weights_only" not in message
    assert train_cli(recipe, out, "--resume", "--set", "train.max_steps=30") == 2
    one_error_line(capsys, "continue from the newest of them with --resume", "step-00000016.pt")


def test_two_runs_into_one_folder_are_refused_and_a_dead_runs_lock_is_taken_over(tmp_path, capsys):
    recipe, out = lm(tmp_path, max_steps=7), tmp_path / "run"
    held = ckpt_io.lock_run(out)  # a live run (this process) writes the folder
    try:
        assert train_cli(recipe, out) == 2
        one_error_line(capsys, f"{out}: another run is writing this folder (process {os.getpid()})")
    finally:
        held.close()
    (out / ".lock").write_text("999999999\n")  # what a run killed with -9 leaves: no lock held
    assert train_cli(recipe, out) == 0
    assert ckpt_io.step_checkpoints(out) and (out / "summary.json").is_file()


def test_metrics_after_a_resume_have_no_repeated_records_and_times_add_up(tmp_path, capsys):
    recipe, out = lm(tmp_path, max_steps=14), tmp_path / "run"
    assert train_cli(recipe, out) == 0
    ckpt_io.step_checkpoints(out)[-1].unlink()  # killed after its steps were logged, before they were saved
    seconds = json.loads((out / "summary.json").read_text())["seconds"]
    assert train_cli(recipe, out, "--resume", "--set", "train.max_steps=21") == 0
    rows = [strict_json(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [(r["kind"], r["step"]) for r in rows]
    assert len(steps) == len(set(steps))  # nothing logged twice
    assert [s for k, s in steps if k == "train"] == sorted(s for k, s in steps if k == "train")
    assert json.loads((out / "summary.json").read_text())["seconds"] > 0.5 * seconds  # both sittings count


def test_the_steps_after_the_last_evaluation_are_saved(tmp_path, capsys):
    recipe, out = lm(tmp_path), tmp_path / "run"  # eval_every 7; 3 epochs of 13 batches x 3 chunks
    assert train_cli(recipe, out) == 0
    steps = json.loads((out / "summary.json").read_text())["steps"]
    assert steps % 7 != 0 and ckpt_io.step_checkpoints(out)[-1].name == f"step-{steps:08d}.pt"


def test_a_nan_validation_is_never_best_and_json_stays_strict(tmp_path, monkeypatch, capsys):
    from seq2seq.toy import ToyTask

    monkeypatch.setattr(ToyTask, "scores", lambda self, model, split, loss: {
        "accuracy": float("nan"), "sequence_accuracy": float("inf")})  # fmt: skip
    recipe, out = lm(tmp_path, max_steps=14, metric="accuracy"), tmp_path / "run"
    assert train_cli(recipe, out) == 0
    assert not (out / "best.pt").exists()
    for line in (out / "metrics.jsonl").read_text().splitlines():
        record = strict_json(line)
        if record["kind"] == "valid":
            assert record["accuracy"] is None and record["best"] is None
    strict_json((out / "summary.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", "-m", str(ckpt_io.step_checkpoints(out)[-1])]) == 0
    assert strict_json(capsys.readouterr().out)["accuracy"] is None


def test_same_named_clips_get_distinct_outputs_in_label_and_extract_features(setup, tmp_path, capsys):  # noqa: F811
    from seq2seq.video.synth import write_clip

    _, clips, _, offline = setup
    a = write_clip(tmp_path / "train" / "x.mp4", seed=5, size=48).video
    b = write_clip(tmp_path / "valid" / "x.mp4", seed=6, size=48).video
    out = tmp_path / "labelled"
    assert main(["label", str(a), str(b), "-m", str(offline), "-o", str(out)]) == 0
    assert {p.name for p in out.glob("*.labels.csv")} == {"train-x.labels.csv", "valid-x.labels.csv"}
    assert "labelled as 'valid-x'" in capsys.readouterr().err
    data = tmp_path / "layout"
    for folder in ("train", "valid"):  # the documented two-step use: one split at a time, one -o
        args = ["extract-features", str(tmp_path / folder), "-o", str(data), "--bundle", folder, "--weights", "none",
                "--size", "32", "--fps", "5", "--device", "cpu"]  # fmt: skip
        assert main(args) == 0
    err = capsys.readouterr().err
    assert "is stored as 'valid-x'" in err
    assert (data / "splits" / "train.bundle").read_text().split() == ["x"]
    assert (data / "splits" / "valid.bundle").read_text().split() == ["valid-x"]  # not the training clip
    import numpy as np

    assert not np.array_equal(np.load(data / "features" / "x.npy"), np.load(data / "features" / "valid-x.npy"))
    sources = json.loads((data / "sources.json").read_text())
    assert sources["valid-x"]["path"] == str(b.resolve())
    assert main(args) == 0 and "skipped 1 already done" in capsys.readouterr().out  # its own source, unchanged


def test_a_very_long_line_keeps_every_sentence(run, loaded):  # noqa: F811
    """A line many times the training maximum: every sentence comes back, as it would alone."""
    translator = loaded.task.translator(loaded.model)
    sentences = [s for s in SENTENCES if s.strip()] * 6
    line = " ".join(sentences)
    assert len(loaded.task.subwords.encode_src([line])[0]) > 5 * loaded.task.max_src_len
    warned = []
    translator.warn = warned.append
    (joined,) = translator.best([line], loaded.cfg.search)
    alone = translator.best(sentences, loaded.cfg.search)
    assert joined == " ".join(alone)
    assert "sentence by sentence" in warned[0]


# -- files and security --------------------------------------------------------------------
def test_outputs_respect_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        ckpt_io.atomic_write(tmp_path / "a.txt", lambda f: f.write(b"x"))
        os.umask(0o077)
        ckpt_io.atomic_write(tmp_path / "b.txt", lambda f: f.write(b"x"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.txt").stat().st_mode) == 0o600


def test_temporary_files_of_a_killed_writer_are_swept(tmp_path, capsys):
    recipe, out = lm(tmp_path, max_steps=7), tmp_path / "run"
    out.mkdir()
    dead = out / ".step-00000007.pt.999999999.abc123.tmp"  # kill -9 mid-write: pid 999999999 is gone
    dead.write_bytes(b"half a checkpoint")
    live = out / f".best.pt.{os.getpid()}.def456.tmp"  # a live writer's is kept
    live.write_bytes(b"in progress")
    assert train_cli(recipe, out) == 0
    assert not dead.exists() and live.exists()


def test_a_tampered_file_in_the_weights_cache_is_refused(tmp_path, monkeypatch):
    from seq2seq.video.features import BackboneError, Extraction, load_backbone

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)

    class Payload:  # what a tampered pickle would run if it were loaded with weights_only=False
        def __reduce__(self):
            return (Path(tmp_path / "ran").touch, ())

    torch.save({"x": Payload()}, cached)
    with pytest.raises(BackboneError, match="SHA-256 .* does not start with f37072fd"):
        load_backbone(Extraction(backbone="resnet18", weights="DEFAULT"))
    assert not (tmp_path / "ran").exists()


def test_a_bad_backbone_file_in_a_data_root_is_a_one_line_error(setup, tmp_path, capsys):  # noqa: F811
    root, *_ = setup
    data = tmp_path / "data"
    import shutil

    shutil.copytree(root / "data", data)
    (data / "backbone.pt").write_bytes(b"not a state dict")
    args = ["train", "video/demo", "--out", str(tmp_path / "run"), "--set", f"data.root={data}", "train.epochs=1",
            "train.progress=false", "--device", "cpu"]  # fmt: skip
    assert main(args) == 2
    one_error_line(capsys, "backbone.pt: not a readable seq2seq checkpoint")


# -- one-line errors where a traceback was ----------------------------------------------------
def test_a_full_disk_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys, run):  # noqa: F811
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt_io.os, "fsync", full)
    (tmp_path / "in.en").write_text("I see a dog.\n")
    out = tmp_path / "out.de"
    assert main(["translate", "-m", str(run / "best.pt"), "-i", str(tmp_path / "in.en"), "-o", str(out),
                 "--no-progress"]) == 2  # fmt: skip
    one_error_line(capsys, f"{out}: No space left on device (ENOSPC); free some space")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.en"]  # no partial file
    assert train_cli(lm(tmp_path, max_steps=7), tmp_path / "run") == 2
    one_error_line(capsys, ".pt: No space left on device (ENOSPC)", str(tmp_path / "run" / "step-"))


def unwritable() -> Path:
    """A folder this process cannot write, even as root (sysfs), or skip."""
    try:
        Path("/sys/seq2seq-probe").touch()
    except OSError:
        return Path("/sys/seq2seq-test")
    pytest.skip("no folder here that this user cannot write")


def test_an_unwritable_output_is_refused_before_the_work(tmp_path, capsys, run, setup):  # noqa: F811
    ro = unwritable()
    best = str(run / "best.pt")
    (tmp_path / "in.en").write_text("I see a dog.\n")
    assert main(["translate", "-m", best, "-i", str(tmp_path / "in.en"), "-o", str(ro / "out.de")]) == 2
    one_error_line(capsys, f"-o {ro / 'out.de'}: cannot write in /sys")
    assert main(["translate", "-m", best, "-i", str(tmp_path / "in.en"), "-o", str(tmp_path)]) == 2
    one_error_line(capsys, f"-o {tmp_path}: a folder; give a file name")
    assert train_cli(lm(tmp_path), ro / "run") == 2
    one_error_line(capsys, str(ro / "run"))
    _, clips, _, offline = setup
    assert main(["label", str(clips[0].video), "-m", str(offline), "-o", str(ro)]) == 2
    one_error_line(capsys, f"-o {ro}: cannot write in /sys")
    assert main(["extract-features", str(clips[0].video), "-o", str(ro), "--weights", "none"]) == 2
    one_error_line(capsys, f"-o {ro}: cannot write in /sys")


def test_bad_values_of_flags_are_one_line(run, tmp_path, capsys):  # noqa: F811
    best = str(run / "best.pt")
    (tmp_path / "in.en").write_text("I see a dog.\n\n")
    for flag, value, message in (
        ("--length-penalty", "nan", "--length-penalty: expected a finite number, got nan"),
        ("--beam", "0", "--beam: must be at least 1, got 0"),
    ):
        assert main(["translate", "-m", best, "-i", str(tmp_path / "in.en"), flag, value]) == 2
        one_error_line(capsys, message)
    assert main(["translate", "-m", best, "-i", str(tmp_path / "in.en"), "-o", str(tmp_path / "o.de"),
                 "--attention-plot", str(tmp_path / "a.png"), "--plot-line", "2", "--no-progress"]) == 2  # fmt: skip
    one_error_line(capsys, "--plot-line 2: that line is empty")
    for value in ("-1", "nan"):
        assert train_cli(lm(tmp_path), tmp_path / "run", "--set", f"train.lr={value}") == 2
        one_error_line(capsys, "train.lr: ")
    for key in ("batch_size=0", "max_steps=-3", "epochs=0"):
        assert train_cli(lm(tmp_path), tmp_path / "run", "--set", f"train.{key}") == 2
        one_error_line(capsys, f"train.{key.split('=')[0]}: must be at least")


def test_label_truth_with_an_unknown_label_fails_that_clip_only(setup, tmp_path, capsys):  # noqa: F811
    _, clips, _, offline = setup
    truth = tmp_path / "truth"
    truth.mkdir()
    (truth / "clip0.csv").write_text("start,end,label\n0,100,not-a-label\n")
    frames = sum(1 for _ in __import__("av").open(str(clips[2].video)).decode(video=0))
    (truth / "clip2.txt").write_text("background\n" * (frames + 3))  # wrong length
    out = tmp_path / "out"
    rc = main(["label", str(clips[0].video), str(clips[1].video), str(clips[2].video), "-m", str(offline),
               "-o", str(out), "--truth", str(truth)])  # fmt: skip
    captured = capsys.readouterr()
    assert rc == 1
    assert "clip0.csv: label 'not-a-label' (sampled frame 0) is not one the model knows" in captured.err
    assert "no clip1.txt, clip1.labels.txt" in captured.err  # warned, labelled without scores
    assert sorted(p.name for p in out.iterdir()) == ["clip1.labels.csv", "clip1.segments.json", "clip1.timeline.png"]


# -- interruption ---------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_translate_like_ctrl_c(run, tmp_path, sig):  # noqa: F811
    (tmp_path / "in.en").write_text("\n".join(SENTENCES * 2000) + "\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "seq2seq", "translate", "-m", str(run / "best.pt"), "-i", str(tmp_path / "in.en"),
         "-o", str(tmp_path / "out.de"), "--window", "16", "--device", "cpu"],
        cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.name.startswith(".out.de.") for p in tmp_path.iterdir()):
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig.value, err.decode()
    assert f"interrupted ({sig.name})" in err.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.en"]  # no output, no temporary file


def test_sigterm_while_streaming_keeps_what_was_labelled(setup, tmp_path, monkeypatch, capsys):  # noqa: F811
    from seq2seq.video.label import Labeller

    _, clips, causal, _ = setup
    original = Labeller.probabilities

    def term_after_three_batches(self, *args, **kwargs):
        for i, batch in enumerate(original(self, *args, **kwargs)):
            if i == 3:
                os.kill(os.getpid(), signal.SIGTERM)
            yield batch

    monkeypatch.setattr(Labeller, "probabilities", term_after_three_batches)
    out = tmp_path / "cut"
    rc = main(["label", str(clips[1].video), "--stream", "-m", str(causal), "-o", str(out), "--batch-size", "7"])
    assert rc == 128 + signal.SIGTERM.value
    kept = json.loads((out / "clip1.segments.json").read_text())
    assert kept["stopped"] == "interrupted (SIGTERM)" and kept["segments"][-1]["end_frame"] == 21


@pytest.mark.slow
def test_kill_9_at_any_point_then_resume_gives_the_same_weights(tmp_path):
    """A real training process killed with SIGKILL after each checkpoint it writes, and at a
    moment inside writing one; resumed each time, the run ends with the uninterrupted run's weights."""
    recipe = lm(tmp_path, max_steps=42)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    train = [sys.executable, "-m", "seq2seq", "train", str(recipe), "--device", "cpu"]
    straight = tmp_path / "straight"
    subprocess.run([*train, "--out", str(straight)], cwd=REPO, env=env, check=True, capture_output=True)
    cut = tmp_path / "cut"
    kills = 0
    for attempt in range(8):
        args = [*train, "--out", str(cut), *(["--resume"] if ckpt_io.step_checkpoints(cut) else [])]
        proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        seen, stale = len(ckpt_io.step_checkpoints(cut)), set(cut.glob(".*.tmp"))
        deadline = time.time() + 120
        while proc.poll() is None and time.time() < deadline:
            if len(ckpt_io.step_checkpoints(cut)) > seen or set(cut.glob(".*.tmp")) - stale:
                time.sleep(0.05 * (attempt % 3))  # now, or a moment later: inside a write or after it
                proc.kill()
                kills += 1
                break
            time.sleep(0.01)
        proc.communicate(timeout=60)
        if (cut / "summary.json").exists():
            break
    if not (cut / "summary.json").exists():
        subprocess.run([*train, "--out", str(cut), "--resume"], cwd=REPO, env=env, check=True, capture_output=True)
    assert kills >= 3
    last = ckpt_io.step_checkpoints(straight)[-1]
    assert ckpt_io.step_checkpoints(cut)[-1].name == last.name
    a, b = weights(last), weights(cut / last.name)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not list(cut.glob(".*.tmp"))  # the killed writers' temporary files were swept


# -- messages ---------------------------------------------------------------------------------
def test_translate_errors_name_the_checkpoint_file(run, tmp_path, capsys):  # noqa: F811
    ckpt = ckpt_io.load(run / "best.pt")
    ckpt["task_state"]["subwords"] = None
    ckpt_io.save(tmp_path / "nosp.pt", {k: v for k, v in ckpt.items() if k not in ("format", "version")})
    assert main(["translate", "-m", str(tmp_path / "nosp.pt")]) == 2
    one_error_line(capsys, f"{tmp_path / 'nosp.pt'}: holds no SentencePiece model")


def test_evaluate_of_a_text_model_names_the_files_own_line(tmp_path, capsys):
    text = tmp_path / "book.txt"
    lines = [f"line {i} of a plain text with the usual letters." for i in range(400)]
    text.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    assert main(["train", "text/demo", "--out", str(out), "--device", "cpu", "--set", f"data.path={text}",
                 "train.epochs=1", "train.progress=false", "model.hidden_size=16"]) == 0  # fmt: skip
    lines[390] = lines[390].replace("usual", "usual \u00e9")  # a character the model never saw, in the test part
    other = tmp_path / "other.txt"
    other.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["evaluate", "-m", str(out / "best.pt"), "--data", str(other), "--split", "test"]) == 2
    one_error_line(capsys, "line 391, column")


def test_a_config_built_in_python_gets_the_recipe_checks():
    raw = {"task": "toy", "data": {"problem": "cycle"}, "model": {"kind": "tagger"}, "train": {"device": "cpu"}}
    with pytest.raises(Exception, match="data.problem 'cycle' needs model.kind = 'language_model'"):
        Trainer.from_config(from_dict(raw))
