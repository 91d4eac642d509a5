"""The bench's one way to time training: the library's own `vqvae.train` (or `train_prior`)
into a run folder, watched through training hooks; no copy of the loop.

Training time is the sum of the intervals between steps: the loop's own end-of-epoch
evaluation and checkpoints fall outside them, and when the clock checks held-out PSNR
mid-epoch (for "seconds to target") it stops first and starts again after. On a GPU the
clock waits for the device only where it stops or starts, so the steps stay asynchronous.
A hook stops a run as a cancel does: after N steps, after a time budget, or at a target.

The bench measures on the bundled splits, as its baselines do: during a timed run the
torchvision data root points at an empty folder, so `mnist` means the bundled split
whatever fuller copy the machine holds (as the test suite pins it).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import vqvae
from bench.timing import synced
from vqvae.training.evaluate import evaluate


@dataclass
class Watch:
    """Held-out PSNR to time: checked `checks_per_epoch` times an epoch on `val` (uint8
    [N, C, H, W]; the last check of an epoch is the loop's own evaluation), and with `stop`
    the run ends once it is reached."""

    db: float
    val: torch.Tensor
    checks_per_epoch: int = 4
    stop: bool = False


class TrainingClock(vqvae.Hooks):
    """Times the steps of one run and stops it when told (see the module docstring)."""

    def __init__(self, steps: int | None, seconds: float | None, watch: Watch | None, warmup: int):
        self.max_steps, self.max_seconds, self.watch, self.warmup = steps, seconds, watch, warmup
        self.trained, self.started, self.timed_steps, self.items = 0.0, None, 0, 0
        self.seconds_to_target = self.steps_to_target = None
        self.stopping, self.model, self.epochs, self.last = False, None, [], None

    def epoch_start(self, run) -> None:
        self.model = run.model
        if not self.stopping and run.counters["step"] >= self.warmup:
            self.started = synced(run.device)

    def step_end(self, run, stats) -> bool:
        c = run.counters
        self.last = "step"
        if self.stopping:  # the target was met at the end of the last epoch: this step is not counted
            return True
        if c["step"] <= self.warmup:  # compilation and autotuning: not what is measured
            if c["step"] == self.warmup:
                self.started = synced(run.device)
            return self.max_steps is not None and c["step"] >= self.max_steps
        self.timed_steps += 1
        self.items += min(run.cfg.train.batch_size, run.n_train - (c["batch"] - 1) * run.cfg.train.batch_size)
        end_of_epoch = c["batch"] == run.steps_per_epoch
        check = self._checks_now(run) and not end_of_epoch
        self.stopping = self.max_steps is not None and c["step"] >= self.max_steps
        if check or end_of_epoch or self.stopping:
            self._pause(run.device)
        if check and evaluate(run.model, self.watch.val)["val_psnr"] >= self.watch.db:
            self._reached(c["step"])
        if self.max_seconds is not None and self.elapsed() >= self.max_seconds:
            self._pause(run.device)
            self.stopping = True
        if check and not self.stopping:
            self.started = synced(run.device)  # the check is not training time
        return self.stopping

    def epoch_end(self, run, metrics: dict) -> None:
        self.epochs.append(metrics)
        self.last = "epoch"
        self._pause(run.device)
        watch = self.watch
        if watch and self.steps_to_target is None and metrics.get("val_psnr", -1.0) >= watch.db:
            self._reached(run.counters["step"])

    def elapsed(self) -> float:
        """Training seconds so far (the running interval read without waiting for the device)."""
        return self.trained + (time.perf_counter() - self.started if self.started is not None else 0.0)

    def _checks_now(self, run) -> bool:
        if self.watch is None or self.steps_to_target is not None:
            return False
        every = max(1, run.steps_per_epoch // self.watch.checks_per_epoch)
        return run.counters["batch"] % every == 0

    def _pause(self, device: torch.device) -> None:
        if self.started is not None:
            self.trained += synced(device) - self.started
            self.started = None

    def _reached(self, step: int) -> None:
        self.seconds_to_target, self.steps_to_target = self.trained, step
        self.stopping = self.stopping or self.watch.stop


def timed_training(cfg, out: str | Path | None = None, *, steps: int | None = None, seconds: float | None = None,
                   watch: Watch | None = None, warmup: int = 0) -> dict:
    """Train `cfg` (a RunConfig, or a PriorRunConfig: then `train_prior`) through the library
    into `out` (a temporary folder, removed after, when None) and time it.

    Stops after `steps` steps (counting the warm-up), after `seconds` of training, at the
    watched target when `watch.stop`, or at the config's epochs. The first `warmup` steps
    are trained but not timed. Returns: seconds (training time), steps and items timed,
    items_per_s, seconds_to_target / steps_to_target (None when never reached), total_steps,
    state (done or cancelled), status (the run's final status), wall_seconds (the whole
    call: data, encoding, evaluations),
    epochs (the loop's epoch metrics), final (held-out metrics of the final model: the last
    epoch's, else evaluated on watch.val) and model (the final model, on its device).
    """
    clock = TrainingClock(steps, seconds, watch, warmup)
    trainer = vqvae.train_prior if isinstance(cfg, vqvae.PriorRunConfig) else vqvae.train
    with _run_folder(out) as folder, _bundled_data_only():
        started = time.perf_counter()
        status = trainer(cfg, folder, progress=False, hooks=clock)
        wall = time.perf_counter() - started
    final = clock.epochs[-1] if clock.last == "epoch" and clock.epochs else None
    if final is None and watch is not None:
        final = evaluate(clock.model, watch.val)
    return {"seconds": clock.trained, "steps": clock.timed_steps, "items": clock.items,
            "items_per_s": clock.items / clock.trained if clock.trained > 0 else None,
            "seconds_to_target": clock.seconds_to_target, "steps_to_target": clock.steps_to_target,
            "total_steps": status.get("step"), "state": status.get("state"), "status": status, "wall_seconds": wall,
            "epochs": clock.epochs, "final": final, "model": clock.model}


@contextlib.contextmanager
def _run_folder(out: str | Path | None):
    if out is not None:
        yield Path(out)
        return
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        yield Path(tmp) / "run"


@contextlib.contextmanager
def _bundled_data_only():
    """No torchvision copy of any data set for the length of the block (see the module docstring)."""
    kept = os.environ.get("VQVAE_DATA")
    with tempfile.TemporaryDirectory(prefix="bench-no-data-") as empty:
        os.environ["VQVAE_DATA"] = empty
        try:
            yield
        finally:
            if kept is None:
                os.environ.pop("VQVAE_DATA", None)
            else:
                os.environ["VQVAE_DATA"] = kept
