"""Checkpoint folders in Hugging Face Hub layout (see layout.py), swapped in whole, and
the training state a resume needs.

A run keeps RUN/checkpoints/best and RUN/checkpoints/last, each swapped in whole
(`write_folder_atomically`); X.old is the previous one, which a reader falls back on.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

from vqvae.distributed import is_writer
from vqvae.errors import VQVAEError
from vqvae.files import fsync_dir, is_number, read_json
from vqvae.store.layout import CHECKPOINT_FILES, CHECKPOINT_METRICS, OPTIMIZER, TRAINER_STATE, WEIGHTS, checkpoint_dir



def write_folder_atomically(dest: Path, fill: Callable[[Path], None]) -> None:
    """Build a folder beside dest with fill(tmp), then swap it in.

    Between the two renames dest is missing for an instant; dest.old is then a complete
    copy, and resolve_checkpoint falls back to it. dest.old stays until the next swap, so a
    reader that picked it in that instant can finish; it is removed only while dest exists,
    and only when it holds nothing but what fill writes (never a file someone else put there).
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
            _remove_our_folder(old, {p.name for p in tmp.iterdir()} | CHECKPOINT_FILES)
            os.replace(dest, old)
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _remove_our_folder(folder: Path, ours: set[str]) -> None:
    if not folder.exists():
        return
    foreign = sorted(p.name for p in folder.iterdir() if p.name not in ours)
    if foreign:
        raise VQVAEError(f"{folder} holds files VQ-VAE Lab did not write ({', '.join(foreign[:3])}): "
                         f"move them out of the run folder, then resume")
    shutil.rmtree(folder)


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


def resolve_checkpoint_or_none(run_dir: Path, which: str = "last") -> Path | None:
    """The run's `which` checkpoint folder if one was saved, else None."""
    return _existing(checkpoint_dir(run_dir, which))


def last_checkpoints(run_dir: Path) -> list[Path]:
    """The run's last checkpoint folders, newest first (last, last.old), whatever state
    they are in; none before its first epoch ended."""
    folder = checkpoint_dir(run_dir, "last")
    return [f for f in (folder, folder.with_name(folder.name + ".old")) if f.is_dir()]


def checkpoint_metrics(run_dir: Path, which: str = "best") -> dict:
    """The held-out numbers saved with a run's checkpoint (val_psnr, val_nll, ...), {} if none."""
    folder = resolve_checkpoint_or_none(run_dir, which)
    saved = read_json(folder / CHECKPOINT_METRICS) if folder else None
    return {k: v for k, v in (saved or {}).items() if is_number(v)}


def save_training_state(folder: Path, optimizer: torch.optim.Optimizer, counters: dict) -> None:
    """Optimizer moments and RNG state as safetensors, counters as JSON (never a pickle)."""
    state = optimizer.state_dict()
    tensors = {"rng.cpu": torch.get_rng_state()}
    if torch.cuda.is_available():  # dead-code restarts draw from the CUDA generator there
        for i, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = rng
    for pid, slots in state["state"].items():
        for name, value in slots.items():
            tensors[f"state.{pid}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    save_file(tensors, str(folder / OPTIMIZER))
    meta = dict(counters, param_groups=state["param_groups"])
    (folder / TRAINER_STATE).write_text(json.dumps(meta, indent=2))


def load_training_state(folder: Path, optimizer: torch.optim.Optimizer) -> dict:
    """Restore what save_training_state wrote; returns the counters."""
    try:
        meta = json.loads((folder / TRAINER_STATE).read_bytes())
        tensors = load_file(str(folder / OPTIMIZER))
        if not isinstance(meta, dict):
            raise TypeError(f"{TRAINER_STATE} holds no JSON object")
    except Exception as exc:
        raise VQVAEError(f"training state in {folder} is unreadable ({type(exc).__name__}): "
                         f"start a new run in another --out instead of --resume") from None
    try:
        slots: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("state."):
                _, pid, name = key.split(".", 2)
                slots.setdefault(int(pid), {})[name] = value
        optimizer.load_state_dict({"state": slots, "param_groups": meta.pop("param_groups")})
        torch.set_rng_state(tensors["rng.cpu"])
    except (ValueError, KeyError, RuntimeError, TypeError, AttributeError) as exc:
        raise VQVAEError(f"training state in {folder} does not match the model ({exc}): "
                         f"start a new run in another --out") from None
    cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    return meta
