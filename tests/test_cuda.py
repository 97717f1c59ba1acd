"""Correctness on CUDA (issue #29, point 1): the paths the toolkit takes on a GPU give the answers
the CPU paths are tested to give.

Every test is marked ``cuda`` and takes its device from the ``device`` fixture: a CUDA GPU when
there is one, else the test is skipped, unless ``SEQ2SEQ_CHECK_DEVICE=cpu`` is set; then the same
checks run on the CPU (``python -m benchmarks.gpu_check --dry-run`` sets it, and the suite runs that
dry run), so they cannot rot while no GPU is at hand.

    SEQ2SEQ_CHECK_DEVICE=cpu python -m pytest -m cuda tests/test_cuda.py   # on the CPU
    python -m pytest -m cuda tests/test_cuda.py                            # on a GPU

The float32 checks turn TF32 off (the ``fp32`` fixture), so their tolerances are those of float32
arithmetic; the training checks keep what ``Trainer`` sets on CUDA (TF32 on, as in real runs).
"""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path

# cuBLAS is deterministic only with a fixed workspace; read when cuBLAS first runs, so set before
# any test does (pytest imports every test module before it runs the first test).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from seq2seq.config import ModelConfig, SearchConfig  # noqa: E402
from seq2seq.nn import RecurrentStack, build_model  # noqa: E402
from seq2seq.nn.models import Dims  # noqa: E402
from seq2seq.registry import from_dict, load_config  # noqa: E402
from seq2seq.runtime import autocast  # noqa: E402

try:
    from seq2seq.trainer import Trainer
except ImportError:  # the module's name before 0.2
    from seq2seq.train import Trainer  # type: ignore[no-redef]

pytestmark = pytest.mark.cuda

PAD, BOS, EOS = 0, 1, 2
CELLS = ("rnn", "lstm", "gru")


@pytest.fixture(scope="module")
def device() -> torch.device:
    """The device under test: SEQ2SEQ_CHECK_DEVICE (cpu, cuda, cuda:N) if set, else CUDA when
    available; without either the test is skipped."""
    asked = os.environ.get("SEQ2SEQ_CHECK_DEVICE", "").strip()
    if asked == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here; SEQ2SEQ_CHECK_DEVICE=cpu runs these checks on the CPU")
    dev = torch.device(asked or "cuda")
    torch.cuda.set_device(dev)
    return dev


@pytest.fixture
def fp32():
    """Plain float32 arithmetic for the test (TF32 off for matmuls and cuDNN), restored after:
    ``resolve_device`` turns TF32 on for training, which would set the tolerances to TF32's."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.fixture
def deterministic():
    """Deterministic kernels (cuBLAS workspace, cuDNN, no atomic-add reductions) for the tests
    that compare two runs bit for bit; ``warn_only``: an op without a deterministic version warns
    (and the comparison says whether the runs differed) instead of failing the run."""
    saved = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    yield
    torch.use_deterministic_algorithms(saved[0])
    torch.backends.cudnn.deterministic = saved[1]


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().double().cpu() - b.detach().double().cpu()).abs().max())


# -- recurrent kernels --------------------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
def test_packed_batch_equals_each_sequence_alone(device, fp32, cell):
    """cuDNN over a packed batch of mixed lengths == each sequence run alone, padded steps zero."""
    torch.manual_seed(0)
    stack = RecurrentStack(cell, 16, 32, layers=2, bidirectional=True).to(device).eval()
    lengths = torch.tensor([13, 4, 9, 1, 7])  # on the CPU, as packing needs
    x = torch.randn(5, 13, 16, device=device)
    with torch.no_grad():
        out, state = stack(x, lengths)
        for i, n in enumerate(lengths.tolist()):
            alone, st = stack(x[i : i + 1, :n])
            # float32: a batch of 5 and of 1 run different GEMM tilings, so sums round differently
            # (~1e-7 on these O(1) values); 1e-5 leaves room and still fails on any wrong step.
            assert max_diff(out[i, :n], alone[0]) < 1e-5, (cell, i)
            assert torch.all(out[i, n:] == 0), "padded steps must give exact zeros"
            for s_batch, s_alone in zip(state, st, strict=True):
                assert max_diff(s_batch[:, i], s_alone[:, 0]) < 1e-5, (cell, i)


@pytest.mark.parametrize("cell", CELLS)
def test_reference_cells_equal_fused_kernels(device, fp32, cell):
    """The readable cells on the device == the fused kernels (cuDNN on a GPU): outputs, final
    states and every parameter's gradient, float32, bidirectional, 2 layers, mixed lengths."""
    torch.manual_seed(1)
    fused = RecurrentStack(cell, 8, 16, layers=2, bidirectional=True).to(device)
    ref = RecurrentStack(cell, 8, 16, layers=2, bidirectional=True, reference=True).to(device)
    ref.load_state_dict(fused.state_dict())
    x = torch.randn(4, 11, 8, device=device)
    lengths = torch.tensor([11, 3, 7, 1])
    state = tuple(torch.randn_like(s) for s in fused.zero_state(4, device))
    weights = None
    grads = []
    results = []
    for stack in (fused, ref):
        stack.zero_grad()
        out, st = stack(x, lengths, state)
        weights = torch.randn_like(out) if weights is None else weights
        ((out * weights).sum() + sum(s.sum() for s in st)).backward()
        results.append((out, st))
        grads.append({n: p.grad.clone() for n, p in stack.named_parameters()})
    (out_f, st_f), (out_r, st_r) = results
    # float32: x @ W.T + h @ W.T (reference) against one fused gate GEMM (cuDNN): different
    # summation order, ~1e-7 per step over 11 steps and 2 layers; 2e-5 on values in (-1, 1).
    assert max_diff(out_f, out_r) < 2e-5
    for a, b in zip(st_f, st_r, strict=True):
        assert max_diff(a, b) < 2e-5
    # gradients sum over 4 x 11 steps of O(1) terms: relative 1e-4 of the largest, float32 rounding.
    for name in grads[0]:
        scale = max(1.0, float(grads[0][name].abs().max()))
        assert max_diff(grads[0][name], grads[1][name]) < 1e-4 * scale, name


def tiny_encoder_decoder(seed: int, input_feeding: bool, sharpen: float = 1.0):
    torch.manual_seed(seed)
    cfg = ModelConfig(
        embed_dim=12, hidden_size=16, layers=2, dropout=0.0, attention="general", input_feeding=input_feeding
    )
    model = build_model(cfg, Dims(input_vocab=9, output_size=9)).eval()
    if sharpen != 1.0:  # hypotheses far apart in probability: no near-ties between devices
        with torch.no_grad():
            model.decoder.out.weight.mul_(sharpen)
    return model


@pytest.mark.parametrize("input_feeding", [True, False], ids=["input-feeding", "no-input-feeding"])
def test_incremental_decoding_equals_teacher_forcing(device, fp32, input_feeding):
    """Step-by-step decoding (what search runs) gives the teacher-forced logits (what training
    computes): with input feeding both loop over steps; without it, teacher forcing runs the
    fused kernel over the whole target in one call."""
    model = tiny_encoder_decoder(2, input_feeding).to(device)
    src = torch.randint(3, 9, (3, 7), device=device)
    lengths = torch.tensor([7, 4, 2])
    src[1, 4:] = PAD
    src[2, 2:] = PAD
    tgt_in = torch.randint(3, 9, (3, 6), device=device)
    tgt_in[:, 0] = BOS
    with torch.no_grad():
        forced = model(src, lengths, tgt_in)
        state = model.start(src, lengths)
        steps = []
        for t in range(tgt_in.size(1)):
            logits, state = model.step(tgt_in[:, t], state)
            steps.append(logits)
    # float32, logits of magnitude ~1: different kernels for one step and for the whole target
    # round differently (~1e-7); 1e-5 catches any wrong state, mask or input feeding.
    assert max_diff(torch.stack(steps, dim=1), forced) < 1e-5


def test_language_model_steps_equal_the_full_forward(device, fp32):
    """A language model one step at a time (sampling) == its forward over the whole sequence."""
    torch.manual_seed(3)
    cfg = ModelConfig(kind="language_model", cell="lstm", embed_dim=8, hidden_size=16, layers=2, dropout=0.0)
    model = build_model(cfg, Dims(input_vocab=11, output_size=11)).to(device).eval()
    x = torch.randint(3, 11, (4, 9), device=device)
    with torch.no_grad():
        full, _ = model(x)
        state, steps = None, []
        for t in range(x.size(1)):
            logits, state = model.step(x[:, t], state)
            steps.append(logits)
    assert max_diff(torch.stack(steps, dim=1), full) < 1e-5  # float32, as above


def test_batched_beam_search_on_the_device_matches_the_cpu(device, fp32):
    """The translator's batched beam search (``search_ids``: length groups, finished rows leaving
    the batch) finds the same best hypotheses, with the same scores, on the device as on the CPU."""
    from seq2seq.translation.translator import search_ids

    model = tiny_encoder_decoder(4, True, sharpen=4.0)
    g = torch.Generator().manual_seed(5)
    sources = [torch.randint(3, 9, (int(n),), generator=g).tolist() for n in (7, 3, 5, 1, 6, 2, 4, 7)]
    search = SearchConfig(beam_size=4, length_penalty=1.0, nbest=2, max_len_ratio=1.5, max_len_offset=3)
    # batch_tokens 12: several length groups, as a long test set gets
    on_cpu = search_ids(model, sources, search, batch_tokens=12)
    on_device = search_ids(model.to(device), sources, search, batch_tokens=12)
    for i, (a, b) in enumerate(zip(on_cpu, on_device, strict=True)):
        assert a[0].tokens == b[0].tokens, (i, a[0], b[0])
        # float32 log-probabilities summed over <= 13 steps: 1e-4 is rounding, not a different path
        assert abs(a[0].score - b[0].score) < 1e-4, (i, a[0].score, b[0].score)
        assert [h.tokens for h in a] == [h.tokens for h in b], i


# -- one bf16 training step of each task --------------------------------------------------------
def video_layout(root: Path, dim: int = 12, videos: int = 6, frames: int = 40) -> Path:
    """A small layout (seq2seq.video.layout) of random features and block labels."""
    rng = np.random.default_rng(0)
    labels = ("background", "reach", "grasp")
    for sub in ("features", "groundTruth", "splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "mapping.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(labels)))
    names = [f"v{i}" for i in range(videos)]
    for i, name in enumerate(names):
        n = frames + 5 * i
        per_frame = [labels[min(2, 3 * t // n)] for t in range(n)]
        feats = rng.normal(size=(dim, n)).astype(np.float32)
        feats[0] += np.array([labels.index(x) for x in per_frame], dtype=np.float32)  # learnable signal
        np.save(root / "features" / f"{name}.npy", feats)
        (root / "groundTruth" / f"{name}.txt").write_text("".join(f"{x}\n" for x in per_frame))
    (root / "splits" / "train.bundle").write_text("".join(f"{n}\n" for n in names[:4]))
    (root / "splits" / "valid.bundle").write_text("".join(f"{n}\n" for n in names[4:]))
    return root


# Each task's shipped recipe at a tiny size, dropout off (bf16 and float32 then see the same
# masks: none), so the two runs differ by the arithmetic alone.
TASKS = {
    "toy": ("toy/reverse", ["data.train_size=256", "data.valid_size=16", "train.batch_size=32"]),
    "translation": (
        "translation/demo",
        [
            "data.generated_train=300",
            "data.generated_valid=20",
            "data.generated_test=20",
            "data.vocab_size=120",
            "train.batch_tokens=400",
            "train.warmup_steps=0",
            "model.embed_dim=32",
            "model.hidden_size=48",
            "model.dropout=0.0",
        ],
    ),
    "video": (
        "video/demo",
        ["data.feature_noise=0.0", "train.batch_size=2", "model.dropout=0.0", "model.embed_dropout=0.0"],
    ),
    "music": ("music/demo", ["data.corpus_pieces=12", "train.batch_size=4", "train.tbptt=16"]),
    "text": ("text/demo", ["data.corpus_sentences=60", "data.segment=120", "train.tbptt=40", "train.batch_size=4"]),
    "classify": ("classify/demo", ["data.generated_train=200", "data.generated_valid=40", "model.dropout=0.0"]),
}


@pytest.mark.parametrize("task", list(TASKS))
def test_bf16_training_step_is_finite_and_tracks_float32(device, tmp_path, task):
    """Three ``Trainer.train_step`` calls under bf16 autocast (what ``amp = auto`` runs on CUDA) and
    three in float32, from the same weights on the same batches: every bf16 loss is finite and
    within 3% of the float32 one, and the bf16 steps updated every parameter to finite values."""
    recipe, overrides = TASKS[task]
    if task == "video":
        overrides = [*overrides, f"data.root={video_layout(tmp_path / 'layout')}"]
    losses: dict[str, list[float]] = {}
    for amp in ("off", "bf16"):
        cfg = load_config(
            recipe,
            [
                *overrides,
                f"train.amp={amp}",
                f"train.device={device}",
                f"train.out_dir={tmp_path / amp}",
                "train.progress=false",
                "train.log_every=100000",
            ],
        )
        trainer = Trainer.from_config(cfg)
        model = trainer.model
        before = [p.detach().clone() for p in model.parameters()]
        losses[amp] = []
        batches = trainer.batches(0)
        for _ in range(3):
            batch = next(batches, None)
            if batch is None:
                break
            model.train()
            with torch.no_grad(), autocast(trainer.device, amp):  # the step's own forward, read once
                out = trainer.task.loss(model, batch)
                losses[amp].append(float(out.loss.float() / out.count.clamp(min=1)))
            items = trainer.train_step(batch)
            assert float(items) > 0
        trainer.release()
        assert all(torch.isfinite(p).all() for p in model.parameters()), f"{task} {amp}: non-finite weights"
        changed = [not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)]
        assert all(changed), f"{task} {amp}: a step was skipped or a parameter got no gradient"
    fp32, bf16 = losses["off"], losses["bf16"]
    assert len(fp32) == len(bf16) >= 2, losses
    assert all(map(math.isfinite, bf16)), bf16
    # bf16 keeps 8 bits of mantissa (0.4% per rounding); the loss is summed in float32 from bf16
    # logits, so the roundings average out over a batch's tokens, and three Adam steps barely move
    # the runs apart: 0.001-0.02% measured on a CPU whose recurrent kernels stay float32
    # (``cpu_bf16_kernels``). On CUDA cuDNN runs them in bf16 as well, the state rounded at every
    # step: 3% leaves room for that and still fails a wrong cast, an overflow or a skipped step.
    for a, b in zip(fp32, bf16, strict=True):
        assert abs(a - b) <= 0.03 * abs(a), (task, fp32, bf16)


# -- DDP and resume --------------------------------------------------------------------------
def toy_lm(out: Path, device: torch.device, **changes):
    """The toy language model of the core's resume test: dropout, truncated BPTT, evaluations
    inside an epoch."""
    model = {
        "kind": "language_model",
        "cell": "lstm",
        "embed_dim": 8,
        "hidden_size": 16,
        "layers": 1,
        "dropout": 0.3,
        **changes.pop("model", {}),
    }
    return from_dict(
        {
            "task": "toy",
            "data": {
                "problem": "cycle",
                "symbols": 7,
                "min_len": 10,
                "max_len": 30,
                "train_size": 300,
                "valid_size": 50,
            },
            "model": model,
            "train": {
                "epochs": 3,
                "batch_size": 16,
                "tbptt": 8,
                "eval_every": 7,
                "keep_last": 10,
                "log_every": 10,
                "out_dir": str(out),
                "device": str(device),
                "progress": False,
                **changes,
            },
        }
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_world_size_one_matches_one_process(device, tmp_path, monkeypatch, deterministic):
    """torch.distributed at world size 1 (NCCL on a GPU, gloo on the CPU), through DDP, trains the
    same weights as one plain process."""
    single = Trainer.from_config(toy_lm(tmp_path / "single", device, max_steps=12))
    single.fit()
    env = {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
        "RANK": "0",
        "WORLD_SIZE": "1",
        "LOCAL_RANK": str(device.index or 0),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    if device.type == "cpu":
        monkeypatch.setenv("SEQ2SEQ_BACKEND", "gloo")
    else:
        monkeypatch.delenv("SEQ2SEQ_BACKEND", raising=False)
    try:
        ddp = Trainer.from_config(toy_lm(tmp_path / "ddp", device, max_steps=12))
        assert ddp.ddp is not None
        assert torch.distributed.get_backend() == ("gloo" if device.type == "cpu" else "nccl")
        ddp.fit()
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    for (k, a), b in zip(single.model.state_dict().items(), ddp.model.state_dict().values(), strict=True):
        # one rank: the all-reduce averages one gradient; what may differ is the reduction order
        # of DDP's gradient buckets against the plain .grad, ~1e-7 after 12 Adam steps.
        assert max_diff(a, b) < 1e-5, k


@pytest.mark.parametrize(
    "placement",
    ["dropout-outside-the-recurrent-kernel", "dropout-between-recurrent-layers"],
)
def test_resume_continues_exactly(device, tmp_path, deterministic, placement):
    """40 steps straight == 21 steps, stop, ``Trainer.resume``, 19 more: the same weights bit for
    bit, with dropout, truncated BPTT and a stop inside an epoch. Between recurrent layers
    (2 layers) the dropout runs inside cuDNN's kernel on a GPU, with cuDNN's own random state."""
    extra = {"model": {"layers": 2}} if placement == "dropout-between-recurrent-layers" else {}
    straight = Trainer.from_config(toy_lm(tmp_path / "a", device, max_steps=40, **extra))
    straight.fit()
    first = Trainer.from_config(toy_lm(tmp_path / "b", device, max_steps=21, **extra))
    first.fit()
    assert first.batch_index != 0, "the stop should fall inside an epoch"
    resumed = Trainer.resume(tmp_path / "b", ["train.max_steps=40"])
    assert resumed.step == first.step
    resumed.fit()
    assert resumed.step == straight.step
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    if differ:
        again = Trainer.from_config(toy_lm(tmp_path / "c", device, max_steps=40, **extra))
        again.fit()
        repeatable = all(torch.equal(a[k], again.model.state_dict()[k]) for k in a)
        why = "the resumed run differs" if repeatable else "two straight runs already differ (nondeterminism)"
        pytest.fail(
            f"{why}: {len(differ)} of {len(a)} tensors, e.g. {differ[0]} by {max_diff(a[differ[0]], b[differ[0]]):.3g}"
        )
