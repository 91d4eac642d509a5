"""The sample-quality classifier as the training loop sees it: a cross-entropy step on a
batch of randomly moved training images, its held-out accuracy each epoch (the loop's epoch
line), its card. It trains in one go in a temporary folder nobody resumes; the model at
the end is the one exported (classifier_trainer.py)."""

from __future__ import annotations

from pathlib import Path

import torch

from vqvae.config import ClassifierConfig
from vqvae.data.datasets import DATASET_TITLES, ImageData, to_float
from vqvae.store.load import load_classifier
from vqvae.training.kinds.base import Evaluation, Kind, model_card
from vqvae.training.optimizer_step import Stepper


class ClassifierKind(Kind):
    """A classifier of `data` (labelled), trained by `trainer` (a classifier_trainer.ClassifierTrainer);
    `cfg` is a classifier_trainer.ClassifierRun."""

    best_metric = "val_accuracy"
    higher_is_better = True
    rate_name = "images_per_s"

    def __init__(self, cfg, data: ImageData, trainer: Stepper):
        self.cfg, self.data, self.trainer = cfg, data, trainer
        self.model_config, self.n_train = cfg.model, len(data.train)

    def load(self, folder: Path) -> torch.nn.Module:
        return load_classifier(folder)

    def start_fields(self) -> dict:
        return {"data": self.data.name}

    def step(self, batch: torch.Tensor, step: int) -> torch.Tensor:
        device = self.trainer.device
        return self.trainer.step_stats(to_float(self.data.train[batch], device), self.data.train_labels[batch].to(device))

    def named(self, stats: torch.Tensor) -> dict[str, float]:
        return {"loss": stats.item()}

    def evaluate(self) -> Evaluation:
        return Evaluation({"val_accuracy": self.trainer.accuracy(self.data.val, self.data.val_labels)})

    def status_fields(self, line: dict, best: float | None) -> dict:
        return {"val_accuracy": line.get("val_accuracy"), "best_val_accuracy": best}

    def postfix(self, line: dict) -> dict[str, str]:
        return {"val_accuracy": f"{100 * line['val_accuracy']:.2f}%"}

    def card(self, held_out: dict | None, step: int):
        counts = {"epochs": self.cfg.train.epochs, "train_images": self.n_train, "val_images": len(self.data.val)}
        return classifier_card(self.cfg.model, dict(held_out or {}, **counts), self.data.name)


def classifier_card(config: ClassifierConfig, metrics: dict, data_name: str):
    """The classifier's model card: what it is, what it saw, its accuracy on each split it was measured on."""
    title = DATASET_TITLES.get(config.dataset, config.dataset)
    body = f"""# {title} classifier (the judge of samples)

A small CNN (two stages of two 3x3 convs at {config.width} and {2 * config.width} channels, then
{config.feature_dim} features) trained with VQ-VAE Lab on the training split of {data_name} only
({metrics['train_images']:,} images, {metrics['epochs']} epochs with random turns, zooms and moves). It never saw
a VQ-VAE's output: `python -m vqvae score` uses it to name the class of a prior's samples
(label accuracy) and compares its {config.feature_dim} penultimate features of samples and of real
held-out images (Fréchet distance).
"""
    rows = [(name, metrics[f"{split}_images"], metrics[f"{split}_accuracy"])
            for name, split in (("held-out", "val"), ("training", "train")) if f"{split}_accuracy" in metrics]
    if rows:
        body += "\n| split | images | accuracy |\n|---|---|---|\n"
        body += "".join(f"| {name} | {images:,} | {100 * value:.2f} % |\n" for name, images, value in rows)
    return model_card(["image-classification", "sample-quality"], body)
