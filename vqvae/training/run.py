"""One run as the loop and its hooks see it: the kind being trained, its counters, and
what a run folder keeps of it (config, status, epoch lines, the best and last checkpoints,
resume from the last one). The loop itself is vqvae/training/loop.py."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import torch

from vqvae import distributed, files
from vqvae.errors import VQVAEError
from vqvae.store import checkpoints, claim, layout
from vqvae.training.kinds.base import Kind
from vqvae.store.run_folder import RunFolder


def run_config(out: Path, cfg, resume: bool, epochs: int | None, from_dict: Callable[[dict], object], kind: str):
    """The validated config a run trains with: for a resume, the one saved in `out` (a run of ours
    of this kind) with its epochs raised to `epochs` when that is more; for a new run, `cfg`,
    if `out` is new or empty. Nothing is written before these checks pass."""
    if resume:
        claim.check_run_to_resume(out, kind)
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
        claim.check_new_run_folder(out, kind)
    return cfg.validate()


class Run:
    """A kind being trained into the folder `out`; `counters` (epoch, batch, step, the best
    score, the kind's own) is what its last checkpoint saves beside the model and optimiser."""

    def __init__(self, out: Path, kind: Kind):
        self.out, self.kind, self.cfg = out, kind, kind.cfg
        self.folder = RunFolder(out)
        self.model, self.device, self.n_train = kind.trainer.model, kind.trainer.device, kind.n_train
        self.best_key = f"best_{kind.best_metric}"  # best_val_mse, best_val_nll: as older runs saved it
        self.counters = {"epoch": 0, "batch": 0, "step": 0, self.best_key: None, **kind.extra_counters()}

    @property
    def steps_per_epoch(self) -> int:
        """Batches per epoch; a last batch too small to give every rank a share is dropped."""
        full, rest = divmod(self.n_train, self.cfg.train.batch_size)
        return full + (1 if rest >= distributed.world() else 0)

    def named(self, stats: torch.Tensor) -> dict[str, float]:
        """The step's numbers by name (waits for the device)."""
        return self.kind.named(stats)

    def finite(self, stats: torch.Tensor) -> dict[str, float]:
        """named(stats), or the one-line error that ends a run whose losses are no longer finite."""
        losses = self.named(stats)
        if not all(math.isfinite(v) for v in losses.values()):
            raise VQVAEError(f"training diverged by step {self.counters['step']} (loss {losses['loss']}): "
                             f"lower the learning rate")
        return losses

    def start(self, resume: bool) -> None:
        """Restore a resumed run from its last checkpoint (its metrics cut back to it), save the
        config (a resume may have extended the epochs) and say the run trains."""
        c, t = self.counters, self.cfg.train
        if resume:
            self.restore_last()
            self.kind.check_resumed(c)
            self.folder.truncate_metrics(c["step"])
        files.atomic_write_json(self.out / layout.CONFIG, self.cfg.to_dict())
        self.folder.write_status(state="running", pid=os.getpid(), epochs=t.epochs,
                                total_steps=t.epochs * self.steps_per_epoch, step=c["step"], epoch=c["epoch"],
                                message="", device=str(self.device), **self.kind.start_fields())

    def end_epoch(self, items_per_s: float, seconds: float) -> dict:
        """Evaluate; the epoch line, the pictures, the best and last checkpoints, the status.
        Returns the epoch line."""
        c, kind = self.counters, self.kind
        ev = kind.evaluate()
        line = {"kind": "epoch", "epoch": c["epoch"], "step": c["step"], **ev.held_out, **ev.extra,
                kind.rate_name: items_per_s, "seconds": seconds}
        self.folder.append_metrics(line)
        kind.save_pictures(self.out, c["epoch"])
        score, best = ev.held_out[kind.best_metric], c[self.best_key]
        if best is None or (score > best if kind.higher_is_better else score < best):
            c[self.best_key] = score
            self.save_checkpoint("best", ev.held_out)
        self.save_last(ev.held_out)
        self.folder.write_status(epoch=c["epoch"], step=c["step"], **kind.status_fields(line, c[self.best_key]))
        return line

    def finish(self) -> dict:
        """Write and return the final status of a run that trained all its epochs."""
        c = self.counters
        if c["step"] == 0 and checkpoints.resolve_checkpoint_or_none(self.out) is None:  # epochs=0: keep the initial model
            self.end_epoch(0.0, 0.0)
        lines = self.folder.metrics("epoch")
        ranks = {"ranks": distributed.world(), "ranks_in_sync": distributed.in_sync(self.model)} if distributed.active() else {}
        return self.folder.write_status(state="done", message="", step=c["step"], epoch=c["epoch"],
                                       **self.kind.status_fields(lines[-1] if lines else {}, c[self.best_key]), **ranks)

    def save_checkpoint(self, which: str, held_out: dict | None, with_state: bool = False) -> None:
        """RUN/checkpoints/<which> in Hub layout with its held-out numbers, swapped in whole;
        with the optimiser and counters when a resume starts from it."""
        counters, card = dict(self.counters), str(self.kind.card(held_out, self.counters["step"]))
        model, model_config, optimizer = self.model, self.kind.model_config, self.kind.trainer.optimizer

        def fill(folder: Path) -> None:
            model.save_pretrained(folder, config=model_config)
            files.atomic_write_bytes(folder / layout.CARD, card.encode())
            if held_out:  # what the runs table shows: the numbers this checkpoint holds
                files.atomic_write_json(folder / layout.CHECKPOINT_METRICS,
                                        dict(held_out, step=counters["step"], epoch=counters["epoch"]))
            if with_state:
                checkpoints.save_training_state(folder, optimizer, counters)

        checkpoints.write_folder_atomically(layout.checkpoint_dir(self.out, which), fill)

    def save_last(self, held_out: dict | None = None) -> None:
        self.save_checkpoint("last", held_out, with_state=True)

    def restore_last(self) -> None:
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
                self.model.load_state_dict(self.kind.load(folder).state_dict(), strict=True)
                counters = checkpoints.load_training_state(folder, self.kind.trainer.optimizer)
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
