"""What a caller may watch or steer in a training run: the bench's clock is one.

The loop (vqvae/training/loop.py) calls each method at its moment; a caller subclasses
`Hooks` and overrides what it needs. `run` is the loop's Run (vqvae/training/run.py): it
exposes .model (the nn.Module being trained), .device, .counters (epoch, batch, step),
.steps_per_epoch, .n_train, .named(stats) and .cfg (the run's config). Nothing here waits
for the device, so a hook that times steps decides itself where to synchronise.
"""

from __future__ import annotations


class Hooks:
    """What a caller may watch or steer in a run (the bench's timer is one); every method is optional."""

    def epoch_start(self, run) -> None:
        """Before the first step of an epoch (also a resumed, partly trained one)."""

    def step_end(self, run, stats) -> bool:
        """After each optimiser step, with its losses still on the device (run.named(stats)
        reads them, waiting for it). True stops the run now, as a cancel does: the last
        checkpoint is saved and the state is "cancelled". Under torchrun the ranks agree on
        a stop at the logged steps, as on a cancel."""
        return False

    def epoch_end(self, run, metrics: dict) -> None:
        """After the epoch's evaluation; metrics = the epoch line of metrics.jsonl."""
