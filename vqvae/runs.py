"""The run folder: the only channel between a training job and whoever watches it.

    RUN/config.json            the RunConfig (model + training settings)
    RUN/status.json            state (running, done, failed, cancelled), progress, message
    RUN/metrics.jsonl          one JSON object per line: step lines and epoch lines
    RUN/checkpoints/last/      Hub layout + optimizer.safetensors + trainer_state.json
    RUN/checkpoints/best/      Hub layout, best held-out reconstruction so far
    RUN/previews/epoch_NNN.png held-out originals (top) over reconstructions (bottom)

Every file is written atomically (temp file, then rename), and a checkpoint folder is
swapped in whole, so a run killed at any moment leaves every file complete. In a
distributed run only rank 0 writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

from .distributed import is_writer
from .errors import VQVAEError

CONFIG = "config.json"
STATUS = "status.json"
METRICS = "metrics.jsonl"
WEIGHTS = "model.safetensors"
OPTIMIZER = "optimizer.safetensors"
TRAINER_STATE = "trainer_state.json"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    if not is_writer():
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a dashboard under another user must read it
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, allow_nan=True) + "\n").encode())


def atomic_write_png(path: Path, image: torch.Tensor) -> None:
    """A float image [C, H, W] in [0, 1] (C = 1 or 3) as a PNG."""
    from PIL import Image

    pixels = image.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu().permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def append_metrics(run_dir: Path, record: dict) -> None:
    """One line per record, written with a single append so readers never see half of it
    (a line cut by a crash is skipped by read_metrics)."""
    if not is_writer():
        return
    line = json.dumps(record, allow_nan=True) + "\n"
    with open(Path(run_dir) / METRICS, "a") as f:
        f.write(line)


def read_metrics(run_dir: Path, kind: str | None = None) -> list[dict]:
    records = []
    try:
        lines = (Path(run_dir) / METRICS).read_text().splitlines()
    except FileNotFoundError:
        return records
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if kind is None or record.get("kind") == kind:
            records.append(record)
    return records


def truncate_metrics(run_dir: Path, step: int) -> None:
    """Drop lines logged after `step` (a resumed run repeats the steps after its last checkpoint)."""
    kept = [r for r in read_metrics(run_dir) if r.get("step", 0) <= step]
    atomic_write_bytes(Path(run_dir) / METRICS, "".join(json.dumps(r) + "\n" for r in kept).encode())


def write_status(run_dir: Path, **fields) -> dict:
    status = read_json(Path(run_dir) / STATUS) or {}
    status.update(fields, updated=time.time())
    atomic_write_json(Path(run_dir) / STATUS, status)  # rank 0 only, like every write here
    return status


def read_status(run_dir: Path) -> dict:
    return read_json(Path(run_dir) / STATUS) or {}


def write_folder_atomically(dest: Path, fill: Callable[[Path], None]) -> None:
    """Build a folder beside dest with fill(tmp), then swap it in.

    Between the two renames dest is missing for an instant; dest.old is then a complete
    copy, and resolve_checkpoint falls back to it. dest.old stays until the next swap, so a
    reader that picked it in that instant can finish; it is removed only while dest exists.
    """
    if not is_writer():
        return
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    old = dest.with_name(dest.name + ".old")
    try:
        fill(tmp)
        for f in tmp.rglob("*"):  # data on disk before the rename makes it visible
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
                os.chmod(f, 0o644)  # safetensors writes 0600; a dashboard under another user must read it
            elif f.is_dir():
                os.chmod(f, 0o755)
        os.chmod(tmp, 0o755)
        if dest.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dest, old)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fsync_dir(folder: Path) -> None:
    """Make renames inside folder durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def checkpoint_dir(run_dir: Path, which: str) -> Path:
    return Path(run_dir) / "checkpoints" / which


def _existing(folder: Path) -> Path | None:
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / WEIGHTS).is_file():
            return candidate
    return None


def resolve_checkpoint(path: str | Path, which: str = "best") -> Path:
    """A folder holding model.safetensors: the path itself, or a run folder's checkpoint
    (`which` first, then the other one)."""
    path = Path(path)
    if not path.exists():
        raise VQVAEError(f"{path} does not exist: pass a run folder or a checkpoint folder")
    if (path / WEIGHTS).is_file():
        return path
    for name in (which, "last" if which == "best" else "best"):
        found = _existing(checkpoint_dir(path, name))
        if found:
            return found
    raise VQVAEError(f"no checkpoint in {path}: pass a run folder with checkpoints/ or a folder holding {WEIGHTS}")


@contextlib.contextmanager
def exclusive(run_dir: Path):
    """Hold RUN/.lock for as long as a job writes the folder, so two jobs never share one."""
    if not is_writer():  # the other ranks of a distributed run never write
        yield
        return
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(run_dir) / ".lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise VQVAEError(f"{run_dir} is being written by another training job: wait for it, cancel it, or choose another --out") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def resolve_checkpoint_or_none(run_dir: Path, which: str = "last") -> Path | None:
    """The run's `which` checkpoint folder if one was saved, else None."""
    return _existing(checkpoint_dir(run_dir, which))


def save_training_state(folder: Path, optimizer: torch.optim.Optimizer, counters: dict) -> None:
    """Optimizer moments and RNG state as safetensors, counters as JSON (never a pickle)."""
    state = optimizer.state_dict()
    tensors = {"rng.cpu": torch.get_rng_state()}
    if torch.cuda.is_available():  # dead-code restarts draw from the CUDA generator there
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = state
    for pid, slots in state["state"].items():
        for name, value in slots.items():
            tensors[f"state.{pid}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    save_file(tensors, str(folder / OPTIMIZER))
    meta = dict(counters, param_groups=state["param_groups"])
    (folder / TRAINER_STATE).write_text(json.dumps(meta, indent=2))


def load_training_state(folder: Path, optimizer: torch.optim.Optimizer) -> dict:
    """Restore what save_training_state wrote; returns the counters."""
    try:
        meta = json.loads((folder / TRAINER_STATE).read_text())
        tensors = load_file(str(folder / OPTIMIZER))
    except Exception as exc:
        raise VQVAEError(f"training state in {folder} is unreadable ({type(exc).__name__}): start a new run instead of --resume") from None
    try:
        slots: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("state."):
                _, pid, name = key.split(".", 2)
                slots.setdefault(int(pid), {})[name] = value
        optimizer.load_state_dict({"state": slots, "param_groups": meta.pop("param_groups")})
        torch.set_rng_state(tensors["rng.cpu"])
    except (ValueError, KeyError, RuntimeError, TypeError) as exc:
        raise VQVAEError(f"training state in {folder} does not match the model ({exc}): start a new run") from None
    cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    return meta
