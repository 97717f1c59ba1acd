"""Checkpoints: one format for every task, plain tensors and data only.

A checkpoint is a dict readable with ``torch.load(path, weights_only=True)``::

    format, version      "seq2seq-checkpoint", 2
    task, kind           task name and model kind
    config               the Config as nested plain data (what the run was asked to do)
    dims                 the sizes and ids the task read from the data (``Dims``)
    model                the model's state_dict
    optimizer, schedule  optimizer state_dict and LRSchedule state (training only)
    rng                  torch / CUDA / Python RNG states
    progress             step, epoch, batch (data position), best metric, counters
    task_state           what inference needs besides weights (vocabularies, label names)

Files are written to a temporary name in the same folder (``.NAME.PID.XXXX.tmp``), flushed,
then renamed, so a kill never leaves a half-written checkpoint under a final name; the temporary
files of writers that died (kill -9) are swept by the next write into the folder. Loading checks
the zip archive's CRCs first, so a checkpoint damaged after it was written is refused by name
instead of giving garbage weights. A run folder is locked (``lock_run``) while a run writes it.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import random
import re
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any

import torch

from seq2seq.errors import CheckpointError

FORMAT = "seq2seq-checkpoint"
VERSION = 2


_TEMP = re.compile(r"^\..+\.(\d+)\.[^.]+\.tmp$")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def sweep_temp_files(folder: str | Path) -> list[Path]:
    """Remove the temporary files that writers killed mid-write (kill -9) left in ``folder``;
    a live writer's are kept. Returns what was removed."""
    removed = []
    for p in Path(folder).glob(".*.tmp"):
        m = _TEMP.match(p.name)
        if m and not pid_alive(int(m.group(1))):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write) -> None:
    """Call ``write(file_object)`` on a temporary file next to ``path``, then rename it over
    ``path``. On any error (or Ctrl-C) the temporary file is removed and ``path`` is untouched.
    The file gets the mode a plain ``open`` would give it (0666 less the umask), not mkstemp's 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.filename is None:  # a full disk: name the file being written
            raise OSError(e.errno, e.strerror or str(e), str(path)) from None
        raise


def lock_run(folder: str | Path) -> IO:
    """Lock a run folder for this process (an advisory lock on ``folder/.lock``, released when the
    returned file is closed or the process ends, however it ends, so a killed run leaves no stale
    lock). A folder another live run holds is a CheckpointError naming that run's process."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / ".lock", "a+")  # noqa: SIM115 -- held open for the run's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise CheckpointError(
            f"{folder}: another run is writing this folder (process {holder}); wait for it to end, or train "
            "into another folder (--out)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


class _Writes:
    """A file's writes, with the OSError of a failed one kept: torch.save reports it as an opaque
    RuntimeError ('unexpected pos ...'), and a full disk must be said as such."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f, self.error = f, None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.f.flush()


def save(path: str | Path, payload: dict[str, Any]) -> None:
    payload = {"format": FORMAT, "version": VERSION, **payload}

    def write(f: IO[bytes]) -> None:
        stream = _Writes(f)
        try:
            torch.save(payload, stream)
        except RuntimeError:
            if stream.error is not None:
                raise stream.error from None
            raise

    atomic_write(path, write)


def verify(path: Path) -> None:
    """Refuse a file that is not an intact zip archive (what ``torch.save`` writes): a truncated
    file, another format, or stored data that fails its CRC (damaged after it was written)."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise CheckpointError(
            f"{path}: not a readable seq2seq checkpoint (not an intact zip archive: {e}); it may be truncated or "
            "another kind of file"
        ) from None
    if bad is not None:
        raise CheckpointError(
            f"{path}: corrupt: its stored data '{bad}' fails its checksum (the file was damaged after it was "
            "written); do not use it: use an older checkpoint or retrain"
        )


def _load_failure(path: Path, e: Exception) -> CheckpointError:
    """What is wrong with a file ``torch.load(weights_only=True)`` refused, without torch's advice
    to load it unsafely (which must never be followed for a file of unknown origin)."""
    text = str(e)
    if "Weights only load failed" in text or isinstance(e, pickle.UnpicklingError):
        found = re.search(r"(Unsupported global|Unsupported operand|GLOBAL [\w.]+)[^\n.]*", text)
        what = f" ({found.group(0).strip()})" if found else ""
        return CheckpointError(
            f"{path}: holds Python objects a checkpoint never contains{what}; refused without running them: "
            "not a seq2seq checkpoint, or one that was tampered with"
        )
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(e).__name__)
    return CheckpointError(f"{path}: not a readable seq2seq checkpoint ({first})")


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint (tensors and plain data only, its zip CRCs checked first) or fail with a
    message naming the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    verify(path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for a corrupt or foreign file
        raise _load_failure(path, e) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a seq2seq checkpoint (no '{FORMAT}' header)")
    if ckpt.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: written by a newer seq2seq (format {ckpt['version']}); upgrade")
    if ckpt.get("version", 0) < VERSION:
        raise CheckpointError(
            f"{path}: written by seq2seq 0.1 (checkpoint format {ckpt.get('version')}), whose configs held the data's "
            f"sizes; retrain it with this version"
        )
    return ckpt


def checkpoint_task(path: str | Path) -> str:
    """The task name of a checkpoint (memory-mapped read: cheap even for large files)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        ckpt = load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a seq2seq checkpoint (no '{FORMAT}' header)")
    return str(ckpt.get("task"))


def rng_state() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    state = {"torch": torch.get_rng_state(), "python": [version, list(internal), gauss]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


_STEP = re.compile(r"step-(\d+)\.pt$")


def step_checkpoints(folder: str | Path) -> list[Path]:
    """The ``step-N.pt`` files of a run folder, oldest first."""
    folder = Path(folder)
    found = [(int(m.group(1)), p) for p in folder.glob("step-*.pt") if (m := _STEP.search(p.name))]
    return [p for _, p in sorted(found)]


def prune(folder: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` step checkpoints."""
    if keep <= 0:
        return
    for p in step_checkpoints(folder)[:-keep]:
        p.unlink(missing_ok=True)


def average(paths: list[str | Path]) -> dict[str, Any]:
    """A checkpoint whose model weights are the mean of the given checkpoints' (same model).
    Training state is dropped: the result is for inference (and fine-tuning from scratch)."""
    if not paths:
        raise CheckpointError("nothing to average: give at least one checkpoint")
    first = load(paths[0])
    total = {k: v.double().clone() if v.is_floating_point() else v for k, v in first["model"].items()}
    for p in paths[1:]:
        ckpt = load(p)
        if ckpt["kind"] != first["kind"] or ckpt["model"].keys() != total.keys():
            raise CheckpointError(f"{p}: a different model from {paths[0]}; average checkpoints of one run")
        for k, v in ckpt["model"].items():
            if v.shape != total[k].shape:
                raise CheckpointError(f"{p}: tensor '{k}' has shape {tuple(v.shape)}, not {tuple(total[k].shape)}")
            if v.is_floating_point():
                total[k] += v.double()
    model = {k: (v / len(paths)).to(first["model"][k].dtype) if v.is_floating_point() else v for k, v in total.items()}
    keep = ("task", "kind", "config", "dims", "task_state", "progress")
    out = {k: first[k] for k in keep if k in first}
    out["model"] = model
    out["averaged"] = [str(p) for p in paths]
    return out
