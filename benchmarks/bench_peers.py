"""``make bench-peers``: our toolkit against JoeyNMT 2.3.0, same data, model size and machine, one run.

    python -m benchmarks.bench_peers [--data DIR] [--peer-python .venv-peers/bin/python] [--docs]

Both toolkits train the same model (bidirectional LSTM encoder, attentional LSTM decoder, same
embedding / hidden sizes and layers, Luong 'general' attention, same dropout) with Adam at a
constant rate, the same batch size in tokens, on the same fixed Multi30k slice with one joint
SentencePiece model (the same pieces), for the same number of epochs (so on exactly the same
target tokens), on the CPU, one after the other, each with the same number of threads. Then both
translate the same test sentences with beam 5 (batched, the same length penalty).

Measured the same way for both:
- training target tokens/s: target tokens (subwords + EOS) over the seconds of the training
  steps, start-up and validation excluded (JoeyNMT: its epoch summaries; ours: the ``items`` and
  ``seconds`` of the trainer's per-step log, validated only after the last step);
- translation sentences/s: test sentences over the seconds from the loaded model to the
  translations (JoeyNMT: its 'Generation took'; ours: the Translator call);
- BLEU (sacreBLEU, detokenised) of both outputs, scored by the same code.

A run that is not fair fails instead of reporting: the peer's logged learning rate must be the
configured one on every step, both must have trained on the same number of target tokens, torch
must be the same version in both environments. When a goal is missed, a torch.profiler profile
of our training steps and translation says where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import peer_joeynmt as joey
from benchmarks.common import REPO, SHARED, machine, table, write_docs
from benchmarks.peer_joeynmt import PeerError

if TYPE_CHECKING:
    from seq2seq.config import Config, SearchConfig
    from seq2seq.inference import Loaded
    from seq2seq.translation.translator import Translator
GOALS = {"train": 1.5, "translate": 3.0}
# Our task drops training pairs by these rules; the slice is filtered by the same rules first,
# so neither toolkit drops anything and both see the same pairs.
MAX_LEN, MAX_RATIO = 100, 3.0
VARIANTS = {"feed": True, "nofeed": False}  # decoder input feeding on / off, in both toolkits


@dataclass
class Settings:
    """Everything both toolkits share; the defaults take a few minutes per run on one core."""

    train_sentences: int = 4000
    valid_sentences: int = 100  # JoeyNMT needs a dev set; ours validates once, after the timed steps
    test_sentences: int = 1000  # 0: the whole test set
    vocab_size: int = 2000
    embed_dim: int = 256
    hidden_size: int = 256
    layers: int = 1
    dropout: float = 0.2
    batch_tokens: int = 2000
    lr: float = 2e-3
    clip_norm: float = 5.0
    epochs: int = 3
    seed: int = 1
    beam: int = 5
    alpha: float = 1.0
    max_len_ratio: float = 1.5  # JoeyNMT's default limit: 1.5 x the source length
    translate_batch_tokens: int = 2000
    translate_amp: str = "bf16"  # ours: bf16 autocast in beam search (JoeyNMT has none on the CPU); off: fp32
    threads: int = 1


# What --retranslate may change: the search, not the training.
TRANSLATION_SETTINGS = ("beam", "alpha", "max_len_ratio", "translate_batch_tokens", "translate_amp", "test_sentences")


def find_split(data_dir: Path, split: str, lang: str) -> Path:
    for name in (f"{split}.{lang}.gz", f"{split}.{lang}"):
        if (data_dir / name).is_file():
            return data_dir / name
    raise PeerError(f"{data_dir}: no {split}.{lang}.gz or {split}.{lang}; give --data a Multi30k folder")


@dataclass
class Slice:
    """The prepared data: plain-text files both toolkits read, and the shared subword model."""

    dir: Path
    spm: Path
    vocab: Path  # JoeyNMT's vocabulary file: the SentencePiece pieces
    pieces: int
    train_pairs: int
    dropped: int
    test_sentences: int

    def prefix(self, split: str) -> str:
        return str(self.dir / split)

    def path(self, split: str, lang: str) -> Path:
        return self.dir / f"{split}.{lang}"


def prepare_slice(data_dir: Path, out: Path, s: Settings) -> Slice:
    """First ``train_sentences`` Multi30k pairs (filtered by our task's length rules), the first
    validation / test sentences, and one joint unigram SentencePiece model trained on the slice."""
    from seq2seq.translation import subwords
    from seq2seq.translation.task import filter_pairs
    from seq2seq.translation.text import read_parallel, write_lines

    src, tgt = read_parallel(find_split(data_dir, "train", "en"), find_split(data_dir, "train", "de"))
    src, tgt = src[: s.train_sentences], tgt[: s.train_sentences]
    proto = subwords.train([*src, *tgt], s.vocab_size, "unigram", f"{data_dir} (training slice)")
    sp = subwords.load(proto, "bench slice")
    out.mkdir(parents=True, exist_ok=True)
    spm_path = out / "spm.model"
    spm_path.write_bytes(proto)
    pairs = list(zip(sp.encode(src, out_type=int), sp.encode(tgt, out_type=int), strict=True))
    keep, _ = filter_pairs(pairs, MAX_LEN, MAX_RATIO)
    write_lines(out / "train.en", [src[i] for i in keep])
    write_lines(out / "train.de", [tgt[i] for i in keep])
    for split, name, n in (("valid", "val", s.valid_sentences), ("test", "test_2016_flickr", s.test_sentences)):
        a, b = read_parallel(find_split(data_dir, name, "en"), find_split(data_dir, name, "de"), split)
        n = n or len(a)
        write_lines(out / f"{split}.en", a[:n])
        write_lines(out / f"{split}.de", b[:n])
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    write_lines(out / "vocab.txt", joey.vocab_lines(pieces))
    test_n = len((out / "test.en").read_text(encoding="utf-8").splitlines())
    return Slice(out, spm_path, out / "vocab.txt", len(pieces), len(keep), len(pairs) - len(keep), test_n)


# -- our side ----------------------------------------------------------------------------------
RECIPE_HEADER = "Written by python -m benchmarks.bench_peers: the same model and budget as the JoeyNMT config."


def ours_config(s: Settings, data: Slice, out_dir: Path, input_feeding: bool, max_steps: int) -> Config:
    """Our recipe for the bench: the same model, data and optimiser as the peer's config.
    Validation only once, after the last timed step (``eval_every = max_steps``). Written for
    the training subprocess with ``seq2seq.config.to_toml``."""
    from seq2seq.registry import check, from_dict

    raw: dict[str, Any] = {
        "task": "translation",
        "data": {
            "corpus": "files",
            "train_src": str(data.path("train", "en")),
            "train_tgt": str(data.path("train", "de")),
            "valid_src": str(data.path("valid", "en")),
            "valid_tgt": str(data.path("valid", "de")),
            "subwords": "joint",
            "subword_models": [str(data.spm)],
            "max_len": MAX_LEN,
            "max_ratio": MAX_RATIO,
            "valid_size": s.valid_sentences,
        },
        "model": {
            "kind": "encoder_decoder",
            "cell": "lstm",
            "embed_dim": s.embed_dim,
            "hidden_size": s.hidden_size,
            "layers": s.layers,
            "decoder_layers": s.layers,
            "bidirectional": True,
            "dropout": s.dropout,
            "embed_dropout": 0.0,
            "attention": "general",
            "input_feeding": input_feeding,
            "bridge": True,
            "tie_embeddings": False,
            "share_embeddings": False,
        },
        "train": {
            "out_dir": str(out_dir),
            "seed": s.seed,
            "device": "cpu",
            "epochs": s.epochs,
            "max_steps": max_steps,
            "batch_tokens": s.batch_tokens,
            "optimizer": "adam",
            "lr": s.lr,
            "beta1": 0.9,
            "beta2": 0.999,
            "weight_decay": 0.0,
            "scheduler": "constant",
            "clip_norm": s.clip_norm,
            "label_smoothing": 0.0,
            "amp": "off",
            "eval_every": max_steps,
            "log_every": 1,
            "metric": "bleu",
            "keep_last": 1,
            "progress": False,
        },
        "search": {
            "beam_size": s.beam,
            "length_penalty": s.alpha,
            "max_len_ratio": s.max_len_ratio,
            "max_len_offset": 1,
        },
    }
    cfg = from_dict(raw, "bench-peers recipe")
    check(cfg, where="bench-peers recipe")
    return cfg


def steps_per_epoch(cfg: Config) -> int:
    """Batches in one epoch of our task for this config (the same every epoch)."""
    from seq2seq.registry import make_task

    task = make_task(cfg)
    task.prepare()
    return len(task.train_batches(0))


@dataclass
class TrainStats:
    tokens: int
    seconds: float
    steps: int
    lrs: list[float]

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def parse_metrics(path: Path) -> TrainStats:
    """Training totals from our trainer's metrics.jsonl written with ``log_every = 1``: each
    record's ``items`` (target tokens) and ``seconds`` cover the steps since the previous record
    (the first: since training began). A validation inside the timed steps is an error."""
    if not path.is_file():
        raise PeerError(f"{path}: no metrics log; our training did not run")
    tokens = seconds = 0.0
    steps, lrs, validated = 0, [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            raise PeerError(f"{path}:{number}: not a JSON record") from None
        if r.get("kind") == "valid":
            validated = True
        elif r.get("kind") == "train":
            if validated:
                raise PeerError(f"{path}:{number}: a validation ran inside the timed steps; the bench sets eval_every")
            try:
                tokens += r["items"]
                seconds += r["seconds"]
            except KeyError as e:
                raise PeerError(f"{path}:{number}: a train record without {e}; written by an older trainer?") from None
            steps = r["step"]
            lrs.append(r["lr"])
    if steps == 0:
        raise PeerError(f"{path}: no training record")
    return TrainStats(round(tokens), seconds, steps, lrs)


def our_search(loaded: Loaded, s: Settings) -> tuple[Translator, SearchConfig]:
    """The checkpoint's translator (its subwords and length limit) with the bench's precision and
    search batches, and the search the peer runs too."""
    from seq2seq.translation.translator import Translator

    task = loaded.task
    translator = Translator(
        loaded.model, task.subwords, task.max_src_len, amp=s.translate_amp, batch_tokens=s.translate_batch_tokens
    )
    search = replace(
        loaded.cfg.search, beam_size=s.beam, length_penalty=s.alpha, nbest=1, max_len_ratio=s.max_len_ratio,
        max_len_offset=1,
    )  # fmt: skip
    return translator, search


def translate_ours(checkpoint: Path, lines: list[str], s: Settings) -> tuple[list[str], float, int]:
    """Our translations of ``lines``, the seconds from the loaded model to the text, and the
    model's parameter count."""
    import torch

    from seq2seq.inference import load_model

    torch.set_num_threads(s.threads)
    loaded = load_model(checkpoint, "cpu", task="translation", command="bench-peers")
    translator, search = our_search(loaded, s)
    start = time.perf_counter()
    hyps = translator.best(lines, search)
    seconds = time.perf_counter() - start
    return hyps, seconds, sum(p.numel() for p in loaded.model.parameters())


def output_tokens(spm_path: Path, hyps: list[str]) -> int:
    """Subwords (+ EOS) the translations hold: beam search time grows with them, so when one
    toolkit's outputs are longer (an undertrained model repeating itself up to the length
    limit), sentences/s favours the other and output tokens/s is the fairer rate."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(spm_path))
    return sum(len(ids) + 1 for ids in sp.encode(hyps))


# -- running -----------------------------------------------------------------------------------
@dataclass
class Process:
    wall: float
    cpu: float  # user + system seconds of the process: cpu / wall near the thread count = uncontended


def run(cmd: list[str], log: Path, threads: int, cwd: Path = REPO) -> Process:
    """Run ``cmd`` with ``threads`` math threads, its output in ``log``; fail naming the log."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or [""]
        raise PeerError(f"{' '.join(cmd[:4])} ... failed (exit {proc.returncode}); see {log}: {tail[0][:200]}")
    return Process(wall, usage.ru_utime + usage.ru_stime)


def peer_versions(python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({p: m.version(p) for p in ('joeynmt', 'torch', 'sentencepiece')}))"
    )
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise PeerError(
            f"{python}: cannot read the peer's versions ({e}); run `make bench-peers` to (re)build it"
        ) from None
    return json.loads(out.strip().splitlines()[-1])


def check_versions(peer: dict[str, str]) -> None:
    import torch

    if peer["joeynmt"] != "2.3.0":
        raise PeerError(f"the peer environment has JoeyNMT {peer['joeynmt']}, the bench is written for 2.3.0")
    if peer["torch"].split("+")[0] != torch.__version__.split("+")[0]:
        raise PeerError(
            f"torch {peer['torch']} in the peer environment but {torch.__version__} here: rebuild it with "
            f"`make bench-peers` (it pins torch with -c constraints.txt)"
        )


def check_same_data(ours: int, theirs: int, where: str) -> None:
    """Both trained for the same epochs of the same pairs: their target-token totals must agree."""
    if abs(ours - theirs) > 0.001 * max(ours, theirs):
        raise PeerError(
            f"{where}: ours trained on {ours} target tokens, JoeyNMT on {theirs}: the two did not see the same data"
        )


def check_constant(lrs: list[float], lr: float, where: str) -> None:
    wrong = sorted({x for x in lrs if abs(x - lr) > 1e-9 * lr})
    if wrong:
        raise PeerError(f"{where}: learning rate {wrong[0]:g} logged, configured {lr:g}")


def train_ours(name: str, s: Settings, data: Slice, work: Path) -> tuple[TrainStats, Process]:
    """Our training through the CLI, as a user runs it, for whole epochs of the slice."""
    out_dir, recipe = work / f"ours-{name}", work / f"ours-{name}.toml"
    shutil.rmtree(out_dir, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    from seq2seq.config import to_toml

    steps = steps_per_epoch(ours_config(s, data, out_dir, VARIANTS[name], 0)) * s.epochs
    recipe.write_text(to_toml(ours_config(s, data, out_dir, VARIANTS[name], steps), RECIPE_HEADER), encoding="utf-8")
    print(f"[{name}] ours: training {steps} steps ...", flush=True)
    proc = run(
        [sys.executable, "-m", "seq2seq", "train", str(recipe)], work / "logs" / f"ours-{name}-train.log", s.threads
    )
    stats = parse_metrics(out_dir / "metrics.jsonl")
    check_constant(stats.lrs, s.lr, f"ours ({name})")
    return stats, proc


def joeynmt_configs(name: str, s: Settings, data: Slice, work: Path) -> tuple[Path, Path]:
    """JoeyNMT's training and test configs for a variant (the same model, budget and search)."""
    size = joey.ModelSize(s.embed_dim, s.hidden_size, s.layers, s.dropout, VARIANTS[name])
    budget = joey.TrainBudget(s.lr, s.batch_tokens, s.epochs, s.clip_norm, s.seed)
    search = joey.Search(s.beam, s.alpha, s.translate_batch_tokens)
    paths = {
        "train": data.prefix("train"), "dev": data.prefix("valid"), "test": data.prefix("test"),
        "spm": str(data.spm), "vocab": str(data.vocab),
    }  # fmt: skip
    model_dir = work / f"joeynmt-{name}"

    def write(mode: str) -> Path:
        cfg = joey.config(size, budget, search, paths, model_dir, mode)
        return joey.write_config(cfg, work / f"joeynmt-{name}-{mode}.yaml")

    return write("train"), write("test")


def train_joeynmt(name: str, s: Settings, config: Path, work: Path, python: Path) -> tuple[joey.TrainLog, Process]:
    print(f"[{name}] JoeyNMT: training {s.epochs} epochs ...", flush=True)
    log = work / "logs" / f"joeynmt-{name}-train.log"
    proc = run([str(python), "-m", "joeynmt", "train", str(config), "--skip-test"], log, s.threads)
    stats = joey.parse_train_log(log.read_text(encoding="utf-8"), str(log))
    joey.check_constant_lr(stats, s.lr, f"JoeyNMT ({name}, {log})")
    return stats, proc


def translate_joeynmt(name: str, s: Settings, config: Path, work: Path, python: Path) -> tuple[list[str], float]:
    """JoeyNMT's translations of the test set and its own generation seconds."""
    from seq2seq.translation.text import read_lines

    log, prefix = work / "logs" / f"joeynmt-{name}-test.log", work / f"joeynmt-{name}.hyp"
    run([str(python), "-m", "joeynmt", "test", str(config), "--output-path", str(prefix)], log, s.threads)
    return read_lines(Path(f"{prefix}.test")), joey.parse_generation_seconds(log.read_text(encoding="utf-8"), str(log))


def bench_variant(
    name: str, s: Settings, data: Slice, work: Path, python: Path, trained: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train and translate with both toolkits, one after the other, for one decoder variant.
    ``trained``: this variant's result from an earlier run in ``work``, whose models are
    translated again (its training figures are kept) instead of training new ones."""
    from seq2seq.translation.bleu import score
    from seq2seq.translation.text import read_lines, write_lines

    sources, refs = read_lines(data.path("test", "en")), read_lines(data.path("test", "de"))
    train_yaml, test_yaml = joeynmt_configs(name, s, data, work)
    if trained is None:
        ours, p_ours = train_ours(name, s, data, work)
        theirs, p_joey = train_joeynmt(name, s, train_yaml, work, python)
        check_same_data(ours.tokens, theirs.tokens, name)
    print(f"[{name}] translating {len(sources)} sentences with beam {s.beam} ...", flush=True)
    ours_hyps, ours_s, ours_params = translate_ours(work / f"ours-{name}" / "best.pt", sources, s)
    write_lines(work / f"ours-{name}.hyp", ours_hyps)
    joey_hyps, joey_s = translate_joeynmt(name, s, test_yaml, work, python)

    def training(train: TrainStats | joey.TrainLog, proc: Process, params: int) -> dict[str, Any]:
        return {
            "params": params, "steps": train.steps, "train_tokens": train.tokens, "train_s": train.seconds,
            "train_tok_s": train.tokens_per_s, "cpu_share": proc.cpu / proc.wall,
        }  # fmt: skip

    def translation(hyps: list[str], secs: float) -> dict[str, Any]:
        out, scores = output_tokens(data.spm, hyps), score(hyps, refs)
        return {
            "translate_s": secs, "sent_s": len(hyps) / secs, "hyp_len": out / len(hyps) - 1, "out_tok_s": out / secs,
            "bleu": scores.bleu, "chrf": scores.chrf, "bleu_signature": scores.bleu_signature,
        }  # fmt: skip

    if trained is None:
        a = {**training(ours, p_ours, ours_params), **translation(ours_hyps, ours_s)}
        b = {**training(theirs, p_joey, theirs.params), **translation(joey_hyps, joey_s)}
    else:
        keys = ("params", "steps", "train_tokens", "train_s", "train_tok_s", "cpu_share")
        a = {**{k: trained["ours"][k] for k in keys}, **translation(ours_hyps, ours_s)}
        b = {**{k: trained["joeynmt"][k] for k in keys}, **translation(joey_hyps, joey_s)}
    ratios = {
        "train": a["train_tok_s"] / b["train_tok_s"],
        "translate": a["sent_s"] / b["sent_s"],
        "translate_tokens": a["out_tok_s"] / b["out_tok_s"],
        "hyp_len": a["hyp_len"] / max(b["hyp_len"], 1e-9),
        "bleu_delta": a["bleu"] - b["bleu"],
    }
    goals_met = {
        "train": ratios["train"] >= GOALS["train"],
        "translate": ratios["translate"] >= GOALS["translate"],
        "bleu": a["bleu"] >= b["bleu"],
    }
    return {"ours": a, "joeynmt": b, "ratios": ratios, "goals_met": goals_met}


# -- profile -----------------------------------------------------------------------------------
def _top_ops(prof, wall: float, limit: int = 10) -> dict[str, Any]:
    """The ops with the most self CPU time, and how much of the wall time no op accounts for
    (Python, dispatch, the interpreter loop around the kernels)."""
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total_ops = sum(e.self_cpu_time_total for e in events) / 1e6
    rows = [
        {
            "op": e.key,
            "calls": e.count,
            "self_s": e.self_cpu_time_total / 1e6,
            "share": e.self_cpu_time_total / 1e6 / wall,
        }
        for e in events[:limit]
    ]
    return {"wall_s": wall, "ops_s": total_ops, "outside_ops_share": max(0.0, 1 - total_ops / wall), "top": rows}


def profile_ours(recipe: Path, checkpoint: Path, lines: list[str], s: Settings, out: Path) -> dict[str, Any]:
    """torch.profiler over a few of our training steps (the trainer's ``train_step``: forward,
    backward, clipping, the optimizer step) and one translation call; full tables go to ``out``."""
    from itertools import islice

    import torch
    from torch.profiler import ProfilerActivity, profile

    from seq2seq.inference import load_model
    from seq2seq.registry import load_config
    from seq2seq.trainer import Trainer

    torch.set_num_threads(s.threads)
    # A fresh run folder (the recipe's holds the trained run's checkpoints); no logging in the steps.
    cfg = load_config(recipe, [f"train.out_dir={out / 'profile-run'}", "train.log_every=1000000"])
    trainer = Trainer.from_config(cfg)
    trainer.model.train()
    batches = list(islice(trainer.batches(0), 8))
    result: dict[str, Any] = {}
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for batch in batches:
            trainer.train_step(batch)
        wall = time.perf_counter() - start
    (out / "profile-train.txt").write_text(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))
    result["train"] = _top_ops(prof, wall)
    loaded = load_model(checkpoint, "cpu", task="translation")
    translator, search = our_search(loaded, s)
    few = lines[:200]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        translator.best(few, search)
        wall = time.perf_counter() - start
    (out / "profile-translate.txt").write_text(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))
    result["translate"] = _top_ops(prof, wall)
    return result


# -- report ------------------------------------------------------------------------------------
LOW_BLEU = " BLEU after so short a budget is low for both: it says the two learn alike, not how good either gets."


def render(result: dict[str, Any]) -> str:
    """The markdown block for docs/benchmarks.md."""
    s, m, d, v = result["settings"], result["machine"], result["data"], result["versions"]
    low_bleu = max(r[w]["bleu"] for r in result["variants"].values() for w in ("ours", "joeynmt")) < 15
    parts = [
        f"Command: `{result['command']}` ({result['date']}). Machine: {m.get('cpu', m['device'])}, "
        f"{s['threads']} thread(s) per run, load average {result['load'][0]:.1f} at the start "
        f"({os.cpu_count()} cores; CPU share = CPU time / wall time of each training process, near "
        f"{s['threads']} when it had its cores to itself).",
        f"Versions: torch {m['torch']} in both environments, JoeyNMT {v['joeynmt']} (sentencepiece "
        f"{v['sentencepiece']}), Python {m['python']}.",
        f"Data: Multi30k en-de, the first {s['train_sentences']} training pairs ({d['train_pairs']} kept), "
        f"{s['epochs']} epochs; one joint unigram SentencePiece model of {d['pieces']} pieces for both; "
        f"test: the first {d['test_sentences']} sentences of test_2016_flickr, beam {s['beam']}, length "
        f"penalty {s['alpha']}, batches of {s['translate_batch_tokens']} source tokens; ours "
        f"{'under bf16 autocast' if s.get('translate_amp', 'off') == 'bf16' else 'in float32'}, JoeyNMT in float32.",
        f"Model: bidirectional LSTM encoder and LSTM decoder, {s['layers']} layer(s) of {s['hidden_size']} "
        f"units, embeddings {s['embed_dim']}, Luong general attention, dropout {s['dropout']}; Adam at a "
        f"constant {s['lr']:g} (checked on every logged step of both), clip {s['clip_norm']}, batches of "
        f"{s['batch_tokens']} tokens, float32.{LOW_BLEU if low_bleu else ''}",
        "",
    ]
    if "trained" in result:
        t = result["trained"]
        parts.insert(1, f"Translation re-timed with the models trained by `{t['command']}` ({t['date']}, load average "
                        f"{t['load'][0]:.1f} at its start); the training columns are from that run.")  # fmt: skip
    rows = []
    for name, r in result["variants"].items():
        for who, label in (("ours", "ours"), ("joeynmt", "JoeyNMT")):
            x = r[who]
            rows.append({
                "decoder": "input feeding" if VARIANTS[name] else "no input feeding",
                "toolkit": label,
                "params": x["params"],
                "steps": x["steps"],
                "train tokens": x["train_tokens"],
                "train s": x["train_s"],
                "train tok/s": x["train_tok_s"],
                "CPU share": x["cpu_share"],
                "beam-5 s": x["translate_s"],
                "sent/s": x["sent_s"],
                "out len": x["hyp_len"],
                "out tok/s": x["out_tok_s"],
                "BLEU": x["bleu"],
                "chrF": x["chrf"],
            })  # fmt: skip
    parts.append(table(rows))
    parts.append("")
    for name, r in result["variants"].items():
        q, met = r["ratios"], r["goals_met"]
        parts.append(
            f"- **{'input feeding' if VARIANTS[name] else 'no input feeding'}**: training "
            f"**{q['train']:.2f}x** (goal {GOALS['train']}x: {'met' if met['train'] else 'missed'}), "
            f"translation **{q['translate']:.2f}x** (goal {GOALS['translate']}x: "
            f"{'met' if met['translate'] else 'missed'}), BLEU {q['bleu_delta']:+.2f} "
            f"({'equal or better' if met['bleu'] else 'worse'})."
        )
        if not 0.8 <= q["hyp_len"] <= 1.25:
            parts[-1] += (
                f" Output lengths differ (ours {r['ours']['hyp_len']:.1f}, JoeyNMT {r['joeynmt']['hyp_len']:.1f} "
                f"subwords a sentence), so sentences/s favours the shorter; per output token the "
                f"translation ratio is {q['translate_tokens']:.2f}x."
            )
    if result.get("profile"):
        parts.append("")
        what = "input feeding" if VARIANTS[result["profile_variant"]] else "no input feeding"
        parts.append(
            f"Where our time goes ({what}; torch.profiler, self CPU time of the top ops; 'outside ops' is "
            "Python and dispatch around them):"
        )
        for phase, p in result["profile"].items():
            top = ", ".join(f"{r['op']} {100 * r['share']:.0f}%" for r in p["top"][:5])
            parts.append(f"- {phase}: outside ops {100 * p['outside_ops_share']:.0f}% of the wall time; {top}.")
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    s0 = Settings()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_peers", description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(SHARED / "multi30k"), help="Multi30k folder (train/val/test_2016_flickr)")
    parser.add_argument("--peer-python", default=str(REPO / ".venv-peers" / "bin" / "python"))
    parser.add_argument("--out", default="runs/bench", help="writes peers.json, peers.md and the runs under peers/")
    parser.add_argument("--variants", default="feed,nofeed", help="decoder input feeding: feed, nofeed or both")
    parser.add_argument(
        "--profile", choices=["auto", "always", "never"], default="auto", help="auto: if a goal is missed"
    )
    parser.add_argument("--docs", action="store_true", help="update docs/benchmarks.md with the result")
    parser.add_argument(
        "--retranslate", action="store_true",
        help="translate again with the models the last run left in --out (same training settings), keeping its "
        "training figures: re-times a change to translation without training again",
    )  # fmt: skip
    for key, default in asdict(s0).items():
        parser.add_argument("--" + key.replace("_", "-"), type=type(default), default=default)
    args = parser.parse_args(argv)
    s = Settings(**{k: getattr(args, k) for k in asdict(s0)})
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    from seq2seq.errors import USER_ERRORS

    try:
        bad = [v for v in variants if v not in VARIANTS]
        if bad or not variants:
            raise PeerError(f"--variants {args.variants!r}: use feed, nofeed or feed,nofeed")
        return _bench(args, s, variants, argv)
    except (PeerError, *USER_ERRORS) as e:
        print(f"bench-peers: error: {e}", file=sys.stderr)
        return 2


def retranslating(out: Path, s: Settings) -> dict[str, Any]:
    """The last run's result in ``out``, checked to have trained with the settings ``s`` has."""
    path = out / "peers.json"
    if not path.is_file():
        raise PeerError(f"--retranslate: no {path}; run the bench without --retranslate first")
    previous = json.loads(path.read_text(encoding="utf-8"))
    now = asdict(s)
    changed = [k for k, v in previous["settings"].items() if k not in TRANSLATION_SETTINGS and now.get(k) != v]
    if changed:
        k = changed[0]
        raise PeerError(
            f"--retranslate: {path} trained with --{k.replace('_', '-')} {previous['settings'][k]}, not "
            f"{now[k]}; give the same training settings"
        )
    return previous


def _bench(args: argparse.Namespace, s: Settings, variants: list[str], argv: list[str] | None) -> int:
    import torch

    data_dir = Path(args.data)
    if not data_dir.is_dir():
        print(
            f"bench-peers: skipped: no Multi30k data at {data_dir} (give --data a folder with train/val/"
            f"test_2016_flickr .en/.de files, plain or .gz); nothing is downloaded"
        )
        return 0
    python = Path(args.peer_python)
    if not python.is_file():
        raise PeerError(f"{python}: no JoeyNMT environment; `make bench-peers` creates .venv-peers")
    versions = peer_versions(python)
    check_versions(versions)
    out = Path(args.out)
    work = out / "peers"
    torch.set_num_threads(s.threads)
    load = os.getloadavg()
    previous = retranslating(out, s) if args.retranslate else None
    if previous is None:
        print(f"preparing the Multi30k slice in {work / 'data'} ...", flush=True)
        data = prepare_slice(data_dir, work / "data", s)
    else:  # the slice the models were trained on, as it is
        d, folder = previous["data"], work / "data"
        data = Slice(folder, folder / "spm.model", folder / "vocab.txt", d["pieces"], d["train_pairs"], d["dropped"],
                     d["test_sentences"])  # fmt: skip
    result: dict[str, Any] = {
        "command": "python -m benchmarks.bench_peers " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(torch.device("cpu")),
        "load": list(load),
        "versions": versions,
        "settings": asdict(s),
        "data": {"train_pairs": data.train_pairs, "dropped": data.dropped, "pieces": data.pieces,
                 "test_sentences": data.test_sentences},
        "variants": {},
    }  # fmt: skip
    if previous is not None:
        result["trained"] = {"command": previous["command"], "date": previous["date"], "load": previous["load"]}
    for name in variants:
        trained = None
        if previous is not None:
            if name not in previous["variants"]:
                raise PeerError(f"--retranslate: {out / 'peers.json'} has no '{name}' variant; run without it")
            trained = previous["variants"][name]
        result["variants"][name] = bench_variant(name, s, data, work, python, trained)
    missed = any(not all(r["goals_met"].values()) for r in result["variants"].values())
    if args.profile == "always" or (args.profile == "auto" and missed):
        name = next((v for v in variants if not all(result["variants"][v]["goals_met"].values())), variants[0])
        result["profile_variant"] = name
        print(f"[{name}] profiling our training and translation ...", flush=True)
        lines = data.path("test", "en").read_text(encoding="utf-8").splitlines()
        result["profile"] = profile_ours(work / f"ours-{name}.toml", work / f"ours-{name}" / "best.pt", lines, s, work)
    block = render(result)
    (out / "peers.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / "peers.md").write_text(block, encoding="utf-8")
    if args.docs:
        write_docs(block, "peers", REPO / "docs" / "benchmarks.md")
    print(block)
    print(f"wrote {out / 'peers.json'} and {out / 'peers.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
