"""The joint frame output (``model.frame_output = "nade"``): exact normalisation over all frames,
the sampler against those probabilities, the batched likelihood against a key-by-key loop,
exact resume, generation through the command line, and bad settings refused."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seq2seq.cli import main
from seq2seq.config import ConfigError
from seq2seq.errors import UserError
from seq2seq.inference import load_model
from seq2seq.music.generate import continue_roll, sample_joint
from seq2seq.nn.models import Dims, build_model
from seq2seq.nn.nade import Nade
from seq2seq.registry import load_config, make_task
from seq2seq.trainer import Trainer
from tests.helpers import one_error_line, small_lm_recipe

NADE = {"frame_output": "nade", "nade_hidden": 12}
DEMO_NLL, DEMO_RULES = 0.04, 0.95  # the chords demo with a joint output (docs/music.md): at most, at least


def tiny_nade(keys: int = 5, context: int = 3, hidden: int = 4, seed: int = 0) -> Nade:
    """A NADE with weights large enough that the keys depend strongly on each other."""
    torch.manual_seed(seed)
    nade = Nade(context, keys, hidden)
    with torch.no_grad():
        for p in nade.parameters():
            p.normal_(0, 1.5)
    return nade


def all_frames(keys: int) -> torch.Tensor:
    """The 2^keys frames, (2^keys, keys) 0/1."""
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=keys)))


def frame_log_probs(nade: Nade, context: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """log p(frame | context) of each frame: minus the summed cross-entropies of the keys."""
    logits = nade(context.expand(len(frames), -1), frames)
    return -F.binary_cross_entropy_with_logits(logits, frames, reduction="none").sum(-1)


def test_probabilities_of_all_frames_sum_to_one():
    nade = tiny_nade(keys=6)
    frames = all_frames(6)
    for context in torch.randn(3, 3):
        with torch.no_grad():
            p = frame_log_probs(nade, context[None], frames).double().exp()
        assert float(p.sum()) == pytest.approx(1.0, abs=1e-6)
        assert float(p.max()) > 4 / len(frames)  # far from uniform: the test means something


def test_sampler_frequencies_match_the_probabilities():
    """20,000 frames drawn key by key (batched over the rows): chi-square against the exact
    probabilities of the 32 frames below the 0.1% critical value, total variation below 0.02."""
    nade = tiny_nade(keys=5)
    context = torch.randn(1, 3, generator=torch.Generator().manual_seed(3))
    frames = all_frames(5)
    with torch.no_grad():
        p = frame_log_probs(nade, context, frames).double().exp()
    n = 20_000
    drawn = nade.sample(context.expand(n, -1), 1.0, torch.Generator().manual_seed(0))
    index = (drawn * 2 ** torch.arange(4, -1, -1.0)).sum(-1).long()  # the row of each frame in all_frames
    counts = torch.bincount(index, minlength=32).double()
    chi2 = float(((counts - n * p) ** 2 / (n * p)).sum())
    assert chi2 < 61.1, chi2  # 31 degrees of freedom, p = 0.001
    assert 0.5 * float((counts / n - p).abs().sum()) < 0.02
    # temperature 0: each key its likelier value given the keys below it
    greedy = nade.sample(context, 0.0)
    logits = nade(context, greedy)
    assert torch.equal(greedy[0] > 0, logits[0] > 0)


def key_by_key_logits(nade: Nade, context: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """The definition, one key at a time: logit_k = b_k + V_k . sigmoid(c + sum_{j<k} W_j v_j)."""
    b, c = nade.biases(context)
    out = []
    for k in range(nade.keys):
        a = c.clone()
        for j in range(k):
            a = a + nade.W[j] * frame[j]
        out.append(b[k] + torch.sigmoid(a) @ nade.V[k])
    return torch.stack(out)


def test_batched_likelihood_equals_the_key_by_key_loop(tmp_path):
    """The teacher-forced pass over a batch of frames gives each key's conditional of the naive
    loop; through the music task, the summed NLL of a batch is the loop's."""
    cfg = small_lm_recipe(tmp_path, "music", {"corpus_pieces": 5}, NADE)
    task = make_task(cfg)
    dims = task.prepare()
    model = build_model(cfg.model, dims).eval()
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.head.parameters():
            p.normal_(0, 0.3)
    rng = np.random.default_rng(0)
    batch = task.collate([(rng.random((n, 88)) < 0.08).astype(np.uint8) for n in (7, 4)])
    with torch.no_grad():
        out = task.loss(model, batch)
        context, _ = model.features(batch["x"], batch["lengths"])
        total = 0.0
        for i, n in enumerate(batch["lengths"].tolist()):
            for t in range(n):
                frame = batch["y"][i, t]
                logits = key_by_key_logits(model.head, context[i, t], frame)
                torch.testing.assert_close(logits, model.head(context[i, t], frame), rtol=1e-5, atol=1e-5)
                total += float(F.binary_cross_entropy_with_logits(logits, frame, reduction="sum"))
    assert int(out.count) == 6 + 3
    assert float(out.loss) == pytest.approx(total, rel=1e-5)


def nade_run(tmp_path, **train):
    tmp_path.mkdir(parents=True, exist_ok=True)
    model = {**NADE, "cell": "lstm", "layers": 2, "dropout": 0.3}
    return small_lm_recipe(tmp_path, "music", {"corpus_pieces": 24, "transpose": 2}, model,
                           {"epochs": 4, "batch_size": 8, "tbptt": 16, "eval_every": 5, "keep_last": 10,
                            **train})  # fmt: skip


def test_resume_continues_exactly(tmp_path):
    """As the core's resume test, with the joint output: N steps straight == k steps, stop,
    resume, N - k steps: the same weights bit for bit (dropout, TBPTT, transposition)."""
    straight = Trainer.from_config(nade_run(tmp_path / "a", max_steps=30))
    straight.fit()
    first = Trainer.from_config(nade_run(tmp_path / "b", max_steps=13))
    first.fit()
    assert first.batch_index != 0, "the stop should fall inside an epoch"
    resumed = Trainer.resume(tmp_path / "b" / "run", ["train.max_steps=30"])
    resumed.fit()
    assert resumed.step == straight.step
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert any(k.startswith("head.W") for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_generate_writes_midi_and_png_from_a_joint_checkpoint(tmp_path, capsys):
    cfg = nade_run(tmp_path, max_steps=4)
    Trainer.from_config(cfg).fit()
    ckpt = tmp_path / "run" / "best.pt"
    loaded = load_model(ckpt, "cpu", task="music")
    assert loaded.model.joint and loaded.cfg.model.frame_output == "nade"
    assert loaded.task.describe()["frame output"] == "nade, 12 hidden units (the keys of a frame jointly)"
    primer = loaded.task.primer_roll()
    a = continue_roll(loaded.model, primer, 12, temperature=1.0, seed=5)
    assert a.shape == (12, 88) and set(np.unique(a)) <= {0, 1}
    assert np.array_equal(a, continue_roll(loaded.model, primer, 12, temperature=1.0, seed=5))  # seeded
    # the batched sampler from a fresh state: one row per sample
    rows = sample_joint(loaded.model, None, torch.zeros(3, 88), 5, 1.0, torch.Generator().manual_seed(0))
    assert rows.shape == (3, 5, 88)
    out = tmp_path / "song.mid"
    assert main(["generate", "-m", str(ckpt), "--steps", "8", "--seed", "1", "-o", str(out), "--device", "cpu"]) == 0
    assert out.stat().st_size > 0 and out.with_suffix(".png").stat().st_size > 1000
    assert "8 generated frames" in capsys.readouterr().out
    assert main(["generate", "-m", str(ckpt), "--steps", "8", "--top-k", "3", "-o", str(tmp_path / "k.mid"),
                 "--device", "cpu"]) == 2  # fmt: skip
    one_error_line(capsys, "--top-k 3: a joint (nade) frame output", "use --top-k 0")
    assert not (tmp_path / "k.mid").exists()
    with pytest.raises(UserError, match="top-k is for the sigmoid output"):
        continue_roll(loaded.model, primer, 4, top_k=2)


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="model.frame_output: 'made' is not one of sigmoid, nade"):
        small_lm_recipe(tmp_path, "music", {}, {"frame_output": "made"})
    with pytest.raises(ConfigError, match="model.nade_hidden: must be at least 1, got 0"):
        small_lm_recipe(tmp_path, "music", {}, {"frame_output": "nade", "nade_hidden": 0})
    cfg = small_lm_recipe(tmp_path, "music", {}, NADE)
    with pytest.raises(ConfigError, match="frame_output = nade models multi-hot frames"):
        build_model(cfg.model, Dims(input_vocab=10, output_size=10))
    model = build_model(cfg.model, Dims(input_dim=88, output_size=88, output="sigmoid"))
    with pytest.raises(ValueError, match="pass targets"):
        model(torch.zeros(1, 2, 88))


def test_a_short_run_scores_valid_and_test(tmp_path):
    """A short joint run writes finite scores (test_scores.json), in nats per frame below knowing
    nothing (88 log 2)."""
    cfg = small_lm_recipe(tmp_path, "music", {"corpus_pieces": 20}, NADE, {"epochs": 2, "metric": "nll"})
    summary = Trainer.from_config(cfg).fit()
    scores = json.loads((tmp_path / "run" / "test_scores.json").read_text())
    assert math.isfinite(scores["test"]["nll"]) and scores["valid"]["nll"] == pytest.approx(summary["best"])
    assert scores["test"]["nll"] < 88 * math.log(2)


def test_training_windows_predict_every_frame_once(tmp_path):
    """data.window = N: rows of at most N + 1 frames, consecutive ones sharing a frame, so the
    training frames predicted are those of the whole pieces, each once."""
    cfg = small_lm_recipe(tmp_path, "music", {"corpus_pieces": 10, "window": 7})
    task = make_task(cfg)
    task.prepare()
    pieces = task.splits["train"]
    rows = [task.dataset()[i] for i in range(len(task.dataset()))]
    assert max(len(r) for r in rows) == 8 and min(len(r) for r in rows) >= 2
    assert sum(len(r) - 1 for r in rows) == sum(len(p) - 1 for p in pieces)
    first = rows[: math.ceil((len(pieces[0]) - 1) / 7)]  # the windows of the first piece
    assert np.array_equal(np.concatenate([first[0]] + [r[1:] for r in first[1:]]), pieces[0])


@pytest.mark.slow
def test_the_chords_demo_with_a_joint_output(tmp_path):
    """The shipped music/demo recipe with ``model.frame_output = nade`` and nothing else changed
    (its 25 epochs): the valid NLL gets below the best that independent key outputs can reach
    under the corpus rules (0.093 nats per frame; a joint model can reach 0.011), and
    continuations sampled at temperature 1 are frames the rules allow nearly always."""
    from seq2seq.music.corpus import HYPOTHESES, chord_splits, render, rule_share

    overrides = [f"train.out_dir={tmp_path}/run", "train.device=cpu", "train.progress=false", "model.frame_output=nade"]
    cfg = load_config("music/demo", overrides)
    summary = Trainer.from_config(cfg).fit()
    independent = chord_splits(cfg.data.corpus_pieces, cfg.data.corpus_seed)["valid"][1]
    assert summary["best"] <= DEMO_NLL < independent, summary["best"]
    model = load_model(tmp_path / "run" / "best.pt", "cpu", task="music").model
    shares = [rule_share(continue_roll(model, render(*h, bars=12)[:16], 32, temperature=1.0, seed=0))
              for h in HYPOTHESES[::7]]  # fmt: skip
    assert np.mean(shares) >= DEMO_RULES


def test_the_chord_rules_and_the_joint_bound():
    """rule_share: 1 for the corpus's own pieces, a frame with a note added or a silent frame
    not allowed; joint_bound: the best any model can do is above 0 (the first frames leave the key
    and the melody open) and below the best of independent outputs."""
    from seq2seq.music.corpus import chord_splits, joint_bound, rule_share

    rolls, independent = chord_splits(100, 11)["valid"]
    assert all(rule_share(r) == 1.0 for r in rolls)
    wrong = rolls[0][:4].copy()
    wrong[0, 0] = 1  # an A0 added to the first chord
    wrong[1] = 0
    assert rule_share(wrong) == 0.5
    assert 0 < joint_bound(100, 11) < independent
