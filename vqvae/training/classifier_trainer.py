"""Training the sample-quality classifier on a data set's training split, and exporting it
as a bundled model (scripts/train_all.py writes pretrained/mnist-classifier).

It trains in one go (about a minute for MNIST on two CPU cores) through the one training
loop, in a temporary run folder: the exported folder, swapped in whole, is its only output.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vqvae import files
from vqvae.config import ClassifierConfig
from vqvae.data.datasets import ImageData, to_float
from vqvae.device import pick_device
from vqvae.errors import VQVAEError
from vqvae.models.classifier import Classifier
from vqvae.store import checkpoints, layout
from vqvae.training.hooks import Hooks
from vqvae.training.kinds.classifier import ClassifierKind, classifier_card
from vqvae.training.loop import STOPPED, train_run
from vqvae.training.optimizer_step import Stepper
from vqvae.models.autoencoder import ENCODE_BATCH

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
def predict(model: Classifier, images: torch.Tensor, batch_size: int = ENCODE_BATCH) -> tuple[torch.Tensor, torch.Tensor]:
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


class ClassifierTrainer(Stepper):
    """Cross-entropy steps on randomly moved images, in float32. The moves are drawn in turn
    from one generator seeded once: the classifier trains in one go, never resumed."""

    def __init__(self, model: Classifier, lr: float, device: torch.device, seed: int):
        super().__init__(model, lr, device, amp=False)
        self.generator = torch.Generator().manual_seed(seed)

    def losses(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor):
        """images: float [B, C, S, S] in [0, 1]; labels: int64 [B]."""
        loss = F.cross_entropy(model(random_affine(images, self.generator)), labels)
        return loss, (loss,)

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        return accuracy(self.model, images, labels)


@dataclass
class ClassifierTraining:
    """How the classifier trains (the loop reads these as a run's train settings)."""

    epochs: int = 15
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    cosine: bool = True  # Adam with a half-cosine decay
    log_every: int = 50


@dataclass
class ClassifierRun:
    """The classifier's run config: the model's settings and how it trains."""

    model: ClassifierConfig
    train: ClassifierTraining

    def to_dict(self) -> dict:
        return {"model": asdict(self.model), "train": asdict(self.train)}


def train_classifier(data: ImageData, dataset: str, config: ClassifierConfig | None = None, epochs: int = 15,
                     batch_size: int = 64, lr: float = 2e-3, seed: int = 0, device: str = "auto",
                     progress: bool = True, hooks: Hooks | None = None) -> tuple[Classifier, dict]:
    """A classifier of the data set `dataset` (its name, as load_data takes it) trained on
    data.train only (Adam, cosine decay, random affine moves); returns it with its held-out
    numbers. `hooks` may watch each step and stop the run early (the model is returned as it
    is then); a cancel (Ctrl-C, SIGTERM) raises KeyboardInterrupt, as there is no run to resume."""
    if data.train_labels is None:
        raise VQVAEError(f"{data.name} has no class labels: a classifier needs a labelled data set")
    c = data.train.shape
    config = config or ClassifierConfig(in_channels=c[1], image_size=c[-1], n_classes=int(data.train_labels.max()) + 1,
                                        dataset=dataset)
    run = ClassifierRun(config, ClassifierTraining(epochs, batch_size, lr, seed))
    torch.manual_seed(seed)
    trainer = ClassifierTrainer(Classifier(config), lr, pick_device(device), seed)
    with tempfile.TemporaryDirectory(prefix="vqvae-classifier-") as tmp:
        status = train_run(Path(tmp) / "classifier", False, None, lambda: ClassifierKind(run, data, trainer),
                           progress, hooks)
    if status["state"] != "done" and status.get("message") != STOPPED:
        raise KeyboardInterrupt(status.get("message"))
    model = trainer.model
    metrics = {"val_accuracy": accuracy(model, data.val, data.val_labels),
               "train_accuracy": accuracy(model, data.train, data.train_labels),
               "epochs": epochs, "steps": status["step"], "train_images": len(data.train), "val_images": len(data.val)}
    return model.eval(), metrics


def export_classifier(model: Classifier, metrics: dict, data_name: str, dest: Path) -> Path:
    """The classifier as a model folder in Hub layout (config, weights, card, metrics),
    swapped in whole."""
    card = str(classifier_card(model.config, metrics, data_name))

    def fill(folder: Path) -> None:
        model.save_pretrained(folder, config=model.config)
        files.atomic_write_bytes(folder / layout.CARD, card.encode())
        files.atomic_write_json(folder / layout.CHECKPOINT_METRICS, metrics)

    checkpoints.write_folder_atomically(Path(dest), fill)
    return Path(dest)
