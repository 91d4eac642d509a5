"""The epoch loop that VQ-VAE and prior training share, and the run-folder discipline around
it: one training process per folder (a lock), resume from the last checkpoint, cancel on a signal
between two steps, and a failed status with a one-line message when anything goes wrong.
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

from vqvae import distributed, files
from vqvae.store import checkpoints
from vqvae.errors import VQVAEError
from vqvae.store import run_folder
from vqvae.store import layout

GPU_LOCK_ENV = "VQVAE_GPU_LOCK"  # set (by the run manager) for a run that must wait its turn on the device


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffle of epoch `epoch`: a pure function of (seed, epoch), so a resumed run sees
    the same batches it would have seen."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g)


def loop_config(out: Path, cfg, resume: bool, epochs: int | None, from_dict: Callable[[dict], object], kind: str):
    """The validated config a run trains with: for a resume, the one saved in `out` (a run of ours
    of this kind) with its epochs raised to `epochs` when that is more; for a new run, `cfg`,
    if `out` is new or empty. Nothing is written before these checks pass."""
    if resume:
        run_folder.check_run_to_resume(out, kind)
        saved = files.read_json(out / layout.CONFIG)
        if saved is None:
            raise VQVAEError(f"cannot resume: {out / layout.CONFIG} is missing or damaged: restore it from a copy, "
                             f"or start a new run in another --out")
        cfg = from_dict(saved)
        if epochs is not None:
            if epochs < 0:
                raise VQVAEError(f"epochs must be 0 or more, not {epochs}")
            cfg.train.epochs = max(cfg.train.epochs, epochs)
    elif cfg is None:
        raise ValueError("a new run needs its config")
    elif int(os.environ.get("RANK", "0")) == 0:  # rank 0 may already have started it
        run_folder.check_new_run_folder(out, kind)
    return cfg.validate()


def cosine_lr(base_lr: float, step: int, total_steps: int) -> float:
    """The learning rate at `step` on a half cosine from base_lr to 0 over total_steps (0 after)."""
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, total_steps))))


class EpochLoop:
    """One run's epochs over shuffled batches of its training set, with the bookkeeping.

    A subclass sets the attributes below and implements `step`, `named`, `end_epoch`,
    `evaluate_and_save`, `card` and `final_fields`; `counters` (epoch, batch, step, ...)
    is what its checkpoints save beside the model and the optimiser state.
    """

    out: Path
    epochs: int
    n_train: int
    batch_size: int
    seed: int
    log_every: int
    counters: dict
    model: torch.nn.Module  # a Hub mixin model: save_pretrained(folder, config=...)
    model_config: object
    optimizer: torch.optim.Optimizer
    postfix_keys: tuple[str, ...] = ("loss",)
    counts_per_batch: tuple[str, ...] = ()  # step stats that grow with the batch, left out for a short last batch
    epoch_seconds: float = 0.0  # the training time of the epoch just ended (evaluation not counted)
    index_device: torch.device = torch.device("cpu")  # where the training items are: the epoch's order goes there once

    @property
    def steps_per_epoch(self) -> int:
        """Batches per epoch; a last batch too small to give every rank a share is dropped."""
        full, rest = divmod(self.n_train, self.batch_size)
        return full + (1 if rest >= distributed.world() else 0)

    def step(self, batch: torch.Tensor) -> torch.Tensor:
        """One optimiser step on the training items `batch` (indices); returns its losses as
        one tensor left on the device (reading it waits for the device: `named` does, and
        only on the steps that are logged)."""
        raise NotImplementedError

    def named(self, stats: torch.Tensor) -> dict[str, float]:
        """The losses of `step` by name, as numbers."""
        raise NotImplementedError

    def finite(self, stats: torch.Tensor) -> dict[str, float]:
        """named(stats), or the one-line error that ends a run whose losses are no longer finite."""
        losses = self.named(stats)
        if not all(math.isfinite(v) for v in losses.values()):
            raise VQVAEError(f"training diverged by step {self.counters['step']} (loss {losses['loss']}): "
                             f"lower the learning rate")
        return losses

    def follow_cosine(self, base_lr: float) -> None:
        """Set the learning rate on a half cosine from base_lr down to 0 over the run's steps.
        A function of the step, so a resumed run continues on its curve (and one given more
        epochs, on a longer one)."""
        lr = cosine_lr(base_lr, self.counters["step"], self.epochs * self.steps_per_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def end_epoch(self, items_per_s: float) -> dict[str, str]:
        """Evaluate, log the epoch line, save checkpoints; returns the progress bar's postfix."""
        raise NotImplementedError

    def evaluate_and_save(self, items_per_s: float) -> None:
        """Held-out metrics into an epoch line; the best and last checkpoints."""
        raise NotImplementedError

    def card(self, metrics: dict | None) -> str:
        """The checkpoint's model card (README.md)."""
        raise NotImplementedError

    def final_fields(self) -> dict:
        """What the final status adds to state, step and epoch."""
        raise NotImplementedError

    def save_checkpoint(self, which: str, metrics: dict | None, with_state: bool = False) -> None:
        """RUN/checkpoints/<which> in Hub layout with its held-out numbers, swapped in whole;
        with the optimiser and counters when a resume starts from it."""
        counters, card = dict(self.counters), self.card(metrics)

        def fill(folder: Path) -> None:
            self.model.save_pretrained(folder, config=self.model_config)
            files.atomic_write_bytes(folder / "README.md", card.encode())
            if metrics:  # what the runs table shows: the numbers this checkpoint holds
                files.atomic_write_json(folder / layout.CHECKPOINT_METRICS,
                                       dict(metrics, step=counters["step"], epoch=counters["epoch"]))
            if with_state:
                checkpoints.save_training_state(folder, self.optimizer, counters)

        checkpoints.write_folder_atomically(layout.checkpoint_dir(self.out, which), fill)

    def save_last(self, metrics: dict | None = None) -> None:
        self.save_checkpoint("last", metrics, with_state=True)

    def restore_last(self, load: Callable[[Path], torch.nn.Module]) -> None:
        """Model, optimiser and counters from the newest intact last checkpoint: last, else
        last.old (what a kill mid-swap or a damaged file leaves as the good one). No
        checkpoint yet (killed in its first epoch): the run starts from step 0. All damaged,
        or only a best one left: one line, nothing changed (never a silent restart that
        would overwrite the best checkpoint)."""
        problems = []
        folders = checkpoints.last_checkpoints(self.out)
        saved = layout.checkpoint_dir(self.out, "best").parent
        if not folders and saved.is_dir() and any(saved.iterdir()):
            problems.append(f"{self.out} has checkpoints but no last one to resume from: evaluate or use its best "
                            f"checkpoint, or start a new run in another --out")
        for folder in folders:
            try:
                state = load(folder).state_dict()
                self.model.load_state_dict(state, strict=True)
                counters = checkpoints.load_training_state(folder, self.optimizer)
            except VQVAEError as exc:
                problems.append(str(exc))
                continue
            except RuntimeError:
                problems.append(f"checkpoint {folder} does not match {self.out / layout.CONFIG}: "
                                f"restore the run's config, or start a new run in another --out")
                continue
            self.counters.update(counters)
            return
        if problems:
            raise VQVAEError(problems[0])

    def finish(self) -> dict:
        """Write and return the final status of a run that trained all its epochs."""
        c = self.counters
        if c["step"] == 0 and checkpoints.resolve_checkpoint_or_none(self.out) is None:  # epochs=0: keep the initial model
            self.evaluate_and_save(0.0)
        ranks = {"ranks": distributed.world(), "ranks_in_sync": distributed.in_sync(self.model)} if distributed.active() else {}
        return run_folder.write_status(self.out, state="done", message="", step=c["step"], epoch=c["epoch"],
                                 **self.final_fields(), **ranks)

    def run(self, cancelled: Callable[[], bool], progress: bool) -> dict:
        c, per_epoch = self.counters, self.steps_per_epoch
        bar = tqdm(total=self.epochs * per_epoch, initial=c["step"], disable=not progress or not distributed.is_writer(), unit="step",
                   dynamic_ncols=True, file=sys.stderr, desc=self.out.name)
        while c["epoch"] < self.epochs:
            # Moved once an epoch: a batch of indices copied at every step would wait for the GPU each time.
            order = epoch_order(self.n_train, self.seed, c["epoch"]).to(self.index_device)
            started, seen = time.perf_counter(), 0
            for b in range(c["batch"], per_epoch):
                stats = self.step(distributed.shard(order[b * self.batch_size : (b + 1) * self.batch_size]))
                seen += min(self.batch_size, self.n_train - b * self.batch_size)
                c["step"] += 1
                c["batch"] = b + 1
                bar.update(1)
                logs_now = c["step"] % self.log_every == 0 or b == per_epoch - 1
                if logs_now:
                    losses = self.finite(stats)  # the one wait for the device in log_every steps
                    logged = losses
                    if (b + 1) * self.batch_size > self.n_train:  # a short last batch: its counts would read as a collapse
                        logged = {k: v for k, v in losses.items() if k not in self.counts_per_batch}
                    run_folder.append_metrics(self.out, {"kind": "step", "epoch": c["epoch"] + 1, "step": c["step"], **logged})
                    bar.set_postfix({k: f"{losses[k]:.4g}" for k in self.postfix_keys})
                    run_folder.write_status(self.out, step=c["step"], epoch=c["epoch"])
                # Under torchrun the ranks agree on a cancel through an all-reduce, which waits for
                # the device: so they ask at the logged steps only (alone, the flag costs nothing).
                if (logs_now or not distributed.active()) and distributed.any_rank(cancelled()):
                    bar.close()
                    self.finite(stats)  # never save weights a diverged step has left
                    self.save_last()
                    return run_folder.write_status(self.out, state="cancelled", message="cancelled", step=c["step"])
            self.epoch_seconds = time.perf_counter() - started
            items_per_s = seen / max(self.epoch_seconds, 1e-9)
            c["epoch"] += 1
            c["batch"] = 0
            bar.set_postfix(self.end_epoch(items_per_s))
        bar.close()
        return self.finish()


def run_loop(out: Path, resume: bool, make_loop: Callable[[], EpochLoop], progress: bool, kind: str) -> dict:
    """Lock the run folder, build the epoch loop and run it; returns the final status.

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
        return _run_locked(out, resume, make_loop, progress, kind)
    except OSError as exc:
        raise VQVAEError(io_message(exc, out, kind)) from None
    finally:
        if started_group:
            distributed.shutdown()


def io_message(exc: OSError, out: Path, kind: str) -> str:
    where = f"{exc.filename}" if exc.filename else str(out)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        command = run_folder.KINDS[kind][1]
        return (f"the disk is full (writing {where}): free some space, then continue with "
                f"python -m vqvae {command} --resume --out {out}")
    return f"cannot write {where} ({exc.strerror or exc}): check its permissions, or choose another --out"


def _run_locked(out: Path, resume: bool, make_loop: Callable[[], EpochLoop], progress: bool, kind: str) -> dict:
    with run_folder.exclusive(out):
        if distributed.is_writer():
            if not resume:
                run_folder.check_new_run_folder(out, kind)  # again: another process may have got here first
                run_folder.mark_run(out, kind)
            run_folder.remove_leftovers(out)  # what a kill left behind, now that nothing else writes here
        # The signal handlers come after the device queue (a blocked flock would swallow a cancel)
        # and before the loop is made: a cancel while the data is loaded or encoded is kept for later.
        with device_turn(out), _cancel_on_signals() as cancelled:
            return _run_loop(out, make_loop, cancelled, progress, kind)


def _run_loop(out: Path, make_loop: Callable[[], EpochLoop], cancelled: Callable[[], bool], progress: bool, kind: str) -> dict:
    loop = make_loop()
    if distributed.any_rank(cancelled()):
        return run_folder.write_status(out, state="cancelled", message="cancelled before training started")
    try:
        return loop.run(cancelled, progress)
    except VQVAEError as exc:
        _try_status(out, state="failed", message=str(exc))
        raise
    except OSError as exc:
        _try_status(out, state="failed", message=io_message(exc, out, kind))
        raise
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            _try_status(out, state="cancelled", message="interrupted")
        else:
            _try_status(out, state="failed", message=f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
        raise


def _try_status(out: Path, **fields) -> None:
    """The final word in status.json, if the disk still takes it (it may be full)."""
    with contextlib.suppress(OSError):
        run_folder.write_status(out, **fields)


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
            run_folder.write_status(run_dir, state="queued", pid=os.getpid(), message="waiting for the run before it to finish")
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
