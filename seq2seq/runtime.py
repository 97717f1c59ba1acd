"""Where code runs: device choice, bf16 autocast, seeding, and torch.distributed set-up."""

from __future__ import annotations

import contextlib
import functools
import os
import random
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

from seq2seq.config import ConfigError


@dataclass
class Dist:
    """This process's place in a torchrun launch (world size 1, not distributed, without one)."""

    rank: int = 0
    local_rank: int = 0
    world: int = 1
    enabled: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' -> cuda (this process's GPU under torchrun) when available, else cpu."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device '{name}' asked for, but this machine has no usable CUDA GPU; use --device cpu")
        if name == "cuda":
            name = f"cuda:{local_rank}"
    elif name != "cpu":
        raise ConfigError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N")
    device = torch.device(name)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return device


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether oneDNN has bf16 kernels for this CPU (x86: AVX-512 or AMX; Arm: its bf16
    extension). Without them bf16 autocast on the CPU is emulated, far slower than float32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without the probe: read the flags
        try:
            flags = set(open("/proc/cpuinfo", encoding="utf-8").read().split())
        except OSError:
            return True  # nothing to go by: no warning
        return bool(flags & {"avx512f", "avx512_bf16", "amx_bf16"})


_slow_bf16_noted = False


def autocast(device: torch.device, amp: str):
    """bf16 autocast on CUDA for amp='auto' or 'bf16'; on the CPU only when asked ('bf16'), with
    a note (once per process) where the CPU has no bf16 kernels."""
    global _slow_bf16_noted
    enabled = amp == "bf16" or (amp == "auto" and device.type == "cuda")
    if not enabled:
        return contextlib.nullcontext()
    if device.type == "cpu" and not _slow_bf16_noted and not cpu_has_bf16():
        _slow_bf16_noted = True
        # measured on the Multi30k recipe, 2 threads of a 2-core AVX2 CPU: 12.7 s a step against 2.5
        print(
            "seq2seq: warning: bf16 on a CPU without bf16 kernels (AVX-512 or AMX) is emulated, about 5x slower "
            "than float32 here; train with --set train.amp=off, translate with --amp off",
            file=sys.stderr,
        )
    return torch.autocast(device.type, dtype=torch.bfloat16)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def init_distributed() -> Dist:
    """Join the process group when launched by torchrun (NCCL on GPUs, gloo on CPUs)."""
    if "WORLD_SIZE" not in os.environ or "MASTER_ADDR" not in os.environ:
        return Dist()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and os.environ.get("SEQ2SEQ_BACKEND") != "gloo" else "gloo"
        dist.init_process_group(backend)
    return Dist(dist.get_rank(), int(os.environ.get("LOCAL_RANK", 0)), dist.get_world_size(), True)


def has_cpp_compiler() -> bool:
    """Whether torch.compile's CPU backend (inductor) finds a C++ compiler on this machine."""
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler

        return bool(get_cpp_compiler())
    except Exception:  # noqa: BLE001 -- any failure means inductor cannot build CPU kernels here
        return False
