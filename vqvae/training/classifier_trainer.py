"""Training the sample-quality classifier on a data set's training split, and exporting it
as a bundled model (scripts/train_all.py writes pretrained/mnist-classifier).

It trains in one go (about a minute for MNIST on two CPU cores), so it keeps no run folder:
the exported folder, swapped in whole, is its only output.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from vqvae import files
from vqvae.config import ClassifierConfig
from vqvae.store import checkpoints
from vqvae.data.datasets import DATASET_TITLES, ImageData, to_float
from vqvae.device import pick_device
from vqvae.errors import VQVAEError
from vqvae.models.classifier import Classifier
from vqvae.training.loop import cosine_lr, epoch_order
from vqvae.store import layout

# Small random rotations, zooms and moves: 9,000 digits are few for a CNN, and a prior's
# samples are not centred as carefully as MNIST's own digits.
MAX_DEGREES, MAX_ZOOM, MAX_MOVE = 10.0, 0.1, 0.1  # the move as a fraction of the side


def random_affine(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """float images [B, C, S, S] -> the same, each turned, zoomed and moved at random
    (bilinear, black where the picture moved away)."""
    n = len(images)
    draw = lambda scale: (torch.rand(n, generator=generator) * 2 - 1) * scale  # noqa: E731
    angle, zoom = torch.deg2rad(draw(MAX_DEGREES)), 1 + draw(MAX_ZOOM)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, draw(2 * MAX_MOVE)], 1),
                         torch.stack([sin, cos, draw(2 * MAX_MOVE)], 1)], 1)
    grid = F.affine_grid(theta.to(images.device), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@torch.no_grad()
def predict(model: Classifier, images: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Images [N, C, S, S] (uint8, or float in [0, 1]) -> (predicted classes [N], features
    [N, feature_dim] float64), on the model's device in batches."""
    model.eval()
    device = next(model.parameters()).device
    classes, features = [], []
    for chunk in images.split(batch_size):
        x = to_float(chunk, device) if chunk.dtype == torch.uint8 else chunk.to(device).float()
        f = model.features(x)
        classes.append(model.head(f).argmax(-1).cpu())
        features.append(f.double().cpu())
    return torch.cat(classes), torch.cat(features)


def accuracy(model: Classifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """The fraction of images whose class the model names."""
    predicted, _ = predict(model, images)
    return (predicted == labels.cpu()).double().mean().item()


def train_classifier(data: ImageData, dataset: str, config: ClassifierConfig | None = None, epochs: int = 15,
                     batch_size: int = 64, lr: float = 2e-3, seed: int = 0, device: str = "auto",
                     progress: bool = True) -> tuple[Classifier, dict]:
    """A classifier of the data set `dataset` (its name, as load_data takes it) trained on
    data.train only (Adam, cosine decay, random affine moves); returns it with its held-out
    numbers."""
    if data.train_labels is None:
        raise VQVAEError(f"{data.name} has no class labels: a classifier needs a labelled data set")
    c = data.train.shape
    config = config or ClassifierConfig(in_channels=c[1], image_size=c[-1], n_classes=int(data.train_labels.max()) + 1,
                                        dataset=dataset)
    torch.manual_seed(seed)
    dev = pick_device(device)
    model = Classifier(config).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(len(data.train) / batch_size)
    total = epochs * steps_per_epoch
    bar = tqdm(total=total, unit="step", desc="classifier", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    step = 0
    for epoch in range(epochs):
        model.train()
        for batch in epoch_order(len(data.train), seed, epoch).split(batch_size):
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(lr, step, total)
            x = random_affine(to_float(data.train[batch], dev), generator)
            loss = F.cross_entropy(model(x), data.train_labels[batch].to(dev))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            bar.update()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    metrics = {"val_accuracy": accuracy(model, data.val, data.val_labels),
               "train_accuracy": accuracy(model, data.train, data.train_labels),
               "epochs": epochs, "steps": step, "train_images": len(data.train), "val_images": len(data.val)}
    return model.eval(), metrics


def classifier_card(config: ClassifierConfig, metrics: dict, data_name: str) -> str:
    title = DATASET_TITLES.get(config.dataset, config.dataset)
    return f"""---
library_name: vqvae
tags:
- image-classification
- sample-quality
---

# {title} classifier (the judge of samples)

A small CNN (two stages of two 3x3 convs at {config.width} and {2 * config.width} channels, then
{config.feature_dim} features) trained with VQ-VAE Lab on the training split of {data_name} only
({metrics['train_images']:,} images, {metrics['epochs']} epochs with random turns, zooms and moves). It never saw
a VQ-VAE's output: `python -m vqvae score` uses it to name the class of a prior's samples
(label accuracy) and compares its {config.feature_dim} penultimate features of samples and of real
held-out images (Fréchet distance).

| split | images | accuracy |
|---|---|---|
| held-out | {metrics['val_images']:,} | {100 * metrics['val_accuracy']:.2f} % |
| training | {metrics['train_images']:,} | {100 * metrics['train_accuracy']:.2f} % |
"""


def export_classifier(model: Classifier, metrics: dict, data_name: str, dest: Path) -> Path:
    """The classifier as a model folder in Hub layout (config, weights, card, metrics),
    swapped in whole."""
    def fill(folder: Path) -> None:
        model.save_pretrained(folder, config=model.config)
        files.atomic_write_bytes(folder / "README.md", classifier_card(model.config, metrics, data_name).encode())
        files.atomic_write_json(folder / layout.CHECKPOINT_METRICS, metrics)

    checkpoints.write_folder_atomically(Path(dest), fill)
    return Path(dest)
