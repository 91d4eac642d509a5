"""A data set in memory: uint8 image tensors [N, C, H, W], split into train and held-out."""

from __future__ import annotations

from dataclasses import dataclass

import torch

HOLDOUT_EVERY = 10  # every tenth image is held out


def held_out_rows(n: int, every: int = HOLDOUT_EVERY) -> torch.Tensor:
    """Which of n images are held out, bool [n]: the last of every `every`, so the split is the
    same on every machine and spread over the whole set."""
    return torch.arange(n) % every == every - 1


@dataclass
class ImageData:
    name: str
    train: torch.Tensor  # uint8 [N, C, H, W]
    val: torch.Tensor  # uint8 [M, C, H, W], never trained on
    train_labels: torch.Tensor | None = None  # int64 [N]
    val_labels: torch.Tensor | None = None
    skipped: int = 0  # unreadable files left out of an image folder

    def variance(self) -> float:
        """Pixel variance of the training images in [0, 1] (to normalise the MSE, tutorial-style),
        summed in chunks so a large set is never copied to float whole."""
        total, total_sq, n = 0.0, 0.0, self.train.numel()
        for chunk in self.train.split(1024):
            x = chunk.double() / 255
            total += float(x.sum())
            total_sq += float(x.pow(2).sum())
        mean = total / n
        return total_sq / n - mean * mean
