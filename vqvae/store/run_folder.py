"""The run folder: the only channel between a training job and whoever watches it (its
layout: layout.py).

Every file is written whole (vqvae/files.py) and a checkpoint folder is swapped in whole
(checkpoints.py), so a run killed at any moment leaves every file complete. In a
distributed run only rank 0 writes.

A job writes only into a folder that is new, empty, or marked by run.json as a run of
ours; it never deletes what it did not write. Every reader treats the folder as possibly
damaged (a user's editor, a full disk, a kill): a bad line or file is skipped or reported
in one line, never a traceback.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path

from vqvae.config import run_kind
from vqvae.distributed import is_writer
from vqvae.files import atomic_write_bytes, atomic_write_json, is_number, read_json
from vqvae.store.checkpoints import checkpoint_metrics, resolve_checkpoint_or_none
from vqvae.store.layout import (CONFIG, JOB, LOCK, LOG, MARKER, METRICS,
                                REQUEST, STATUS, TRAINER_STATE)

RUN_FORMAT, RUN_FORMAT_VERSION = "vqvae-lab run", 1
KINDS = {"vqvae": ("VQ-VAE", "train"), "prior": ("prior", "train-prior")}  # kind -> (its name, its command)
ACTIVE_STATES = ("starting", "queued", "running")
# What a folder may hold before its job has started: the marker and the run manager's files.
PREPARED = {MARKER, REQUEST, JOB, LOG, LOCK}


def append_metrics(run_dir: Path, record: dict) -> None:
    """One line per record, written with a single append so readers never see half of it
    (a line cut by a crash is skipped by read_metrics)."""
    if not is_writer():
        return
    line = json.dumps(record, allow_nan=True) + "\n"
    with open(Path(run_dir) / METRICS, "a") as f:
        f.write(line)


def read_metrics(run_dir: Path, kind: str | None = None) -> list[dict]:
    """The run's metric records (of `kind`), oldest first. A line that is not an object of
    numbers with a string "kind" (cut by a crash, or damaged) is skipped."""
    records = []
    try:
        lines = (Path(run_dir) / METRICS).read_bytes().splitlines()
    except OSError:
        return records
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if _is_record(record) and (kind is None or record["kind"] == kind):
            records.append(record)
    return records


def training_seconds(folder: Path) -> float | None:
    """How long the run (or the exported model) in `folder` trained: its epochs' seconds
    summed from metrics.jsonl, evaluation not counted. None when the records do not say
    (no epoch yet, or written before epochs were timed)."""
    epochs = read_metrics(folder, "epoch")
    if not epochs or not all("seconds" in r for r in epochs):
        return None
    return float(sum(r["seconds"] for r in epochs))


def _is_record(record) -> bool:
    return (isinstance(record, dict) and isinstance(record.get("kind"), str)
            and all(is_number(v) for k, v in record.items() if k != "kind"))


def truncate_metrics(run_dir: Path, step: int) -> None:
    """Drop lines logged after `step` (a resumed run repeats the steps after its last checkpoint)."""
    kept = [r for r in read_metrics(run_dir) if r.get("step", 0) <= step]
    atomic_write_bytes(Path(run_dir) / METRICS, "".join(json.dumps(r) + "\n" for r in kept).encode())


def write_status(run_dir: Path, **fields) -> dict:
    status = _checked_status(read_json(Path(run_dir) / STATUS) or {})
    status.update(fields, updated=time.time())
    atomic_write_json(Path(run_dir) / STATUS, status)  # rank 0 only, like every write here
    return status


# The status fields whose type a reader relies on; a damaged file's wrong ones are dropped.
STATUS_TYPES = {"state": str, "message": str, "pid": int, "step": int, "epoch": int, "epochs": int,
                "total_steps": int, "val_psnr": float, "best_val_psnr": float, "val_nll": float,
                "best_val_nll": float, "data": str, "device": str, "kind": str}


def _checked_status(status: dict) -> dict:
    def fits(value, kind) -> bool:
        return isinstance(value, str) if kind is str else is_number(value) and (kind is float or isinstance(value, int))

    return {k: v for k, v in status.items() if k not in STATUS_TYPES or v is None or fits(v, STATUS_TYPES[k])}


def read_status(run_dir: Path) -> dict:
    """The run's status, as true as the folder allows:

    - a status.json that is missing or damaged is rebuilt from the last checkpoint (a run
      whose checkpoint reached its last epoch is done);
    - a status that says the run is active while no job holds the run's lock is settled as
      failed: its process is gone (killed, or the machine stopped). The corrected status is
      saved when the folder is a run of ours and nobody writes it.
    """
    run_dir = Path(run_dir)
    saved = read_json(run_dir / STATUS)
    status = _checked_status(saved) if saved is not None else _status_from_checkpoints(run_dir)
    if status.get("state") in ACTIVE_STATES and not writer_alive(run_dir):
        epoch, epochs = status.get("epoch"), status.get("epochs")
        where = f" at epoch {epoch} of {epochs}" if epoch is not None and epochs else ""
        status.update(state="failed",
                      message=f"its process ended without a word{where} (killed?): {_resume_advice(run_dir)}")
        _save_settled(run_dir, status)
    return status


def _resume_advice(run_dir: Path) -> str:
    """How to continue a stopped run: the dashboard first, the command for the terminal."""
    command = KINDS[kind_of_run(run_dir) or "vqvae"][1]
    return (f"resume it from its last checkpoint on the Train page, or with "
            f"python -m vqvae {command} --resume --out {run_dir}")


def _status_from_checkpoints(run_dir: Path) -> dict:
    """What the checkpoints say of a run whose status.json is gone or damaged ({} if nothing)."""
    last = resolve_checkpoint_or_none(run_dir, "last")
    counters = read_json(last / TRAINER_STATE) if last else None
    if not counters:
        return {}
    epochs = ((read_json(run_dir / CONFIG) or {}).get("train") or {}).get("epochs")
    epoch, step = counters.get("epoch"), counters.get("step")
    if not (is_number(epoch) and is_number(step)):
        return {}
    done = is_number(epochs) and epoch >= epochs and not counters.get("batch")
    status = {"state": "done" if done else "failed", "step": step, "epoch": epoch,
              "message": "" if done else f"its status.json was damaged; its last checkpoint is from epoch {epoch}: "
                                         f"{_resume_advice(run_dir)}"}
    if is_number(epochs):
        status["epochs"] = epochs
    best = checkpoint_metrics(run_dir, "best")
    for key in ("val_psnr", "val_nll"):
        if key in best:
            status["best_" + key] = best[key]
    return status


def _save_settled(run_dir: Path, status: dict) -> None:
    """Save a reader's correction, only into a run of ours and only while no job writes it;
    `status` gets the time it was saved with, so the reader returns what is on disk."""
    if marker(run_dir) is None:
        return
    with contextlib.suppress(OSError), _lock_if_free(run_dir) as free:
        if free:
            status["updated"] = time.time()
            atomic_write_json(run_dir / STATUS, status)


def writer_alive(run_dir: Path) -> bool:
    """Whether a job holds the run's lock: it does from before it loads its data until its
    final status is written (the kernel drops the lock when the process dies)."""
    with _lock_if_free(run_dir) as free:
        return free is False


@contextlib.contextmanager
def _lock_if_free(run_dir: Path):
    """Yields True while holding RUN/.lock, False when a job holds it, None when the run
    has no lock file (it is never created here: a reader writes nothing)."""
    try:
        fd = os.open(Path(run_dir) / LOCK, os.O_RDONLY)
    except OSError:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def marker(run_dir: Path) -> dict | None:
    """The run.json of a run VQ-VAE Lab wrote, or None."""
    found = read_json(Path(run_dir) / MARKER) or {}
    kind = found.get("kind")
    return found if found.get("format") == RUN_FORMAT and isinstance(kind, str) and kind in KINDS else None


def mark_run(run_dir: Path, kind: str) -> None:
    """Mark `run_dir` as a run of ours (before anything else is written into it)."""
    if kind not in KINDS:
        raise ValueError(f"unknown run kind {kind}")
    if marker(run_dir) is None:
        atomic_write_json(Path(run_dir) / MARKER, {"format": RUN_FORMAT, "version": RUN_FORMAT_VERSION, "kind": kind,
                                                   "created": time.time()})


def kind_of_run(run_dir: Path) -> str | None:
    """"vqvae" or "prior": from the run's marker, else from its config, else None."""
    found = marker(run_dir)
    return found["kind"] if found else run_kind(read_json(Path(run_dir) / CONFIG))
