"""``make gpu-check``: the toolkit's GPU paths checked and timed in one run (issue #29).

    python -m benchmarks.gpu_check [--dry-run] [--data DIR] [--out DIR] [--docs] [--budget-s 360]
    python -m benchmarks.gpu_check --render OUT/gpu_check.json [--docs]   # the block again, no run

Steps, in order, each with its share of ``--budget-s`` (a step that runs out of its share stops
and reports what it has; ``status`` is ok, partial, skipped or error, and one step's failure does
not stop the others):

0. device: what the machine is, and the ceilings every ratio is taken against, measured in this
   run: a bf16 and a float32 matrix product (n = 8192 on a GPU) and a device-to-device copy.
1. correctness: ``pytest -m cuda tests/test_cuda.py`` in a subprocess (packed == alone on cuDNN,
   reference cells == fused, incremental decoding == teacher forcing, beam search on the device
   == on the CPU, a bf16 step of each task, DDP at world size 1 over NCCL, exact ``--resume``);
   each test's outcome goes into the JSON.
2. translation, the en->de recipe on Multi30k: target tokens/s of ``Trainer.train_step`` with and
   without input feeding at ``--batch-sizes`` (warm-up, then timed steps, synchronised); a
   time-boxed training run at ``--batch-tokens`` whose cosine schedule is sized to end within
   ``--train-s`` at the rate just measured, scored on test_2016_flickr (beam 5, sacreBLEU) at a
   few points: the training seconds at the first point at or above 39 BLEU; then beam-5
   translation of all of test_2016_flickr after loading the run's checkpoint.
3. video: decode-only frames/s of a generated clip (the ceiling), decode + resize + backbone
   (the default, the packaged pretrained EfficientNet-Lite0, and a random-weights resnet50),
   labelling (a tagger on the features, and end to end); music: JSB Chorales training frames/s
   (``Trainer.train_step`` on the ``music/jsb`` recipe).
4. profile: torch.profiler of one training step and of one beam search; the top kernels by self
   device time (self CPU time on a CPU), the kernels launched, and what bounds each figure.

What bounds a figure, by these rules (the same numbers are in the JSON):
- launch floor = kernels launched x 5 us (a kernel launch and its gap on a GPU, an op's dispatch
  on a CPU); memory floor = bytes moved / the copy bandwidth measured in step 0, bytes moved
  taken as 2 x the bytes the step's ops allocate (each output written once and read once) plus
  what the step reads of the weights (training: 32 B per parameter for clipping and Adam, and
  6 B per decoder parameter per target step; search: 2 B per decoder parameter per step);
  compute floor = model FLOPs / the bf16 matmul peak measured in step 0 (MFU = floor / time).
- on a GPU: launch-bound when the launch floor is at least half the time or the device is busy
  (sum of kernel times) less than half of it; else memory-bound when the memory floor exceeds
  the compute floor, else compute-bound. On a CPU the largest floor names the bound.

Writes OUT/gpu_check.json (every figure), OUT/gpu_check.md (the block: the command, the machine,
each figure beside its target) and two text files (the pytest output, the profiler tables);
``--docs`` replaces the ``<!-- bench:gpu -->`` block of docs/benchmarks.md.

``--dry-run``: every step on the CPU at toy sizes (a Multi30k slice or the translation demo's
generated corpus, a tiny model, 2-3 steps per measurement, a 64x64 clip, the embedded chords when
JSB is absent), with ``SEQ2SEQ_CHECK_DEVICE=cpu`` for the tests: the suite runs it
(tests/test_gpu_check.py) so this script cannot rot. Its figures are not measurements of the
targets. Nothing here uses an API newer than torch 2.11 or Python 3.12.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import REPO, SHARED, error_text, fmt, machine, sync, table, timed, write_docs

DOCS = REPO / "docs" / "benchmarks.md"
TEST_FILE = "tests/test_cuda.py"
RECIPE = "translation/multi30k_en_de"
DEMO_RECIPE = "translation/demo"
DEFAULT_BACKBONE = "efficientnet_lite0"  # seq2seq.video.pretrained.NAME, the extractor's default
BLEU_TARGET = 39.0
LAUNCH_US = 5.0  # seconds per kernel launch (and its gap) on a GPU, per op dispatch on a CPU, in us
# Each step's share of a 360 s budget (scaled with --budget-s); what is left is slack for start-up.
SHARES = {"device": 12, "correctness": 80, "translation": 165, "video": 30, "music": 15, "profile": 28}
BUDGET = 360.0
TARGETS = {
    "train_tok_s": ">= 300k target tokens/s",
    "time_to_bleu": f">= {BLEU_TARGET:g} BLEU within 90 s of training",
    "beam_s": "<= 0.2 s after load",
    "extract": ">= 80% of the decode-only ceiling",
}


def now() -> float:
    return time.perf_counter()


@dataclass
class Clock:
    """A step's deadline."""

    deadline: float

    def left(self) -> float:
        return self.deadline - now()

    def out(self, need: float = 0.0) -> bool:
        """True when less than ``need`` seconds are left."""
        return self.left() <= need


@dataclass
class Sizes:
    """How big each measurement is: the GPU run's, or the dry run's toy sizes."""

    warmup: int
    timed: int
    peak_n: int
    copy_mb: int
    clip_size: int
    frame_size: int
    min_time: float  # seconds each video figure is repeated for
    extract_batch: int
    profile_sentences: int
    beam_warmup: int
    max_epochs: int  # of the time-boxed translation run (the recipe's own at most)


GPU_SIZES = Sizes(3, 8, 8192, 1024, 320, 224, 2.0, 128, 200, 20, 1000)
DRY_SIZES = Sizes(1, 2, 256, 32, 64, 64, 0.0, 32, 8, 2, 2)


@dataclass
class Context:
    args: argparse.Namespace
    dry: bool
    device: torch.device
    data: Path
    work: Path
    out: Path
    sizes: Sizes
    end: float
    scale: float
    result: dict[str, Any]
    peak_tflops: float = 0.0  # the MFU denominator: bf16 matmul on a GPU, float32 on a CPU
    copy_bps: float = 0.0  # measured device copy bandwidth, bytes (read + written) per second
    cache: dict[str, Any] = field(default_factory=dict)


# -- helpers ----------------------------------------------------------------------------------
def trainer_class():
    try:
        from seq2seq.trainer import Trainer
    except ImportError:  # the module's name before 0.2
        from seq2seq.train import Trainer  # type: ignore[no-redef]
    return Trainer


def cuda(ctx: Context) -> bool:
    return ctx.device.type == "cuda"


def free_memory(ctx: Context) -> None:
    gc.collect()
    if cuda(ctx):
        torch.cuda.empty_cache()


def endless(trainer, epoch: int = 0) -> Iterator[Any]:
    """The trainer's batches (collated, on the device) epoch after epoch."""
    while True:
        empty = True
        for batch in trainer.batches(epoch):
            empty = False
            yield batch
        if empty:
            raise RuntimeError("the task gives no training batches")
        epoch += 1


def timed_steps(ctx: Context, trainer, batches: Iterator[Any], clock: Clock) -> dict[str, Any]:
    """Warm-up steps, then the timed ones (synchronised): items (target tokens, frames) per second."""
    trainer.model.train()
    for _ in range(ctx.sizes.warmup):
        trainer.train_step(next(batches))
    sync(ctx.device)
    items, start, steps = [], now(), 0
    for _ in range(ctx.sizes.timed):
        items.append(trainer.train_step(next(batches)))
        steps += 1
        if clock.out():
            break
    sync(ctx.device)
    seconds = now() - start
    total = float(sum(float(i) for i in items))
    return {
        "steps": steps,
        "items": total,
        "seconds": seconds,
        "items_s": total / seconds,
        "step_ms": 1e3 * seconds / steps,
    }


def mfu(ctx: Context, flop_s: float) -> float | None:
    """Achieved FLOP/s over the matmul peak measured in step 0 (None without one)."""
    return flop_s / (ctx.peak_tflops * 1e12) if ctx.peak_tflops else None


def find_split(folder: Path, split: str, lang: str) -> Path | None:
    for name in (f"{split}.{lang}.gz", f"{split}.{lang}"):
        if (folder / name).is_file():
            return folder / name
    return None


def attr(obj: Any, *names: str, default: float = 0.0) -> Any:
    """The first of ``names`` that ``obj`` has (profiler attributes were renamed across torch
    versions: cuda -> device)."""
    for name in names:
        if hasattr(obj, name):
            try:
                return getattr(obj, name)
            except (AttributeError, RuntimeError):
                continue
    return default


# -- 0: the device ------------------------------------------------------------------------------
def matmul_tflops(device: torch.device, n: int, dtype: torch.dtype, min_time: float) -> float:
    """FLOP/s of an n x n x n product on random data (never zeros: they run faster)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    seconds = timed(lambda: a @ b, device, min_time=min_time, warmup=3)
    return 2 * n**3 / seconds / 1e12


def step_device(ctx: Context, clock: Clock, step: dict[str, Any]) -> None:
    dev = ctx.device
    info = machine(dev)
    info["cpu_threads"] = str(os.cpu_count())
    if cuda(ctx):
        props = torch.cuda.get_device_properties(dev)
        info.update(
            {
                "gpu": props.name,
                "multiprocessors": str(props.multi_processor_count),
                "memory_gib": f"{props.total_memory / 2**30:.0f}",
                "capability": f"{props.major}.{props.minor}",
                "cuda": str(torch.version.cuda),
                "cudnn": str(torch.backends.cudnn.version()),
            }
        )
        try:
            smi = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version,clocks.sm,clocks.max.sm", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=15,
                check=False,
            )
            info["nvidia_smi"] = smi.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    ctx.result["machine"] = info
    n, min_time = ctx.sizes.peak_n, 0.0 if ctx.dry else 0.5
    saved = torch.backends.cuda.matmul.allow_tf32
    peaks: dict[str, Any] = {"n": n}
    try:
        peaks["bf16_tflops"] = matmul_tflops(dev, n, torch.bfloat16, min_time)
        torch.backends.cuda.matmul.allow_tf32 = False
        peaks["fp32_tflops"] = matmul_tflops(dev, n, torch.float32, min_time)
        if cuda(ctx):
            torch.backends.cuda.matmul.allow_tf32 = True
            peaks["tf32_tflops"] = matmul_tflops(dev, n, torch.float32, min_time)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
    # MFU on a GPU is against bf16 (what autocast runs); on a CPU against float32 (as make bench).
    ctx.peak_tflops = peaks["bf16_tflops"] if cuda(ctx) else peaks["fp32_tflops"]
    peaks["mfu_against"] = "bf16_tflops" if cuda(ctx) else "fp32_tflops"
    elements = ctx.sizes.copy_mb * 2**20 // 4
    src = torch.randn(elements, device=dev)
    dst = torch.empty_like(src)
    seconds = timed(lambda dst=dst, src=src: dst.copy_(src), dev, min_time=min_time, warmup=2)
    ctx.copy_bps = 2 * src.numel() * 4 / seconds  # bytes read + written
    peaks["copy_tb_s"] = ctx.copy_bps / 1e12
    peaks["copy_mib"] = ctx.sizes.copy_mb
    del src, dst
    free_memory(ctx)
    step["peaks"] = peaks
    print(
        f"device: {info.get('gpu', info['device'])}; bf16 {peaks['bf16_tflops']:.3g} TFLOP/s, "
        f"fp32 {peaks['fp32_tflops']:.3g}, copy {peaks['copy_tb_s']:.3g} TB/s",
        flush=True,
    )


# -- 1: correctness (tests/test_cuda.py) --------------------------------------------------------
def parse_junit(path: Path) -> list[dict[str, Any]]:
    tests = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                lines = (child.get("message") or child.text or "").strip().splitlines()
                message = lines[0][:300] if lines else ""
                break
        tests.append(
            {
                "name": case.get("name"),
                "outcome": outcome,
                "seconds": float(case.get("time") or 0.0),
                "message": message,
            }
        )
    return tests


VERBOSE_LINE = re.compile(r"^(?:\S*::)?(test_\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)")


def parse_verbose(output: str) -> list[dict[str, Any]]:
    """Outcomes from pytest -v progress lines (what is left when the run was killed)."""
    tests = []
    for line in output.splitlines():
        m = VERBOSE_LINE.match(line.strip())
        if m:
            tests.append({"name": m.group(1), "outcome": m.group(2).lower(), "seconds": 0.0, "message": ""})
    return tests


def step_correctness(ctx: Context, clock: Clock, step: dict[str, Any]) -> None:
    junit = ctx.work / "junit.xml"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-v",
        "-rfE",
        "-p",
        "no:cacheprovider",
        "-m",
        "cuda",
        TEST_FILE,
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit2",
    ]
    env = {**os.environ, "CUBLAS_WORKSPACE_CONFIG": ":4096:8", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    if ctx.dry:
        env["SEQ2SEQ_CHECK_DEVICE"] = "cpu"
    else:
        env.pop("SEQ2SEQ_CHECK_DEVICE", None)
    step["command"] = " ".join(["python", "-m", "pytest", "-m", "cuda", TEST_FILE])
    timeout = max(5.0, clock.left())
    try:
        done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        output, code = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as e:
        output = "".join(x.decode() if isinstance(x, bytes) else (x or "") for x in (e.stdout, e.stderr))
        code = None
        step["status"] = "partial"
        step["reason"] = f"pytest stopped after its {timeout:.0f} s share"
    (ctx.out / "gpu_check_pytest.txt").write_text(output, encoding="utf-8")
    tests = parse_junit(junit) if junit.is_file() and code is not None else parse_verbose(output)
    step["exit_code"] = code
    step["tests"] = tests
    for outcome in ("passed", "failed", "error", "skipped"):
        step[outcome] = sum(t["outcome"] == outcome for t in tests)
    summary = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    step["summary"] = summary[-1].strip("= ") if summary else ""
    if not tests and step.get("status") == "ok":
        step["status"] = "error"
        step["reason"] = f"pytest exited {code} without running a test; see gpu_check_pytest.txt"
    print(f"correctness: {step['summary'] or step.get('reason')}", flush=True)


# -- 2: translation -----------------------------------------------------------------------------
@dataclass
class Setup:
    """The recipe and overrides every translation measurement builds on."""

    recipe: str
    overrides: list[str]
    data: str  # what the data is, for the block
    batch_sizes: list[int]
    batch_tokens: int  # the time-boxed run's
    train_s: float
    spm: Path | None = None


def translation_setup(ctx: Context) -> Setup:
    if "setup" in ctx.cache:
        return ctx.cache["setup"]
    from seq2seq.translation.text import read_parallel, write_lines

    m30k = ctx.data / "multi30k"
    files = {
        (s, lang): find_split(m30k, s, lang) for s in ("train", "val", "test_2016_flickr") for lang in ("en", "de")
    }
    have = all(files.values())
    args = ctx.args
    common = [f"train.device={ctx.device}", "train.progress=false", "data.fetch=none"]  # the files are given
    if not ctx.dry:
        if not have:
            raise Skip(f"no Multi30k at {m30k} ({{train,val,test_2016_flickr}}.{{en,de}}[.gz]); give --data DIR")
        data = [
            f"data.{k}_{side}={files[(s, lang)]}"
            for k, s in (("train", "train"), ("valid", "val"), ("test", "test_2016_flickr"))
            for side, lang in (("src", "en"), ("tgt", "de"))
        ]
        setup = Setup(
            RECIPE, [*data, *common], f"Multi30k en->de ({m30k})", args.batch_sizes, args.batch_tokens, args.train_s
        )
    elif have:  # a slice of Multi30k through the same recipe, at a toy size
        folder = ctx.work / "m30k"
        limits = {"train": 400, "val": 40, "test_2016_flickr": 40}
        for s, n in limits.items():
            src, tgt = read_parallel(files[(s, "en")], files[(s, "de")], s)
            write_lines(folder / f"{s}.en", src[:n])
            write_lines(folder / f"{s}.de", tgt[:n])
        data = [
            f"data.{k}_{side}={folder / f'{s}.{lang}'}"
            for k, s in (("train", "train"), ("valid", "val"), ("test", "test_2016_flickr"))
            for side, lang in (("src", "en"), ("tgt", "de"))
        ]
        tiny = ["data.vocab_size=300", "model.embed_dim=32", "model.hidden_size=32", "model.layers=1"]
        setup = Setup(
            RECIPE, [*data, *tiny, *common], "Multi30k en->de, first 400 training pairs (dry run)", [250, 500], 500, 6.0
        )
    else:  # the demo recipe's generated corpus
        tiny = [
            "data.generated_train=300",
            "data.generated_valid=20",
            "data.generated_test=30",
            "data.vocab_size=120",
            "model.embed_dim=32",
            "model.hidden_size=32",
            "train.warmup_steps=0",
        ]
        setup = Setup(
            DEMO_RECIPE,
            [*tiny, *common],
            "the translation demo's generated numbers corpus (dry run)",
            [200, 400],
            400,
            6.0,
        )
    ctx.cache["setup"] = setup
    return setup


class Skip(Exception):
    """A step that cannot run here (no data, no PyAV): reported as skipped, with the reason."""


def translation_config(ctx: Context, setup: Setup, out: str, *extra: str):
    from seq2seq.registry import load_config

    spm = [f"data.subword_models={setup.spm}"] if setup.spm else []
    return load_config(setup.recipe, [*setup.overrides, *spm, f"train.out_dir={ctx.work / out}", *extra])


def make_trainer(ctx: Context, setup: Setup, out: str, *extra: str):
    """A Trainer of the recipe (``Trainer.from_config``); the first one trains the subword model,
    which the later ones read from a file instead of training it again (the same model)."""
    trainer = trainer_class().from_config(translation_config(ctx, setup, out, *extra))
    if setup.spm is None:
        setup.spm = ctx.work / "spm.model"
        setup.spm.write_bytes(trainer.task.subwords.src_proto)
    return trainer


def flops_per_target_token(trainer) -> float:
    from benchmarks.translation import train_flops_per_target_token

    pairs = trainer.task.train_pairs
    src = sum(len(a) for a, _ in pairs)
    tgt = sum(len(b) + 1 for _, b in pairs)
    return train_flops_per_target_token(trainer.task.cfg.model, trainer.task.dims, src / tgt, src / len(pairs))


def bleu_of(ctx: Context, model, task, src: list[str], ref: list[str], translator=None) -> tuple[float, float]:
    """(BLEU, seconds) of the model's beam search (the recipe's [search]) over ``src``."""
    from seq2seq.translation.bleu import score

    translator = translator or task.translator(model)
    was = model.training
    model.eval()
    try:
        sync(ctx.device)
        start = now()
        hyps = translator.best(src, task.cfg.search)
        sync(ctx.device)
        seconds = now() - start
    finally:
        model.train(was)
    return score(hyps, ref).bleu, seconds


def step_translation(ctx: Context, clock: Clock, step: dict[str, Any]) -> None:
    setup = translation_setup(ctx)
    step["data"] = setup.data
    step["recipe"] = setup.recipe
    # (a) training throughput
    rows: list[dict[str, Any]] = []
    step["throughput"] = rows
    through_clock = Clock(min(clock.deadline, now() + 30.0 * ctx.scale))
    for feed in (True, False):
        for bt in setup.batch_sizes:
            if through_clock.out(2.0):
                rows.append({"input_feeding": feed, "batch_tokens": bt, "note": "not measured: out of time"})
                step["status"] = "partial"
                continue
            trainer = make_trainer(
                ctx,
                setup,
                f"tput-{int(feed)}-{bt}",
                f"model.input_feeding={str(feed).lower()}",
                f"train.batch_tokens={bt}",
                "train.log_every=1000000",
            )
            r = timed_steps(ctx, trainer, endless(trainer), through_clock)
            flops = flops_per_target_token(trainer)
            rows.append(
                {
                    "input_feeding": feed,
                    "batch_tokens": bt,
                    "steps": r["steps"],
                    "step_ms": r["step_ms"],
                    "tgt_tok_s": r["items_s"],
                    "mfu": mfu(ctx, r["items_s"] * flops),
                    "params_m": sum(p.numel() for p in trainer.model.parameters()) / 1e6,
                }
            )
            print(f"translation: input feeding {feed}, {bt} tokens: {r['items_s']:,.0f} target tokens/s", flush=True)
            ctx.cache["epoch_tokens"] = sum(len(y) + 1 for _, y in trainer.task.train_pairs)
            trainer.release()
            del trainer
            free_memory(ctx)
    # (b) time-boxed training of the recipe at --batch-tokens
    bt = setup.batch_tokens
    measured = [r for r in rows if r.get("input_feeding") and r.get("batch_tokens") == bt and "tgt_tok_s" in r]
    recipe_epochs = translation_config(ctx, setup, "timebox").train.epochs
    rate = measured[0]["tgt_tok_s"] if measured else None
    reserve = 25.0 * ctx.scale  # evaluations, the checkpoint, the timed translation after load
    train_s = max(1.0, min(setup.train_s, clock.left() - reserve))
    epochs = min(recipe_epochs, ctx.sizes.max_epochs)
    if rate and "epoch_tokens" in ctx.cache:
        # Size the cosine schedule to end within train_s at the measured rate (85% of it: data
        # loading and logging); the recipe's own epochs when they fit.
        epochs = min(epochs, max(1, int(0.85 * train_s * rate / ctx.cache["epoch_tokens"])))
    trainer = make_trainer(ctx, setup, "timebox", f"train.batch_tokens={bt}", f"train.epochs={epochs}")
    epoch_tokens = sum(len(y) + 1 for _, y in trainer.task.train_pairs)
    src, ref = trainer.task.split_text("test")
    box: dict[str, Any] = {
        "batch_tokens": bt,
        "input_feeding": trainer.task.cfg.model.input_feeding,
        "amp": trainer.cfg.amp,
        "epochs": epochs,
        "recipe_epochs": recipe_epochs,
        "epoch_tgt_tokens": epoch_tokens,
        "train_s_budget": train_s,
        "test_sentences": len(src),
        "evaluations": [],
    }
    if rate:
        box["recipe_epochs_would_take_s"] = recipe_epochs * epoch_tokens / rate
    step["timebox"] = box
    points = set(range(1, epochs + 1)) if epochs <= 3 else {math.ceil(epochs / 2), math.ceil(3 * epochs / 4), epochs}
    limit = train_s * 1.15  # training seconds: an epoch slower than measured still stops near the budget
    trained, stopped, steps = 0.0, False, 0
    tokens = torch.zeros((), device=ctx.device)
    trainer.model.train()
    for epoch in range(epochs):
        trainer.epoch = epoch  # as fit sets it (the schedule reads it)
        start = now()
        for batch in trainer.batches(epoch):
            tokens += trainer.train_step(batch)
            steps += 1
            if trained + now() - start > limit or clock.out(reserve * 0.6):
                stopped = True
                break
        sync(ctx.device)
        trained += now() - start
        if epoch + 1 in points or stopped:
            bleu, seconds = bleu_of(ctx, trainer.model, trainer.task, src, ref)
            box["evaluations"].append(
                {
                    "epoch": epoch + 1 if not stopped else epoch + 0.5,
                    "steps": steps,
                    "train_s": trained,
                    "bleu": bleu,
                    "eval_s": seconds,
                }
            )
            print(f"translation: epoch {epoch + 1}, {trained:.1f} s of training: BLEU {bleu:.2f}", flush=True)
        if stopped:
            box["stopped"] = f"stopped inside epoch {epoch + 1} of {epochs}: out of time"
            step["status"] = "partial"
            break
    box["train_s"] = trained
    box["steps"] = steps
    box["tgt_tok_s"] = float(tokens) / trained if trained else None  # over the whole run, data loading included
    reached = [e for e in box["evaluations"] if e["bleu"] >= BLEU_TARGET]
    box["time_to_bleu_s"] = reached[0]["train_s"] if reached else None
    box["bleu"] = box["evaluations"][-1]["bleu"] if box["evaluations"] else None
    trainer.save(improved=True)
    trainer.release()
    best = trainer.out_dir / "best.pt"
    del trainer
    free_memory(ctx)
    ctx.cache["checkpoint"] = best
    # (c) beam 5 over test_2016_flickr after load
    from seq2seq.inference import load_model
    from seq2seq.translation.translator import BATCH_TOKENS, Translator

    loaded = load_model(best, str(ctx.device), task="translation", command="gpu_check")
    task = loaded.task
    beams: list[dict[str, Any]] = []
    step["beam"] = beams
    for batch_tokens in (BATCH_TOKENS, 8000):
        if clock.out(1.0):
            beams.append({"batch_tokens": batch_tokens, "note": "not measured: out of time"})
            step["status"] = "partial"
            continue
        translator = Translator(
            loaded.model, task.subwords, task.max_src_len, amp=loaded.cfg.train.amp, batch_tokens=batch_tokens
        )
        translator.best(src[: ctx.sizes.beam_warmup], loaded.cfg.search)  # warm-up: kernels, allocator
        bleu, seconds = bleu_of(ctx, loaded.model, task, src, ref, translator)
        beams.append(
            {
                "batch_tokens": batch_tokens,
                "beam": loaded.cfg.search.beam_size,
                "sentences": len(src),
                "seconds": seconds,
                "sent_s": len(src) / seconds,
                "bleu": bleu,
            }
        )
        print(
            f"translation: beam {loaded.cfg.search.beam_size}, {len(src)} sentences in {seconds:.3g} s "
            f"(batches of {batch_tokens} tokens)",
            flush=True,
        )
    del loaded
    free_memory(ctx)


# -- 3: video and music ------------------------------------------------------------------------
def repeated(fn: Callable[[], int], min_time: float) -> tuple[int, float]:
    """(frames, seconds) of calls of ``fn`` (returning frames) repeated for at least ``min_time``."""
    frames, start = 0, now()
    while True:
        frames += fn()
        if now() - start >= min_time:
            return frames, now() - start


def step_video(ctx: Context, clock: Clock, step: dict[str, Any]) -> None:
    if importlib.util.find_spec("av") is None:
        raise Skip("PyAV (av) is not installed: install the bundle's wheels (make gpu-bundle) first")
    from seq2seq.nn.models import Dims, build_model
    from seq2seq.registry import load_config
    from seq2seq.video.decode import Frames
    from seq2seq.video.features import Extractor, spec_for
    from seq2seq.video.synth import write_clip

    s = ctx.sizes
    clip = write_clip(ctx.work / "clip.mp4", seed=3, size=s.clip_size, fps=25)
    rows: list[dict[str, Any]] = []
    step["rows"] = rows
    step["clip"] = f"{s.clip_size}x{s.clip_size}, 25 fps, H.264, {len(clip.labels)} frames (seq2seq.video.synth)"
    frames, seconds = repeated(lambda: sum(1 for _ in Frames(clip.video, None)), s.min_time)
    ceiling = frames / seconds
    rows.append({"stage": "decode only (the ceiling)", "frames": frames, "frames_s": ceiling, "of_ceiling": 1.0})
    step["decode_frames_s"] = ceiling
    features = None
    for backbone in (DEFAULT_BACKBONE, "resnet50"):  # the extractor's default backbone, then a ResNet-50
        if clock.out(3.0):
            rows.append({"stage": f"decode + resize + {backbone}", "note": "not measured: out of time"})
            step["status"] = "partial"
            continue
        weights = "DEFAULT" if backbone == DEFAULT_BACKBONE else "none"  # speed does not depend on the values
        kind = "random" if weights == "none" else "pretrained"
        spec = spec_for(backbone, weights, s.frame_size, 25)
        extractor = Extractor(spec, ctx.device, batch_size=s.extract_batch)
        feats, *_ = extractor.clip(clip.video)  # warm-up: cuDNN plans, the allocator
        if backbone == DEFAULT_BACKBONE:
            features = feats
            ctx.cache["extractor"] = extractor
        frames, seconds = repeated(lambda extractor=extractor: len(extractor.clip(clip.video)[0]), s.min_time)
        sync(ctx.device)
        rate = frames / seconds
        rows.append(
            {
                "stage": f"decode + resize {s.frame_size} + {backbone} ({kind})",
                "frames": frames,
                "frames_s": rate,
                "of_ceiling": rate / ceiling,
            }
        )
        step[f"extract_{backbone}_of_ceiling"] = rate / ceiling
        del extractor
        free_memory(ctx)
    if features is None:
        return
    # Labelling: the video demo recipe's tagger (BiLSTM 2x64) on the features, then end to end.
    cfg = load_config("video/demo").model
    tagger = build_model(cfg, Dims(input_dim=features.shape[1], output_size=5)).to(ctx.device).eval()
    x = torch.from_numpy(features).float()[None].repeat(1, 20, 1).to(ctx.device)  # a 20x longer video
    with torch.inference_mode():
        tagger(x)
        sync(ctx.device)
        start = now()
        tagger(x)
        sync(ctx.device)
        rate = x.size(1) / (now() - start)
    rows.append(
        {
            "stage": "tagger on features (BiLSTM 2x64)",
            "frames": x.size(1),
            "frames_s": rate,
            "of_ceiling": rate / ceiling,
        }
    )
    extractor = ctx.cache.pop("extractor")

    def label() -> int:
        feats, *_ = extractor.clip(clip.video)
        with torch.inference_mode():
            logits, _ = tagger(torch.from_numpy(feats).to(ctx.device)[None])
            logits.argmax(-1).cpu()
        return len(feats)

    frames, seconds = repeated(label, s.min_time)
    rows.append(
        {
            "stage": f"labelling end to end (decode, {DEFAULT_BACKBONE}, tagger)",
            "frames": frames,
            "frames_s": frames / seconds,
            "of_ceiling": frames / seconds / ceiling,
        }
    )


def step_music(ctx: Context, clock: Clock, step: dict[str, Any]) -> None:
    from benchmarks.music import train_flops_per_frame
    from seq2seq.registry import load_config

    jsb = ctx.data / "polyphonic" / "JSB_Chorales.mat"
    if not jsb.is_file() and not ctx.dry:
        raise Skip(f"no JSB Chorales at {jsb}; give --data DIR")
    data = [f"data.path={jsb}"] if jsb.is_file() else ["data.path=", "data.grid=sixteenth", "data.corpus_pieces=40"]
    cfg = load_config(
        "music/jsb",
        [
            *data,
            f"train.out_dir={ctx.work / 'music'}",
            f"train.device={ctx.device}",
            "train.progress=false",
            "train.log_every=1000000",
        ],
    )
    trainer = trainer_class().from_config(cfg)
    r = timed_steps(ctx, trainer, endless(trainer), clock)
    m = cfg.model
    step["rows"] = [
        {
            "data": "JSB Chorales" if jsb.is_file() else "embedded chords",
            "model": f"{m.cell} {m.layers}x{m.hidden_size}",
            "batch": cfg.train.batch_size,
            "steps": r["steps"],
            "step_ms": r["step_ms"],
            "frames_s": r["items_s"],
            "mfu": mfu(ctx, r["items_s"] * train_flops_per_frame(m, trainer.task.dims)),
        }
    ]
    step["frames_s"] = r["items_s"]
    print(f"music: {r['items_s']:,.0f} frames/s", flush=True)
    trainer.release()
    del trainer
    free_memory(ctx)


# -- 4: the profiler ----------------------------------------------------------------------------
def profile_once(ctx: Context, fn: Callable[[], Any]):
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda(ctx) else [])
    with profile(activities=activities, profile_memory=True, record_shapes=False) as prof:
        fn()
        sync(ctx.device)
    return prof


def analyse(ctx: Context, prof, seconds: float, flops: float, weight_bytes: float, what: str) -> dict[str, Any]:
    """Top kernels, kernels launched, floors and the verdict of one profiled figure (rules: the
    module's docstring)."""
    from torch.autograd import DeviceType

    rows = prof.key_averages()
    on_gpu = cuda(ctx)
    if on_gpu:
        kernels = [r for r in rows if attr(r, "device_type", default=None) == DeviceType.CUDA]
        launched = int(sum(r.count for r in kernels))
        busy_us = float(sum(attr(r, "self_device_time_total", "self_cuda_time_total") for r in kernels))
        top = sorted(kernels, key=lambda r: -attr(r, "self_device_time_total", "self_cuda_time_total"))
        top_rows = [
            {
                "kernel": r.key[:80],
                "calls": r.count,
                "self_ms": attr(r, "self_device_time_total", "self_cuda_time_total") / 1e3,
            }
            for r in top[:8]
        ]
        allocated = sum(max(0, attr(r, "self_device_memory_usage", "self_cuda_memory_usage")) for r in rows)
    else:
        leaves = [e for e in prof.events() if not e.cpu_children and e.name.startswith("aten::")]
        launched = len(leaves)
        busy_us = None
        top = sorted(rows, key=lambda r: -r.self_cpu_time_total)
        top_rows = [{"op": r.key[:80], "calls": r.count, "self_ms": r.self_cpu_time_total / 1e3} for r in top[:8]]
        allocated = sum(max(0, attr(r, "self_cpu_memory_usage")) for r in rows)
    moved = 2.0 * allocated + weight_bytes
    floors = {
        "launch": launched * LAUNCH_US * 1e-6,
        "memory": moved / ctx.copy_bps if ctx.copy_bps else 0.0,
        "compute": flops / (ctx.peak_tflops * 1e12) if ctx.peak_tflops else 0.0,
    }
    out: dict[str, Any] = {
        "what": what,
        "seconds": seconds,
        "kernels": launched,
        "bytes_moved_est": moved,
        "flops": flops,
        "mfu": floors["compute"] / seconds,
        "achieved_tb_s": moved / seconds / 1e12,
        "floors_s": floors,
        "top": top_rows,
    }
    if on_gpu:
        busy = busy_us * 1e-6 / seconds
        out["device_busy"] = busy
        if floors["launch"] >= 0.5 * seconds or busy < 0.5:
            bound = "launch-bound"
        else:
            bound = "memory-bound" if floors["memory"] > floors["compute"] else "compute-bound"
        why = (
            f"{launched} kernels x {LAUNCH_US:g} us = {1e3 * floors['launch']:.3g} ms of {1e3 * seconds:.3g} ms; "
            f"device busy {busy:.0%}"
        )
    else:
        bound = f"{max(floors, key=floors.get)}-bound"
        why = f"{launched} ops x {LAUNCH_US:g} us = {1e3 * floors['launch']:.3g} ms of {1e3 * seconds:.3g} ms"
    out["bound"] = bound
    out["verdict"] = (
        f"{what}: {bound} ({why}; memory floor {1e3 * floors['memory']:.3g} ms, compute floor "
        f"{1e3 * floors['compute']:.3g} ms, MFU {out['mfu']:.2%})"
    )
    return out


def decoder_params(model) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if n.startswith("decoder."))


def step_profile(ctx: Context, clock: Clock, step: dict[str, Any]) -> None:
    setup = translation_setup(ctx)
    bt = setup.batch_tokens
    trainer = make_trainer(ctx, setup, "profile", f"train.batch_tokens={bt}", "train.log_every=1000000")
    batches = trainer.batches(0)
    batch = next(batches)
    del batches
    trainer.model.train()
    for _ in range(ctx.sizes.warmup + 1):
        trainer.train_step(batch)
    sync(ctx.device)
    times = []
    for _ in range(max(3, ctx.sizes.timed // 2)):
        start = now()
        trainer.train_step(batch)
        sync(ctx.device)
        times.append(now() - start)
    seconds = statistics.median(times)
    prof = profile_once(ctx, lambda: trainer.train_step(batch))
    trainer.release()  # unlocks the run folder; the model stays usable
    tokens = int((batch["tgt_out"] != 0).sum())
    params = sum(p.numel() for p in trainer.model.parameters())
    weights = 32.0 * params + 6.0 * decoder_params(trainer.model) * batch["tgt_in"].size(1)
    flops = flops_per_target_token(trainer) * tokens
    what = f"training step ({tokens} target tokens, batch_tokens {bt})"
    results = {"train_step": analyse(ctx, prof, seconds, flops, weights, what)}
    texts = [f"== {what}\n", table_text(prof, cuda(ctx))]
    # One beam search: the time-boxed run's checkpoint (else this untrained model) over test lines.
    model, task = trainer.model, trainer.task
    if ctx.cache.get("checkpoint") and Path(ctx.cache["checkpoint"]).is_file():
        from seq2seq.inference import load_model

        del trainer
        free_memory(ctx)
        loaded = load_model(ctx.cache["checkpoint"], str(ctx.device), task="translation", command="gpu_check")
        model, task = loaded.model, loaded.task
    if clock.out(5.0):
        step["status"] = "partial"
        step["reason"] = "no time left to profile the beam search"
        step.update(results)
        (ctx.out / "gpu_check_profile.txt").write_text("".join(texts), encoding="utf-8")
        return
    model.eval()
    src, _ = task.split_text("test")
    lines = src[: ctx.sizes.profile_sentences]
    translator = task.translator(model)
    search = task.cfg.search
    translator.best(lines[: ctx.sizes.beam_warmup], search)
    calls = {"n": 0}
    step_fn = model.step

    def counted(*a, **k):
        calls["n"] += 1
        return step_fn(*a, **k)

    model.step = counted  # counts the decoder steps (weights read at each), on this instance only
    sync(ctx.device)
    start = now()
    hyps = translator.best(lines, search)
    sync(ctx.device)
    beam_s = now() - start
    steps_counted = calls["n"]
    prof = profile_once(ctx, lambda: translator.best(lines, search))
    del model.step
    out_tokens = sum(len(ids) + 1 for ids in task.subwords.encode_tgt(hyps))
    flops = flops_per_target_token_model(task, model) / 3.0 * out_tokens * search.beam_size
    what = f"beam search ({len(lines)} sentences, beam {search.beam_size})"
    results["beam_search"] = analyse(ctx, prof, beam_s, flops, 2.0 * decoder_params(model) * steps_counted, what)
    results["beam_search"]["decoder_steps"] = steps_counted
    texts += [f"\n== {what}\n", table_text(prof, cuda(ctx))]
    (ctx.out / "gpu_check_profile.txt").write_text("".join(texts), encoding="utf-8")
    step.update(results)
    for r in results.values():
        print(f"profile: {r['verdict']}", flush=True)
    free_memory(ctx)


def flops_per_target_token_model(task, model) -> float:
    """Training FLOPs per target token of a loaded translation model, from its config and sizes
    (lengths: the test split's, about the training data's)."""
    from benchmarks.translation import train_flops_per_target_token

    src, ref = task.split_text("test")
    s = [len(x) for x in task.subwords.encode_src(src)]
    t = [len(x) + 1 for x in task.subwords.encode_tgt(ref)]
    return train_flops_per_target_token(task.cfg.model, task.dims, sum(s) / sum(t), sum(s) / len(s))


def table_text(prof, on_gpu: bool) -> str:
    key = "self_cpu_time_total"
    if on_gpu:
        key = "self_device_time_total"
    try:
        return prof.key_averages().table(sort_by=key, row_limit=25) + "\n"
    except (AttributeError, KeyError, ValueError):
        return prof.key_averages().table(sort_by="self_cuda_time_total" if on_gpu else key, row_limit=25) + "\n"


# -- the targets and the block ----------------------------------------------------------------
def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    steps = result.get("steps", {})
    tr = steps.get("translation", {})
    video = steps.get("video", {})
    rows: list[dict[str, Any]] = []
    box = tr.get("timebox") or {}
    bt = box.get("batch_tokens")
    rate = next(
        (
            r["tgt_tok_s"]
            for r in tr.get("throughput", [])
            if r.get("input_feeding") and r.get("batch_tokens") == bt and "tgt_tok_s" in r
        ),
        None,
    )
    best = max((r["tgt_tok_s"] for r in tr.get("throughput", []) if "tgt_tok_s" in r), default=None)
    rows.append(
        {
            "figure": f"training target tokens/s (the recipe's model, input feeding, {bt or '?'}-token batches, "
            f"bf16)" + (f"; best of the table {fmt(best)}" if best else ""),
            "target": TARGETS["train_tok_s"],
            "value": rate,
            "shown": fmt(rate) if rate else "not measured",
            "met": None if rate is None else rate >= 300_000,
        }
    )
    if box.get("evaluations"):
        t = box.get("time_to_bleu_s")
        shown = (
            f"{t:.1f} s ({box['evaluations'][-1]['bleu']:.2f} BLEU at the end, {box['epochs']} epoch(s))"
            if t
            else f"not reached: {box['bleu']:.2f} BLEU after {box['train_s']:.1f} s ({box['epochs']} epoch(s))"
        )
        rows.append(
            {
                "figure": "time to 39 BLEU on test_2016_flickr (beam 5)",
                "target": TARGETS["time_to_bleu"],
                "value": t,
                "shown": shown,
                "met": t is not None and t <= 90.0,
            }
        )
    else:
        rows.append(
            {
                "figure": "time to 39 BLEU on test_2016_flickr (beam 5)",
                "target": TARGETS["time_to_bleu"],
                "value": None,
                "shown": "not measured",
                "met": None,
            }
        )
    beams = [b for b in tr.get("beam", []) if "seconds" in b]
    fastest = min(beams, key=lambda b: b["seconds"]) if beams else None
    rows.append(
        {
            "figure": f"beam 5 over test_2016_flickr ({fastest['sentences'] if fastest else '?'} sentences)",
            "target": TARGETS["beam_s"],
            "value": fastest and fastest["seconds"],
            "shown": f"{fastest['seconds']:.3g} s (batches of {fastest['batch_tokens']} tokens)"
            if fastest
            else "not measured",
            "met": None if fastest is None else fastest["seconds"] <= 0.2,
        }
    )
    for backbone in (DEFAULT_BACKBONE, "resnet50"):
        share = video.get(f"extract_{backbone}_of_ceiling")
        default = " (the default backbone)" if backbone == DEFAULT_BACKBONE else ""
        rows.append(
            {
                "figure": f"feature extraction, {backbone}{default}, frames/s of decode-only",
                "target": TARGETS["extract"],
                "value": share,
                "shown": f"{share:.1%}" if share is not None else "not measured",
                "met": None if share is None else share >= 0.8,
            }
        )
    return rows


def render(result: dict[str, Any]) -> str:
    m = result.get("machine", {})
    steps = result.get("steps", {})
    dry = result.get("dry_run")
    peaks = steps.get("device", {}).get("peaks", {})
    what = m.get("gpu") or m.get("cpu") or m.get("device", "?")
    parts = [
        f"Command: `{result['command']}` ({result['date']}), {result['elapsed_s']:.0f} s of a "
        f"{result['budget_s']:.0f} s budget.",
        f"Machine: {what}"
        + (
            f" ({m['multiprocessors']} SMs, {m['memory_gib']} GiB, CUDA {m['cuda']}, cuDNN {m['cudnn']})"
            if "gpu" in m
            else ""
        )
        + f", torch {m.get('torch', '?')}, Python {m.get('python', '?')}, {m.get('cpu_threads', '?')} CPU threads.",
    ]
    if peaks:
        parts.append(
            f"Measured in this run: bf16 matmul {peaks['bf16_tflops']:.3g} TFLOP/s, float32 {peaks['fp32_tflops']:.3g}"
            + (f", TF32 {peaks['tf32_tflops']:.3g}" if "tf32_tflops" in peaks else "")
            + f" (n = {peaks['n']}); device copy {peaks['copy_tb_s']:.3g} TB/s (read + written). "
            f"MFU is against the {peaks['mfu_against'].split('_')[0]} figure."
        )
    if dry:
        parts.append(
            "**Dry run**: the CPU at toy sizes; these figures exercise the script, they do not measure the targets."
        )
    rows = []
    for t in result.get("targets", []):
        verdict = "n/a (dry run)" if dry else ("not measured" if t["met"] is None else ("pass" if t["met"] else "miss"))
        rows.append({"figure": t["figure"], "target": t["target"], "measured": t["shown"], "": verdict})
    parts += ["", table(rows)]
    c = steps.get("correctness", {})
    if c:
        failed = [t for t in c.get("tests", []) if t["outcome"] in ("failed", "error")]
        line = (
            f"\nCorrectness (`{c.get('command', 'pytest -m cuda ' + TEST_FILE)}`): {c.get('passed', 0)} passed, "
            f"{c.get('failed', 0)} failed, {c.get('error', 0)} errors, {c.get('skipped', 0)} skipped"
        )
        line += f" ({c['reason']})." if c.get("reason") else "."
        parts.append(line)
        parts += [f"- failed: `{t['name']}`: {t['message']}" for t in failed]
    for name, step in steps.items():
        status = step.get("status", "ok")
        if status != "ok":
            parts.append(
                f"\nStep {name}: {status}"
                + (f" ({step.get('reason') or step.get('error')})" if step.get("reason") or step.get("error") else "")
            )
    tr = steps.get("translation", {})
    if tr.get("throughput"):
        parts += [
            f"\n#### translation: training throughput ({tr.get('data')}, `Trainer.train_step`, "
            f"{tr['throughput'][0].get('steps', '?')} timed steps after warm-up)\n",
            table(tr["throughput"]),
        ]
    box = tr.get("timebox")
    if box:
        parts.append(
            f"\n#### translation: time-boxed training, {box['batch_tokens']}-token batches, {box['epochs']} of the "
            f"recipe's {box['recipe_epochs']} epochs (cosine over them), {box['amp']}\n"
        )
        if box.get("recipe_epochs_would_take_s"):
            parts.append(
                f"The recipe's {box['recipe_epochs']} epochs would take about "
                f"{box['recipe_epochs_would_take_s']:.0f} s at the measured rate.\n"
            )
        parts.append(table(box["evaluations"]))
        if box.get("stopped"):
            parts.append(f"\n{box['stopped']}.")
    if tr.get("beam"):
        parts += [
            "\n#### translation: beam search over test_2016_flickr after load (synchronised)\n",
            table(tr["beam"]),
        ]
    v = steps.get("video", {})
    if v.get("rows"):
        parts += [f"\n#### video: {v.get('clip', '')}\n", table(v["rows"])]
    mu = steps.get("music", {})
    if mu.get("rows"):
        parts += ["\n#### music: training (`Trainer.train_step`, recipe `music/jsb`)\n", table(mu["rows"])]
    p = steps.get("profile", {})
    verdicts = [p[k]["verdict"] for k in ("train_step", "beam_search") if k in p]
    if verdicts:
        parts.append("\n#### profile (torch.profiler): what bounds each figure\n")
        parts += [f"- {x}" for x in verdicts]
        for k in ("train_step", "beam_search"):
            if k in p and p[k].get("top"):
                parts += [f"\nTop of the {k.replace('_', ' ')}:\n", table(p[k]["top"])]
    return "\n".join(parts) + "\n"


# -- the run -----------------------------------------------------------------------------------
STEPS: dict[str, Callable[[Context, Clock, dict[str, Any]], None]] = {
    "device": step_device,
    "correctness": step_correctness,
    "translation": step_translation,
    "video": step_video,
    "music": step_music,
    "profile": step_profile,
}


def run_step(ctx: Context, name: str) -> None:
    start = now()
    clock = Clock(min(ctx.end, start + SHARES[name] * ctx.scale))
    step: dict[str, Any] = {"status": "ok"}
    ctx.result["steps"][name] = step
    print(f"== {name} ({clock.left():.0f} s)", flush=True)
    try:
        STEPS[name](ctx, clock, step)
    except Skip as e:
        step["status"] = "skipped"
        step["reason"] = str(e)
        print(f"{name}: skipped: {e}", flush=True)
    except Exception as e:  # noqa: BLE001 -- one step's failure is reported; the others still run
        step["status"] = "error"
        step["error"] = error_text(e)
        step["traceback"] = traceback.format_exc()[-3000:]
        print(f"{name}: error: {error_text(e)}", flush=True)
        free_memory(ctx)
    step["seconds"] = now() - start


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers separated by commas, e.g. 1000,2000") from None
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected positive numbers")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="every step on the CPU at toy sizes")
    parser.add_argument("--data", type=Path, default=SHARED, help=f"holds multi30k/ and polyphonic/ (default {SHARED})")
    parser.add_argument("--out", type=Path, default=Path("runs/gpu_check"), help="where the JSON and the block go")
    parser.add_argument("--docs", action="store_true", help="replace the bench:gpu block of docs/benchmarks.md")
    parser.add_argument("--docs-file", type=Path, default=DOCS, help=argparse.SUPPRESS)
    parser.add_argument("--budget-s", type=float, default=BUDGET, help="seconds for the whole run (default 360)")
    parser.add_argument(
        "--batch-tokens",
        type=int,
        default=1000,
        help="the time-boxed run's batches (default 1000, the recipe's: its notes say larger batches lost test BLEU)",
    )
    parser.add_argument(
        "--batch-sizes",
        type=parse_sizes,
        default=[1000, 2000, 4000, 8000],
        help="batch_tokens of the throughput table (default 1000,2000,4000,8000)",
    )
    parser.add_argument("--train-s", type=float, default=90.0, help="training seconds of the time-boxed run (90)")
    parser.add_argument("--only", action="append", choices=list(STEPS), help="run only these steps (repeatable)")
    parser.add_argument("--render", type=Path, help="re-render the block of an earlier run's gpu_check.json")
    given = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(given)
    if args.docs and args.dry_run and args.docs_file == DOCS:
        parser.error("--docs with --dry-run: a dry run's toy figures do not go into docs/benchmarks.md")
    if args.render:
        result = json.loads(args.render.read_text(encoding="utf-8"))
        block = render(result)
        print(block)
        if args.docs:
            if result.get("dry_run") and args.docs_file == DOCS:
                parser.error(f"{args.render} is a dry run's: its figures do not go into docs/benchmarks.md")
            write_docs(block, "gpu", args.docs_file)
            print(f"replaced the bench:gpu block of {args.docs_file}")
        return 0
    started = now()
    if args.dry_run:
        os.environ["SEQ2SEQ_CHECK_DEVICE"] = "cpu"
    from seq2seq.runtime import resolve_device

    device = resolve_device("cpu" if args.dry_run else ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type != "cuda" and not args.dry_run:
        print(
            "gpu_check: no CUDA GPU here; the figures below are the CPU's (use --dry-run for the quick check)",
            file=sys.stderr,
        )
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks.gpu_check", *given]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "dry_run": args.dry_run,
        "budget_s": args.budget_s,
        "rules": {"launch_us": LAUNCH_US, "bleu_target": BLEU_TARGET, "shares_s": SHARES, "targets": TARGETS},
        "machine": {"device": str(device), "python": platform.python_version(), "torch": torch.__version__},
        "steps": {},
    }
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
        ctx = Context(
            args,
            args.dry_run,
            device,
            args.data.resolve(),
            Path(tmp),
            out,
            DRY_SIZES if args.dry_run else GPU_SIZES,
            started + args.budget_s,
            args.budget_s / BUDGET,
            result,
        )
        for name in STEPS:
            if args.only and name not in args.only and name != "device":
                continue
            run_step(ctx, name)
            write(out, result, started)  # what is done so far survives a kill
    write(out, result, started)
    block = render(result)
    (out / "gpu_check.md").write_text(block, encoding="utf-8")
    print("\n" + block)
    if args.docs:
        write_docs(block, "gpu", args.docs_file)
        print(f"replaced the bench:gpu block of {args.docs_file}")
    print(f"wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'} in {now() - started:.0f} s")
    return 0


def write(out: Path, result: dict[str, Any], started: float) -> None:
    result["elapsed_s"] = now() - started
    result["targets"] = targets(result)
    (out / "gpu_check.json").write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    (out / "gpu_check.md").write_text(render(result), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
