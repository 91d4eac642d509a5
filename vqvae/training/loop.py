"""The one training loop, for every kind of model, and the run-folder discipline around it:
one training process per folder (a lock), resume from the last checkpoint, cancel on a
signal between two steps, and a failed status with a one-line message when anything goes
wrong. A kind (vqvae/training/kinds/) says only what is its own: its step, its evaluation,
its pictures and its card; a caller's Hooks (hooks.py) may watch each step and stop the run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from vqvae import distributed
from vqvae.errors import VQVAEError
from vqvae.store import claim, run_folder
from vqvae.store.run_folder import RunFolder
from vqvae.training.hooks import Hooks
from vqvae.training.kinds.base import Kind
from vqvae.training.run import Run

GPU_LOCK_ENV = "VQVAE_GPU_LOCK"  # set (by the run manager) for a run that must wait its turn on the device
CANCELLED, STOPPED = "cancelled", "stopped by its caller"  # the message of a run cancelled by a signal, or by a hook


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffle of epoch `epoch`: a pure function of (seed, epoch), so a resumed run sees
    the same batches it would have seen."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g)


def cosine_lr(base_lr: float, step: int, total_steps: int) -> float:
    """The learning rate at `step` on a half cosine from base_lr to 0 over total_steps (0 after).
    A function of the step, so a resumed run continues on its curve (and one given more
    epochs, on a longer one)."""
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, total_steps))))


def train_epochs(run: Run, cancelled: Callable[[], bool], progress: bool, hooks: Hooks) -> dict:
    """Train `run` to its last epoch, or until cancelled or stopped by a hook; the final status."""
    c, t, kind, per_epoch = run.counters, run.cfg.train, run.kind, run.steps_per_epoch
    total = t.epochs * per_epoch
    bar = tqdm(total=total, initial=c["step"], disable=not progress or not distributed.is_writer(), unit="step",
               dynamic_ncols=True, file=sys.stderr, desc=run.out.name)
    while c["epoch"] < t.epochs:
        hooks.epoch_start(run)
        # Moved once an epoch: a batch of indices copied at every step would wait for the GPU each time.
        order = epoch_order(run.n_train, t.seed, c["epoch"]).to(kind.index_device)
        started, seen = time.perf_counter(), 0
        for b in range(c["batch"], per_epoch):
            if t.cosine:
                kind.trainer.set_lr(cosine_lr(t.lr, c["step"], total))
            stats = kind.step(distributed.shard(order[b * t.batch_size : (b + 1) * t.batch_size]), c["step"])
            seen += min(t.batch_size, run.n_train - b * t.batch_size)
            c["step"] += 1
            c["batch"] = b + 1
            bar.update(1)
            logs_now = c["step"] % t.log_every == 0 or b == per_epoch - 1
            if logs_now:  # the one wait for the device in log_every steps
                bar.set_postfix(_log_step(run, stats, short=(b + 1) * t.batch_size > run.n_train))
            stop = bool(hooks.step_end(run, stats))  # a hook that returns nothing never stops the run
            # Under torchrun the ranks agree on a cancel through an all-reduce, which waits for
            # the device: so they ask at the logged steps only (alone, the flag costs nothing).
            if (logs_now or not distributed.active()) and distributed.any_rank(cancelled() or stop):
                bar.close()
                run.finite(stats)  # never save weights a diverged step has left
                run.save_last()
                return run.folder.write_status(state="cancelled", message=STOPPED if stop else CANCELLED, step=c["step"])
        seconds = time.perf_counter() - started  # the epoch's training time, its evaluation not counted
        c["epoch"] += 1
        c["batch"] = 0
        line = run.end_epoch(seen / max(seconds, 1e-9), seconds)
        bar.set_postfix(kind.postfix(line))
        hooks.epoch_end(run, line)
    bar.close()
    return run.finish()


def _log_step(run: Run, stats: torch.Tensor, short: bool) -> dict[str, str]:
    """The step line and the status of a logged step; returns the progress bar's postfix."""
    c, kind = run.counters, run.kind
    losses = run.finite(stats)
    logged = losses
    if short:  # a short last batch: its counts would read as a collapse
        logged = {k: v for k, v in losses.items() if k not in kind.counts_per_batch}
    run.folder.append_metrics({"kind": "step", "epoch": c["epoch"] + 1, "step": c["step"], **logged})
    run.folder.write_status(step=c["step"], epoch=c["epoch"])
    return {k: f"{losses[k]:.4g}" for k in kind.postfix_keys}


def train_run(out: Path, resume: bool, marker: str | None, make_kind: Callable[[], Kind], progress: bool = True,
              hooks: Hooks | None = None) -> dict:
    """Lock the run folder `out`, make the kind (its data loaded, its model built) and train
    it; returns the final status. `marker`: the run kind run.json records ("vqvae",
    "prior"), or None for a run in a folder nobody resumes (the classifier's).

    A failure lands in status.json as one line before it propagates, so whoever watches
    the folder sees why the run stopped. A full disk or a folder that cannot be written
    ends the run as a VQVAEError (one line, no traceback); the last checkpoint stays whole.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VQVAEError(f"cannot create run folder {out} ({exc.strerror}): choose another --out") from None
    started_group = distributed.init()
    try:
        with claim.exclusive(out):
            if distributed.is_writer():
                if not resume and marker:
                    claim.check_new_run_folder(out, marker)  # again: another process may have got here first
                    RunFolder(out).mark(marker)
                claim.remove_leftovers(out)  # what a kill left behind, now that nothing else writes here
            # The signal handlers come after the device queue (a blocked flock would swallow a cancel)
            # and before the kind is made: a cancel while the data is loaded or encoded is kept for later.
            with device_turn(out), _cancel_on_signals() as cancelled:
                return _train_made(out, resume, marker, make_kind(), cancelled, progress, hooks or Hooks())
    except OSError as exc:
        raise VQVAEError(io_message(exc, out, marker)) from None
    finally:
        if started_group:
            distributed.shutdown()


def _train_made(out: Path, resume: bool, marker: str | None, kind: Kind, cancelled: Callable[[], bool],
                progress: bool, hooks: Hooks) -> dict:
    run = Run(out, kind)
    run.start(resume)  # a resume that cannot go on fails here, before anything is written
    if distributed.any_rank(cancelled()):
        return RunFolder(out).write_status(state="cancelled", message="cancelled before training started")
    try:
        return train_epochs(run, cancelled, progress, hooks)
    except VQVAEError as exc:
        _try_status(out, state="failed", message=str(exc))
        raise
    except OSError as exc:
        _try_status(out, state="failed", message=io_message(exc, out, marker))
        raise
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            _try_status(out, state="cancelled", message="interrupted")
        else:
            _try_status(out, state="failed", message=f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
        raise


def io_message(exc: OSError, out: Path, marker: str | None) -> str:
    where = f"{exc.filename}" if exc.filename else str(out)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        then = (f"continue with python -m vqvae {run_folder.KINDS[marker][1]} --resume --out {out}" if marker
                else "train again")
        return f"the disk is full (writing {where}): free some space, then {then}"
    return f"cannot write {where} ({exc.strerror or exc}): check its permissions, or choose another --out"


def _try_status(out: Path, **fields) -> None:
    """The final word in status.json, if the disk still takes it (it may be full)."""
    with contextlib.suppress(OSError):
        RunFolder(out).write_status(**fields)


@contextlib.contextmanager
def device_turn(run_dir: Path):
    """Wait for this run's turn on the device when the manager queued it (GPU_LOCK_ENV set);
    the turn lasts as long as the block."""
    lock = os.environ.get(GPU_LOCK_ENV)
    if not lock:
        yield
        return
    with open(lock, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            RunFolder(run_dir).write_status(state="queued", pid=os.getpid(), message="waiting for the run before it to finish")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def _cancel_on_signals():
    """SIGTERM (the dashboard's cancel) and SIGINT (Ctrl-C) set a flag; the loop then
    saves between two steps and stops cleanly, so the checkpoint is never half a step.

    Only the main thread may install handlers; elsewhere cancellation is not offered.
    """
    flag = {"set": False}
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            previous[sig] = signal.signal(sig, lambda *_: flag.update(set=True))
        except ValueError:
            pass
    try:
        yield lambda: flag["set"]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
