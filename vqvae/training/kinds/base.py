"""What the training loop asks of a kind of model, and the model card every kind writes.

A kind holds its trainer (a Stepper: the model, its optimiser and its loss) and its data,
and answers the loop's questions; everything about the run folder (lock, status, metrics,
checkpoints, resume, cancel) is the loop's (vqvae/training/loop.py and run.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from huggingface_hub import ModelCard, ModelCardData

from vqvae.training.optimizer_step import Stepper


@dataclass
class Evaluation:
    """One epoch's evaluation: the held-out numbers (saved with the checkpoint, shown in its
    card) and other numbers for the epoch line only (such as dead codes, a training state)."""

    held_out: dict[str, float]
    extra: dict = field(default_factory=dict)  # numbers, and lists (a VQ-VAE's code_usage)


class Kind:
    """One kind of model, as the loop sees it. A subclass sets the attributes and answers
    step, named, evaluate, save_pictures and card; the rest has defaults."""

    best_metric: str = "val_loss"  # the held-out number that decides the best checkpoint
    higher_is_better: bool = False
    rate_name: str = "items_per_s"  # the epoch line's training speed, in its items
    postfix_keys: tuple[str, ...] = ("loss",)  # step numbers the progress bar shows
    counts_per_batch: tuple[str, ...] = ()  # step numbers that grow with the batch, left out for a short last batch
    cfg: object  # the run's config: .train has epochs, batch_size, lr, cosine, seed, log_every; .to_dict()
    trainer: Stepper
    model_config: object  # what the checkpoint's config.json holds
    n_train: int  # training items: a batch is a tensor of their indices
    index_device: torch.device = torch.device("cpu")  # where the training items are: an epoch's order goes there once

    def load(self, folder: Path) -> torch.nn.Module:
        """The model of a checkpoint folder (a resume starts from the last one)."""
        raise NotImplementedError

    def extra_counters(self) -> dict:
        """What the checkpoints save beside epoch, batch, step and the best score."""
        return {}

    def check_resumed(self, counters: dict) -> None:
        """Refuse (VQVAEError) to go on from restored counters that do not fit this run."""

    def start_fields(self) -> dict:
        """What status.json says of the run once it trains."""
        return {}

    def step(self, batch: torch.Tensor, step: int) -> torch.Tensor:
        """One optimiser step on the training items `batch` (int64 indices [B]) at step
        `step`: its numbers as one tensor left on the device (`named` reads them)."""
        raise NotImplementedError

    def named(self, stats: torch.Tensor) -> dict[str, float]:
        """The numbers of `step` by name (waits for the device)."""
        raise NotImplementedError

    def evaluate(self) -> Evaluation:
        """The held-out numbers of the model as it is now (best_metric among them)."""
        raise NotImplementedError

    def save_pictures(self, out: Path, epoch: int) -> None:
        """The epoch's picture grid in the run folder (none by default)."""

    def card(self, held_out: dict | None, step: int) -> ModelCard:
        """The checkpoint's model card, with its held-out numbers (None: not evaluated)."""
        raise NotImplementedError

    def status_fields(self, line: dict, best: float | None) -> dict:
        """What status.json repeats of the newest epoch line (empty if none) and the best score."""
        return {}

    def postfix(self, line: dict) -> dict[str, str]:
        """What the progress bar shows of an epoch line."""
        return {}


def model_card(tags: list[str], body: str) -> ModelCard:
    """A model card in the Hub's format: its metadata (library vqvae, `tags`), then `body`
    (markdown, starting with its title)."""
    data = ModelCardData(library_name="vqvae", tags=tags)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")
