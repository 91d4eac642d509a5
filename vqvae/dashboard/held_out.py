"""The held-out split of a model's data set, fitted to the model: what the pages show the
model and measure it on, with the names of its classes."""

from dataclasses import dataclass
from pathlib import Path

import torch

from vqvae.data.datasets import DATASET_TITLES, class_kind, class_names
from vqvae.models.autoencoder import VQVAE
from vqvae.store.provenance import held_out_of_vqvae


@dataclass
class HeldOut:
    """The held-out images of a model's data set and their classes."""
    images: torch.Tensor  # uint8 [M, C, H, W]
    labels: list[int] | None
    classes: list[str] | None  # label -> name (a digit, a Pokémon type, ...)
    dataset: str  # "mnist", "pokemon", ...
    notice: str | None  # when another data set stands in for the model's own

    @property
    def title(self) -> str:
        return DATASET_TITLES.get(self.dataset, self.dataset)

    @property
    def kind(self) -> str:
        return class_kind(self.dataset)

    def examples(self) -> list[int]:
        """The held-out images a picker offers: the first of each class, or the first 20."""
        if self.labels is None:
            return list(range(min(20, len(self.images))))
        firsts = {label: index for index, label in reversed(list(enumerate(self.labels)))}
        return sorted(firsts.values(), key=lambda index: self.labels[index])

    def class_title(self, label: int) -> str:
        """A class's name ("7", "fire"), its number where the data set names none."""
        names = self.classes or []
        return names[label] if 0 <= label < len(names) else str(label)

    def name_of(self, index: int) -> str:
        """How a page names one held-out image: its class, when the data set has them."""
        if self.labels is not None and self.classes and 0 <= self.labels[index] < len(self.classes):
            return f"{self.classes[self.labels[index]]} (held-out image {index})"
        return f"held-out image {index}"


def held_out_of(folder: Path, model: VQVAE) -> HeldOut:
    """The held-out images of the data set the model in `folder` was trained on."""
    data, dataset, notice = held_out_of_vqvae(folder, model)
    labels = data.val_labels.tolist() if data.val_labels is not None else None
    return HeldOut(data.val, labels, class_names(dataset) if labels is not None else None, dataset, notice)
