"""benchmarks/gpu_check.py: its dry run (every step on the CPU at toy sizes, the CUDA checks with
SEQ2SEQ_CHECK_DEVICE=cpu) writes every step's numbers and a block naming each target; the GPU-only
branches (the verdict rules, pass/miss, the docs block) are checked on synthetic inputs. No
assertion here is about speed."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch

from benchmarks import gpu_check

STEPS = ("device", "correctness", "translation", "video", "music", "profile")


@pytest.mark.slow
def test_dry_run_measures_every_step(tmp_path, monkeypatch):
    # The dry run sets it for its pytest subprocess; monkeypatch puts the environment back after.
    monkeypatch.setenv("SEQ2SEQ_CHECK_DEVICE", "cpu")
    out = tmp_path / "out"
    assert gpu_check.main(["--dry-run", "--out", str(out)]) == 0
    result = json.loads((out / "gpu_check.json").read_text())
    assert result["dry_run"] is True
    steps = result["steps"]
    assert list(steps) == list(STEPS)
    for name, step in steps.items():
        assert step["status"] in ("ok", "partial"), (name, step.get("reason"), step.get("traceback"))
        assert math.isfinite(step["seconds"])  # each step recorded how long it ran
    peaks = steps["device"]["peaks"]
    assert peaks["bf16_tflops"] > 0 and peaks["fp32_tflops"] > 0 and peaks["copy_tb_s"] > 0
    c = steps["correctness"]
    assert c["passed"] == len(c["tests"]) >= 18 and c["failed"] == c["error"] == 0, c["tests"]
    assert {t["name"].split("[")[0] for t in c["tests"]} >= {
        "test_packed_batch_equals_each_sequence_alone",
        "test_reference_cells_equal_fused_kernels",
        "test_incremental_decoding_equals_teacher_forcing",
        "test_batched_beam_search_on_the_device_matches_the_cpu",
        "test_bf16_training_step_is_finite_and_tracks_float32",
        "test_ddp_world_size_one_matches_one_process",
        "test_resume_continues_exactly",
    }
    tr = steps["translation"]
    measured = [r for r in tr["throughput"] if "tgt_tok_s" in r]
    assert {r["input_feeding"] for r in measured} == {True, False}
    assert all(r["tgt_tok_s"] > 0 and r["mfu"] > 0 for r in measured)
    box = tr["timebox"]
    assert box["evaluations"] and all(0 <= e["bleu"] <= 100 and e["train_s"] > 0 for e in box["evaluations"])
    assert box["steps"] > 0 and box["tgt_tok_s"] > 0
    assert [b["batch_tokens"] for b in tr["beam"]] == [2000, 8000]
    assert all(math.isfinite(b["seconds"]) and b["sentences"] > 0 for b in tr["beam"])
    video = {r["stage"].split(" (")[0]: r for r in steps["video"]["rows"]}
    assert len(video) == 5 and all(r["frames_s"] > 0 for r in video.values())
    for backbone in ("efficientnet_lite0", "resnet50"):
        assert steps["video"][f"extract_{backbone}_of_ceiling"] > 0
    assert steps["music"]["frames_s"] > 0
    for figure in ("train_step", "beam_search"):
        p = steps["profile"][figure]
        assert p["kernels"] > 0 and p["seconds"] > 0 and p["top"], figure
        assert p["bound"].endswith("-bound") and p["verdict"].startswith(p["what"])
    assert {t["target"] for t in result["targets"]} == set(gpu_check.TARGETS.values())
    block = (out / "gpu_check.md").read_text()
    for target in gpu_check.TARGETS.values():
        assert target in block
    assert "**Dry run**" in block and "n/a (dry run)" in block and "Correctness" in block
    assert (out / "gpu_check_pytest.txt").stat().st_size > 0
    assert "Self CPU" in (out / "gpu_check_profile.txt").read_text()
    # The block can be rendered again from the JSON; a dry run's never goes into docs/benchmarks.md.
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n<!-- bench:gpu -->\nno run yet\n<!-- /bench:gpu -->\n")
    gpu_check.main(["--render", str(out / "gpu_check.json"), "--docs", "--docs-file", str(docs)])
    assert "no run yet" not in docs.read_text() and "**Dry run**" in docs.read_text()


def test_a_dry_run_is_refused_for_the_docs_page():
    with pytest.raises(SystemExit):
        gpu_check.main(["--dry-run", "--docs"])


def gpu_result(**changes) -> dict:
    """A GPU run's result as main() writes it (the figures made up)."""
    result = {
        "command": "python -m benchmarks.gpu_check --data .gpu/data --out /out --docs",
        "date": "2026-12-01 12:00 UTC",
        "dry_run": False,
        "budget_s": 360.0,
        "elapsed_s": 331.0,
        "machine": {
            "gpu": "NVIDIA H200",
            "multiprocessors": "132",
            "memory_gib": "140",
            "cuda": "13.0",
            "cudnn": "91300",
            "torch": "2.11.0+cu130",
            "python": "3.12.3",
            "cpu_threads": "16",
        },
        "steps": {
            "device": {
                "status": "ok",
                "peaks": {
                    "n": 8192,
                    "bf16_tflops": 780.0,
                    "fp32_tflops": 51.0,
                    "tf32_tflops": 400.0,
                    "copy_tb_s": 4.3,
                    "mfu_against": "bf16_tflops",
                },
            },
            "correctness": {
                "status": "ok",
                "passed": 17,
                "failed": 1,
                "error": 0,
                "skipped": 0,
                "tests": [
                    {
                        "name": "test_resume_continues_exactly[dropout-between-recurrent-layers]",
                        "outcome": "failed",
                        "seconds": 1.0,
                        "message": "Failed: the resumed run differs",
                    }
                ],
            },
            "translation": {
                "status": "ok",
                "data": "Multi30k",
                "recipe": gpu_check.RECIPE,
                "throughput": [
                    {"input_feeding": True, "batch_tokens": 1000, "steps": 8, "tgt_tok_s": 310_000.0},
                    {"input_feeding": False, "batch_tokens": 8000, "steps": 8, "tgt_tok_s": 900_000.0},
                ],
                "timebox": {
                    "batch_tokens": 1000,
                    "epochs": 20,
                    "recipe_epochs": 20,
                    "amp": "bf16",
                    "train_s": 80.0,
                    "bleu": 39.4,
                    "time_to_bleu_s": 62.0,
                    "steps": 9800,
                    "evaluations": [
                        {"epoch": 10, "train_s": 40.0, "bleu": 37.0},
                        {"epoch": 15, "train_s": 62.0, "bleu": 39.1},
                        {"epoch": 20, "train_s": 80.0, "bleu": 39.4},
                    ],
                },
                "beam": [
                    {"batch_tokens": 2000, "sentences": 1000, "seconds": 0.35},
                    {"batch_tokens": 8000, "sentences": 1000, "seconds": 0.18},
                ],
            },
            "video": {"status": "skipped", "reason": "PyAV (av) is not installed"},
        },
    }
    result.update(changes)
    result["targets"] = gpu_check.targets(result)
    return result


def test_targets_pass_or_miss_on_a_gpu_run(tmp_path):
    result = gpu_result()
    met = {t["target"]: t["met"] for t in result["targets"]}
    assert met[gpu_check.TARGETS["train_tok_s"]] is True  # 310k with the recipe's model at 1,000 tokens
    assert met[gpu_check.TARGETS["time_to_bleu"]] is True  # 39.1 after 62 s
    assert met[gpu_check.TARGETS["beam_s"]] is True  # the faster search batching: 0.18 s
    assert met[gpu_check.TARGETS["extract"]] is None  # not measured: no PyAV
    block = gpu_check.render(result)
    assert "| pass |" in block and "| not measured |" in block and "Dry run" not in block
    assert "NVIDIA H200 (132 SMs" in block and "bf16 matmul 780 TFLOP/s" in block
    assert "1 failed" in block and "test_resume_continues_exactly[dropout-between-recurrent-layers]" in block
    assert "Step video: skipped (PyAV (av) is not installed)" in block
    slow = gpu_result()
    slow["steps"]["translation"]["timebox"].update(time_to_bleu_s=None, bleu=37.5)
    slow["steps"]["translation"]["beam"] = [{"batch_tokens": 2000, "sentences": 1000, "seconds": 2.0}]
    slow["targets"] = gpu_check.targets(slow)
    block = gpu_check.render(slow)
    assert "not reached: 37.50 BLEU after 80.0 s" in block and "| miss |" in block
    # --render --docs replaces the page's block in place
    path = tmp_path / "gpu_check.json"
    path.write_text(json.dumps(slow))
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nnotes\n\n<!-- bench:gpu -->\nold\n<!-- /bench:gpu -->\n\nafter\n")
    assert gpu_check.main(["--render", str(path), "--docs", "--docs-file", str(docs)]) == 0
    text = docs.read_text()
    assert "old" not in text and "notes" in text and "after" in text and text.count("<!-- bench:gpu -->") == 1


class FakeProfile:
    """What analyse reads of a torch.profiler run on a GPU: key_averages() rows."""

    def __init__(self, rows):
        self.rows = rows

    def key_averages(self):
        return self.rows


def row(key, count, device_us=0.0, memory=0, cuda=True):
    from torch.autograd import DeviceType

    return SimpleNamespace(
        key=key,
        count=count,
        self_device_time_total=device_us,
        self_cpu_time_total=0.0,
        self_device_memory_usage=memory,
        device_type=DeviceType.CUDA if cuda else DeviceType.CPU,
    )


def gpu_context(copy_tb_s=4.0, peak_tflops=800.0):
    return SimpleNamespace(device=torch.device("cuda"), copy_bps=copy_tb_s * 1e12, peak_tflops=peak_tflops)


def test_verdicts_follow_the_stated_rules():
    ctx = gpu_context()
    # 2,000 kernels x 5 us = 10 ms of a 12 ms step: launch-bound, whatever the device did
    many = FakeProfile([row("sgemm", 1000, 2000.0), row("elementwise", 1000, 1000.0), row("aten::mm", 10, cuda=False)])
    r = gpu_check.analyse(ctx, many, 0.012, 1e9, 0.0, "step")
    assert r["kernels"] == 2000 and r["bound"] == "launch-bound" and r["device_busy"] == pytest.approx(0.25)
    assert r["top"][0]["kernel"] == "sgemm" and r["top"][0]["self_ms"] == pytest.approx(2.0)
    # few kernels, the device busy all the time: compute- or memory-bound by the larger floor
    busy = FakeProfile([row("gemm", 10, 9_000.0, memory=10**9)])
    compute = gpu_check.analyse(ctx, busy, 0.01, 6e12, 0.0, "step")  # 7.5 ms of compute, 0.5 ms of memory
    assert compute["bound"] == "compute-bound" and compute["mfu"] == pytest.approx(0.75)
    memory = gpu_check.analyse(ctx, busy, 0.01, 1e9, 3e10, "step")  # 32 GB moved: 8 ms at 4 TB/s
    assert memory["bound"] == "memory-bound" and memory["bytes_moved_est"] == pytest.approx(3.2e10)
    assert "MFU" in memory["verdict"] and "device busy 90%" in memory["verdict"]


def test_pytest_outcomes_are_read_from_junit_or_from_the_progress_lines(tmp_path):
    xml = tmp_path / "junit.xml"
    xml.write_text(
        '<testsuites><testsuite><testcase classname="tests.test_cuda" name="test_a[lstm]" time="0.5"/>'
        '<testcase name="test_b" time="1.0"><failure message="assert 1 &lt; 0&#10;more">trace</failure></testcase>'
        '<testcase name="test_c" time="0"><skipped message="no CUDA GPU here"/></testcase></testsuite></testsuites>'
    )
    tests = gpu_check.parse_junit(xml)
    assert [(t["name"], t["outcome"]) for t in tests] == [
        ("test_a[lstm]", "passed"),
        ("test_b", "failed"),
        ("test_c", "skipped"),
    ]
    assert tests[1]["message"] == "assert 1 < 0"
    killed = "tests/test_cuda.py::test_a[lstm] PASSED   [  5%]\ntests/test_cuda.py::test_ddp FAILED [ 10%]\n"
    assert [(t["name"], t["outcome"]) for t in gpu_check.parse_verbose(killed)] == [
        ("test_a[lstm]", "passed"),
        ("test_ddp", "failed"),
    ]
