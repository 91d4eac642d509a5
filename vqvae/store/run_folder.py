"""The run folder: the only channel between a training job and whoever watches it (its
layout: layout.py), as one object: `RunFolder(path)`.

Every file is written whole (vqvae/files.py) and a checkpoint folder is swapped in whole
(checkpoints.py), so a run killed at any moment leaves every file complete. In a
distributed run only rank 0 writes.

A job writes only into a folder that is new, empty, or marked by run.json as a run of
ours (claim.py); it never deletes what it did not write. Every reader treats the folder as
possibly damaged (a user's editor, a full disk, a kill): a bad line or file is skipped or
reported in one line, never a traceback.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path

from vqvae.config import PriorRunConfig, RunConfig, run_kind
from vqvae.distributed import is_writer
from vqvae.files import atomic_write_bytes, atomic_write_json, is_number, read_json
from vqvae.store import checkpoints
from vqvae.store.layout import CONFIG, JOB, LOCK, LOG, MARKER, METRICS, REQUEST, STATUS, TRAINER_STATE
from vqvae.store.provenance import training_config

RUN_FORMAT, RUN_FORMAT_VERSION = "vqvae-lab run", 1
KINDS = {"vqvae": ("VQ-VAE", "train"), "prior": ("prior", "train-prior")}  # kind -> (its name, its command)
ACTIVE_STATES = ("starting", "queued", "running")
# What a folder may hold before its job has started: the marker and the run manager's files.
PREPARED = {MARKER, REQUEST, JOB, LOG, LOCK}
# The status fields whose type a reader relies on; a damaged file's wrong ones are dropped.
STATUS_TYPES = {"state": str, "message": str, "pid": int, "step": int, "epoch": int, "epochs": int,
                "total_steps": int, "val_psnr": float, "best_val_psnr": float, "val_nll": float,
                "best_val_nll": float, "data": str, "device": str, "kind": str}


class RunFolder:
    """One run folder: who wrote it (the marker), its status, its metric lines, its
    checkpoints and how it was trained. Reading never raises for a damaged file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # --- who wrote it ---
    def marker(self) -> dict | None:
        """The run.json of a run VQ-VAE Lab wrote, or None."""
        found = read_json(self.path / MARKER) or {}
        kind = found.get("kind")
        return found if found.get("format") == RUN_FORMAT and isinstance(kind, str) and kind in KINDS else None

    def mark(self, kind: str) -> None:
        """Mark the folder as a run of ours (before anything else is written into it)."""
        if kind not in KINDS:
            raise ValueError(f"unknown run kind {kind}")
        if self.marker() is None:
            atomic_write_json(self.path / MARKER, {"format": RUN_FORMAT, "version": RUN_FORMAT_VERSION, "kind": kind,
                                                   "created": time.time()})

    def kind(self) -> str | None:
        """"vqvae" or "prior": from the run's marker, else from its config, else None."""
        found = self.marker()
        return found["kind"] if found else run_kind(read_json(self.path / CONFIG))

    # --- metrics.jsonl ---
    def append_metrics(self, record: dict) -> None:
        """One line per record, written with a single append so readers never see half of it
        (a line cut by a crash is skipped by `metrics`)."""
        if not is_writer():
            return
        line = json.dumps(record, allow_nan=True) + "\n"
        with open(self.path / METRICS, "a") as f:
            f.write(line)

    def metrics(self, kind: str | None = None) -> list[dict]:
        """The run's metric records (of `kind`), oldest first. A line that is not an object of
        numbers with a string "kind" (cut by a crash, or damaged) is skipped."""
        try:
            lines = (self.path / METRICS).read_bytes().splitlines()
        except OSError:
            return []
        records = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if _is_record(record) and (kind is None or record["kind"] == kind):
                records.append(record)
        return records

    def truncate_metrics(self, step: int) -> None:
        """Drop lines logged after `step` (a resumed run repeats the steps after its last checkpoint)."""
        kept = [r for r in self.metrics() if r.get("step", 0) <= step]
        atomic_write_bytes(self.path / METRICS, "".join(json.dumps(r) + "\n" for r in kept).encode())

    def training_seconds(self) -> float | None:
        """How long the run (or the exported model) trained: its epochs' seconds summed,
        evaluation not counted. None when the records do not say (no epoch yet, or written
        before epochs were timed)."""
        epochs = self.metrics("epoch")
        if not epochs or not all("seconds" in r for r in epochs):
            return None
        return float(sum(r["seconds"] for r in epochs))

    # --- status.json ---
    def write_status(self, **fields) -> dict:
        status = _checked_status(read_json(self.path / STATUS) or {})
        status.update(fields, updated=time.time())
        atomic_write_json(self.path / STATUS, status)  # rank 0 only, like every write here
        return status

    def status(self) -> dict:
        """The run's status, as true as the folder allows:

        - a status.json that is missing or damaged is rebuilt from the last checkpoint (a run
          whose checkpoint reached its last epoch is done);
        - a status that says the run is active while no job holds the run's lock is settled as
          failed: its process is gone (killed, or the machine stopped). The corrected status is
          saved when the folder is a run of ours and nobody writes it.
        """
        saved = read_json(self.path / STATUS)
        status = _checked_status(saved) if saved is not None else self._status_from_checkpoints()
        if status.get("state") in ACTIVE_STATES and not self.writer_alive():
            epoch, epochs = status.get("epoch"), status.get("epochs")
            where = f" at epoch {epoch} of {epochs}" if epoch is not None and epochs else ""
            status.update(state="failed",
                          message=f"its process ended without a word{where} (killed?): {self.resume_advice()}")
            self._save_settled(status)
        return status

    def writer_alive(self) -> bool:
        """Whether a job holds the run's lock: it does from before it loads its data until its
        final status is written (the kernel drops the lock when the process dies)."""
        with _lock_if_free(self.path) as free:
            return free is False

    def resume_advice(self) -> str:
        """How to continue a stopped run: the dashboard first, the command for the terminal."""
        command = KINDS[self.kind() or "vqvae"][1]
        return (f"resume it from its last checkpoint on the Train page, or with "
                f"python -m vqvae {command} --resume --out {self.path}")

    def _status_from_checkpoints(self) -> dict:
        """What the checkpoints say of a run whose status.json is gone or damaged ({} if nothing)."""
        last = self.checkpoint("last")
        counters = read_json(last / TRAINER_STATE) if last else None
        if not counters:
            return {}
        epochs = ((read_json(self.path / CONFIG) or {}).get("train") or {}).get("epochs")
        epoch, step = counters.get("epoch"), counters.get("step")
        if not (is_number(epoch) and is_number(step)):
            return {}
        done = is_number(epochs) and epoch >= epochs and not counters.get("batch")
        status = {"state": "done" if done else "failed", "step": step, "epoch": epoch,
                  "message": "" if done else f"its status.json was damaged; its last checkpoint is from epoch {epoch}: "
                                             f"{self.resume_advice()}"}
        if is_number(epochs):
            status["epochs"] = epochs
        best = self.checkpoint_metrics("best")
        for key in ("val_psnr", "val_nll"):
            if key in best:
                status["best_" + key] = best[key]
        return status

    def _save_settled(self, status: dict) -> None:
        """Save a reader's correction, only into a run of ours and only while no job writes it;
        `status` gets the time it was saved with, so the reader returns what is on disk."""
        if self.marker() is None:
            return
        with contextlib.suppress(OSError), _lock_if_free(self.path) as free:
            if free:
                status["updated"] = time.time()
                atomic_write_json(self.path / STATUS, status)

    # --- checkpoints and provenance ---
    def checkpoint(self, which: str = "best") -> Path | None:
        """The `which` checkpoint folder ("best" or "last", or its .old copy) if one was saved."""
        return checkpoints.resolve_checkpoint_or_none(self.path, which)

    def checkpoint_metrics(self, which: str = "best") -> dict:
        """The held-out numbers saved with a checkpoint (val_psnr, val_nll, ...), {} if none."""
        return checkpoints.checkpoint_metrics(self.path, which)

    def training_config(self) -> RunConfig | PriorRunConfig | None:
        """How it was trained (its config.json); a damaged one is refused in one line."""
        return training_config(self.path)


COUNT_LISTS = {"code_usage"}  # an epoch line's per-code counts; every other field is a number


def _is_record(record) -> bool:
    return (isinstance(record, dict) and isinstance(record.get("kind"), str)
            and all(_is_counts(v) if k in COUNT_LISTS else is_number(v) for k, v in record.items() if k != "kind"))


def _is_counts(value) -> bool:
    return isinstance(value, list) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value)


def _checked_status(status: dict) -> dict:
    def fits(value, kind) -> bool:
        return isinstance(value, str) if kind is str else is_number(value) and (kind is float or isinstance(value, int))

    return {k: v for k, v in status.items() if k not in STATUS_TYPES or v is None or fits(v, STATUS_TYPES[k])}


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
